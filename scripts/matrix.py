"""``make test-matrix``: the provider on every Airflow minor and Python it declares.

Each cell is one Airflow release on one Python (the interpreters come from the machine's pyenv, as
CI has them), installed by ``uv`` into ``.matrix/<cell>`` from the cell's constraints file in
``matrix/`` (Airflow's own constraint files cannot be downloaded here, and the newest
fastapi / cadwyn / starlette break the execution API of some Airflow releases, so each cell keeps a
resolved set that works). In each cell it runs:

1. the imports of every provider module;
2. ``airflow providers list``: the provider is registered;
3. the non-e2e test suite (``pytest -m "not airflow_e2e"``);
4. ``scripts/demo.py`` with the cell's Python: the emulator, a hook round trip and the example DAG
   through ``airflow dags test``; the AMT messages must reach its output;
5. what differs most between Airflow versions (``CELL_CHECKS``): a task's end, through ``airflow
   dags test`` of the issue-26 DAGs (a refused Start and a fail-fast code use one try of
   ``retries=3`` while other failures still retry, a job held in a state fails at its state
   limit); the connection form as the cell's own API server reports it; and the whole ``dags
   test`` output and task logs at DEBUG, which hold neither the password nor a logon token.

A missing interpreter fails its cell (it never passes silently). ``--write`` puts the results into
``docs/compatibility.md`` between its result markers.

    python scripts/matrix.py run [CELL ...] [--write]   # default: every cell
    python scripts/matrix.py lock [CELL ...]            # re-resolve constraints (needs PyPI)
"""

from __future__ import annotations

import argparse
import datetime
import glob
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MATRIX = ROOT / "matrix"
VENVS = ROOT / ".matrix"
DOC = ROOT / "docs" / "compatibility.md"
BEGIN, END = "<!-- matrix results: begin -->", "<!-- matrix results: end -->"
#: What the test suite needs besides the provider (resolved into each cell's constraints too).
TEST_REQUIREMENTS = (
    "hypothesis>=6.100",
    "pytest>=8",
    "pytest-asyncio>=0.24",
    "pytest-timeout>=2.3",
    "pytest-xdist>=3.6",
    "requests-mock>=1.12",
    "psutil",
)
LOCAL = (ROOT / "libs" / "amt-client", ROOT / "libs" / "amt-emulator", ROOT)
LOCAL_NAMES = ("amt-client", "amt-emulator", "airflow-provider-amt")
NON_E2E = "not airflow_e2e and not browser and not distributed"
#: Named checks each cell runs after the demo: (pytest marker expression, tests). Where Airflow
#: versions differ most: how a task ends (fail fast, retries, state limits), the connection form
#: (hook methods on 3.0 / 3.1, provider info on 3.2+), what DEBUG logging prints.
CELL_CHECKS = {
    "task endings (dags test)": (
        "airflow_e2e",
        [
            "tests/test_airflow_dags.py::test_a_refused_start_and_a_fail_fast_code_use_no_retries",
            "tests/test_airflow_dags.py::test_other_failures_still_use_their_retries",
            "tests/test_airflow_dags.py::test_a_job_held_in_a_state_logs_it_and_fails_at_its_state_limit",
        ],
    ),
    "connection form (API server)": ("not airflow_e2e", ["tests/test_connection_form.py"]),
    "no secret at DEBUG (dags test)": (
        "airflow_e2e",
        ["tests/test_airflow_dags.py::test_no_password_or_token_in_dags_test_output_or_task_logs_at_debug_level"],
    ),
}
MODULES = (
    "airflow_provider_amt.hooks.amt",
    "airflow_provider_amt.operators.amt",
    "airflow_provider_amt.sensors.amt",
    "airflow_provider_amt.triggers.amt",
    "airflow_provider_amt.log.task_handler",
    "airflow_provider_amt.log.config",
    "airflow_provider_amt.get_provider_info",
)


@dataclass(frozen=True)
class Cell:
    """One Airflow release on one Python, with the pins its own execution API needs."""

    name: str
    airflow: str
    python: str
    pins: tuple[str, ...] = ()
    why: str = ""

    @property
    def constraints(self) -> Path:
        return MATRIX / f"constraints-airflow-{self.name}.txt"


CELLS = {
    cell.name: cell
    for cell in (
        Cell(
            "3.0",
            "3.0.6",
            "3.10",
            ("fastapi==0.115.12", "cadwyn==5.3.3"),
            "newer fastapi / cadwyn break Airflow 3.0.6's execution API",
        ),
        Cell("3.1", "3.1.8", "3.12"),
        Cell(
            "3.2",
            "3.2.2",
            "3.11",
            ("svcs==25.1.0",),
            "svcs 26 breaks Airflow 3.2.2's in-process execution API: 'State' object has no attribute 'svcs_registry'",
        ),
        Cell("3.3", "3.3.2", "3.13"),
    )
}


