import sys

from amt_emulator.cli import main

sys.exit(main())
