"""How many AMT jobs one triggerer process watches on one core: the provider against the peer design.

Each scenario runs two *triggerer-like* child processes one after the other against a fast fake
AMT server in a third (``_fake_amt.py``): the provider's real ``AmtJobTrigger`` and the **peer**
(a new aiohttp session per poll, status only, a fixed sleep: the pattern of several official
providers' triggers). A triggerer-like process is what Airflow's trigger runner is to a trigger:
the default asyncio loop, Airflow's structlog JSON log pipeline writing to a byte stream (as it does
to the supervisor), a greenback portal and bound log context per trigger task.

Scenarios (job counts and times on the command line; ``--scale`` emulates long polls with
proportionally fewer jobs polling proportionally faster, so polls/s and messages per poll match):

* ``scale``: JOBS jobs, 30 s polls, a message per 10 s each: loop lag p99, polls on time, CPU per poll.
* ``quiet``: the same jobs writing no messages: CPU per status-only poll.
* ``storm``: STORM jobs (not scaled) started at once, as after a triggerer restart, each reading its
  checkpoint through a fake supervisor: time until every job has polled, lag p99 during that
  time, checkpoint reads in the busiest second, and RSS per watched job once all have polled.
* ``slow``: SLOW jobs against a server that takes 50 ms per answer: polls on time.

``--bare`` adds a third poller to ``quiet``: a bare aiohttp status poll on one shared session (no
retries, rules, metrics or logging), the CPU floor under any design that polls with aiohttp.

The provider's trigger raises the process's young-generation GC threshold as in a triggerer
(``[amt] triggerer_gc_threshold``, 10,000 by default; ``AIRFLOW__AMT__TRIGGERER_GC_THRESHOLD=0`` in
the environment keeps Python's 700). The peer keeps Python's unless ``--peer-gc-threshold`` is given,
so the setting's own share can be told apart from the design's.

``--runner`` picks the triggerer both designs run in: ``default`` is Airflow 3.1-3.3's as it comes, a
greenback portal per trigger; ``dedicated`` is a triggerer that runs AMT triggers only, started with
``AIRFLOW_DISABLE_GREENBACK_PORTAL=true`` (docs/deployment.md), where no trigger has a portal (on
Airflow 3.0 no triggerer makes one). ``--compare-runner`` also runs the provider of the scale scenario
in the other runner, to show what the portal costs under load.

``--storm-floor`` adds processes to the storm: triggers that only wait, in each runner, so the
runner's own share (its task, portal and log context per trigger, and the collections of that
heap) is measured under the same count: the floor under any trigger design.

Every figure is printed with the peer's and the ratio. A poll is on time when it comes at most
10 % of the poll interval later than the longest pause the poller may take. The provider's log
output is checked afterwards: every message the server sent is logged exactly once, in order.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import itertools
import json
import logging
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
#: The provider's pause jitter: a poll may come this much later than ``poll_interval`` by design.
JITTER = 0.15
LATE = 0.10  # tolerance on top, as a fraction of the poll interval
#: Airflow 3.1+'s switch for a triggerer that makes no greenback portal per trigger.
NO_PORTAL = "AIRFLOW_DISABLE_GREENBACK_PORTAL"
RUNNERS = {
    "default": "Airflow's default triggerer (a greenback portal per trigger)",
    "dedicated": f"a dedicated AMT triggerer ({NO_PORTAL}=true: no portal)",
}
FIGURES = (
    "lag_p99_ms", "on_time_pct", "polls_per_s", "cpu_per_poll_ms", "gc_ms_per_s", "gc_max_pause_ms", "full_collections",
)  # fmt: skip


# --- the child: one triggerer-like process ---------------------------------------------------------


def _rss_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() // 1024


class LagMonitor:
    """Samples how late a 50 ms sleep wakes up: the event loop's lag."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []

    async def run(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(0.05)
            self.samples.append((time.time(), time.monotonic() - before - 0.05))


def _configure_triggerer_logging(sink: str) -> None:
    """Airflow's trigger-runner logging: structlog, JSON lines, secrets masker, to a byte stream."""
    from airflow.sdk.log import configure_logging, reset_logging

    reset_logging()
    stream = open(sink, "wb", buffering=0)  # noqa: SIM115 - the process writes to it until it exits
    configure_logging(json_output=True, output=stream, sending_to_supervisor=True)


class FakeTaskInstance:
    """What a trigger's ``task_instance`` offers the checkpoint: its keys."""

    def __init__(self, index: int) -> None:
        self.dag_id, self.task_id, self.run_id, self.map_index = "bench", "watch", "storm", index


def _fake_supervisor_xcom(reads: list[float]) -> None:
    """XCom from a trigger goes through the supervisor; here it answers in 5 ms and counts reads."""
    from airflow_provider_amt.triggers import checkpoint

    async def aget_xcom(key: str, **keys: Any) -> Any:
        reads.append(time.time())
        await asyncio.sleep(0.005)
        return None

    async def aset_xcom(key: str, value: Any, **keys: Any) -> None:
        await asyncio.sleep(0.005)

    checkpoint.aget_xcom = aget_xcom  # type: ignore[assignment]
    checkpoint.aset_xcom = aset_xcom  # type: ignore[assignment]


async def _provider_trigger(job: int, poll: float, storm: bool) -> Any:
    from airflow_provider_amt.triggers.amt import AmtJobTrigger

    trigger = AmtJobTrigger(batch_request_id=job, amt_conn_id="amt_bench", poll_interval=poll, initial_interval=poll)
    trigger.task_instance = FakeTaskInstance(job) if storm else None
    async for event in trigger.run():
        return event


async def _peer_trigger(job: int, poll: float, url: str, token: str) -> Any:
    """The peer design: a new session per poll, status only, a fixed pause, nothing logged."""
    import aiohttp

    from amt_client import DEFAULT_CONTRACT

    headers = {DEFAULT_CONTRACT.token_header: token}
    while True:
        async with aiohttp.ClientSession() as session, session.get(f"{url}/api/MonitorJob/{job}", headers=headers) as r:
            code = (await r.json())["completionCode"]
        if code == 4:
            return code
        await asyncio.sleep(poll)


async def _bare_trigger(job: int, poll: float, url: str, token: str, session: Any) -> Any:
    """The least an aiohttp status poll costs: the process's one session, a GET, its JSON, a jittered
    sleep (no retries, no outage rules, no metrics, nothing logged). No aiohttp-based trigger goes below."""
    from amt_client import DEFAULT_CONTRACT

    headers = {DEFAULT_CONTRACT.token_header: token}
    while True:
        async with session.get(f"{url}/api/MonitorJob/{job}", headers=headers) as r:
            code = json.loads(await r.read())["completionCode"]
        if code == 4:
            return code
        await asyncio.sleep(poll * (1 + JITTER * random.random()))


async def _run_child(args: argparse.Namespace) -> dict[str, Any]:
    import greenback
    from structlog.contextvars import bind_contextvars

    url = f"http://127.0.0.1:{args.port}"
    reads: list[float] = []
    bare_session: Any = None
    if args.variant == "bare":  # the floor of the provider's process, so with its collector setting too
        import aiohttp

        from airflow_provider_amt import config
        from airflow_provider_amt.triggers import collector

        collector.raise_young_threshold(config.trigger_options().triggerer_gc_threshold, logging.getLogger(__name__))
        bare_session = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())
    if args.variant == "provider":
        _fake_supervisor_xcom(reads)
    lag = LagMonitor()
    lag_task = asyncio.create_task(lag.run())
    gc_pauses: list[tuple[float, int, float]] = []
    gc_started: list[float] = []

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            gc_started[:] = [time.perf_counter()]
        elif gc_started:
            gc_pauses.append((time.time(), info["generation"], time.perf_counter() - gc_started[0]))

    gc.callbacks.append(on_gc)
    rss_before = _rss_kb()

    async def run_trigger(trigger_id: int, job: int) -> None:
        if os.environ.get(NO_PORTAL, "").lower() != "true":  # as Airflow 3.1+'s TriggerRunner.run_trigger
            await greenback.ensure_portal()
        bind_contextvars(trigger_id=trigger_id, dag_id="bench", task_id="watch", run_id="r", map_index=job)
        if args.variant == "provider":
            await _provider_trigger(job, args.poll, args.storm)
        elif args.variant == "peer":
            await _peer_trigger(job, args.poll, url, "bench-token-0123456789abcdef")
        elif args.variant == "bare":
            await _bare_trigger(job, args.poll, url, "bench-token-0123456789abcdef", bare_session)
        else:  # "idle": what the runner alone holds per trigger (the floor under any trigger design)
            await asyncio.Event().wait()

    # Started as the trigger runner does after a restart: every trigger at once, yielding to the
    # loop between two (``TriggerRunner.create_triggers``).
    started = time.time()
    triggers = []
    for i in range(args.jobs):
        await asyncio.sleep(0)
        triggers.append(asyncio.create_task(run_trigger(i + 1, i + 1)))
    await asyncio.sleep(max(0.0, started + args.warmup - time.time()))
    times0 = os.times()
    cpu0, t0 = time.process_time(), time.time()
    rss_steady = _rss_kb()
    profiler = _profiler(args.profile)
    await asyncio.sleep(args.window)
    cpu1, t1 = time.process_time(), time.time()
    times1 = os.times()
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
    for task in triggers:
        task.cancel()
    await asyncio.gather(*triggers, return_exceptions=True)
    lag_task.cancel()
    failed = [t for t in triggers if not t.cancelled() and t.exception() is not None]
    return {
        "started": started,
        "t0": t0,
        "t1": t1,
        "cpu": cpu1 - cpu0,
        "cpu_user": times1.user - times0.user,
        "cpu_system": times1.system - times0.system,
        "rss_before_kb": rss_before,
        "rss_steady_kb": rss_steady,
        "lag": lag.samples,
        "checkpoint_reads": reads,
        "gc_pauses": gc_pauses,
        "failed": [repr(t.exception()) for t in failed[:3]],
    }


