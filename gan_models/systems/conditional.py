"""Class-conditional single-pair systems: ``cgan`` (Mirza & Osindero 2014), ``acgan`` (Odena, Olah & Shlens,
ICML 2017) and ``ssgan`` (semi-supervised K+1 critic, Salimans et al., NeurIPS 2016, Sec. 5).

Labels are integer class ids ``batch["y"]`` (B,) in [0, n_classes); ``ssgan`` marks unlabelled samples with
``y = -1``.  Generators stay unconditional networks: the one-hot label is concatenated to z.
"""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from gan_models.losses.base import LossTerms
from gan_models.networks.base import Critic
from gan_models.networks.heads import ClassHead, KPlusOneHead
from gan_models.critic_stats import report_generated
from gan_models.registry import SYSTEMS
from gan_models.systems.adversarial import critic_terms, generator_terms, loss_name
from gan_models.systems.base import Batch
from gan_models.systems.single_pair import SinglePairSystem


def check_labels(y: torch.Tensor, n_classes: int, system: str, allow_unlabelled: bool = False) -> torch.Tensor:
    if y.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
        raise ValueError(f"system {system!r}: labels y must be integer class ids, got dtype {y.dtype}")
    lo = -1 if allow_unlabelled else 0
    if y.numel() and (int(y.min()) < lo or int(y.max()) >= n_classes):
        raise ValueError(f"system {system!r}: labels must lie in [{lo}, {n_classes - 1}], got "
                         f"[{int(y.min())}, {int(y.max())}]")
    return y.long()


def label_maps(y: torch.Tensor, n_classes: int, like: torch.Tensor) -> torch.Tensor:
    """One-hot labels broadcast to the sample's shape: (B, K, H, W) for images, (B, K) for vectors."""
    oh = F.one_hot(y, n_classes).to(like.dtype)
    if like.dim() == 4:
        oh = oh[:, :, None, None].expand(-1, -1, like.shape[2], like.shape[3])
    return oh


class _Labelled(SinglePairSystem):
    """Shared: ``n_classes``, labels concatenated to z, labels read from the batch."""
    batch_keys = ("x", "y")

    def __init__(self, loss="nonsaturating", *, n_classes: int = 10, **kw: Any):
        if int(n_classes) < 2:
            raise ValueError(f"system {self.name!r} needs n_classes >= 2, got {n_classes}")
        self.n_classes = int(n_classes)
        super().__init__(loss, **kw)

    def generator_latent_dim(self) -> int:
        return self.latent_dim + self.n_classes

    def labels(self, batch: Batch) -> torch.Tensor:
        return check_labels(batch["y"], self.n_classes, self.name)

    def random_labels(self, n: int, device: torch.device) -> torch.Tensor:
        return torch.randint(0, self.n_classes, (n,), device=device)

    def generate(self, n: int, device: torch.device, y: torch.Tensor | None = None, **cond: Any) -> torch.Tensor:
        if y is None:
            raise ValueError(f"system {self.name!r} generates class-conditionally and needs labels y")
        z = torch.cat([self.noise(n, device), F.one_hot(y, self.n_classes).float()], dim=1)
        return self.generators["G"](z)


@SYSTEMS.register("cgan")
class CGAN(_Labelled):
    """Conditional GAN: y is concatenated to z in G and fed to D either as one-hot input channels
    (``conditioning="concat"``, Mirza & Osindero 2014) or through a projection critic
    (``conditioning="projection"``, Miyato & Koyama, ICLR 2018: φ(x)·e(y) added to the logit).

    Fakes are generated with the real batch's labels (same label distribution, and gradient penalties see one
    label per interpolate, GAN_NOTES §5.5.5).  Any loss with a score critic works.
    """
    name = "cgan"
    critic_outputs = ("score",)
    allows_no_discriminator = False
    CONDITIONINGS = ("concat", "projection")

    def __init__(self, loss="nonsaturating", *, conditioning: str = "concat", **kw: Any):
        if conditioning not in self.CONDITIONINGS:
            raise ValueError(f"cgan conditioning must be one of {self.CONDITIONINGS}, got {conditioning!r}")
        self.conditioning = conditioning
        super().__init__(loss, **kw)

    def critic_in_channels(self) -> int:
        return self.data_shape[0] + (self.n_classes if self.conditioning == "concat" else 0)

    def critic_n_classes(self) -> int:
        return self.n_classes if self.conditioning == "projection" else 0

    def build_critic(self, spec: dict[str, Any]):
        critic = super().build_critic(spec)
        if self.conditioning == "projection" and getattr(critic, "projection", None) is None:
            raise ValueError(f"cgan projection conditioning needs a Critic with a projection term; "
                             f"{spec.get('name')!r} has none (use conditioning 'concat')")
        return critic

    def critic(self, x: torch.Tensor, y: torch.Tensor | None = None) -> Any:
        if y is None:
            raise ValueError("the cgan critic needs labels y")
        d = self.discriminators["D"]
        if self.conditioning == "concat":
            return d(torch.cat([x, label_maps(y, self.n_classes, x)], dim=1))
        return d(x, y)

    def d_step(self, batch: Batch, step: int) -> LossTerms:
        real, y = self.real(batch), self.labels(batch)
        with torch.no_grad():
            fake = self.generate(real.shape[0], real.device, y=y)
        return critic_terms(self.loss, self.critic, real, fake, y=y, extra_regularizers=self.regularizers)

    def g_step(self, batch: Batch, step: int) -> LossTerms:
        real, y = self.real(batch), self.labels(batch)
        fake = self.generate(real.shape[0], real.device, y=y)
        return generator_terms(self.loss, self.critic, fake, real, y=y)


