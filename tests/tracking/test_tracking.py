"""MLflow: embedded store layout, lineage tags, the pyfunc model round trip, champion/challenger aliases."""
from __future__ import annotations

import io
import subprocess

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pipelines.tracking import lineage, setup
from pipelines.tracking.pyfunc_model import decode_image, encode_image, example_input, log_fusion_model
from pipelines.tracking.registry import PromotionRule, apply_decision, decide, version_by_alias


def png(arr: np.ndarray) -> bytes:
    return encode_image(arr, "png")


def test_tracking_uri_env_override(monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert setup.tracking_uri(tmp_path) == f"sqlite:///{tmp_path.resolve()}/mlruns/mlflow.db"
    assert setup.artifact_location(tmp_path, "medfuse/MRI_PET").endswith("/mlruns/artifacts/medfuse_MRI_PET")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/other/x.db")
    assert setup.artifact_location(tmp_path, "x") == (tmp_path / "other" / "artifacts" / "x").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5055")
    assert setup.tracking_uri(tmp_path) == "http://127.0.0.1:5055"
    assert setup.artifact_location(tmp_path, "x") is None


def test_lineage_tags_git_commit_and_dvc_hash(tmp_path):
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "f.txt").write_text("x")
    subprocess.run(["git", "add", "f.txt"], cwd=tmp_path, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c"], cwd=tmp_path,
                   check=True)
    sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    split = tmp_path / "data" / "splits" / "train.parquet"
    split.parent.mkdir(parents=True)
    split.write_bytes(b"parquet-bytes")
    import hashlib
    md5 = hashlib.md5(b"parquet-bytes").hexdigest()
    tags = lineage.lineage_tags(tmp_path, {"train": split})
    assert tags["mlflow.source.git.commit"] == sha and tags["medfuse.git_dirty"] == "false"
    assert tags["medfuse.data_version"] == f"md5:{md5}"          # no dvc.lock: the file's own md5
    (tmp_path / "dvc.lock").write_text(
        "schema: '2.0'\nstages:\n  split:\n    cmd: x\n    outs:\n    - path: data/splits\n"
        "      hash: md5\n      md5: abc123.dir\n")
    assert lineage.data_version(split, tmp_path) == "abc123.dir"  # the DVC-tracked output dir's hash
    (tmp_path / "f.txt").write_text("changed")
    assert lineage.git_commit(tmp_path) == (sha, True)


def test_run_logging_params_metrics_tags(mlflow_store, toy_checkpoints):
    import mlflow
    from pipelines.tracking.run_logger import RunLogger
    exp = setup.ensure_experiment("medfuse/MRI_PET", mlflow_store)
    assert setup.ensure_experiment("medfuse/MRI_PET", mlflow_store) == exp
    tags = lineage.lineage_tags(mlflow_store, {"train": toy_checkpoints["split"] / "train.parquet"})
    with mlflow.start_run(experiment_id=exp, tags=tags) as run:
        mlflow.log_params({"preset": "toy_fusion", "loss": "lsgan"})
        logger = RunLogger(mlflow.get_tracking_uri(), run.info.run_id)
        for step in (1, 2, 3):
            logger.log_metrics({"G/total": 1.0 / step}, step=step)
    got = mlflow.get_run(run.info.run_id)
    assert got.data.params == {"preset": "toy_fusion", "loss": "lsgan"}
    assert got.data.tags["medfuse.data_version"].startswith("md5:")
    hist = mlflow.tracking.MlflowClient().get_metric_history(run.info.run_id, "G/total")
    assert [(m.step, m.value) for m in hist] == [(1, 1.0), (2, 0.5), (3, pytest.approx(1 / 3))]
    assert got.info.artifact_uri.startswith((mlflow_store / "mlruns" / "artifacts").resolve().as_uri())


def test_image_codec_round_trip():
    rng = np.random.default_rng(0)
    g = rng.random((9, 11)).astype(np.float32)
    back, kind = decode_image(png(g), "x")
    assert kind == "png" and back.shape == (9, 11)
    np.testing.assert_allclose(back, np.round(g * 255) / 255, atol=1e-6)
    rgb = rng.random((9, 11, 3)).astype(np.float32)
    assert decode_image(png(rgb), "x")[0].shape == (9, 11, 3)
    arr, kind = decode_image(encode_image(g, "npy"), "x")
    assert kind == "npy" and np.array_equal(arr, g)
    buf = io.BytesIO()
    Image.fromarray((g * 65535).astype(np.uint16)).save(buf, format="PNG")
    np.testing.assert_allclose(decode_image(buf.getvalue(), "x")[0], g, atol=2e-5)
    with pytest.raises(ValueError, match="row 0 column a: not a readable image"):
        decode_image(b"not an image", "row 0 column a")
    with pytest.raises(ValueError, match="must lie in \\[0, 1\\]"):
        decode_image(encode_image(g * 3, "npy"), "x")


