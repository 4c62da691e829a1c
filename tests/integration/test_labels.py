"""The Labeler adapters against moto's Rekognition."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import pytest
from moto import mock_aws

from imagepipe.adapters.aws import rekognition_client, reset_clients
from imagepipe.adapters.labels import NoLabels, RekognitionLabeler


@pytest.fixture
def rekognition() -> Iterator[None]:
    reset_clients()
    with mock_aws():
        yield
    reset_clients()


def test_rekognition_labels_are_names_with_confidences(rekognition: None) -> None:
    calls: list[bytes] = []

    def preview() -> bytes:
        calls.append(b"jpeg")
        return b"\xff\xd8\xff\xe0 a small jpeg"

    labels = RekognitionLabeler(partial(rekognition_client, "us-east-1")).labels(preview)
    assert calls == [b"jpeg"]
    assert labels
    assert all(set(label) == {"name", "confidence"} for label in labels)
    assert all(isinstance(label["name"], str) and label["name"] for label in labels)
    assert all(0 <= label["confidence"] <= 100 for label in labels)


def test_no_labels_calls_nothing_and_makes_no_preview() -> None:
    def preview() -> bytes:
        raise AssertionError("no preview should be made")

    assert NoLabels().labels(preview) == []
