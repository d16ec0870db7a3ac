"""The one generic trainer that runs every system's phases, and checkpoints."""
from gan_models.training.trainer import EMA, Trainer  # noqa: F401
from gan_models.training.checkpoint import load_checkpoint, save_checkpoint  # noqa: F401
