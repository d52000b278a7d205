"""``make bench``: the in-process benchmarks (a few minutes), their figures printed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent

# live_latency.py runs a whole Airflow (``make bench-live``); checkpoint_cost.py too (``make bench-checkpoint``).
for script, *options in (["log_memory.py"], ["triggerer_scale.py", "--storm-floor"]):
    print(f"\n## {script}\n", flush=True)
    subprocess.run([sys.executable, str(HERE / script), *options], check=True)
