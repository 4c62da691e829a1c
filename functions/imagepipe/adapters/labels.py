"""Labelers (the `LabelsProvider` setting): none, local (words the image and its file say),
Amazon Rekognition DetectLabels."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from imagepipe.domain.model import Enrichment
from imagepipe.domain.search import local_tags

if TYPE_CHECKING:
    from mypy_boto3_rekognition import RekognitionClient


log = logging.getLogger(__name__)


class NoLabels:
    """No labelling service is called (and no preview is made): no tags, no description."""

    def enrich(
        self, preview: Callable[[], bytes], *, filename: str, metadata: Mapping[str, Any]
    ) -> Enrichment:
        return Enrichment()


class LocalLabeler:
    """Tags from what the image and its file say (colour names, orientation, brightness,
    camera, date, filename words): no service, no preview. The local stack's provider, and a
    deployable one for search without Bedrock."""

    def enrich(
        self, preview: Callable[[], bytes], *, filename: str, metadata: Mapping[str, Any]
    ) -> Enrichment:
        return Enrichment(tags=tuple(local_tags(filename, metadata)))


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

    def enrich(
        self, preview: Callable[[], bytes], *, filename: str, metadata: Mapping[str, Any]
    ) -> Enrichment:
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
            return Enrichment(missing=("labels",))
        labels = tuple(
            {"name": label["Name"], "confidence": round(float(label["Confidence"]), 1)}
            for label in response.get("Labels", [])
            if "Name" in label and "Confidence" in label
        )
        tags = tuple(dict.fromkeys(str(label["name"]).lower() for label in labels))
        return Enrichment(tags=tags, labels=labels)