class _TrunkHeadSystem(_Labelled):
    """A critic whose shared trunk feeds the adversarial head and an auxiliary head (AC-GAN, SGAN)."""
    critic_outputs = ("score",)
    allows_no_discriminator = False

    def build_critic(self, spec: dict[str, Any]):
        critic = super().build_critic(spec)
        if not isinstance(critic, Critic):
            raise ValueError(f"system {self.name!r} needs a Critic with a shared trunk (dcgan, sagan, mlp), got "
                             f"{type(critic).__name__}")
        return critic

    def trunk_outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(adversarial logits (B,), feature vector φ (B, d))."""
        logits, _, phi = self.discriminators["D"].forward_features(x)
        return logits, phi


@SYSTEMS.register("acgan")
class ACGAN(_TrunkHeadSystem):
    """AC-GAN (Odena et al. 2017): D also predicts the class with an auxiliary head on its trunk.

    Paper: L_S = E log P(S=real|x) + E log P(S=fake|x̃), L_C = E log P(C=c|x) + E log P(C=c|x̃); D maximises
    L_S + L_C, G maximises L_C − L_S.  As losses to minimise: D: ``loss.d_loss`` (−L_S for the logistic loss)
    + λ_cls·[CE(real) + CE(fake)]; G: ``loss.g_loss`` (the non-saturating −log D(x̃) for ``nonsaturating``)
    + λ_cls·CE(fake).  λ_cls = 1 (the paper weights both terms equally).  Fake labels are drawn uniformly
    (c ~ p_c).  The class head outputs logits (CE on logits, GAN_NOTES §5.12).
    """
    name = "acgan"

    def __init__(self, loss="nonsaturating", *, lambda_cls: float = 1.0, **kw: Any):
        if lambda_cls < 0:
            raise ValueError(f"acgan lambda_cls must be >= 0, got {lambda_cls}")
        self.lambda_cls = float(lambda_cls)
        super().__init__(loss, **kw)
        self.discriminators["cls"] = ClassHead(self.discriminators["D"].feature_dim, self.n_classes,
                                               sn=bool((kw.get("discriminator") or {}).get("sn", False)))

    def critic(self, x: torch.Tensor, y: torch.Tensor | None = None) -> Any:
        return self.discriminators["D"](x)

    def d_step(self, batch: Batch, step: int) -> LossTerms:
        real, y = self.real(batch), self.labels(batch)
        y_fake = self.random_labels(real.shape[0], real.device)
        with torch.no_grad():
            fake = self.generate(real.shape[0], real.device, y=y_fake)
        real_logit, real_phi = self.trunk_outputs(real)
        fake_logit, fake_phi = self.trunk_outputs(fake)
        terms = critic_terms(self.loss, self.critic, real, fake, real_out=real_logit, fake_out=fake_logit,
                             extra_regularizers=self.regularizers)
        cls = self.discriminators["cls"]
        ce_real = F.cross_entropy(cls(real_phi).float(), y)
        ce_fake = F.cross_entropy(cls(fake_phi).float(), y_fake)
        return terms + LossTerms(self.lambda_cls * (ce_real + ce_fake),
                                 {"cls_real": ce_real.detach(), "cls_fake": ce_fake.detach()})

    def g_step(self, batch: Batch, step: int) -> LossTerms:
        real = self.real(batch)
        y_fake = self.random_labels(real.shape[0], real.device)
        fake = self.generate(real.shape[0], real.device, y=y_fake)
        fake_logit, fake_phi = self.trunk_outputs(fake)
        terms = generator_terms(self.loss, self.critic, fake, real, fake_out=fake_logit)
        ce = F.cross_entropy(self.discriminators["cls"](fake_phi).float(), y_fake)
        return terms + LossTerms(self.lambda_cls * ce, {"cls_fake": ce.detach()})


@SYSTEMS.register("ssgan")
class SSGAN(_TrunkHeadSystem):
    """Semi-supervised GAN with a K+1 critic (Salimans et al. 2016, Sec. 5; Odena 2016 "SGAN").

    The critic outputs K class logits l(x); the fake class's logit is fixed to 0, so
    P(real | x) = Z/(Z+1) with Z = Σ_k exp l_k(x): the real/fake logit is log Z = logsumexp(l).
    L_D = L_unsup + λ_sup·L_sup: L_unsup is the adversarial loss on the logit log Z (for ``vanilla`` /
    ``nonsaturating``: −E log D(x) − E log(1 − D(G(z))), the paper's L_unsupervised); L_sup is the K-class
    cross-entropy on the labelled part of the batch (``y >= 0``; ``y = -1`` marks unlabelled samples).
    Generator objective: ``"feature_matching"`` (the paper's choice for its SSL results:
    ‖E φ(x) − E φ(G(z))‖² on the critic's last hidden features) or ``"adversarial"`` (``loss.g_loss``).
    Compatible losses: the logistic real/fake ones (the K+1 softmax *is* a logistic real/fake classifier).
    G is unconditional (z only).
    """
    name = "ssgan"
    LOGISTIC = ("vanilla", "nonsaturating")
    G_OBJECTIVES = ("feature_matching", "adversarial")

    @classmethod
    def check_loss(cls, spec):
        loss = super().check_loss(spec)
        if loss_name(spec) not in cls.LOGISTIC:
            raise ValueError(f"system 'ssgan' cannot use loss {loss_name(spec)!r}: the K+1 critic's real/fake "
                             f"output is a logistic classifier (P(real) = Z/(Z+1)); use one of {list(cls.LOGISTIC)}")
        return loss

    def __init__(self, loss="nonsaturating", *, lambda_sup: float = 1.0, g_objective: str = "feature_matching",
                 **kw: Any):
        if g_objective not in self.G_OBJECTIVES:
            raise ValueError(f"ssgan g_objective must be one of {self.G_OBJECTIVES}, got {g_objective!r}")
        self.lambda_sup, self.g_objective = float(lambda_sup), g_objective
        super().__init__(loss, **kw)
        d = self.discriminators["D"]
        d.head = None                       # the K+1 head replaces the binary head
        self.discriminators["kp1"] = KPlusOneHead(d.feature_dim, self.n_classes,
                                                  sn=bool((kw.get("discriminator") or {}).get("sn", False)))

    def generator_latent_dim(self) -> int:
        return self.latent_dim

    def labels(self, batch: Batch) -> torch.Tensor:
        return check_labels(batch["y"], self.n_classes, self.name, allow_unlabelled=True)

    def generate(self, n: int, device: torch.device, **cond: Any) -> torch.Tensor:
        return self.generators["G"](self.noise(n, device))

    def class_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        phi = self.discriminators["D"].features(x)
        return self.discriminators["kp1"](phi), phi

    def critic(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return KPlusOneHead.real_fake_logit(self.class_logits(x)[0])

    def d_step(self, batch: Batch, step: int) -> LossTerms:
        real, y = self.real(batch), self.labels(batch)
        with torch.no_grad():
            fake = self.generate(real.shape[0], real.device)
        real_l, _ = self.class_logits(real)
        fake_l, _ = self.class_logits(fake)
        terms = critic_terms(self.loss, self.critic, real, fake, real_out=KPlusOneHead.real_fake_logit(real_l),
                             fake_out=KPlusOneHead.real_fake_logit(fake_l), extra_regularizers=self.regularizers)
        labelled = y >= 0
        if bool(labelled.any()):
            sup = F.cross_entropy(real_l[labelled].float(), y[labelled])
        else:
            sup = real_l.sum() * 0.0
        return terms + LossTerms(self.lambda_sup * sup, {"sup_ce": sup.detach(),
                                                         "n_labelled": labelled.sum().float()})

    def g_step(self, batch: Batch, step: int) -> LossTerms:
        real = self.real(batch)
        fake = self.generate(real.shape[0], real.device)
        if self.g_objective == "adversarial":
            return generator_terms(self.loss, self.critic, fake, real)
        report_generated(fake, real)
        with torch.no_grad():
            real_phi = self.class_logits(real)[1]
        fake_phi = self.class_logits(fake)[1]
        fm = (real_phi.float().mean(0) - fake_phi.float().mean(0)).pow(2).sum()
        return LossTerms(fm, {"feature_matching": fm.detach()})
