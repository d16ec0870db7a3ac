"""Data-efficient GAN training: DiffAugment and ADA on every critic input (registered in ``AUGMENTATIONS``).

See :mod:`gan_models.augment.base` for how an augmentation reaches every critic call, and the two modules for
the papers' constants.  Enabled on any system by the generic ``augment`` key of a preset / build::

    gan_models.build("dcgan", augment={"name": "diffaugment", "policy": "color,translation,cutout"})
    gan_models.build("ddcgan", augment={"name": "ada", "value_range": [0, 1]})
"""
from gan_models.augment.base import CriticAugment, attach, build_augment, detach  # noqa: F401
from gan_models.augment import ada, diffaugment  # noqa: F401  (registration)