@dataclass
class Result:
    cell: Cell
    interpreter: str = ""
    checks: dict[str, str] = field(default_factory=dict)
    ok: bool = True

    def record(self, check: str, ok: bool, detail: str) -> None:
        self.checks[check] = ("pass: " if ok else "FAIL: ") + detail
        self.ok = self.ok and ok
        print(f"  [{'pass' if ok else 'FAIL'}] {check}: {detail}", flush=True)


def uv() -> list[str]:
    """The uv the Makefile found (``AMT_UV``), else uv on PATH."""
    if os.environ.get("AMT_UV"):
        return shlex.split(os.environ["AMT_UV"])
    found = shutil.which("uv")
    return [found] if found else [sys.executable, "-m", "uv"]


def interpreter(version: str) -> str | None:
    """The newest pyenv CPython ``version``.x, else ``pythonX.Y`` on PATH."""
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates = sorted(
        glob.glob(os.path.join(root, "versions", f"{version}.*", "bin", "python")),
        key=lambda path: [int(part) for part in re.findall(r"\d+", Path(path).parents[1].name)],
    )
    return candidates[-1] if candidates else shutil.which(f"python{version}")


def run(command: list[str], timeout: float, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT, **kwargs)  # type: ignore[call-overload]


def tail(process: subprocess.CompletedProcess[str], lines: int = 25) -> str:
    return "\n".join((process.stdout + process.stderr).splitlines()[-lines:])


def lock(cell: Cell) -> None:
    """Resolve the cell's requirements into its constraints file (the local packages left out)."""
    python = interpreter(cell.python)
    if python is None:
        raise SystemExit(f"{cell.name}: no Python {cell.python} interpreter")
    with tempfile.NamedTemporaryFile("w", suffix=".in", delete=False) as spec:
        spec.write("\n".join([f"apache-airflow=={cell.airflow}", *cell.pins, *TEST_REQUIREMENTS, *map(str, LOCAL)]))
    result = run(
        [
            *uv(),
            "pip",
            "compile",
            spec.name,
            "--python",
            python,
            "--no-header",
            "--no-annotate",
            *[
                arg
                for package in ("airflow-provider-amt", "amt-client", "amt-emulator")
                for arg in ("--no-emit-package", package)
            ],
            "-o",
            str(cell.constraints),
        ],
        timeout=600,
    )
    os.unlink(spec.name)
    if result.returncode != 0:
        raise SystemExit(f"{cell.name}: could not resolve:\n{tail(result)}")
    header = f"# Airflow {cell.airflow} on Python {cell.python}: `python scripts/matrix.py lock {cell.name}`.\n"
    if cell.why:
        header += f"# Pinned: {', '.join(cell.pins)} ({cell.why}).\n"
    cell.constraints.write_text(header + cell.constraints.read_text())
    print(f"{cell.name}: {cell.constraints.relative_to(ROOT)}")


def build(cell: Cell, python: str, result: Result) -> Path | None:
    venv = VENVS / cell.name
    shutil.rmtree(venv, ignore_errors=True)
    made = run([*uv(), "venv", "--quiet", "--python", python, str(venv)], timeout=300)
    if made.returncode != 0:
        result.record("environment", False, tail(made, 5))
        return None
    editable = [arg for path in LOCAL for arg in ("-e", str(path))]
    started = time.monotonic()
    installed = run(
        [
            *uv(),
            "pip",
            "install",
            "--quiet",
            "--python",
            str(venv / "bin" / "python"),
            "-c",
            str(cell.constraints),
            f"apache-airflow=={cell.airflow}",
            *TEST_REQUIREMENTS,
            *editable,
        ],
        timeout=1200,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
    )
    if installed.returncode != 0:
        result.record("environment", False, tail(installed, 10))
        return None
    result.record("environment", True, f"installed from {cell.constraints.name} in {time.monotonic() - started:.0f} s")
    return venv


