"""Typed configs of the train and tune stages (the ``train:`` and ``tune:`` sections of ``params.yaml``) and of
the per-worker loop.

``TrainParams`` is what a person edits; :func:`loop_config` turns it (plus one task and absolute paths) into
the JSON-able :class:`LoopConfig` dict that travels to Ray workers, Tune trials and checkpoints.  Both are strict
dataclasses (unknown keys rejected by :func:`pipelines.params.from_dict`).
"""
from __future__ import annotations

import copy
import functools
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from pipelines.params import ParamsError, from_dict, to_dict

#: ``train.select``: which checkpoint the train stage ships (pipelines/training/selection.py)
SELECT_RULES = ("last", "best_val")


@dataclass
class ResourcesParams:
    """Where the loop runs.  ``num_workers: 0`` runs it in this process (no Ray); ``>= 1`` runs Ray Train DDP."""
    num_workers: int = 0
    use_gpu: Literal["auto", True, False] = "auto"   # auto: GPUs (NCCL) when Ray sees them, else CPU (gloo)
    cpus_per_worker: float = 0.5                     # 0.5 lets 2 workers + a driver fit on 2 cores
    gpus_per_worker: float = 1.0
    bf16: bool = True                                # bf16 autocast, GPU only (ignored on CPU)
    max_failures: int = 1                            # worker-group restarts from the last checkpoint
    ray_address: str | None = None                   # null: start a local Ray; else e.g. "auto" / "ray://host:10001"
    storage_path: str | None = None                  # multi-node: S3 URI or shared mount for Ray runs + split data
    torch_threads: int | None = None                 # in-process runs: torch intra-op threads (null: torch default)


@dataclass
class TrainParams:
    """``train:`` section."""
    tasks: list[str] = field(default_factory=lambda: ["MRI_PET"])
    preset: str | None = None             # gan_models fusion preset; null = tuned best, else DEFAULT_PRESET
    loss: str | None = None               # adversarial loss (LOSSES name); null = tuned best, else the preset's
    overrides: dict[str, Any] = field(default_factory=dict)   # extra gan_models.build(...) overrides
    plugins: list[str] = field(default_factory=list)          # modules that register extra systems / losses
    callbacks: list[str] = field(default_factory=list)        # "module:function" step hooks fn(step, session, cfg)
    use_tuned: bool = True                # fill null keys from reports/tune.json's best config (explicit wins)
    steps: int = 60
    batch_size: int = 8
    augment: bool = True                  # joint flips / 90-degree rotations of (A, B)
    crop: int | None = 64                 # train on random square patches of this size (null: whole slices)
    seed: int = 0
    ema_decay: float | None = None
    val_every: int = 20                   # validate (and report to Ray / Tune) every N steps
    checkpoint_every: int = 20            # must be a multiple of val_every
    log_every: int = 5                    # per-step losses to MLflow
    sample_every: int = 20                # fused sample grid to MLflow
    val_max_pairs: int = 16
    objective: str = "headline_win_rate"  # OBJECTIVES name (pipelines/training/objective.py)
    keep_checkpoints: int = 2
    select: str = "last"                  # the model shipped: "last" checkpoint, or "best_val" = the checkpoint
                                          # with the highest validation objective (val_score; ties: the later)
    resources: ResourcesParams = field(default_factory=ResourcesParams)

    def __post_init__(self) -> None:
        if self.select not in SELECT_RULES:
            raise ParamsError(f"train.select: expected one of {list(SELECT_RULES)}, got {self.select!r}")

    def check_selection(self) -> None:
        """The train stage's own runs (tune trials checkpoint on their own cadence): best_val needs a checkpoint at
        every validated step."""
        if self.select == "best_val" and self.checkpoint_every != self.val_every:
            raise ParamsError(f"train.select: best_val picks among checkpoints, so train.checkpoint_every "
                              f"({self.checkpoint_every}) must equal train.val_every ({self.val_every})")


