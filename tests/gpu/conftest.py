"""The fusion-model fixtures (phantom pair and contrasts) for the CUDA tests."""
from tests.fusion_models.conftest import contrasts32, pair32, phantom_slices  # noqa: F401
