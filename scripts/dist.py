"""``make dist``: the three distributions as a site gets them, built, checked and installed.

1. builds the sdist and the wheel of ``amt-client``, ``amt-emulator`` and ``airflow-provider-amt``
   into ``dist/`` (``uv build --all-packages``);
2. checks their metadata with ``twine check --strict`` and what each holds: the provider's sdist
   carries ``docs/`` and ``example_dags/`` (the docs live there, the provider info says so), its
   wheel the code, ``py.typed`` and the provider entry point and nothing of the repository's
   tests; the versions and pins agree (the provider pins the client it was built with);
3. installs the wheels with Airflow (the versions ``uv.lock`` pins) into a fresh venv in a temporary
   directory, ``airflow-provider-amt[emulator]`` from ``dist/`` only, and checks that the provider
   is imported from that venv, not from the repository;
4. there, outside the repository: starts the emulator of the installed ``[emulator]`` extra and runs
   the example DAG ``amt_report``, taken from the sdist, through ``airflow dags test``; both tasks
   must succeed and every AMT message of each job must be in the output.

Exit 0 only when every step passed.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from email.parser import Parser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "dist"
DISTRIBUTIONS = ("amt_client", "amt_emulator", "airflow_provider_amt")

#: Run by the installed venv's Python, in a directory outside the repository.
RUN_EXAMPLE = r"""
import json, os, re, sqlite3, subprocess, sys
from pathlib import Path

import airflow_provider_amt
from amt_emulator import EmulatorProcess
from airflow_provider_amt.hooks.amt import AmtHook

