"""What the two drivers share that involves no I/O: settings, the engine's options, secret masking."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from amt_client.config import ServerConfig
from amt_client.engine import HttpRetryPolicy, redact


class ClientBase:
    """Holds the options an :class:`~amt_client.engine.Engine` is built with.

    :param config: the server settings; without them a subclass resolves them on first use (the
        Airflow hooks read a connection).
    :param retry_policy: override the config's retry settings (tests, interactive use).
    :param log: where retries and re-logons are reported.
    :param on_call: told of every HTTP attempt (see :class:`~amt_client.engine.Engine`), for metrics.
    """

    def __init__(
        self,
        config: ServerConfig | None = None,
        *,
        retry_policy: HttpRetryPolicy | None = None,
        log: Any = None,
        on_call: Callable[[str, str], None] | None = None,
    ):
        self._retry_policy = retry_policy
        self._on_call = on_call
        self._amt_log = log or logging.getLogger("amt_client")
        #: The settings once known (given here, or resolved on first use by a subclass).
        self._config: ServerConfig | None = None
        if config is not None:
            self._adopt(config)

    def _adopt(self, config: ServerConfig) -> ServerConfig:
        """Take the settings into use; says once per client when TLS verification is off."""
        if config.verify is False and config.base_url.startswith("https:"):
            self._amt_log.warning(
                "TLS certificate verification is off for %s (verify_ssl: false): anyone on the path can read "
                "the AMT password. Use it for tests only; set ca_bundle instead.",
                config.base_url,
            )
        self._config = config
        return config

    def _current_token(self) -> str | None:  # pragma: no cover - each driver keeps its own
        raise NotImplementedError

    def _known_secrets(self) -> list[str | None]:
        return [] if self._config is None else [self._config.password, self._current_token()]

    def redactor(self) -> Callable[[str], str]:
        """A function that masks this client's password and current logon token in a text.

        Callers that print what a job wrote (a job that echoes a credential) pass every line
        through it, so no secret this client holds is shown, whatever logging framework is used.
        """
        return lambda text: redact(text, self._known_secrets())
