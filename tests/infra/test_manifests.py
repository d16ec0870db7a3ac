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
    steps = retrain.plan(dvc_pull=True)
    assert [s[2:] for s in steps] == [["dvc", "pull"], ["dvc", "repro"]]
    calls = []
    monkeypatch.setattr(retrain.subprocess, "call", lambda cmd: calls.append(cmd[2:]) or (1 if cmd[3] == "pull" else 0))
    monkeypatch.chdir(tmp_path)
    assert retrain.main(["--dvc-pull"]) == 1
    assert calls == [["dvc", "pull"]], "a failed pull must stop the job before repro"


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