@dataclass
class LoopConfig:
    """Everything one worker needs; JSON-able, stored in every checkpoint's ``meta``."""
    task: str
    preset: str
    train_path: str                       # absolute (Ray workers chdir)
    val_path: str | None = None
    loss: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    steps: int = 60
    batch_size: int = 8
    augment: bool = True
    crop: int | None = None
    seed: int = 0
    ema_decay: float | None = None
    val_every: int = 20
    checkpoint_every: int = 20
    log_every: int = 5
    sample_every: int = 20
    val_max_pairs: int = 16
    objective: str = "headline_win_rate"
    bf16: bool = True
    keep_checkpoints: int = 2
    tracking_uri: str | None = None       # MLflow: rank 0 logs per-step losses / samples to run_id
    run_id: str | None = None
    sample_dir: str | None = None
    callbacks: list[str] = field(default_factory=list)   # "module:function" step hooks, fn(step, session, cfg)
    plugins: list[str] = field(default_factory=list)     # modules imported before building (extra systems/losses)

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "val_every", "checkpoint_every", "log_every", "sample_every"):
            if getattr(self, name) < 1:
                raise ParamsError(f"train.{name}: must be >= 1, got {getattr(self, name)}")
        if self.checkpoint_every % self.val_every:
            raise ParamsError(f"train.checkpoint_every ({self.checkpoint_every}) must be a multiple of "
                              f"train.val_every ({self.val_every}): checkpoints are attached to validation reports")

    def model_spec(self) -> dict[str, Any]:
        """What builds the system: preset + loss + overrides (stored with every model), and for a preset its
        system and params as they are now (``resolved``), so a checkpoint builds the model it was trained as
        even after the preset file changes (a bare system name has no file to change)."""
        spec: dict[str, Any] = {"preset": self.preset, "loss": self.loss, "overrides": dict(self.overrides),
                                "plugins": list(self.plugins)}
        if self._resolved_preset is not None:
            spec["resolved"] = copy.deepcopy(self._resolved_preset)
        return spec

    @functools.cached_property
    def _resolved_preset(self) -> dict[str, Any] | None:
        """The preset's system and params, read once per config (every checkpoint and validation of one run
        records the same preset, even if its file changes mid-run); None for a bare system name."""
        from gan_models.presets import preset_names, resolve_preset
        if self.preset not in preset_names():
            return None
        data = resolve_preset(self.preset)
        return {"system": data["system"], "params": data.get("params", {})}

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)


DEFAULT_PRESET = "fusiongan"


def parse_loop_config(data: dict[str, Any]) -> LoopConfig:
    return from_dict(LoopConfig, data, "loop")


def apply_train_updates(base: dict[str, Any], updates: dict[str, Any], where: str,
                        fill_only: bool = False) -> dict[str, Any]:
    """Apply tuned / sampled values to a copy of a ``train`` section dict.

    Keys are train keys (``loss``, ``preset``, ``batch_size``...) or ``overrides.<dotted build override>``
    (the rest of the key stays one ``gan_models.build`` override, e.g. ``overrides.g_optimizer.lr``).
    ``fill_only``: set a key only where the section leaves it open (null, or an override not given), so an
    explicit value in params.yaml (or ``dvc exp run -S``) always wins over the tuned one.  A null override
    value is skipped (tune's ``per_preset`` domains give null for presets without the key)."""
    out = json.loads(json.dumps(base))
    out.setdefault("overrides", {})
    for key, value in updates.items():
        if key.startswith("overrides."):
            if value is None:                     # a per_preset key the sampled preset does not have
                continue
            sub = key[len("overrides."):]
            if not (fill_only and sub in out["overrides"]):
                out["overrides"][sub] = value
            continue
        if "." in key:
            raise ParamsError(f"{where}: {key!r}: only top-level train keys or overrides.<key> can be tuned")
        if key not in base:
            raise ParamsError(f"{where}: {key!r} is not a train key; allowed: {sorted(base)}")
        if not (fill_only and out.get(key) is not None):
            out[key] = value
    return out


def config_key(cfg: dict[str, Any], exclude: tuple[str, ...] = ("tracking_uri", "run_id", "sample_dir",
                                                                  "callbacks")) -> str:
    """Short stable hash of a loop config (names Ray runs / checkpoint dirs so a rerun resumes its own run)."""
    payload = {k: v for k, v in cfg.items() if k not in exclude}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:12]