def check_cell(cell: Cell) -> Result:
    print(f"\n== Airflow {cell.airflow} on Python {cell.python} ==", flush=True)
    result = Result(cell)
    python = interpreter(cell.python)
    if python is None:
        result.record("interpreter", False, f"no Python {cell.python} (pyenv or PATH): the cell cannot run")
        return result
    result.interpreter = run([python, "--version"], timeout=30).stdout.strip()
    venv = build(cell, python, result)
    if venv is None:
        return result
    py = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "VIRTUAL_ENV"))}
    home = Path(tempfile.mkdtemp(prefix=f"amt-matrix-{cell.name}-"))
    env.update({"AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "PYTHONWARNINGS": "ignore"})
    try:
        versions = run(
            [py, "-c", "import airflow, sys; print(airflow.__version__, sys.version.split()[0])"], 60, env=env
        )
        imports = run([py, "-c", f"import {', '.join(MODULES)}"], timeout=120, env=env)
        result.record(
            "imports", imports.returncode == 0, versions.stdout.strip() if imports.returncode == 0 else tail(imports)
        )
        listed = run([str(venv / "bin" / "airflow"), "providers", "list"], timeout=300, env=env)
        registered = listed.returncode == 0 and "airflow-provider-amt" in listed.stdout
        result.record("providers list", registered, "airflow-provider-amt listed" if registered else tail(listed))
        tests = run(
            [
                py,
                "-m",
                "pytest",
                "-p",
                "no:cacheprovider",
                "-q",
                "-n",  # two processes, a file each at a time, as make test
                "2",
                "--dist",
                "loadfile",
                "-m",
                NON_E2E,
                f"--basetemp={home / 'pytest'}",
            ],
            timeout=1800,
            env=env,
        )
        result.record("non-e2e suite", tests.returncode == 0, _summary(tests))
        demo = run([py, str(ROOT / "scripts" / "demo.py")], timeout=900, env=env)
        from airflow_provider_amt.joblog import message_index  # the line format's one parser

        messages = sum(message_index(line.strip()) is not None for line in demo.stdout.splitlines())
        shown = demo.returncode == 0 and messages > 0
        result.record(
            "demo (dags test)",
            shown,
            f"{messages} AMT message lines in the example DAG's task log" if shown else tail(demo, 40),
        )
        browser = connection_form_in_a_browser(py, env)
        if browser is not None:
            result.record("connection form (browser)", browser.returncode == 0, _summary(browser))
        else:
            print("  [skip] connection form (browser): no Chromium here (make ui-check installs it)", flush=True)
        for check, (marker, tests) in CELL_CHECKS.items():
            done = run([py, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-m", marker, *tests], timeout=900, env=env)
            result.record(check, done.returncode == 0, _summary(done))
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return result


def _summary(done: subprocess.CompletedProcess[str]) -> str:
    """pytest's summary line (a line printed at exit may follow it), or the failure's tail."""
    if done.returncode != 0:
        return tail(done, 40)
    lines = done.stdout.strip().splitlines() or ["no output"]
    return next((line for line in reversed(lines) if re.search(r"\d+ (passed|failed|error)", line)), lines[-1])


def connection_form_in_a_browser(py: str, env: dict[str, str]) -> subprocess.CompletedProcess[str] | None:
    """Debian's Chromium adds an AMT connection in this cell's own UI (its api-server alone), when
    Chromium is installed (``make ui-check`` installs it; CI runs that before the matrix)."""
    if shutil.which("chromium") is None:
        return None
    installed = run([*uv(), "pip", "install", "--quiet", "--python", py, "playwright>=1.45"], timeout=600)
    if installed.returncode != 0:
        return installed
    return run(
        [py, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-m", "browser", "tests/test_ui_connection_form.py"],
        timeout=600,
        env=env,
    )


def write_doc(results: list[Result]) -> None:
    """Put the results into docs/compatibility.md: the rows of the cells run now replace theirs; a
    row of another cell stays (with its date) when it has every check that ran now."""
    columns = ["cell", "Airflow", "Python", "result", "date", *results[0].checks]
    text = DOC.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    kept: dict[str, dict[str, str]] = {}
    block = text[start:end]
    earlier = re.search(r"on (\d{4}-\d\d-\d\d)", block)
    lines = [line for line in block.splitlines() if line.startswith("| ") and not line.startswith("|---")]
    if lines:
        names = [name.strip() for name in lines[0].strip().strip("|").split("|")]
        for line in lines[1:]:
            row = dict(zip(names, (value.strip() for value in line.strip().strip("|").split("|")), strict=False))
            row.setdefault("date", earlier.group(1) if earlier else "")
            if all(column in row for column in columns):
                kept[row["cell"]] = row
    today = datetime.date.today().isoformat()
    for r in results:
        checks = [re.sub(r"\s+", " ", value).replace("|", "/")[:160] for value in r.checks.values()]
        values = [r.cell.name, r.cell.airflow, r.interpreter or r.cell.python, "pass" if r.ok else "FAIL", today]
        kept[r.cell.name] = dict(zip(columns, [*values, *checks], strict=True))
    table = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    table += ["| " + " | ".join(kept[name][c] for c in columns) + " |" for name in CELLS if name in kept]
    produced = "Produced by `make test-matrix` (each row on its date)."
    DOC.write_text(text[:start] + f"{BEGIN}\n{produced}\n\n" + "\n".join(table) + f"\n{END}" + text[end:])
    print(f"\n{DOC.relative_to(ROOT)} updated")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("run", "lock"))
    parser.add_argument("cells", nargs="*", help=f"cells to take (default: all of {', '.join(CELLS)})")
    parser.add_argument("--write", action="store_true", help="write the results into docs/compatibility.md")
    args = parser.parse_args()
    unknown = [name for name in args.cells if name not in CELLS]
    if unknown:
        parser.error(f"unknown cells {unknown}; known: {', '.join(CELLS)}")
    cells = [CELLS[name] for name in (args.cells or CELLS)]
    if args.action == "lock":
        for cell in cells:
            lock(cell)
        return 0
    results = [check_cell(cell) for cell in cells]
    print("\n== Matrix ==")
    for r in results:
        print(
            f"  {r.cell.name}: Airflow {r.cell.airflow}, {r.interpreter or 'Python ' + r.cell.python}: "
            f"{'pass' if r.ok else 'FAIL'}"
        )
    if args.write:
        write_doc(results)
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
