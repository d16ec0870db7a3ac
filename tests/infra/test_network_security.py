"""Who can reach what in the cluster (issue 13 §4): NetworkPolicies checked against the table of infra/README.md
by evaluating them on the pods the manifests create, MLflow's basic-auth app with every credential from a Secret,
and (slow) a real ``mlflow server --app-name basic-auth`` configured exactly as the Deployment does it: requests
without the user or with a wrong password are refused, the pipeline's client with the Secret's user gets in."""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from base64 import b64encode
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "infra" / "k8s"


def _docs(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]


def _policies() -> list[dict]:
    return [d for d in _docs("networkpolicies.yaml") if d["kind"] == "NetworkPolicy"]


def _pod_labels() -> dict[str, dict]:
    """The pods of namespace medfuse, by role, with the labels the manifests give them."""
    mlflow = {d["metadata"]["name"]: d for d in _docs("mlflow.yaml")}
    (job,) = _docs("rayjob-retrain.yaml")
    spec = job["spec"]
    cron = {d["kind"]: d for d in _docs("cronjob-retrain.yaml")}["CronJob"]
    return {
        "mlflow": mlflow["mlflow"]["spec"]["template"]["metadata"]["labels"],
        "postgres": mlflow["postgres"]["spec"]["template"]["metadata"]["labels"],
        "ray-head": spec["rayClusterSpec"]["headGroupSpec"]["template"]["metadata"]["labels"],
        "ray-worker": spec["rayClusterSpec"]["workerGroupSpecs"][0]["template"]["metadata"]["labels"],
        "submitter": spec["submitterPodTemplate"]["metadata"]["labels"],
        "cron": cron["spec"]["jobTemplate"]["spec"]["template"].get("metadata", {}).get("labels", {}),
        "minio": {"app": "minio"},
        "other": {"app": "something-else"},
    }


OPERATOR = {"namespace": {"medfuse.io/kuberay-operator": "true"}, "pod": {"app.kubernetes.io/name": "kuberay-operator"}}


