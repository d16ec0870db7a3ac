"""Building blocks of the zoo's networks, registered in ``gan_models.registry.BLOCKS`` (see docs/zoo.md §1)."""
from gan_models.blocks.attention import CBAM, ChannelAttention, SelfAttention, SpatialAttention  # noqa: F401
from gan_models.blocks.conv import ConvNormAct, LinearNormAct, same_padding  # noqa: F401
from gan_models.blocks.dense import RRDB, DenseBlock, ResidualDenseBlock  # noqa: F401
from gan_models.blocks.merge import GateMerge  # noqa: F401
from gan_models.blocks.norm_act import (ACTIVATIONS, NORMS, make_activation, make_norm,  # noqa: F401
                                        spectral_norm)
from gan_models.blocks.residual import ResBlockDown, ResBlockUp, ResidualBlock  # noqa: F401
from gan_models.blocks.sampling import Downsample, Upsample  # noqa: F401
