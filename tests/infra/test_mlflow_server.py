"""A real ``mlflow server`` on 127.0.0.1, started with the ``--allowed-hosts`` / ``--cors-allowed-origins`` of
``infra/k8s/mlflow.yaml``, a SQL backend (PostgreSQL when installed, else SQLite) and artifacts proxied to the S3
store, answers clients that call it by its in-cluster name; MLflow's defaults would not (403 while /health is
200, the readiness probe's blind spot)."""
from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

IN_CLUSTER = "mlflow.medfuse.svc.cluster.local:5000"


def _call(url: str, path: str, host: str, body: dict | None = None, origin: str | None = None):
    req = urllib.request.Request(url + path, data=None if body is None else json.dumps(body).encode(),
                                 method="GET" if body is None else "POST")
    req.add_header("Host", host)
    req.add_header("Content-Type", "application/json")
    if origin:
        req.add_header("Origin", origin)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_mlflow_defaults_reject_the_in_cluster_host():
    """The failure the flags fix, on MLflow's own rule: the default host list refuses the Service name."""
    from mlflow.server.security_utils import get_default_allowed_hosts, is_allowed_host_header
    assert not is_allowed_host_header(get_default_allowed_hosts(), IN_CLUSTER)
    assert is_allowed_host_header(get_default_allowed_hosts(), "127.0.0.1:5000")


@pytest.mark.slow
def test_server_answers_the_in_cluster_host_name(mlflow_server, s3_server, tmp_path, monkeypatch, capsys):
    url = mlflow_server.url
    with capsys.disabled():
        print(f"\n[mlflow server test] backend: {mlflow_server.backend}")
    # health is exempt from host checks (why a readiness probe alone never noticed the 403)
    assert _call(url, "/health", "evil.example.com:5000")[0] == 200
    status, body = _call(url, "/api/2.0/mlflow/experiments/search", IN_CLUSTER, {"max_results": 10})
    assert status == 200, body
    assert "experiments" in json.loads(body)
    for host in ("mlflow:5000", "mlflow.medfuse:5000", "mlflow.medfuse.svc:5000", "localhost:5000"):
        assert _call(url, "/api/2.0/mlflow/experiments/search", host, {"max_results": 1})[0] == 200, host
    status, body = _call(url, "/api/2.0/mlflow/experiments/search", "evil.example.com:5000", {"max_results": 1})
    assert status == 403 and "Invalid Host header" in body
    # CORS: a page served under the in-cluster name may change state; a foreign origin may not
    created = _call(url, "/api/2.0/mlflow/experiments/create", IN_CLUSTER, {"name": "cors-ok"},
                    origin=f"http://{IN_CLUSTER}")
    assert created[0] == 200, created
    blocked = _call(url, "/api/2.0/mlflow/experiments/create", IN_CLUSTER, {"name": "cors-bad"},
                    origin="http://evil.example.com")
    assert blocked[0] == 403, blocked

    # a real client round trip: run + metric + artifact (proxied to S3) + registry alias, over the SQL backend
    import mlflow
    from mlflow.tracking import MlflowClient
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    mlflow.set_tracking_uri(url)
    try:
        client = MlflowClient(url, url)
        exp = client.create_experiment("server-roundtrip")
        run = client.create_run(exp)
        client.log_metric(run.info.run_id, "score", 0.75, step=3)
        (tmp_path / "note.txt").write_text("hello s3")
        client.log_artifact(run.info.run_id, str(tmp_path / "note.txt"))
        client.set_terminated(run.info.run_id, "FINISHED")
        assert run.info.artifact_uri.startswith("mlflow-artifacts:")
        got = client.download_artifacts(run.info.run_id, "note.txt", str(tmp_path / "dl"))
        assert open(got).read() == "hello s3"
        client.create_registered_model("srv-model")
        mv = client.create_model_version("srv-model", f"runs:/{run.info.run_id}/note.txt", run.info.run_id)
        client.set_registered_model_alias("srv-model", "champion", mv.version)
        assert client.get_model_version_by_alias("srv-model", "champion").version == mv.version
        assert client.get_run(run.info.run_id).info.status == "FINISHED"
    finally:
        mlflow.set_tracking_uri("")
    import boto3
    s3 = boto3.client("s3", endpoint_url=s3_server.url, aws_access_key_id="testing",
                      aws_secret_access_key="testing", region_name="us-east-1")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="medfuse-mlflow").get("Contents", [])]
    assert any(k.endswith("/note.txt") for k in keys), keys


def test_sqlite_fallback_when_postgres_is_missing(monkeypatch):
    import servers
    monkeypatch.setattr(servers, "_pg_bin", lambda name: None)
    pg, why = servers.start_postgres()
    assert pg is None and "not installed" in why
