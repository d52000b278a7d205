"""``make demo``: the AMT emulator, a hook round trip, then the example DAG in real Airflow.

1. starts ``amt-emulator`` on a free loopback port (state in ``.demo/``),
2. starts a batch job and a script with the sync hook and prints their states and messages,
3. prepares a throw-away AIRFLOW_HOME (SQLite) in ``.demo/airflow``, sets ``amt_default`` through
   ``AIRFLOW_CONN_AMT_DEFAULT`` and runs the ``amt_report`` example DAG with ``airflow dags test``,
4. prints the AMT part of the task log and where the full output is, and fails (exit 1) unless it
   shows every AMT message of each job once, in order,
5. stops everything it started.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / ".demo"
AIRFLOW = str(Path(sys.executable).with_name("airflow"))


def banner(text: str) -> None:
    print(f"\n=== {text} " + "=" * max(0, 70 - len(text)), flush=True)


def watch(hook, request_id: int, label: str) -> None:
    offset, last = 0, None
    while True:
        status = hook.get_job_status(request_id)
        if str(status) != last:
            print(f"  {label} #{request_id}: {status}", flush=True)
            last = str(status)
        for message in hook.get_messages(request_id, offset):
            print(f"      [{message.index}] {message.severity:<7} {message.text}", flush=True)
            offset = message.index + 1
        if status.is_terminal:
            return
        time.sleep(0.3)


def hook_round_trip(emulator) -> None:
    os.environ["AIRFLOW_CONN_AMT_DEFAULT"] = emulator.connection_uri()
    from airflow_provider_amt.hooks.amt import AmtHook

    hook = AmtHook("amt_default")
    ok, message = hook.test_connection()
    print(f"  test_connection: {ok} - {message}")
    job = hook.start_batch_job("DEMO2", "REPORTTEST01", task_values=["25", "REGION=Zürich <HQ>"])
    watch(hook, job, "batch job REPORTTEST01")
    script = hook.start_script("DEMO2", "RUN_PARAMETERSTEST.ps1", script_parameters={"MODE": "FULL", "Q": "a=b&c"})
    watch(hook, script, "script RUN_PARAMETERSTEST.ps1")


def run_example_dag(emulator) -> Path:
    home = DEMO / "airflow"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")},
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_CONN_AMT_DEFAULT": emulator.connection_uri(),
        "PYTHONWARNINGS": "ignore",
    }
    print(f"  AIRFLOW_HOME={home}")
    shown = json.loads(emulator.connection_uri())
    shown["password"] = "***"
    print(f"  AIRFLOW_CONN_AMT_DEFAULT='{json.dumps(shown)}'")
    subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True)
    log_path = DEMO / "amt_report.dags-test.log"
    print("  running: airflow dags test amt_report", flush=True)
    with open(log_path, "w") as out:
        result = subprocess.run([AIRFLOW, "dags", "test", "amt_report"], env=env, stdout=out, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        print(log_path.read_text()[-5000:])
        raise SystemExit(f"airflow dags test failed ({result.returncode}); full output in {log_path}")
    return log_path


#: The provider's own log records, in the console formats of every supported Airflow: structlog's
#: (3.1+: ``... [info     ] TEXT   [airflow_provider_amt...]``) and the classic one (3.0:
#: ``[time] {joblog.py:34} INFO - TEXT``, named by the provider's source file). A record of several
#: AMT message lines (``joblog.MESSAGES_PER_LOG_RECORD``) spans console lines: matched whole (DOTALL).
OUR_LINES = (
    re.compile(
        r"\[(?:info|warning|error)\s*\] (.*?)\s+\[(?:airflow\.task\.operators\.)?airflow_provider_amt[.\w]*\]",
        re.DOTALL,
    ),
    re.compile(
        r"^\[[^\]]+\] \{(?:joblog|amt|worker_watch|start_ledger)\.py:\d+\} (?:INFO|WARNING|ERROR) - (.*)$", re.DOTALL
    ),
)


def _records(lines: list[str]) -> list[str]:
    """Console lines joined into log records: AMT message lines and a message's own further (indented)
    lines go on the record before (the layout ``joblog.log_messages`` writes)."""
    from airflow_provider_amt.joblog import CONTINUATION, message_index

    indent = CONTINUATION.lstrip("\n")
    records: list[str] = []
    for line in lines:
        if records and (message_index(line) is not None or line.startswith(indent)):
            records[-1] += "\n" + line
        else:
            records.append(line)
    return records


def show_task_log(log_path: Path) -> dict[int, list[int]]:
    """Print the records this provider logged (operators on the worker, the trigger in the triggerer);
    return the AMT message indexes printed, per batch request (from each job information block)."""
    from airflow_provider_amt.joblog import BATCH_REQUEST_ID_LABEL, job_reference, message_index

    task = re.compile(r"\[DAG TEST\] (starting|end) task task_id=(\w+)")
    last = ""
    shown: dict[int, list[int]] = {}
    job: list[int] = []
    for record in _records(log_path.read_text().splitlines()):
        if match := task.search(record):
            print(f"  ## {match.group(1)} task {match.group(2)}")
            continue
        for ours in OUR_LINES:
            if (match := ours.search(record)) and match.group(1) != last:  # 3.0 prints each record twice
                last = match.group(1)
                for line in last.rstrip().splitlines():
                    print("  " + line.rstrip())
                    reference = job_reference(line.rstrip())
                    if reference and reference[0] == BATCH_REQUEST_ID_LABEL:
                        job = shown.setdefault(int(reference[1]), [])
                    elif (index := message_index(line.strip())) is not None:
                        job.append(index)
                break
    return shown


def missing_messages(shown: dict[int, list[int]]) -> dict[int, str]:
    """Per batch request whose task log did not show each of its AMT messages once, in order: what it showed."""
    from airflow_provider_amt.hooks.amt import AmtHook

    hook = AmtHook("amt_default")
    wrong = {}
    for request_id, indexes in shown.items():
        expected = [message.index for message in hook.get_messages(request_id)]
        if indexes != expected:
            wrong[request_id] = f"showed {indexes}, AMT has {expected}"
    return wrong or ({} if shown else {0: "no AMT job in the task log"})


def main() -> int:
    from amt_emulator import EmulatorProcess

    DEMO.mkdir(exist_ok=True)
    state = DEMO / "amt-state.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{state}{suffix}").unlink(missing_ok=True)
    banner("1. AMT Batch Server emulator")
    with EmulatorProcess(state, time_scale=3, log_file=DEMO / "emulator.log") as emulator:
        print(f"  listening on {emulator.url} (OpenAPI: {emulator.url}/openapi.json), state {state}")
        banner("2. Hook round trip: a batch job and a script through their states")
        hook_round_trip(emulator)
        banner("3. Example DAG amt_report in real Airflow (airflow dags test)")
        log_path = run_example_dag(emulator)
        banner("4. What the task log shows (AMT part)")
        wrong = missing_messages(show_task_log(log_path))
        print(f"\n  Full task output: {log_path}")
        print("  (airflow dags test prints task logs instead of writing log files; under a scheduler the")
        print("   same lines are in <AIRFLOW_HOME>/logs/dag_id=amt_report/run_id=.../task_id=.../attempt=1.log*)")
        for request_id, what in wrong.items():
            print(f"  NOT EVERY AMT MESSAGE ONCE in the task log of batch request {request_id}: {what}")
    banner("Done: emulator stopped")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
