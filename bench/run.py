"""``make bench``: the in-process benchmarks (a few minutes), their figures printed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent

# live_latency.py runs a whole Airflow (``make bench-live``); checkpoint_cost.py too (``make bench-checkpoint``).
# The scale figures come from a dedicated AMT triggerer (no greenback portal, docs/deployment.md), with
# the provider in Airflow's default triggerer beside them.
SCALE = ["triggerer_scale.py", "--storm-floor", "--runner", "dedicated", "--compare-runner"]
for script, *options in (["log_memory.py"], SCALE):
    print(f"\n## {script}\n", flush=True)
    subprocess.run([sys.executable, str(HERE / script), *options], check=True)
