import sys

from airflow_provider_amt.emulator.cli import main

sys.exit(main())
