"""The ImageCodec port on top of imagepipe.imaging (Pillow). Imaging raises the domain's
InvalidImage and returns the domain's Rendered, so the domain never sees PIL."""

from __future__ import annotations

from typing import Any

from imagepipe import imaging
from imagepipe.domain.model import Inspection, Rendered

# The thumbnail needs 150 px on both sides: the JPEG draft keeps at least that many columns
# and rows (a width alone would starve a panorama of rows).
_THUMBNAIL_SIDE = 150
_PREVIEW_WIDTH = 1024


class PillowCodec:
    def __init__(
        self,
        *,
        max_pixels: int = 50_000_000,
        max_frames: int = 200,
        memory_mb: int | None = None,
        avif_speed: int = imaging.DEFAULT_AVIF_SPEED,
        workers: int = 1,
        cpus: int | None = None,
    ) -> None:
        # memory_mb: the function's MemorySize; what a decode may take follows from it.
        self._limits = imaging.Limits(
            max_pixels=max_pixels,
            max_frames=max_frames,
            max_decode_bytes=None if memory_mb is None else imaging.decode_budget(memory_mb),
        )
        self._avif_speed = avif_speed
        self._workers = workers
        # The CPUs the encoders may use (the function's vCPUs); None: what the process may use.
        self._cpus = cpus

    def prepare(self, data: imaging.Source) -> tuple[Inspection, Rendered]:
        probe = imaging.probe(data, self._limits)
        image = imaging.load(
            data, self._limits, target_width=_THUMBNAIL_SIDE, target_height=_THUMBNAIL_SIDE
        )
        return probe, imaging.thumbnail(image)

    def variants(self, data: imaging.Source) -> list[Rendered]:
        largest = imaging.VARIANT_SPECS[-1].width
        image = imaging.load(data, self._limits, target_width=largest)
        return imaging.variants(
            image, avif_speed=self._avif_speed, workers=self._workers, cpus=self._cpus
        )

    def analyze(self, data: imaging.Source) -> dict[str, Any]:
        probe = imaging.probe(data, self._limits)
        image = imaging.load(data, self._limits, target_width=_PREVIEW_WIDTH)
        return imaging.analyze(data, image, probe)

    def preview(self, data: imaging.Source) -> bytes:
        image = imaging.load(data, self._limits, target_width=_PREVIEW_WIDTH)
        return imaging.preview_jpeg(image, _PREVIEW_WIDTH)
