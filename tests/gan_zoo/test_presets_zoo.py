"""Zoo presets build the paper models; ``medfuse zoo`` lists the registries."""
import json
import re

import pytest
import torch

import gan_models
from gan_models.presets import load_preset, resolve_preset
from gan_models.training import Trainer
from pipelines.cli import main

from tests.gan_zoo.zoo_fixtures import single_thread

_one_thread = pytest.fixture(scope="module", autouse=True)(single_thread)

ZOO_PRESETS = ["dcgan", "sngan", "sagan", "wgan", "wgan_gp", "wgan_div", "lsgan", "ebgan", "mmd_gan", "fisher_gan",
               "gmmn", "mcgan", "ragan", "cgan", "acgan", "ssgan", "infogan", "vaegan", "bigan", "dragan"]


@pytest.mark.parametrize("name", ZOO_PRESETS)
def test_preset_cites_its_paper_and_trains_one_step_at_a_tiny_size(name):
    data = resolve_preset(name)
    assert re.search(r"\((?:[^()]*?)(19|20)\d\d", data["description"]), "description must cite the paper"
    assert data.get("paper", "").startswith("arXiv:")
    system_name, params = load_preset(name)
    shape = params["data_shape"]
    small = {"data_shape": shape[:1] + [16, 16] if len(shape) == 3 else shape, "generator.width": 4}
    if "discriminator" in params:
        small["discriminator.width"] = 4
    if "encoder" in params:
        small["encoder.width"] = 4
    if params["generator"].get("name") == "mlp":
        small["generator.width"] = 8
    s = gan_models.build(name, **small)
    assert type(s).__name__ and s.optimizers
    b = {"x": torch.rand(4, *small["data_shape"]) * 2 - 1, "y": torch.tensor([0, 1, 2, -1 if name == "ssgan" else 3])}
    logs = Trainer(s).train_step(b)
    assert all(v == v for v in logs.values())


def test_paper_constants_in_presets():
    sagan = gan_models.build("sagan", **{"data_shape": [1, 16, 16], "generator.width": 4, "discriminator.width": 4})
    assert sagan.optimizers["G"].param_groups[0]["lr"] == 1e-4 and sagan.optimizers["D"].param_groups[0]["lr"] == 4e-4
    assert sagan.optimizers["G"].param_groups[0]["betas"] == (0.0, 0.9)
    assert sagan.loss.critic_repeats(0) == 1
    sngan = gan_models.build("sngan", **{"data_shape": [1, 16, 16], "generator.width": 4, "discriminator.width": 4})
    assert sngan.loss.critic_repeats(0) == 5 and sngan.optimizers["D"].param_groups[0]["betas"] == (0.0, 0.9)
    wgan = gan_models.build("wgan", **{"data_shape": [1, 16, 16], "generator.width": 4, "discriminator.width": 4})
    assert isinstance(wgan.optimizers["D"], torch.optim.RMSprop) and wgan.optimizers["D"].param_groups[0]["lr"] == 5e-5
    dcgan = gan_models.build("dcgan", **{"data_shape": [1, 16, 16], "generator.width": 4, "discriminator.width": 4})
    assert dcgan.optimizers["G"].param_groups[0]["betas"] == (0.5, 0.999)
    infogan = gan_models.build("infogan", **{"generator.width": 4, "discriminator.width": 4})
    assert infogan.optimizers["G"].param_groups[0]["lr"] == 1e-3 and infogan.generator_latent_dim() == 62 + 10 + 2


def test_zoo_json(capsys):
    assert main(["zoo", "--json"]) == 0
    z = json.loads(capsys.readouterr().out)
    assert set(z) == {"losses", "regularizers", "systems", "presets", "augmentations", "schedules", "monitors"}
    assert z["augmentations"] == ["ada", "diffaugment"] and "dragan" in z["regularizers"]
    assert {"linear_decay", "exponential", "cosine"} <= set(z["schedules"]) and "stackganpp" in z["systems"]
    assert {"sgsd", "cgan", "acgan", "ssgan", "infogan", "vaegan", "bigan", "ebgan"} <= set(z["systems"])
    assert set(ZOO_PRESETS) <= set(z["presets"])
    assert {"nonsaturating", "wgan_gp", "hinge"} <= set(z["losses"])
    assert z == gan_models.zoo()


def test_zoo_table(capsys):
    assert main(["zoo"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^\s+sgsd\s+all losses$", out, re.M)
    assert re.search(r"^\s+ssgan\s+nonsaturating, vanilla$", out, re.M)
    assert re.search(r"^\s+sagan\s+system sgsd\s+SAGAN \(Zhang", out, re.M)
