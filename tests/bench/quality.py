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
    """The full-size original's luma and R, G, B (and alpha) planes in float, from which a
    reference of any size is made."""

    def __init__(self, path: Path) -> None:
        with Image.open(path) as opened:
            opened.load()
            upright = ImageOps.exif_transpose(opened)
        self.luma = Image.fromarray(luma_on_white(upright).astype(np.float32))
        self.has_alpha = upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info
        bands = upright.convert("RGBA" if self.has_alpha else "RGB").split()
        self.planes = [Image.fromarray(np.asarray(band, dtype=np.float32)) for band in bands]

    @property
    def size(self) -> tuple[int, int]:
        return self.luma.size

    def resized(self, size: tuple[int, int]) -> Plane:
        """The whole original's luma at `size` (the variants keep the aspect ratio)."""
        return _plane(self.luma.resize(size, Image.Resampling.LANCZOS))

    def fitted(self, size: tuple[int, int]) -> Plane:
        """The centre crop of the original's luma that covers `size`, at `size` (thumbnail)."""
        return _plane(ImageOps.fit(self.luma, size, Image.Resampling.LANCZOS))

    def colour(self, size: tuple[int, int], *, crop: bool = False) -> Plane:
        """R, G, B (and alpha) at `size`, height x width x 3 (or 4), float, 0-255."""
        scale = ImageOps.fit if crop else _resize
        return np.stack([_plane(scale(p, size, Image.Resampling.LANCZOS)) for p in self.planes], -1)


def _resize(img: Image.Image, size: tuple[int, int], method: Image.Resampling) -> Image.Image:
    return img.resize(size, method)


def decoded_colour(data: bytes) -> Plane:
    """An output's pixels as R, G, B (and alpha if it has any), float."""
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        mode = "RGBA" if img.mode in ("RGBA", "LA", "PA") else "RGB"
        return np.asarray(img.convert(mode), dtype=np.float64)


def _on_grey(pixels: Plane, level: float) -> Plane:
    if pixels.shape[-1] == 3:
        return pixels
    alpha = np.clip(pixels[..., 3:4], 0.0, 255.0) / 255.0
    flat: Plane = pixels[..., :3] * alpha + level * 255.0 * (1.0 - alpha)
    return flat


def _with_alpha(pixels: Plane, like: Plane) -> Plane:
    if pixels.shape[-1] == like.shape[-1]:
        return pixels
    opaque = np.full((*pixels.shape[:2], 1), 255.0)
    return np.concatenate([pixels, opaque], -1)


def _png(pixels: Plane) -> io.BytesIO:
    buffer = io.BytesIO()
    rounded = np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
    Image.fromarray(rounded).save(buffer, "PNG", compress_level=0)
    buffer.seek(0)
    return buffer


def ssimulacra2(reference: Plane, output: Plane) -> float:
    """SSIMULACRA2 (0-100, higher is better; ~70 "high quality", ~90 visually lossless) of an
    output against the float reference, with the `ssimulacra2` package (a Python port of
    libjxl's tool). Images with alpha are scored as libjxl's tool does: composited on a dark
    and on a light grey, the worse of the two."""
    from ssimulacra2 import compute_ssimulacra2  # numpy/scipy stay out of the measured jobs

    output = _with_alpha(output, reference)
    levels = (0.1, 0.9) if reference.shape[-1] == 4 else (0.0,)
    return min(
        float(compute_ssimulacra2(_png(_on_grey(reference, v)), _png(_on_grey(output, v))))
        for v in levels
    )


def psnr(reference: Plane, output: Plane) -> float:
    """PSNR in dB over R, G and B, alpha composited on white."""
    mse = float(
        np.mean((_on_grey(reference, 1.0) - _on_grey(_with_alpha(output, reference), 1.0)) ** 2)
    )
    return float("inf") if mse == 0 else float(10 * np.log10(DATA_RANGE**2 / mse))


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
