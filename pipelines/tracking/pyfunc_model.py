"""The trained model as an MLflow pyfunc: two images in, the fused image out.

Input (the signature): a DataFrame (or a dict / list of dicts) with binary columns ``a`` (MRI) and ``b``
(CT / PET / SPECT), one row per pair.  Each cell holds an encoded image file (PNG, JPEG, TIFF...; 8- or 16-bit
grey, RGB or palette) or a NumPy ``.npy`` payload of a float array in [0, 1] ((H, W) grey, (H, W, 3) RGB).  Over
REST (``mlflow models serve``) binary cells are base64 strings, as MLflow's scoring protocol specifies.

Output: a DataFrame with binary column ``fused``: a PNG (8-bit grey, or RGB when B was pseudo-colour: fused on
B's BT.601 luma with B's chroma put back) for encoded-image input, or ``.npy`` float32 for ``.npy`` input.

The model's artifact is the medfuse checkpoint (``checkpoint.pt``, whose meta holds the model spec); loading
needs the ``medfuse`` package importable (``--env-manager local`` in this project's environment).
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

try:
    from mlflow.pyfunc import PythonModel
except ImportError:  # pragma: no cover - mlflow is a dependency
    PythonModel = object

NPY_MAGIC = b"\x93NUMPY"
PIP_REQUIREMENTS = ["torch==2.13.0", "numpy==2.4.6", "pandas==3.1.1", "Pillow==12.1.0", "mlflow==3.17.2",
                    "PyYAML==6.0.3"]


def decode_image(data: Any, name: str) -> tuple[np.ndarray, str]:
    """Cell -> (float32 image in [0, 1], "npy" | "png")."""
    from pipelines.training.inference import as_unit_float
    if isinstance(data, str):
        import base64
        data = base64.b64decode(data)
    if isinstance(data, np.ndarray) and data.dtype != object:
        return as_unit_float(data, name), "npy"
    if not isinstance(data, (bytes, bytearray)):
        raise ValueError(f"{name}: expected encoded image bytes or .npy bytes, got {type(data).__name__}")
    data = bytes(data)
    if data.startswith(NPY_MAGIC):
        return as_unit_float(np.load(io.BytesIO(data), allow_pickle=False), name), "npy"
    from PIL import Image, UnidentifiedImageError
    try:
        im = Image.open(io.BytesIO(data))
        im.load()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ValueError(f"{name}: not a readable image ({exc})") from None
    if im.mode.startswith("I;16") or im.mode == "I":
        arr = np.asarray(im).astype(np.float32)
        return np.clip(arr / (65535.0 if arr.max(initial=0) > 255 or im.mode.startswith("I;16") else 255.0),
                       0, 1), "png"
    if im.mode not in ("L", "RGB"):
        im = im.convert("RGB")
    arr = np.asarray(im).astype(np.float32) / 255.0
    if arr.ndim == 3 and np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 1], arr[..., 2]):
        arr = arr[..., 0]
    return arr, "png"


def encode_image(img: np.ndarray, kind: str) -> bytes:
    buf = io.BytesIO()
    if kind == "npy":
        np.save(buf, np.asarray(img, dtype=np.float32), allow_pickle=False)
    else:
        from PIL import Image
        from pipelines.imaging.io import to_uint8
        arr = to_uint8(img)
        Image.fromarray(arr, mode="L" if arr.ndim == 2 else "RGB").save(buf, format="PNG")
    return buf.getvalue()


def _rows(model_input: Any) -> list[dict[str, Any]]:
    import pandas as pd
    if isinstance(model_input, pd.DataFrame):
        missing = {"a", "b"} - set(model_input.columns)
        if missing:
            raise ValueError(f"input DataFrame lacks column(s) {sorted(missing)}; expected 'a' and 'b'")
        return model_input[["a", "b"]].to_dict("records")
    if isinstance(model_input, dict):
        if isinstance(model_input.get("a"), (list, tuple)) and not isinstance(model_input["a"], (bytes, str)):
            return [{"a": x, "b": y} for x, y in zip(model_input["a"], model_input["b"], strict=True)]
        return [model_input]
    if isinstance(model_input, list):
        return list(model_input)
    raise ValueError(f"expected a DataFrame or dict with 'a' and 'b', got {type(model_input).__name__}")


class MedfuseFusionModel(PythonModel):
    """pyfunc wrapper of :class:`pipelines.training.inference.FusionModel`."""

    def load_context(self, context) -> None:
        from pipelines.training.inference import FusionModel
        self.model = FusionModel.from_checkpoint(context.artifacts["checkpoint"], device="cpu")

    def fuse(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Arrays in, array out (for Python callers: ``loaded.unwrap_python_model().fuse(a, b)``)."""
        return self.model.fuse(a, b)

    def predict(self, context, model_input, params: dict[str, Any] | None = None):
        import pandas as pd
        out = []
        for i, row in enumerate(_rows(model_input)):
            a, kind = decode_image(row["a"], f"row {i} column a")
            b, _ = decode_image(row["b"], f"row {i} column b")
            out.append(encode_image(self.model.fuse(a, b), kind))
        return pd.DataFrame({"fused": out})


def signature():
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema
    return ModelSignature(inputs=Schema([ColSpec("binary", "a"), ColSpec("binary", "b")]),
                          outputs=Schema([ColSpec("binary", "fused")]))


def example_input(size: int = 32):
    """A tiny grey pair as PNG bytes (stored as the model's input example)."""
    import pandas as pd
    yy, xx = np.mgrid[0:size, 0:size] / size
    a = encode_image(0.5 + 0.5 * np.sin(6 * xx) * np.cos(6 * yy), "png")
    b = encode_image(np.exp(-((xx - 0.5) ** 2 + (yy - 0.5) ** 2) / 0.05), "png")
    return pd.DataFrame({"a": [a], "b": [b]})


def log_fusion_model(checkpoint: str | Path, name: str = "model", registered_model_name: str | None = None,
                     tags: dict[str, str] | None = None):
    """Log the checkpoint as a pyfunc under the active run (and register it); returns the ModelInfo."""
    import mlflow
    entry = Path(__file__).with_name("pyfunc_entry.py")     # models from code: no pickled Python object
    return mlflow.pyfunc.log_model(
        name=name, python_model=str(entry), artifacts={"checkpoint": str(checkpoint)},
        signature=signature(), input_example=example_input(), pip_requirements=PIP_REQUIREMENTS,
        registered_model_name=registered_model_name, tags=tags)
