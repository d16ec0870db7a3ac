"""Generators and critics built from blocks, registered in ``GENERATORS`` / ``DISCRIMINATORS``
(docs/zoo.md §1 for the contract and the constructors)."""
from gan_models.networks.adapters import FeatureCritic, with_mcgan_cov_head  # noqa: F401
from gan_models.networks.autoencoder import AutoEncoderCritic, ConvEncoder, MLPAutoEncoderCritic  # noqa: F401
from gan_models.networks.base import Critic, base_grid, dcgan_init_, size_pair  # noqa: F401
from gan_models.networks.critic_norm import resolve_critic_norm  # noqa: F401
from gan_models.networks.dcgan import DCGANDiscriminator, DCGANGenerator, conv_trunk  # noqa: F401
from gan_models.networks.heads import ClassHead, KPlusOneHead, QHead  # noqa: F401
from gan_models.networks.patch import PatchDiscriminator  # noqa: F401
from gan_models.networks.sagan import SAGANDiscriminator, SAGANGenerator  # noqa: F401
