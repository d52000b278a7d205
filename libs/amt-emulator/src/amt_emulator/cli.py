"""``amt-emulator``: run the AMT Batch Server emulator until interrupted.

The first line of output is the URL it listens on (so scripts can pass ``--port 0`` and read the
port back); everything after that is informational.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import os
import signal
import socket
import sys
from typing import Any

from aiohttp import web

from amt_client.contract import DEFAULT_CONTRACT, WireContract
from amt_client.contract_document import load_contract
from amt_client.errors import AmtConfigurationError
from amt_emulator.app import Emulator, EmulatorConfig, create_app
from amt_emulator.catalog import Catalog, CatalogError
from amt_emulator.faults import FaultError, Faults
from amt_emulator.state import JobStore

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
    parser.add_argument(
        "--contract",
        default=None,
        help="serve another wire contract: a contract document (docs/api-contract.md) as JSON text, or the path "
        'of a .json / .yaml file (@file too), e.g. {"version": 1, "paths": {"logon": "/amt/Logon"}}',
    )
    parser.add_argument(
        "--admin-token",
        default=os.environ.get("AMT_EMULATOR_ADMIN_TOKEN"),
        help="token the admin routes require (header X-AMT-Emulator-Admin-Token); without one they are open "
        "on a loopback bind and off on any other (default: $AMT_EMULATOR_ADMIN_TOKEN)",
    )
    args = parser.parse_args(argv)
    if args.time_scale <= 0:
        parser.error("--time-scale must be > 0")
    return args


def _document(text: str | None) -> Any:
    """A JSON option given inline or as ``@file``."""
    if text and text.startswith("@"):
        with open(text[1:], encoding="utf-8") as handle:
            text = handle.read()
    return json.loads(text) if text else None


def _contract(text: str | None) -> WireContract:
    """The contract document given inline (JSON) or as a file (``@file`` or a plain path)."""
    if not text:
        return DEFAULT_CONTRACT
    return load_contract(text[1:] if text.startswith("@") else text)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def serve(args: argparse.Namespace) -> None:
    store = JobStore(args.state, Catalog.load(args.catalog), time_scale=args.time_scale)
    config = EmulatorConfig(
        user=args.user,
        password=args.password,
        contract=_contract(args.contract),
        admin_open=_loopback(args.host),
        admin_token=args.admin_token or None,
    )
    emulator = Emulator(store=store, config=config)
    emulator.faults = Faults.from_json(_document(args.faults), default_ttl=args.token_ttl)
    runner = web.AppRunner(create_app(emulator), access_log=None, handle_signals=False)
    await runner.setup()
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    await web.SockSite(runner, sock).start()
    # A wildcard bind is reached on loopback from this machine: print the URL a local client uses.
    local = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(args.host, args.host)
    host = f"[{local}]" if family == socket.AF_INET6 else local
    print(f"http://{host}:{sock.getsockname()[1]}", flush=True)
    print(f"amt-emulator: state {args.state}, time scale {args.time_scale}, user {args.user}", flush=True)
    if not config.admin_open and not config.admin_token:
        print("amt-emulator: admin routes are off (non-loopback bind without --admin-token)", flush=True)
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
    except (AmtConfigurationError, CatalogError, FaultError, OSError, ValueError) as err:
        print(f"amt-emulator: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
