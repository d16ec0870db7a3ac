"""Session fixtures for the infra tests: moto S3, a SQL backend (PostgreSQL when its server binaries are
installed, else SQLite; the test output says which) and one MLflow server started with the security flags of
``infra/k8s/mlflow.yaml``.  Started lazily: only the slow tests that use them pay for them."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import servers  # noqa: E402


def manifest_security_args() -> list[str]:
    """``--allowed-hosts`` / ``--cors-allowed-origins`` exactly as the MLflow Deployment passes them."""
    for doc in yaml.safe_load_all((ROOT / "infra/k8s/mlflow.yaml").read_text()):
        if doc and doc["kind"] == "Deployment" and doc["metadata"]["name"] == "mlflow":
            cmd = doc["spec"]["template"]["spec"]["containers"][0]["command"]
            out = []
            for flag in ("--allowed-hosts", "--cors-allowed-origins"):
                out += [flag, cmd[cmd.index(flag) + 1]]
            return out
    raise AssertionError("infra/k8s/mlflow.yaml: no mlflow Deployment")


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    srv = servers.start_s3(tmp_path_factory.mktemp("s3"))
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def sql_backend(tmp_path_factory, request):
    """(kind, SQLAlchemy URI): PostgreSQL from the machine's server packages when they run, else SQLite."""
    pg, why = servers.start_postgres()
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if pg is not None:
        kind, uri = "postgresql", pg.uri
    else:
        kind, uri = "sqlite", f"sqlite:///{tmp_path_factory.mktemp('mlflowdb') / 'mlflow.db'}"
    line = f"MLflow server backend for the infra tests: {kind}" + ("" if pg else f" (PostgreSQL: {why})")
    if reporter is not None:
        reporter.write_line(line)
    else:
        print(line)
    yield kind, uri
    if pg is not None:
        pg.stop()


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory, s3_server, sql_backend):
    srv = servers.start_mlflow(tmp_path_factory.mktemp("mlflow"), sql_backend[1], manifest_security_args(),
                               s3_server.env)
    srv.backend = sql_backend[0]
    yield srv
    srv.stop()
