"""A faithful, persisted, fault-injectable AMT Batch Server for loopback use (demo and tests).

Run it with ``amt-emulator`` (see ``docs/emulator.md``); embed it with :func:`create_app`.
"""

from airflow_provider_amt.emulator.app import Emulator, EmulatorConfig, create_app

__all__ = ["Emulator", "EmulatorConfig", "create_app"]
