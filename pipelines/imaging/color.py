"""BT.601 (full-range, JPEG) luma/chroma conversions: the one implementation lives in ``gan_models.ycbcr`` (the
zoo needs it and stands alone without the pipeline); re-exported here for the pipeline's readers, baselines and
inference."""
from gan_models.ycbcr import is_pseudo_colour, rgb_to_ycbcr, ycbcr_to_rgb

__all__ = ["is_pseudo_colour", "rgb_to_ycbcr", "ycbcr_to_rgb"]
