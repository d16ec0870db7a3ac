"""Checkpoint round trip: k steps, save, 2 more steps vs a fresh build + load + 2 steps give identical losses."""
import pytest
import torch

from gan_models.training import Trainer, load_checkpoint, save_checkpoint
from gan_models.training.checkpoint import read_checkpoint

from tests.gan_zoo.zoo_fixtures import batch, build, single_thread

_one_thread = pytest.fixture(scope="module", autouse=True)(single_thread)

CASES = [("sgsd", "fisher", {}), ("sgsd", {"name": "wgan_gp", "n_critic": 2}, {}),
         ("sgsd", "hinge", {"generator": {"name": "sagan", "width": 4},
                            "discriminator": {"name": "sagan", "width": 4}}),      # spectral-norm u, v buffers
         ("sgsd", "mmd_gan", {}), ("cgan", "lsgan", {}), ("infogan", "nonsaturating", {}),
         ("acgan", "ragan", {}), ("vaegan", "nonsaturating", {}), ("bigan", "wgan_gp", {}),
         ("ssgan", "nonsaturating", {})]


def _run(trainer, start, n, ssgan):
    return [trainer.train_step(batch(start + i, unlabelled=ssgan)) for i in range(n)]


@pytest.mark.parametrize("system,loss,extra", CASES, ids=[f"{c[0]}-{c[1] if isinstance(c[1], str) else c[1]['name']}"
                                                          for c in CASES])
def test_round_trip_restores_training_exactly(tmp_path, system, loss, extra):
    ssgan = system == "ssgan"
    torch.manual_seed(0)
    t = Trainer(build(system, loss, **extra), ema_decay=0.9)
    _run(t, 0, 3, ssgan)
    path = save_checkpoint(tmp_path / "ck.pt", t, meta={"system": system})
    expected = _run(t, 3, 2, ssgan)

    torch.manual_seed(12345)                       # a different init: everything must come from the checkpoint
    t2 = Trainer(build(system, loss, **extra), ema_decay=0.9)
    assert load_checkpoint(path, t2) == {"system": system}
    got = _run(t2, 3, 2, ssgan)
    assert [sorted(e) for e in expected] == [sorted(g) for g in got]
    for e, g in zip(expected, got):
        for k in e:
            assert g[k] == pytest.approx(e[k], abs=1e-6), k
    for (k, p), p2 in zip(t.system.state_dict().items(), t2.system.state_dict().values()):
        assert torch.equal(p, p2), k


def test_fisher_lambda_round_trips_and_is_needed(tmp_path):
    torch.manual_seed(0)
    t = Trainer(build("sgsd", "fisher"))
    _run(t, 0, 2, False)
    lam = t.system.loss.lam
    assert lam != 0.0
    save_checkpoint(tmp_path / "f.pt", t)
    payload = read_checkpoint(tmp_path / "f.pt")
    assert float(payload["trainer"]["system"]["extra"]["loss"]["fisher_lambda"]) == lam
    t2 = Trainer(build("sgsd", "fisher"))
    load_checkpoint(tmp_path / "f.pt", t2)
    assert t2.system.loss.lam == lam
    # a system without the Fisher state refuses it instead of dropping it silently
    t3 = Trainer(build("sgsd", "hinge"))
    with pytest.raises(KeyError):
        t3.system.load_extra_state(payload["trainer"]["system"]["extra"])
