"""A faithful, persisted, fault-injectable AMT Batch Server for loopback use (demo and tests).

Run it with ``amt-emulator`` (see the README of this distribution); embed it with
:func:`create_app`; drive it as a child process with :class:`EmulatorProcess`. It needs the AMT
client library for the wire contract and the code table, and no Airflow.
"""

__version__ = "0.1.0"

from amt_emulator.app import Emulator, EmulatorConfig, create_app
from amt_emulator.process import EmulatorProcess

__all__ = ["Emulator", "EmulatorConfig", "EmulatorProcess", "__version__", "create_app"]
