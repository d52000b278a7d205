"""``amt-emulator``: run the AMT Batch Server emulator until interrupted.

The first line of output is the URL it listens on (so scripts can pass ``--port 0`` and read the
port back); everything after that is informational.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import socket
import sys

from aiohttp import web

from airflow_provider_amt.emulator.app import Emulator, EmulatorConfig, create_app
from airflow_provider_amt.emulator.catalog import Catalog, CatalogError
from airflow_provider_amt.emulator.faults import FaultError, Faults
from airflow_provider_amt.emulator.state import JobStore

DEFAULT_PORT = 42000
DEFAULT_STATE = "amt-emulator-state.sqlite"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="amt-emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port, 0 for any free one (default {DEFAULT_PORT})"
    )
    parser.add_argument("--catalog", default=None, help="job catalogue JSON/YAML (default: the bundled DEMO2 one)")
    parser.add_argument(
        "--state",
        default=DEFAULT_STATE,
        help=f"SQLite state file (default ./{DEFAULT_STATE}); ':memory:' keeps nothing",
    )
    parser.add_argument("--user", default="amtopcon", help="API user (default amtopcon)")
    parser.add_argument("--password", default="amtopcon", help="API password (default amtopcon)")
    parser.add_argument("--time-scale", type=float, default=1.0, help="simulated seconds per real second (default 1)")
    parser.add_argument(
        "--token-ttl", type=float, default=3600.0, help="logon token lifetime in seconds (default 3600)"
    )
    parser.add_argument("--faults", default=None, help="fault document as JSON text or @file (see docs/emulator.md)")
    args = parser.parse_args(argv)
    if args.time_scale <= 0:
        parser.error("--time-scale must be > 0")
    return args


def _faults(text: str | None, ttl: float) -> Faults:
    if text and text.startswith("@"):
        with open(text[1:], encoding="utf-8") as handle:
            text = handle.read()
    return Faults.from_json(json.loads(text) if text else None, default_ttl=ttl)


async def serve(args: argparse.Namespace) -> None:
    store = JobStore(args.state, Catalog.load(args.catalog), time_scale=args.time_scale)
    emulator = Emulator(store=store, config=EmulatorConfig(user=args.user, password=args.password))
    emulator.faults = _faults(args.faults, args.token_ttl)
    runner = web.AppRunner(create_app(emulator), access_log=None, handle_signals=False)
    await runner.setup()
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    await web.SockSite(runner, sock).start()
    host = f"[{args.host}]" if family == socket.AF_INET6 else args.host
    print(f"http://{host}:{sock.getsockname()[1]}", flush=True)
    print(f"amt-emulator: state {args.state}, time scale {args.time_scale}, user {args.user}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        store.close()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        asyncio.run(serve(args))
    except (CatalogError, FaultError, OSError, ValueError) as err:
        print(f"amt-emulator: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
