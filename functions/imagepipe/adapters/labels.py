"""Labelers: Amazon Rekognition DetectLabels, or none."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from mypy_boto3_rekognition import RekognitionClient


log = logging.getLogger(__name__)


class NoLabels:
    """The default: no labelling service is called (and no preview is made)."""

    def labels(self, preview: Callable[[], bytes]) -> list[dict[str, Any]]:
        return []


class RekognitionLabeler:
    def __init__(
        self,
        client: Callable[[], RekognitionClient],
        *,
        max_labels: int = 10,
        min_confidence: float = 80.0,
    ) -> None:
        self._client = client
        self._max_labels = max_labels
        self._min_confidence = min_confidence

    def labels(self, preview: Callable[[], bytes]) -> list[dict[str, Any]]:
        # The preview (<= 1024 px JPEG) stays far below DetectLabels' 5 MB inline-bytes limit.
        try:
            response = self._client().detect_labels(
                Image={"Bytes": preview()},
                MaxLabels=self._max_labels,
                MinConfidence=self._min_confidence,
            )
        except (ClientError, BotoCoreError) as error:
            # Labels are best effort: a throttled or refused call must not keep the image
            # from completing (the job would otherwise end in the DLQ, the image `processing`).
            log.warning("DetectLabels failed, no labels recorded: %s", error)
            return []
        return [
            {"name": label["Name"], "confidence": round(float(label["Confidence"]), 1)}
            for label in response.get("Labels", [])
            if "Name" in label and "Confidence" in label
        ]