print("provider imported from", airflow_provider_amt.__file__)
dags, home = Path(sys.argv[1]), Path(sys.argv[2])
airflow = str(Path(sys.executable).with_name("airflow"))
with EmulatorProcess(time_scale=3) as emulator:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PYTHONPATH"))},
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_CONN_AMT_DEFAULT": emulator.connection_uri(),
        "PYTHONWARNINGS": "ignore",
    }
    subprocess.run([airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    ran = subprocess.run([airflow, "dags", "test", "amt_report"], env=env, capture_output=True, text=True)
    output = ran.stdout + ran.stderr
    os.environ["AIRFLOW_CONN_AMT_DEFAULT"] = env["AIRFLOW_CONN_AMT_DEFAULT"]
    jobs = sorted({int(i) for i in re.findall(r"Batch Request Id\s*:\s*(\d+)", output)})
    expected = {job: AmtHook("amt_default").get_messages(job) for job in jobs}
with sqlite3.connect(home / "airflow.db") as db:
    states = dict(db.execute("SELECT task_id, state FROM task_instance WHERE dag_id = 'amt_report'").fetchall())
lines = [f"{job}: [{m.index}] {m.text}" for job, ms in expected.items() for m in ms]
missing = [line for line in lines if line.split(": ", 1)[1] not in output]
ok = ran.returncode == 0 and states == {"run_report": "success", "publish_report": "success"} and len(expected) == 2
ok = ok and not missing and all(expected.values())
if not ok:
    print(output[-6000:])
print(json.dumps({"returncode": ran.returncode, "tasks": states, "jobs": len(expected),
                  "messages": sum(map(len, expected.values())), "missing from the output": missing}))
sys.exit(0 if ok else 1)
"""


def uv() -> list[str]:
    if os.environ.get("AMT_UV"):
        return shlex.split(os.environ["AMT_UV"])
    found = shutil.which("uv")
    return [found] if found else [sys.executable, "-m", "uv"]


def step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    print("  $ " + " ".join(map(str, command)), flush=True)
    done = subprocess.run(command, text=True, capture_output=True, **kwargs)  # type: ignore[call-overload]
    if done.returncode != 0:
        raise SystemExit(f"FAILED ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    return done


def built(name: str, suffix: str) -> Path:
    (path,) = DIST.glob(f"{name}-*{suffix}")
    return path


def check_contents() -> None:
    """What a site finds in each file: metadata, the docs in the sdist, the code in the wheel."""
    from airflow_provider_amt import __version__ as provider_version
    from amt_client import __version__ as client_version

    problems: list[str] = []
    with tarfile.open(built("airflow_provider_amt", ".tar.gz")) as sdist:
        names = sdist.getnames()
    for wanted in ("docs/operators.md", "docs/connection.md", "example_dags/amt_report.py", "LICENSE", "CHANGELOG.md"):
        if not any(name.endswith("/" + wanted) for name in names):
            problems.append(f"the provider's sdist lacks {wanted}")
    with zipfile.ZipFile(built("airflow_provider_amt", ".whl")) as wheel:
        files = wheel.namelist()
        (metadata_name,) = [n for n in files if n.endswith(".dist-info/METADATA")]
        metadata = Parser().parsestr(wheel.read(metadata_name).decode())
        (entry_points,) = [n for n in files if n.endswith(".dist-info/entry_points.txt")]
        entry = wheel.read(entry_points).decode()
    for wanted in ("airflow_provider_amt/py.typed", "airflow_provider_amt/hooks/connection_form.py"):
        if wanted not in files:
            problems.append(f"the provider's wheel lacks {wanted}")
    if any(name.startswith(("tests/", "docs/", "bench/", "scripts/")) for name in files):
        problems.append("the provider's wheel holds repository files (tests, docs, bench or scripts)")
    if "apache_airflow_provider" not in entry or "get_provider_info" not in entry:
        problems.append("the provider's wheel has no apache_airflow_provider entry point")
    requires = metadata.get_all("Requires-Dist") or []
    if metadata["Version"] != provider_version:
        problems.append(f"wheel version {metadata['Version']} != airflow_provider_amt.__version__ {provider_version}")
    if f"amt-client=={client_version}" not in requires:
        problems.append(f"the provider does not pin amt-client=={client_version}: {requires}")
    if not any(r.startswith("amt-emulator") and "extra == 'emulator'" in r for r in requires):
        problems.append(f"no [emulator] extra: {requires}")
    for problem in problems:
        print("  PROBLEM: " + problem)
    if problems:
        raise SystemExit("the distributions are not what a site should get")
    print(f"  sdist: {len(names)} files (docs, example DAGs); wheel: {len(files)} files; requires {requires}")


def main() -> int:
    step("1. build the sdists and wheels of the three distributions")
    shutil.rmtree(DIST, ignore_errors=True)
    run([*uv(), "build", "--all-packages", "--out-dir", str(DIST)], cwd=ROOT)
    for name in DISTRIBUTIONS:
        print(f"  {built(name, '.tar.gz').name}  {built(name, '.whl').name}")

    step("2. check their metadata and contents")
    files = sorted([*DIST.glob("*.whl"), *DIST.glob("*.tar.gz")])
    run([str(Path(sys.executable).with_name("twine")), "check", "--strict", *map(str, files)])
    print("  twine check --strict: PASSED (6 files)")
    check_contents()

    with tempfile.TemporaryDirectory(prefix="amt-dist-") as scratch:
        work = Path(scratch)
        step(f"3. install the wheels with Airflow into a fresh venv ({work}/venv), not from the repository")
        pins = work / "airflow-pins.txt"
        run(
            [*uv(), "export", "--frozen", "--no-dev", "--no-emit-workspace", "--no-hashes", "-o", str(pins)],
            cwd=ROOT,
        )
        venv = work / "venv"
        run([*uv(), "venv", "--quiet", "--python", sys.executable, str(venv)], cwd=work)
        python = venv / "bin" / "python"
        run(
            [
                *uv(),
                "pip",
                "install",
                "--quiet",
                "--python",
                str(python),
                "--no-sources",
                # the wheels just built, not uv's cached ones of the same name and version (a wheel of
                # an unreleased version is rebuilt with new code under the same file name)
                *[arg for name in DISTRIBUTIONS for arg in ("--refresh-package", name)],
                "-c",
                str(pins),
                "--find-links",
                str(DIST),
                f"airflow-provider-amt[emulator] @ {built('airflow_provider_amt', '.whl').as_uri()}",
            ],
            cwd=work,
            env={**os.environ, "UV_PYTHON_DOWNLOADS": "never", "VIRTUAL_ENV": ""},
        )
        freeze = run([*uv(), "pip", "freeze", "--python", str(python)], cwd=work).stdout
        ours = [line for line in freeze.splitlines() if line.startswith(("airflow-provider-amt", "amt-"))]
        if any(" @ file://" + str(ROOT) + "/" in line and "/dist/" not in line for line in ours) or len(ours) != 3:
            raise SystemExit(f"the venv does not hold the three wheels from dist/: {ours}")
        print("  " + "\n  ".join(ours))

        step("4. the example DAG amt_report from the sdist, against the installed emulator (airflow dags test)")
        with tarfile.open(built("airflow_provider_amt", ".tar.gz")) as sdist:
            (member,) = [m for m in sdist.getmembers() if m.name.endswith("/example_dags/amt_report.py")]
            source = sdist.extractfile(member)
            assert source is not None
            dags = work / "dags"
            dags.mkdir()
            (dags / "amt_report.py").write_bytes(source.read())
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHONPATH", "VIRTUAL_ENV", "AIRFLOW"))}
        ran = subprocess.run(
            [str(python), "-c", RUN_EXAMPLE, str(dags), str(work / "airflow")],
            cwd=work,
            env=env,
            text=True,
            capture_output=True,
            timeout=900,
        )
        print("  " + "\n  ".join((ran.stdout.strip().splitlines() or ["(no output)"])[-3:]))
        imported = next((line for line in ran.stdout.splitlines() if line.startswith("provider imported from")), "")
        if ran.returncode != 0 or str(venv) not in imported:
            print(ran.stdout[-6000:], ran.stderr[-3000:])
            raise SystemExit("the installed provider did not run the example DAG from outside the repository")
    print("\nmake dist: the three distributions build, pass twine check, install without the repository and run.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