def _profiler(path: str | None) -> Any:
    """``--profile FILE``: cProfile the measured window of a child (for finding where time goes)."""
    if not path:
        return None
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    return profiler


def _more_open_files() -> None:
    """Thousands of connections (the peer opens one per poll) need more than the usual 1,024 files."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for limit in (max(hard, 65_536), hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
            return
        except (ValueError, OSError):  # raising the hard limit needs root
            continue


def child_main(args: argparse.Namespace) -> None:
    os.environ["AIRFLOW_CONN_AMT_BENCH"] = json.dumps(
        {
            "conn_type": "amt",
            "host": f"http://127.0.0.1:{args.port}",
            "login": "BATCH",
            "password": "bench-password",
            "extra": {"timeout": 60},
        }
    )
    _more_open_files()
    if args.variant in ("peer", "idle") and args.peer_gc_threshold:
        gc.set_threshold(args.peer_gc_threshold, *gc.get_threshold()[1:])
    _configure_triggerer_logging(args.sink)
    # Imports and one-off set-up before the baseline RSS (the triggerer has them loaded too).
    import aiohttp  # noqa: F401

    import airflow_provider_amt.triggers.amt  # noqa: F401

    result = asyncio.run(_run_child(args))
    Path(args.out).write_text(json.dumps(result))


# --- the orchestrator ------------------------------------------------------------------------------


class FakeServer:
    def __init__(self, delay: float = 0.0, message_every: float = 1.0) -> None:
        cmd = [sys.executable, str(HERE / "_fake_amt.py"), "--delay", str(delay), "--message-every", str(message_every)]
        self.process = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, preexec_fn=_more_open_files)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"the fake AMT server did not start: {line!r}")
        self.port = int(line.split()[1])

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/stats", timeout=60) as r:
            return json.load(r)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def run_variant(
    variant: str,
    *,
    jobs: int,
    poll: float,
    message_every: float,
    warmup: float,
    window: float,
    delay: float = 0.0,
    storm: bool = False,
    peer_gc_threshold: int = 0,
    runner: str = "default",
) -> dict[str, Any]:
    server = FakeServer(delay, message_every)
    work = Path(tempfile.mkdtemp(prefix="amt-scale-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
    try:
        cmd = [
            sys.executable, __file__, "--child", variant, "--port", str(server.port), "--jobs", str(jobs),
            "--poll", str(poll), "--warmup", str(warmup), "--window", str(window),
            "--sink", str(work / "log.jsonl"), "--out", str(work / "result.json"),
            "--peer-gc-threshold", str(peer_gc_threshold),
        ]  # fmt: skip
        if storm:
            cmd.append("--storm")
        env = {**os.environ, "AIRFLOW_HOME": str(work / "airflow"), "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO"}
        env[NO_PORTAL] = "true" if runner == "dedicated" else "false"
        subprocess.run(cmd, check=True, env=env)
        result = json.loads((work / "result.json").read_text())
        result["server"] = server.stats()
        result["log"] = _logged_indexes(work / "log.jsonl") if variant == "provider" else {}
        return result
    finally:
        server.stop()
        for path in sorted(work.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        work.rmdir()


def _logged_indexes(sink: Path) -> dict[int, list[int]]:
    """Per job (its ``map_index`` in the bound log context), the AMT message indexes it logged."""
    from airflow_provider_amt.joblog import message_indexes

    logged: dict[int, list[int]] = {}
    with sink.open("rb") as f:
        for line in f:
            if b'"AMT ' not in line:
                continue
            record = json.loads(line)
            indexes = message_indexes(str(record.get("event", "")))
            if indexes:
                logged.setdefault(int(record["map_index"]), []).extend(indexes)
    return logged


def _rss_per_job_kb(result: dict[str, Any], jobs: int) -> float:
    return (result["rss_steady_kb"] - result["rss_before_kb"]) / max(jobs, 1)


def figures(result: dict[str, Any], poll: float) -> dict[str, float]:
    """Lag p99, polls on time, CPU per poll, RSS per job, from one variant's run."""
    t0, t1 = result["t0"], result["t1"]
    lags = sorted(lag for at, lag in result["lag"] if t0 <= at <= t1)
    allowed = poll * (1 + JITTER + LATE)
    gaps = [
        later - earlier
        for times in result["server"]["monitor_times"].values()
        for earlier, later in itertools.pairwise(times)
        if t0 <= later <= t1
    ]
    polls = sum(t0 <= at <= t1 for times in result["server"]["monitor_times"].values() for at in times)
    jobs = len(result["server"]["monitor_times"]) or 1
    pauses = [pause for at, _, pause in result["gc_pauses"] if t0 <= at <= t1]
    full = sum(generation == 2 for at, generation, _ in result["gc_pauses"] if t0 <= at <= t1)
    return {
        "lag_p99_ms": 1000 * lags[int(0.99 * (len(lags) - 1))] if lags else float("nan"),
        "on_time_pct": 100 * sum(g <= allowed for g in gaps) / len(gaps) if gaps else 0.0,
        "polls_per_s": polls / (t1 - t0),
        "cpu_per_poll_ms": 1000 * result["cpu"] / polls if polls else float("nan"),
        "rss_per_job_kb": _rss_per_job_kb(result, jobs),
        "gc_ms_per_s": 1000 * sum(pauses) / (t1 - t0),
        "gc_max_pause_ms": 1000 * max(pauses, default=0.0),
        "full_collections": full,
    }


