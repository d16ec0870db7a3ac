"""Offline checks of the cluster manifests: Kubernetes schemas (core kinds), the RayJob fields the project
relies on, the `ray up` config against Ray's own schema, and version consistency with the package."""
from __future__ import annotations

import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "infra" / "k8s"
K8S_VERSION = "1.32"


def _docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _ray_pin() -> str:
    m = re.search(r'"ray\[[^\]]*\]==([0-9.]+)"', (ROOT / "pyproject.toml").read_text())
    assert m, "ray pin not found in pyproject.toml"
    return m.group(1)


@pytest.mark.parametrize("name", ["namespace.yaml", "mlflow.yaml", "cronjob-retrain.yaml"])
def test_core_kinds_pass_kubernetes_schema(name):
    for doc in _docs(K8S / name):
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_schema_check_catches_a_bad_field():
    doc = _docs(K8S / "cronjob-retrain.yaml")[-1]
    doc["spec"]["bogusField"] = 1
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_rayjob_fields_and_pod_templates():
    (job,) = _docs(K8S / "rayjob-retrain.yaml")
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob"
    spec = job["spec"]
    assert "pipelines.retrain" in spec["entrypoint"]
    env = yaml.safe_load(spec["runtimeEnvYAML"])["env_vars"]
    assert env["RAY_USAGE_STATS_ENABLED"] == "0" and env["MLFLOW_DISABLE_TELEMETRY"] == "true"
    assert spec["shutdownAfterJobFinishes"] is True and isinstance(spec["ttlSecondsAfterFinished"], int)
    assert job["metadata"].get("generateName"), "scheduled runs must not collide on a fixed name"
    cluster = spec["rayClusterSpec"]
    assert cluster["rayVersion"] == _ray_pin()
    templates = [cluster["headGroupSpec"]["template"]] + [g["template"] for g in cluster["workerGroupSpecs"]]
    for i, tmpl in enumerate(templates):
        kubernetes_validate.validate({"apiVersion": "v1", "kind": "PodTemplate",
                                      "metadata": {"name": f"t{i}"}, "template": tmpl}, K8S_VERSION, strict=True)


