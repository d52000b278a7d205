"""What the three distributions ship, checked on the built artefacts and in a venv without Airflow."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.airflow_harness import ROOT

#: ``make test`` passes the uv it uses (a path, or ``python3 -m uv`` where uv came from pip).
UV = shlex.split(os.environ.get("AMT_UV", "uv"))


def uv(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*UV, *args], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"uv {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("wheels")
    for package in ("airflow-provider-amt", "amt-client", "amt-emulator"):
        uv("build", "--wheel", "--package", package, "--out-dir", str(out), "--quiet")
    return {path.name.split("-")[0]: path for path in out.glob("*.whl")}


def test_the_provider_wheel_ships_no_emulator_and_no_console_script(wheels):
    with zipfile.ZipFile(wheels["airflow_provider_amt"]) as wheel:
        names = wheel.namelist()
        metadata = wheel.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
        entry_points = wheel.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert not [n for n in names if "emulator" in n], "the runtime wheel must not carry the emulator"
    assert "[console_scripts]" not in entry_points and "apache_airflow_provider" in entry_points
    assert "Requires-Dist: amt-client==0.1.0" in metadata
    assert "Requires-Dist: amt-emulator==0.1.0; extra == 'emulator'" in metadata
    assert "airflow_provider_amt/__init__.py" in names and "airflow_provider_amt/py.typed" in names


def test_the_libraries_are_typed_and_the_emulator_brings_its_command(wheels):
    with zipfile.ZipFile(wheels["amt_client"]) as wheel:
        assert "amt_client/py.typed" in wheel.namelist()
        assert "Requires-Dist: apache-airflow" not in wheel.read("amt_client-0.1.0.dist-info/METADATA").decode()
    with zipfile.ZipFile(wheels["amt_emulator"]) as wheel:
        assert "amt_emulator/catalog.json" in wheel.namelist()
        assert (
            "amt-emulator = amt_emulator.cli:main"
            in wheel.read("amt_emulator-0.1.0.dist-info/entry_points.txt").decode()
        )


SCRIPT = """
import sys, time
import amt_client, amt_emulator
from amt_client import AmtClient, MessageCursor, ServerConfig, WatchSettings
from amt_emulator import EmulatorProcess
assert not [m for m in sys.modules if m == "airflow" or m.startswith("airflow.")], "Airflow was imported"
with EmulatorProcess(time_scale=10) as emu, AmtClient(ServerConfig(emu.url, emu.user, emu.password)) as amt:
    request_id = amt.start_batch_job("DEMO2", "REPORTTEST01", task_values=["no-airflow"])
    lines = []
    ended = amt.watch_job(request_id, MessageCursor(), WatchSettings(poll_interval=0.2), lines.extend)
    assert ended.outcome.job_ended and ended.code == 4, ended
    assert "TaskValue 1: no-airflow" in [m.text for m in lines], lines
print("ok", request_id, len(lines))
"""


def test_client_and_emulator_install_and_work_in_a_venv_without_airflow(wheels, tmp_path):
    venv = tmp_path / "venv"
    uv("venv", "--quiet", "--python", sys.executable, str(venv))
    python = str(venv / "bin" / "python")
    uv(
        "pip",
        "install",
        "--quiet",
        "--python",
        python,
        str(wheels["amt_client"]),
        str(wheels["amt_emulator"]),
        "pytest",
    )
    assert subprocess.run([python, "-c", "import airflow"], capture_output=True).returncode != 0
    run = subprocess.run([python, "-c", SCRIPT], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 0 and run.stdout.startswith("ok"), run.stdout + run.stderr
    # the client library's own unit tests pass there too
    tests = subprocess.run(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/client"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert tests.returncode == 0 and " passed" in tests.stdout, tests.stdout[-3000:] + tests.stderr[-3000:]
