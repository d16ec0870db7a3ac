"""read_gray_255 reproduces cv2.imread + float32 + BGR2GRAY + np.round with Pillow."""
import numpy as np
import pytest
from PIL import Image

from pipelines.imaging.io import list_images, read_gray_255, read_image_01, write_png


def test_grey_png_reads_unchanged(tmp_path):
    arr = np.arange(256, dtype=np.uint8).reshape(16, 16)
    Image.fromarray(arr).save(tmp_path / "g.png")
    out = read_gray_255(tmp_path / "g.png")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, arr)


def test_colour_png_gives_rounded_bt601_luma(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (8, 9, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "c.png")
    exp = np.round(0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2])
    got = read_gray_255(tmp_path / "c.png")
    assert np.abs(got - exp).max() <= 1          # float32 evaluation may flip exact .5 ties only
    assert (got != exp).mean() < 0.02


def test_sixteen_bit_keeps_high_byte_and_palette_expands(tmp_path):
    arr16 = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000)
    Image.fromarray(arr16).save(tmp_path / "h.png")
    np.testing.assert_array_equal(read_gray_255(tmp_path / "h.png"), (arr16 >> 8).astype(np.float32))
    pal = Image.fromarray(np.array([[0, 1], [1, 0]], dtype=np.uint8), mode="P")
    pal.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    Image.fromarray(np.zeros((1, 1), np.uint8))
    pal.save(tmp_path / "p.png")
    np.testing.assert_array_equal(read_gray_255(tmp_path / "p.png"), [[0, 76], [76, 0]])  # 0.299*255=76.2


def test_unreadable_and_missing_files_name_the_file(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(ValueError, match="bad.png"):
        read_gray_255(bad)
    with pytest.raises(FileNotFoundError, match="nope.png"):
        read_gray_255(tmp_path / "nope.png")


def test_write_png_round_trip_and_list_images(tmp_path):
    x = np.linspace(0, 1, 64).reshape(8, 8)
    write_png(tmp_path / "d" / "x.png", x)
    np.testing.assert_allclose(read_image_01(tmp_path / "d" / "x.png"), x, atol=0.5 / 255 + 1e-12)
    rgb = np.stack([x, 1 - x, x * 0.5], axis=-1)
    write_png(tmp_path / "d" / "y.png", rgb)
    assert read_image_01(tmp_path / "d" / "y.png").shape == (8, 8, 3)
    assert sorted(list_images(tmp_path / "d")) == ["x", "y"]
    (tmp_path / "d" / "x.jpg").write_bytes(b"")
    with pytest.raises(ValueError, match="share the stem"):
        list_images(tmp_path / "d")
