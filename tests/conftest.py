"""Shared fixtures: a real emulator over loopback and an isolated Airflow home.

Environment variables are set before Airflow is imported anywhere, so the suite never touches
``~/airflow`` and the connection ``amt_default`` always points at the test emulator.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_HOME = Path(tempfile.mkdtemp(prefix="amt-airflow-home-"))
os.environ.setdefault("AIRFLOW_HOME", str(_HOME))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")

from amt_client import AmtClient, HttpRetryPolicy, StartRequest  # noqa: E402
from amt_client.contract import DEFAULT_CONTRACT  # noqa: E402
from amt_emulator import EmulatorProcess  # noqa: E402

#: Simulated seconds per real second in the shared emulator: REPORTTEST01 (1 s queue + 6 s) ~0.7 s.
TIME_SCALE = 10.0
FAST_RETRIES = HttpRetryPolicy(max_retries=3, base_delay=0.01, max_delay=0.05)


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory):
    state = tmp_path_factory.mktemp("emulator") / "state.sqlite"
    with EmulatorProcess(state, time_scale=TIME_SCALE) as emu:
        yield emu


@pytest.fixture(autouse=True)
def _clean_emulator(request: pytest.FixtureRequest):
    """Faults and token lifetime set by one test never leak into the next."""
    yield
    for name in ("emulator", "cluster_emulator"):
        if name in request.fixturenames:
            emu = request.getfixturevalue(name)
            if emu.running:
                emu.set_faults([], token_ttl=3600)


@pytest.fixture
def amt_conn(emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch) -> str:
    """``amt_default`` as an env-var connection (works for triggers under ``dags test`` too)."""
    monkeypatch.setenv("AIRFLOW_CONN_AMT_DEFAULT", emulator.connection_uri(timeout=5, connect_timeout=2))
    return "amt_default"


class AsyncDriver:
    """Runs an ``AmtAsyncHook`` on one event loop and exposes its methods synchronously.

    It lets one test body check both hooks with the same assertions.
    """

    def __init__(self, hook):
        self.hook = hook
        self.loop = asyncio.new_event_loop()

    def __getattr__(self, name):
        attr = getattr(self.hook, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            return self.loop.run_until_complete(attr(*args, **kwargs))

        return call

    def close(self):
        self.loop.run_until_complete(self.hook.close())
        self.loop.close()


@pytest.fixture
def amt(amt_conn: str):
    """A sync hook on the shared emulator, with fast retries (tests that drive jobs directly)."""
    from airflow_provider_amt.hooks.amt import AmtHook

    AmtClient.forget_tokens()
    sync = AmtHook(amt_conn, retry_policy=FAST_RETRIES)
    yield sync
    sync.close()


@pytest.fixture(params=["sync", "async"])
def hook(request: pytest.FixtureRequest, amt_conn: str):
    """Each hook-level test runs once with ``AmtHook`` and once with ``AmtAsyncHook``."""
    from airflow_provider_amt.hooks.amt import AmtAsyncHook, AmtHook

    if request.param == "sync":
        AmtClient.forget_tokens()
        sync = AmtHook(amt_conn, retry_policy=FAST_RETRIES)
        yield sync
        sync.close()
    else:
        driver = AsyncDriver(AmtAsyncHook(amt_conn, retry_policy=FAST_RETRIES))
        yield driver
        driver.close()


@pytest.fixture(scope="session")
def existing_id(emulator) -> int:
    """A batch request that exists on the shared emulator (for read-only calls)."""
    import requests

    session = requests.Session()
    body = {"userName": emulator.user, "password": emulator.password}
    token = session.post(emulator.url + DEFAULT_CONTRACT.paths.logon, json=body).json()["amtLogonToken"]
    session.headers[DEFAULT_CONTRACT.token_header] = token
    start = DEFAULT_CONTRACT.start_request(StartRequest.batch_job("DEMO2", "REPORTTEST01", ["fixture"]))
    return session.post(emulator.url + start.path, json=start.json_body).json()["batchRequestId"]


# --- a real Airflow deployment (scheduler, triggerer, dag-processor, api-server) ------------------


@pytest.fixture(scope="module")
def cluster_emulator(tmp_path_factory):
    """An emulator at real speed for the cluster tests (jobs must outlive Airflow's reactions)."""
    with EmulatorProcess(tmp_path_factory.mktemp("cluster-emu") / "state.sqlite", time_scale=1) as emu:
        yield emu


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, cluster_emulator):
    from tests.airflow_harness import ROOT, AirflowCluster, AirflowHome

    # amt_nolookup: a server that cannot say which batch request has a task id
    nolookup = cluster_emulator.connection_uri(api_paths={"find_request": None})
    home = AirflowHome(
        tmp_path_factory.mktemp("af-cluster"),
        ROOT / "tests" / "dags",
        cluster_emulator.connection_uri(),
        extra_env={
            "AIRFLOW_CONN_AMT_NOLOOKUP": nolookup,
            # amt_linked: a site with an AMT portal (the task's "AMT job" link)
            "AIRFLOW_CONN_AMT_LINKED": cluster_emulator.connection_uri(
                job_url_template="https://amt-portal.example/requests/{batch_request_id}"
            ),
        },
    )
    home.migrate()
    with AirflowCluster(home) as running:
        dags = ("amt_cluster_kill", "amt_cluster_kill_sync", "amt_cluster_restart", "amt_cluster_retry")
        more = ("amt_cluster_unclear_start", "amt_cluster_unclear_start_nolookup", "amt_cluster_actions")
        from_trigger = ("amt_cluster_from_trigger", "amt_cluster_from_trigger_one")
        for dag_id in (
            *dags,
            *more,
            "amt_cluster_kill_policy",
            "amt_cluster_live",
            *from_trigger,
            "amt_cluster_linked",
            "amt_assets_producer",  # example_dags/amt_assets.py (linked into tests/dags)
            "amt_assets_consumer",
        ):
            running.wait_for_dag(dag_id)
        yield running


@pytest.fixture
def logged_on_server() -> Iterator[object]:
    """A crafted loopback server (``tests/crafted.py``) that accepts the logon; a test sets the rest."""
    from tests.crafted import Crafted

    crafted = Crafted()
    crafted.logon_ok()
    yield crafted
    crafted.shutdown()


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it (with the key identifiers and key usage
    Python 3.13's strict X.509 verification requires)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder = tmp_path_factory.mktemp("tls")
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "AMT test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_path, cert_path, key_path
