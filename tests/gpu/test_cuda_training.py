"""The model zoo on a CUDA device (skipped without one; run by benchmarks/gpu_check.sh on a GPU machine).

Every preset and every multi-network topology takes optimisation steps on the GPU in float32 and under bf16
autocast, keeps all its state on the device (the step would fail on a stray CPU tensor), and gives the same
losses on CUDA as on the CPU for the same seed and batch (float32, cuDNN deterministic, TF32 off).
"""
from __future__ import annotations

import copy
import math

import pytest
import torch

import gan_models
from gan_models.training import Trainer
from tests.fusion_models.fusion_fixtures import ALL_PRESETS, TINY, batch_for
from tests.gan_zoo.test_presets_zoo import ZOO_PRESETS
from tests.gan_zoo.test_systems_multi import CONFIGS, make

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
CUDA = torch.device("cuda")


@pytest.fixture(autouse=True)
def _exact_cuda():
    """float32 everywhere (no TF32) and deterministic cuDNN, so CPU and CUDA losses are comparable."""
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
              torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    yield
    (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
     torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark) = before


def _zoo_small(name: str) -> dict:
    from gan_models.presets import load_preset
    _, params = load_preset(name)
    shape = params["data_shape"]
    small = {"data_shape": shape[:1] + [16, 16] if len(shape) == 3 else shape, "generator.width": 4}
    for part in ("discriminator", "encoder"):
        if part in params:
            small[f"{part}.width"] = 4
    if params["generator"].get("name") == "mlp":
        small["generator.width"] = 8
    return small


def _zoo_batch(name: str) -> dict:
    g = torch.Generator().manual_seed(3)
    shape = _zoo_small(name)["data_shape"]
    return {"x": torch.rand(4, *shape, generator=g) * 2 - 1,
            "y": torch.tensor([0, 1, 2, -1 if name == "ssgan" else 3])}


def _cases():
    for name in ZOO_PRESETS:
        yield pytest.param(("zoo", name), id=f"zoo-{name}")
    for name in ALL_PRESETS:
        yield pytest.param(("fusion", name), id=f"fusion-{name}")
    for name in CONFIGS:
        yield pytest.param(("multi", name), id=f"multi-{name}")


def _build(case, pair32, contrasts32):
    kind, name = case
    torch.manual_seed(0)
    if kind == "zoo":
        return gan_models.build(name, **_zoo_small(name)), _zoo_batch(name)
    if kind == "fusion":
        return (gan_models.build(name, **TINY[name]).setup(steps_per_epoch=4),   # ddcgan's schedule counts epochs
                dict(batch_for(name, pair32, contrasts32)))
    params, make_batch = CONFIGS[name]
    torch.manual_seed(0)
    batch = make_batch()
    torch.manual_seed(0)
    return make(name, **params), batch


def _on_device(system, device) -> None:
    for k, t in system.state_dict().items():
        if isinstance(t, torch.Tensor) and t.is_floating_point():
            assert t.device.type == device.type, f"{k} is on {t.device}"


@pytest.mark.parametrize("case", list(_cases()))
def test_steps_on_cuda_in_float32_and_bf16(case, pair32, contrasts32):
    system, batch = _build(case, pair32, contrasts32)
    system.to(CUDA)
    for autocast in (None, torch.bfloat16):
        trainer = Trainer(system, autocast_dtype=autocast, device=CUDA)
        for _ in range(2):
            logs = trainer.train_step(batch)
            assert logs and all(math.isfinite(v) for v in logs.values()), (autocast, logs)
    _on_device(system, CUDA)


@pytest.mark.parametrize("case", [("fusion", n) for n in ("fusiongan", "ddcgan", "dsagan", "mgmdcgan", "mmfgan",
                                                           "fproi_gan")], ids=lambda c: "-".join(c))
def test_cuda_losses_equal_cpu_losses(case, pair32, contrasts32):
    """Same initial weights, same batch, float32: three steps give the same losses on both devices.  The
    fusion presets draw no random numbers inside a step (checked on the CPU: two RNG seeds give identical
    logs), so a difference here is a device bug, not noise."""
    logs = {}
    for dev in ("cpu", "cuda"):
        system, batch = _build(case, pair32, contrasts32)
        system = copy.deepcopy(system).to(dev)
        trainer = Trainer(system, device=dev)
        torch.manual_seed(1)
        torch.cuda.manual_seed_all(1)
        logs[dev] = [trainer.train_step(batch) for _ in range(3)]
    for step, (c, g) in enumerate(zip(logs["cpu"], logs["cuda"])):
        assert c.keys() == g.keys()
        for k in c:
            assert g[k] == pytest.approx(c[k], rel=2e-3, abs=2e-4), (step, k, c[k], g[k])
