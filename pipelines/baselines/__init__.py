"""Classical fusion baselines, always reported beside the models (DESIGN §5): mean, max, PCA, Laplacian
pyramid, DWT, guided filtering (GFF), and the degenerate return_a / return_b.  Look them up in
:data:`BASELINES`; each is ``fuse(a, b)`` on [0, 1] floats, (H, W) or (N, H, W)."""
from pipelines.baselines import guided, pca, pyramid, trivial, wavelet  # noqa: F401
from pipelines.baselines.colour import fuse_colour, recolour  # noqa: F401
from pipelines.baselines.registry import BASELINES, Fuser  # noqa: F401