def storm_figures(result: dict[str, Any], poll: float) -> dict[str, float]:
    """How a restart storm went: time until every job polled, lag meanwhile, checkpoint reads per second."""
    firsts = [times[0] for times in result["server"]["monitor_times"].values()]
    all_polled = max(firsts) - result["started"]
    storm_end = result["started"] + all_polled
    lags = sorted(lag for at, lag in result["lag"] if at <= storm_end)
    pauses = [pause for at, _, pause in result["gc_pauses"] if at <= storm_end]
    per_second: dict[int, int] = {}
    for at in result["checkpoint_reads"]:
        per_second[int(at)] = per_second.get(int(at), 0) + 1
    return {
        "jobs_polled": len(firsts),
        "all_polled_s": all_polled,
        "storm_lag_p99_ms": 1000 * lags[int(0.99 * (len(lags) - 1))] if lags else float("nan"),
        "reads_busiest_second": max(per_second.values(), default=0),
        "gc_max_pause_ms": 1000 * max(pauses, default=0.0),
        "rss_per_job_kb": _rss_per_job_kb(result, len(firsts)),
    }


def idle_figures(result: dict[str, Any], jobs: int) -> dict[str, float]:
    """The runner's own share of a storm: triggers that only wait (they start in a second or two,
    unpaced, so their loop lag is not comparable; their collections and memory are)."""
    return {
        "gc_max_pause_ms": 1000 * max((pause for _, _, pause in result["gc_pauses"]), default=0.0),
        "rss_per_job_kb": _rss_per_job_kb(result, jobs),
    }