def test_cronjob_creates_the_rayjob_from_the_configmap():
    docs = {d["kind"]: d for d in _docs(K8S / "cronjob-retrain.yaml")}
    cron = docs["CronJob"]["spec"]
    assert cron["concurrencyPolicy"] == "Forbid"
    assert len(cron["schedule"].split()) == 5
    pod = cron["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["containers"][0]["command"][:2] == ["kubectl", "create"]
    rules = docs["Role"]["rules"][0]
    assert "rayjobs" in rules["resources"] and "create" in rules["verbs"]
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    cm = kust["configMapGenerator"][0]
    assert cm["name"] == pod_volume_configmap(pod) and cm["files"] == ["rayjob-retrain.yaml"]
    for res in kust["resources"]:
        assert (K8S / res).exists(), res


def pod_volume_configmap(pod: dict) -> str:
    return pod["volumes"][0]["configMap"]["name"]


def test_ray_up_config_passes_rays_schema():
    from ray.autoscaler._private.util import prepare_config, validate_config
    cfg = yaml.safe_load((ROOT / "infra/ray/cluster.yaml").read_text())
    validate_config(prepare_config(cfg))
    bad = dict(cfg, max_workerz=3)
    with pytest.raises(Exception, match="max_workerz"):
        validate_config(prepare_config(bad))


def test_docker_base_image_matches_ray_pin():
    text = (ROOT / "infra/docker/Dockerfile").read_text()
    assert f"rayproject/ray:{_ray_pin()}-" in text


def test_retrain_overrides_and_plan(tmp_path, monkeypatch):
    from pipelines import retrain
    p = tmp_path / "params.yaml"
    p.write_text("train:\n  resources:\n    num_workers: 0\n")
    out = retrain.write_overrides(p, ["train.resources.num_workers=4"])
    assert out["train"]["resources"]["num_workers"] == 4
    assert yaml.safe_load(p.read_text())["train"]["resources"]["num_workers"] == 4
    steps = retrain.plan(dvc_pull=True, datasets=["datasets/h.dvc"], has_lock=True)
    assert [s[2:] for s in steps] == [["dvc", "pull", "datasets/h.dvc"], ["dvc", "pull", "--allow-missing"],
                                      ["dvc", "repro"]]
    assert [s[2:] for s in retrain.plan(dvc_pull=True, no_scm=True, datasets=["datasets/h.dvc"])] == [
        ["dvc", "config", "--local", "core.no_scm", "true"], ["dvc", "pull", "datasets/h.dvc"], ["dvc", "repro"]]
    calls = []
    monkeypatch.setattr(retrain.subprocess, "call", lambda cmd: calls.append(cmd[2:]) or (1 if cmd[3] == "pull" else 0))
    monkeypatch.chdir(tmp_path)                                   # not a git work tree (like the image)
    source = ["--set", "data.source.kind=aanlib", "--set", "data.source.path=datasets/harvard"]
    assert retrain.main(["--dvc-pull", *source]) == 2, "nothing versioned to pull: bad input"
    assert calls == []
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets/harvard.dvc").write_text("outs: []\n")
    assert retrain.main(["--dvc-pull", *source]) == 1
    assert calls == [["dvc", "config", "--local", "core.no_scm", "true"], ["dvc", "pull", "datasets/harvard.dvc"]], \
        "DVC without git first; a failed pull must stop the job before repro"


@pytest.mark.parametrize("sets, allow, message", [
    ([], False, "phantom"),                                       # the default source: never retrain on it
    (["data.source.kind=aanlib", "data.source.path=/mnt/harvard"], False, "not a folder under datasets/"),
    (["data.source.kind=nifti", "data.source.path=datasets/../x"], False, "not a folder under datasets/"),
    (["data.source.kind=nifti", "data.source.path=datasets"], False, "not a folder under datasets/"),
])
def test_retrain_refuses_unversioned_data(tmp_path, monkeypatch, capsys, sets, allow, message):
    from pipelines import retrain
    (tmp_path / "params.yaml").write_text("data:\n  source:\n    kind: phantom\n    path: null\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(retrain.subprocess, "call", lambda cmd: pytest.fail(f"ran {cmd}"))
    args = [a for s in sets for a in ("--set", s)] + (["--allow-phantom"] if allow else [])
    assert retrain.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and err.startswith("retrain: error: ")
    assert "aanlib" not in (tmp_path / "params.yaml").read_text(), "params must not change when the job refuses"


def test_retrain_allows_the_phantom_when_asked(tmp_path, monkeypatch):
    from pipelines import retrain
    (tmp_path / "params.yaml").write_text("data:\n  source:\n    kind: phantom\n")
    monkeypatch.chdir(tmp_path)
    calls = []
    monkeypatch.setattr(retrain.subprocess, "call", lambda cmd: calls.append(cmd[2:]) or 0)
    assert retrain.main(["--allow-phantom"]) == 0 and calls[-1] == ["dvc", "repro"]


def test_rayjob_overrides_name_existing_params():
    """The job's --set keys must exist in params.yaml, or the typed stage configs would reject them."""
    (job,) = _docs(K8S / "rayjob-retrain.yaml")
    keys = re.findall(r"--set ([\w.]+)=", job["spec"]["entrypoint"])
    assert keys
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for key in keys:
        node = params
        for part in key.split("."):
            assert isinstance(node, dict) and part in node, f"{key} not in params.yaml"
            node = node[part]


def _images() -> set[str]:
    found = set()
    for path in [*K8S.glob("*.yaml"), ROOT / "infra/ray/cluster.yaml"]:
        found |= set(re.findall(r"image:\s*(ghcr\.io/\S+)", path.read_text()))
    return found


def test_build_script_pushes_the_image_the_manifests_pull():
    import subprocess
    res = subprocess.run(["bash", str(ROOT / "infra/docker/build.sh"), "--dry-run", "--push"], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    build, push = res.stdout.strip().splitlines()
    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    image = f"ghcr.io/medfuse/medfuse:{version}"
    assert build.startswith("docker build -f infra/docker/Dockerfile") and build.endswith(f"-t {image} .")
    assert f"RAY_IMAGE=rayproject/ray:{_ray_pin()}-py311-gpu" in build and push == f"docker push {image}"
    assert _images() == {image}, "every manifest must pull the image build.sh pushes"
    bad = subprocess.run(["bash", str(ROOT / "infra/docker/build.sh"), "--bogus"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown argument" in bad.stderr


def test_dockerignore_keeps_caches_and_data_out():
    lines = {ln.strip() for ln in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".git", ".dvc/cache", ".dvc/tmp", ".dvc/config.local", "data", "models", "mlruns", ".venv"} <= lines
    assert "datasets/*" in lines and "!datasets/*.dvc" in lines


def test_mlflow_server_allows_its_in_cluster_names():
    docs = {d["kind"]: d for d in _docs(K8S / "mlflow.yaml") if d["metadata"]["name"] == "mlflow"}
    svc, dep = docs["Service"], docs["Deployment"]
    cmd = dep["spec"]["template"]["spec"]["containers"][0]["command"]
    hosts = cmd[cmd.index("--allowed-hosts") + 1].split(",")
    origins = cmd[cmd.index("--cors-allowed-origins") + 1].split(",")
    name, ns, port = svc["metadata"]["name"], svc["metadata"]["namespace"], svc["spec"]["ports"][0]["port"]
    fqdn = f"{name}.{ns}.svc.cluster.local"
    for host in (name, f"{name}.{ns}", f"{name}.{ns}.svc", fqdn):
        assert host in hosts and f"{host}:{port}" in hosts and f"http://{host}:{port}" in origins
    (job,) = _docs(K8S / "rayjob-retrain.yaml")
    uri = yaml.safe_load(job["spec"]["runtimeEnvYAML"])["env_vars"]["MLFLOW_TRACKING_URI"]
    assert uri == f"http://{fqdn}:{port}", "the job must call the server by a name the server allows"


def test_rayjob_trains_on_versioned_data_with_shared_storage():
    (job,) = _docs(K8S / "rayjob-retrain.yaml")
    sets = dict(re.findall(r"--set ([\w.]+)=(\S+)", job["spec"]["entrypoint"]))
    assert sets["data.source.kind"] != "phantom" and sets["data.source.path"].startswith("datasets/")
    assert sets["train.resources.storage_path"].startswith("s3://")
    cluster = job["spec"]["rayClusterSpec"]
    for tmpl in [cluster["headGroupSpec"]["template"]] + [g["template"] for g in cluster["workerGroupSpecs"]]:
        env = {e["name"] for e in tmpl["spec"]["containers"][0]["env"]}
        assert {"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= env


def test_ray_up_cron_passes_the_tracking_uri(tmp_path):
    import json
    import os
    import subprocess
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "ray").write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {tmp_path}/args\n')
    (fake / "ray").chmod(0o755)
    env = {"PATH": f"{fake}{os.pathsep}{os.environ['PATH']}", "MEDFUSE_RETRAIN_ENV": str(tmp_path / "none.env")}
    script = str(ROOT / "infra/ray/retrain-cron.sh")
    res = subprocess.run(["bash", script], env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "MLFLOW_TRACKING_URI" in res.stderr and len(res.stderr.splitlines()) == 1
    (tmp_path / "retrain.env").write_text("MLFLOW_TRACKING_URI=http://mlflow.internal:5000\n"
                                          "AWS_ENDPOINT_URL=http://minio.internal:9000\n")
    env["MEDFUSE_RETRAIN_ENV"] = str(tmp_path / "retrain.env")
    res = subprocess.run(["bash", script], env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    args = (tmp_path / "args").read_text().splitlines()
    assert args[:2] == ["job", "submit"]
    runtime_env = json.loads(args[args.index("--runtime-env-json") + 1])
    assert runtime_env["env_vars"] == {"MLFLOW_TRACKING_URI": "http://mlflow.internal:5000",
                                       "AWS_ENDPOINT_URL": "http://minio.internal:9000"}
    assert "pipelines.retrain --dvc-pull" in args[-1] and "data.source.path=datasets/harvard" in args[-1]
