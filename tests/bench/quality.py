"""SSIM of an output against a high-quality reference made from the full original.

Reference: the original decoded at full size (no draft), turned upright by its EXIF orientation,
composited on white if it has alpha, then resized with LANCZOS to the output's size in 32-bit
float, so the reference carries no 8-bit rounding. SSIM is computed on luminance (BT.601 luma,
Y = 0.299 R + 0.587 G + 0.114 B, as MATLAB's rgb2gray in Wang et al.'s reference code) with their
11x11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, L = 255, over the "valid" region (no
padding), averaged. Unlike their demo script, images are not downsampled first.

Compositing on white, taking luma and LANCZOS resizing are all linear, so the reference luma is
made once at full size and resized per output: the same numbers as resizing R, G and B apart."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps

Plane = NDArray[np.float64]

WINDOW = 11
SIGMA = 1.5
K1 = 0.01
K2 = 0.03
DATA_RANGE = 255.0
LUMA = (0.299, 0.587, 0.114)


class Reference:
    """The full-size original's luma (float), from which a reference of any size is made."""

    def __init__(self, path: Path) -> None:
        with Image.open(path) as opened:
            opened.load()
            upright = ImageOps.exif_transpose(opened)
        self.luma = Image.fromarray(luma_on_white(upright).astype(np.float32))

    @property
    def size(self) -> tuple[int, int]:
        return self.luma.size

    def resized(self, size: tuple[int, int]) -> Plane:
        """The whole original at `size` (the variants keep the aspect ratio)."""
        return _plane(self.luma.resize(size, Image.Resampling.LANCZOS))

    def fitted(self, size: tuple[int, int]) -> Plane:
        """The centre crop of the original that covers `size`, at `size` (the thumbnail)."""
        return _plane(ImageOps.fit(self.luma, size, Image.Resampling.LANCZOS))


def luma_on_white(img: Image.Image) -> Plane:
    """Luma of img as float64, 0-255, after compositing any alpha on white."""
    has_alpha = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
    rgba = np.asarray(img.convert("RGBA" if has_alpha else "RGB"), dtype=np.float64)
    rgb = rgba[..., :3]
    if has_alpha:
        alpha = rgba[..., 3:4] / 255.0
        rgb = rgb * alpha + 255.0 * (1.0 - alpha)
    luma: Plane = rgb @ np.asarray(LUMA, dtype=np.float64)
    return luma


def decoded_luma(data: bytes) -> Plane:
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        return luma_on_white(img)


def _plane(img: Image.Image) -> Plane:
    return np.asarray(img, dtype=np.float64)


def gaussian_window(size: int = WINDOW, sigma: float = SIGMA) -> Plane:
    """The 1-D factor of MATLAB's fspecial('gaussian', size, sigma), normalised to sum 1."""
    offsets = np.arange(size, dtype=np.float64) - (size - 1) / 2
    weights = np.exp(-(offsets**2) / (2 * sigma**2))
    normalised: Plane = weights / weights.sum()
    return normalised


def _filter_valid(plane: Plane, weights: Plane) -> Plane:
    """Separable correlation with weights along both axes, "valid" region only."""
    k = len(weights)
    height, width = plane.shape
    rows = np.zeros((height, width - k + 1))
    for i, weight in enumerate(weights):
        rows += weight * plane[:, i : i + width - k + 1]
    out = np.zeros((height - k + 1, width - k + 1))
    for i, weight in enumerate(weights):
        out += weight * rows[i : i + height - k + 1, :]
    return out


def ssim(x: Plane, y: Plane) -> float:
    """Mean SSIM of two same-sized luma planes (Wang, Bovik, Sheikh, Simoncelli 2004)."""
    if x.shape != y.shape:
        msg = f"SSIM needs equal sizes, got {x.shape} and {y.shape}"
        raise ValueError(msg)
    if min(x.shape) < WINDOW:
        msg = f"SSIM needs at least {WINDOW}x{WINDOW} pixels, got {x.shape}"
        raise ValueError(msg)
    weights = gaussian_window()
    mu_x = _filter_valid(x, weights)
    mu_y = _filter_valid(y, weights)
    var_x = _filter_valid(x * x, weights) - mu_x * mu_x
    var_y = _filter_valid(y * y, weights) - mu_y * mu_y
    cov = _filter_valid(x * y, weights) - mu_x * mu_y
    c1 = (K1 * DATA_RANGE) ** 2
    c2 = (K2 * DATA_RANGE) ** 2
    numerator = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    denominator = (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)
    return float(np.mean(numerator / denominator))