def check_logged_once(result: dict[str, Any]) -> str:
    """Every message the server sent a job was logged once, in order, with no index skipped."""
    delivered = result["server"]["delivered"]
    for job, indexes in result["log"].items():
        if indexes != list(range(indexes[0], indexes[0] + len(indexes))) or indexes[0] != 0:
            return f"job {job}: logged indexes are not 0..n once each, in order: {indexes[:10]}..."
        sent = sorted(set(delivered.get(str(job), [])))
        if indexes != sent[: len(indexes)]:
            return f"job {job}: logged {len(indexes)} messages, the server sent {len(sent)}"
    return f"ok ({sum(map(len, result['log'].values()))} messages in {len(result['log'])} jobs, each once, in order)"


def table(rows: list[tuple[str, float, float]]) -> None:
    print("| figure | provider | peer | provider / peer |\n|---|---|---|---|")
    for name, mine, peer in rows:
        ratio = f"{mine / peer:.2f}" if peer and peer == peer and mine == mine else "-"
        print(f"| {name} | {mine:.2f} | {'-' if peer != peer else f'{peer:.2f}'} | {ratio} |", flush=True)


def orchestrate(args: argparse.Namespace) -> None:
    scale = args.scale
    poll, every = args.poll / scale, args.message_every / scale
    print(f"# triggerer scale ({time.strftime('%Y-%m-%d')}; {os.cpu_count()} cores, Python {sys.version.split()[0]})")
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}\n", flush=True)
    from airflow_provider_amt.config import TRIGGERER_GC_THRESHOLD_DEFAULT

    threshold = os.environ.get("AIRFLOW__AMT__TRIGGERER_GC_THRESHOLD", f"{TRIGGERER_GC_THRESHOLD_DEFAULT} (default)")
    print(f"young-generation GC threshold: provider {threshold} ([amt] triggerer_gc_threshold), "
          f"peer {args.peer_gc_threshold or gc.get_threshold()[0]}")  # fmt: skip
    print(f"runner: {RUNNERS[args.runner]}, for the provider and the peer\n")
    run = functools.partial(run_variant, peer_gc_threshold=args.peer_gc_threshold, runner=args.runner)
    other = next(name for name in RUNNERS if name != args.runner)
    results: dict[str, dict[str, Any]] = {}
    scenarios = args.only.split(",")
    if "scale" in scenarios:
        jobs = args.jobs // scale
        print(f"## scale: {args.jobs} jobs at {args.poll:g} s polls, a message per {args.message_every:g} s "
              f"(run as {jobs} jobs at {poll:g} s polls, a message per {every:g} s)\n")  # fmt: skip
        mine = run("provider", jobs=jobs, poll=poll, message_every=every, warmup=args.warmup, window=args.scale_window)
        a = figures(mine, poll)
        if args.skip_peer:
            b = dict.fromkeys(a, float("nan"))
        else:
            peer = run("peer", jobs=jobs, poll=poll, message_every=every, warmup=args.warmup, window=args.scale_window)
            b = figures(peer, poll)
        server = mine["server"]
        ratio = server["get_messages_bytes"] / max(server["message_bytes"], 1)
        table([(k, a[k], b[k]) for k in FIGURES])
        print(f"\nGetMessages bytes / message bytes: {ratio:.3f}; requests: {server['requests']}")
        print(f"messages logged: {check_logged_once(mine)}\n", flush=True)
        results["scale"] = {"provider": a, "peer": b, "bytes_ratio": ratio}
        if args.compare_runner:
            kw = {"jobs": jobs, "poll": poll, "message_every": every, "warmup": args.warmup}
            theirs = run("provider", **kw, window=args.scale_window, runner=other)
            c = figures(theirs, poll)
            shown = ", ".join(f"{k} {c[k]:.2f} (here {a[k]:.2f})" for k in FIGURES)
            print(f"the provider in {RUNNERS[other]}: {shown}; messages logged: {check_logged_once(theirs)}\n")
            results["scale"]["provider_" + other] = c
    if "quiet" in scenarios:
        jobs = args.jobs // scale
        print("## quiet: the same jobs writing no messages (status-only polls)\n")
        mine = run("provider", jobs=jobs, poll=poll, message_every=0, warmup=args.warmup, window=args.window)
        peer = run("peer", jobs=jobs, poll=poll, message_every=0, warmup=args.warmup, window=args.window)
        a, b = figures(mine, poll), figures(peer, poll)
        table([(k, a[k], b[k]) for k in FIGURES])
        print(f"requests: {mine['server']['requests']}\n", flush=True)
        results["quiet"] = {"provider": a, "peer": b}
        if args.bare:
            kw = {"jobs": jobs, "poll": poll, "message_every": 0, "warmup": args.warmup, "window": args.window}
            bare = figures(run("bare", **kw), poll)
            shown = ", ".join(f"{k} {bare[k]:.2f} (provider {a[k]:.2f})" for k in FIGURES)
            print(f"a bare aiohttp status poll on one shared session, same runner: {shown}\n", flush=True)
            results["quiet"]["bare"] = bare
    if "storm" in scenarios:
        print(f"## storm: {args.storm_jobs} triggers started at once (a triggerer restart), {args.poll:g} s polls\n")
        kw = {"jobs": args.storm_jobs, "poll": args.poll, "message_every": args.message_every}
        # every trigger has polled by then (1,000 starts a second: 20 s for 20,000)
        mine = run("provider", **kw, warmup=args.poll * 0.8, window=2, storm=True)
        peer = run("peer", **kw, warmup=args.poll * 0.8, window=2)
        a, b = storm_figures(mine, args.poll), storm_figures(peer, args.poll)
        table([(k, a[k], b[k]) for k in a])
        print(f"messages logged: {check_logged_once(mine)}", flush=True)
        if args.storm_floor:
            for name in (args.runner, other):
                idle = run("idle", **kw, warmup=min(6.0, a["all_polled_s"]), window=1, runner=name)  # up in ~2 s
                floor = idle_figures(idle, args.storm_jobs)
                print(
                    f"floor ({args.storm_jobs} triggers that only wait, {RUNNERS[name]}): longest collection "
                    f"{floor['gc_max_pause_ms']:.0f} ms, {floor['rss_per_job_kb']:.1f} KB RSS per trigger",
                    flush=True,
                )
                a["floor" if name == args.runner else "floor_" + name] = floor
        print()
        results["storm"] = {"provider": a, "peer": b}
    if "slow" in scenarios:
        jobs = args.slow_jobs // scale
        print(
            f"## slow: {args.slow_jobs} jobs at {args.poll:g} s polls, 50 ms per answer (run as {jobs} at {poll:g} s)\n"
        )
        kw = {"jobs": jobs, "poll": poll, "message_every": every, "delay": 0.05}
        mine = run("provider", **kw, warmup=args.warmup, window=args.window)
        peer = run("peer", **kw, warmup=args.warmup, window=args.window)
        a, b = figures(mine, poll), figures(peer, poll)
        table([(k, a[k], b[k]) for k in FIGURES])
        print(f"server connections opened: provider {mine['server']['connections']} (at most "
              f"{mine['server']['max_open']} open), peer {peer['server']['connections']}\n", flush=True)  # fmt: skip
        results["slow"] = {"provider": a, "peer": b}
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=50_000, help="jobs of the scale and quiet scenarios")
    parser.add_argument("--storm-jobs", type=int, default=20_000)
    parser.add_argument("--slow-jobs", type=int, default=20_000)
    parser.add_argument("--poll", type=float, default=30.0, help="poll interval, seconds")
    parser.add_argument("--message-every", type=float, default=10.0, help="seconds between a job's messages")
    parser.add_argument("--scale", type=int, default=10, help="run JOBS/SCALE jobs polling SCALE times as often")
    parser.add_argument("--warmup", type=float, default=6.0, help="seconds before measuring (scale, quiet, slow)")
    parser.add_argument("--window", type=float, default=12.0, help="seconds measured (quiet, slow)")
    parser.add_argument(
        "--scale-window",
        type=float,
        default=20.0,
        help="seconds measured (scale: long enough for a peer's full collections, whose timing decides its lag p99)",
    )
    parser.add_argument("--only", default="scale,quiet,storm,slow")
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument(
        "--storm-floor", action="store_true", help="storm: also run triggers that only wait (the runner's share)"
    )
    parser.add_argument(
        "--bare", action="store_true", help="quiet: also run a bare aiohttp poller (the floor under any aiohttp design)"
    )
    parser.add_argument("--runner", choices=tuple(RUNNERS), default="default", help="the triggerer both designs run in")
    parser.add_argument(
        "--compare-runner", action="store_true", help="scale: also run the provider in the other runner"
    )
    parser.add_argument(
        "--skip-peer",
        action="store_true",
        help="scale: the provider alone (a peer at 50,000 unscaled jobs runs out of file descriptors)",
    )
    parser.add_argument(
        "--peer-gc-threshold",
        type=int,
        default=0,
        help="young-generation GC threshold of the peer's (and the floor's) process (0: Python's)",
    )
    # the child's own arguments
    parser.add_argument("--child", choices=("provider", "peer", "idle", "bare"), help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--sink", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--storm", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--profile", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.variant = args.child
        child_main(args)
    else:
        orchestrate(args)


if __name__ == "__main__":
    random.seed(0)
    main()