def _match(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def reachable(src: dict, dst_labels: dict, port: int) -> bool:
    """NetworkPolicy semantics (matchLabels only): ``src`` = {"pod": labels, "namespace": labels or None for
    the policies' own namespace}; allowed iff some policy selecting the destination has an ingress rule whose
    peer and port match (and no policy selecting it means allowed)."""
    selecting = [p for p in _policies() if _match(p["spec"]["podSelector"], dst_labels)]
    if not selecting:
        return True
    for pol in selecting:
        for rule in pol["spec"].get("ingress") or []:
            ports = [p["port"] for p in rule.get("ports") or []]
            if ports and port not in ports:
                continue
            for peer in rule.get("from") or [{}]:
                ns_sel, pod_sel = peer.get("namespaceSelector"), peer.get("podSelector")
                if ns_sel is None and src.get("namespace") is not None:
                    continue                          # a bare podSelector means this namespace only
                if ns_sel is not None and (src.get("namespace") is None or not _match(ns_sel, src["namespace"])):
                    continue
                if pod_sel is not None and not _match(pod_sel, src["pod"]):
                    continue
                return True
    return False


# (source role, destination role, port, allowed): the README's "Who can reach what", row by row
REACH = [
    ("ray-head", "mlflow", 5000, True), ("ray-worker", "mlflow", 5000, True),
    ("submitter", "mlflow", 5000, False), ("cron", "mlflow", 5000, False), ("other", "mlflow", 5000, False),
    ("mlflow", "postgres", 5432, True), ("ray-head", "postgres", 5432, False), ("other", "postgres", 5432, False),
    ("ray-worker", "ray-head", 6379, True), ("ray-head", "ray-worker", 40000, True),
    ("submitter", "ray-head", 8265, True), ("operator", "ray-head", 8265, True),
    ("submitter", "ray-head", 6379, False), ("operator", "ray-head", 6379, False),
    ("mlflow", "ray-head", 8265, False), ("other", "ray-head", 8265, False), ("cron", "ray-head", 8265, False),
    ("other", "ray-head", 10001, False),
    ("mlflow", "minio", 9000, True), ("ray-worker", "minio", 9000, True), ("other", "minio", 9000, False),
    ("other", "submitter", 8080, False),
]


def test_policies_pass_the_kubernetes_schema_and_are_deployed():
    for doc in _docs("networkpolicies.yaml"):
        kubernetes_validate.validate(doc, "1.32", strict=True)
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert "networkpolicies.yaml" in kust["resources"]
    assert any(p["spec"]["podSelector"] == {} and p["spec"]["policyTypes"] == ["Ingress"] and
               not p["spec"].get("ingress") for p in _policies()), "no default deny"


@pytest.mark.parametrize("src, dst, port, allowed", REACH, ids=[f"{s}->{d}:{p}" for s, d, p, _ in REACH])
def test_who_can_reach_what(src, dst, port, allowed):
    pods = _pod_labels()
    source = OPERATOR if src == "operator" else {"pod": pods[src], "namespace": None}
    assert reachable(source, pods[dst], port) is allowed


def test_the_readme_table_says_what_the_policies_do():
    """Every named source in infra/README.md's "Who can reach what" table is allowed or refused as the table says,
    and every REACH row (other than "any other pod") is in the table."""
    text = (ROOT / "infra" / "README.md").read_text()
    section = text.split("## Who can reach what", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        m = re.match(r"\| `([\w-]+)` \| (\d+)[^|]* \| ([^|]*) \| ([^|]*) \|$", line)
        if m:
            rows[(m.group(1), int(m.group(2)))] = (set(re.findall(r"`([\w-]+)`", m.group(3))),
                                                    set(re.findall(r"`([\w-]+)`", m.group(4))))
    assert len(rows) >= 6
    pods = _pod_labels()
    for (dst, port), (allowed, refused) in rows.items():
        for src in allowed | refused:
            source = OPERATOR if src == "operator" else {"pod": pods[src], "namespace": None}
            assert reachable(source, pods[dst], port) is (src in allowed), (src, dst, port)
        assert reachable({"pod": pods["other"], "namespace": None}, pods[dst], port) is False
    for src, dst, port, allowed in REACH:
        if src != "other":
            assert src in rows[(dst, port)][0 if allowed else 1], (src, dst, port)


def _mlflow_container() -> tuple[dict, dict]:
    dep = {d["metadata"]["name"]: d for d in _docs("mlflow.yaml")}["mlflow"]
    pod = dep["spec"]["template"]["spec"]
    return pod, pod["containers"][0]


def test_mlflow_runs_the_basic_auth_app_with_credentials_from_secrets():
    pod, c = _mlflow_container()
    assert c["command"][:4] == ["mlflow", "server", "--app-name", "basic-auth"]
    env = {e["name"]: e for e in c["env"]}
    for name in ("MLFLOW_AUTH_ADMIN_USERNAME", "MLFLOW_AUTH_ADMIN_PASSWORD", "MLFLOW_FLASK_SERVER_SECRET_KEY"):
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "medfuse-mlflow-auth", name
    assert env["MLFLOW_AUTH_CONFIG_PATH"]["value"].startswith("/etc/mlflow-auth/")
    (init,) = pod["initContainers"]
    assert {e["name"] for e in init["env"]} == {"MLFLOW_BACKEND_URI"}
    assert pod["volumes"][0]["emptyDir"]["medium"] == "Memory"
    (job,) = _docs("rayjob-retrain.yaml")
    cluster = job["spec"]["rayClusterSpec"]
    for tmpl in [cluster["headGroupSpec"]["template"]] + [g["template"] for g in cluster["workerGroupSpecs"]]:
        client = {e["name"]: e for e in tmpl["spec"]["containers"][0]["env"]}
        for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
            assert client[name]["valueFrom"]["secretKeyRef"]["name"] == "medfuse-mlflow-auth"
    kubernetes_validate.validate({"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "submitter"},
                                  "template": job["spec"]["submitterPodTemplate"]}, "1.32", strict=True)


def test_no_credential_is_written_in_a_manifest():
    for path in K8S.glob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            for c in _containers(doc):
                for e in c.get("env") or []:
                    if re.search(r"PASSWORD|SECRET|KEY_ID|TOKEN", e["name"]):
                        assert "valueFrom" in e and "value" not in e, (path.name, e["name"])


def _containers(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("containers", "initContainers") and isinstance(v, list):
                yield from v
            else:
                yield from _containers(v)
    elif isinstance(node, list):
        for v in node:
            yield from _containers(v)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _status(url: str, user: str | None = None, password: str | None = None) -> int:
    req = urllib.request.Request(url, data=b'{"max_results": 1}', method="POST",
                                 headers={"Content-Type": "application/json"})
    if user is not None:
        req.add_header("Authorization", "Basic " + b64encode(f"{user}:{password}".encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.slow
def test_real_basic_auth_server_as_the_deployment_configures_it(tmp_path):
    pod, c = _mlflow_container()
    backend = f"sqlite:///{tmp_path}/mlflow.db"
    script = pod["initContainers"][0]["command"][2].replace("/etc/mlflow-auth", str(tmp_path))
    subprocess.run(["/bin/sh", "-c", script], env={**os.environ, "MLFLOW_BACKEND_URI": backend}, check=True)
    ini = (tmp_path / "basic_auth.ini").read_text()
    assert f"database_uri = {backend}" in ini and oct((tmp_path / "basic_auth.ini").stat().st_mode)[-3:] == "600"
    port = _free_port()
    secrets = {"MLFLOW_AUTH_ADMIN_USERNAME": "medfuse-bot", "MLFLOW_AUTH_ADMIN_PASSWORD": "a-Long-secret-4-tests",
               "MLFLOW_FLASK_SERVER_SECRET_KEY": "csrf-key"}
    env = {**os.environ, **secrets, "MLFLOW_AUTH_CONFIG_PATH": str(tmp_path / "basic_auth.ini"),
           "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    cmd = [str(Path(sys.executable).parent / "mlflow"), *c["command"][1:4], "--backend-store-uri", backend,
           "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                with urllib.request.urlopen(url + "/health", timeout=5):
                    break
            except OSError:
                assert proc.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
                time.sleep(1)
        api = url + "/api/2.0/mlflow/experiments/search"
        assert _status(api) == 401
        assert _status(api, "medfuse-bot", "wrong") == 401
        assert _status(api, "medfuse-bot", secrets["MLFLOW_AUTH_ADMIN_PASSWORD"]) == 200
        client = subprocess.run(                   # the pipeline's client, with the Secret's user (RayJob env)
            [sys.executable, "-c", "import mlflow; mlflow.set_tracking_uri('%s'); "
             "print(mlflow.create_experiment('medfuse/auth-check'))" % url],
            env={**os.environ, "MLFLOW_TRACKING_USERNAME": "medfuse-bot",
                 "MLFLOW_TRACKING_PASSWORD": secrets["MLFLOW_AUTH_ADMIN_PASSWORD"]},
            capture_output=True, text=True, timeout=120)
        assert client.returncode == 0, client.stderr[-2000:]
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
        log.close()