def test_pyfunc_round_trip_register_alias_and_load(mlflow_store, toy_checkpoints):
    import mlflow
    from pipelines.training.inference import FusionModel
    exp = setup.ensure_experiment("medfuse/MRI_PET", mlflow_store)
    with mlflow.start_run(experiment_id=exp):
        info = log_fusion_model(toy_checkpoints["strong"], registered_model_name="medfuse-MRI_PET")
    assert info.registered_model_version == 1
    from pipelines.tracking.registry import set_alias
    set_alias("medfuse-MRI_PET", "champion", 1)
    loaded = mlflow.pyfunc.load_model("models:/medfuse-MRI_PET@champion")
    direct = FusionModel.from_checkpoint(toy_checkpoints["strong"])
    rng = np.random.default_rng(1)
    a, b = rng.random((24, 24)).astype(np.float32), rng.random((24, 24)).astype(np.float32)
    # grey B, .npy in -> float .npy out, identical to the checkpoint's own output
    out = loaded.predict(pd.DataFrame({"a": [encode_image(a, "npy")], "b": [encode_image(b, "npy")]}))
    fused, kind = decode_image(out["fused"][0], "out")
    assert kind == "npy"
    np.testing.assert_allclose(fused, direct.fuse(a, b), atol=1e-6)
    # colour B as PNG -> RGB PNG whose chroma is B's
    rgb = np.stack([b, 0.6 * b, 0.1 * b], -1)
    out = loaded.predict(pd.DataFrame({"a": [png(a), png(a)], "b": [png(rgb), png(b)]}))
    f0, _ = decode_image(out["fused"][0], "out")
    f1, _ = decode_image(out["fused"][1], "out")
    assert f0.shape == (24, 24, 3) and f1.shape == (24, 24)
    # the served example input predicts too
    assert len(loaded.predict(example_input())) == 1
    with pytest.raises(Exception, match="not a readable image|a"):
        loaded.predict(pd.DataFrame({"a": [b"junk"], "b": [png(b)]}))


def test_champion_moves_only_when_the_challenger_wins(mlflow_store, toy_checkpoints):
    import mlflow
    exp = setup.ensure_experiment("medfuse/MRI_CT", mlflow_store)
    rule = PromotionRule(metric="score", mode="max", min_delta=0.01)
    versions = []
    for name in ("weak", "strong", "weak", "weak"):
        with mlflow.start_run(experiment_id=exp):
            versions.append(log_fusion_model(toy_checkpoints[name],
                                             registered_model_name="medfuse-MRI_CT").registered_model_version)
    assert versions == [1, 2, 3, 4]
    base = {"max": 0.45, "mean": 0.30}

    def step(version, score, champion, champion_version):
        return apply_decision("medfuse-MRI_CT", version, decide(rule, score, champion, champion_version, base))
    loser = step(1, 0.40, None, None)                    # below max, and no champion yet: still not promoted
    assert not loser["promoted"] and version_by_alias("medfuse-MRI_CT", "champion") is None
    first = step(2, 0.50, None, None)
    assert first["promoted"] and "no champion yet" in first["reason"]
    assert str(version_by_alias("medfuse-MRI_CT", "champion").version) == "2"
    better = step(3, 0.60, 0.50, "2")
    assert better["promoted"] and str(version_by_alias("medfuse-MRI_CT", "champion").version) == "3"
    worse = step(4, 0.605, 0.60, "3")                    # within min_delta: not better
    assert not worse["promoted"] and "not champion v3" in worse["reason"]
    assert str(version_by_alias("medfuse-MRI_CT", "champion").version) == "3"
    assert str(version_by_alias("medfuse-MRI_CT", "challenger").version) == "4"
    tags = mlflow.tracking.MlflowClient().get_model_version("medfuse-MRI_CT", "4").tags
    assert tags["test_score"] == "0.605" and "not champion v3" in tags["promotion"]
    assert tags["test_score_champion"] == "0.6" and tags["test_score_best_baseline"] == "max=0.45"
    assert PromotionRule(mode="min").beats(0.1, 0.2) and not PromotionRule(mode="min").beats(0.3, 0.2)
