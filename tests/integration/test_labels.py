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
    # Given moto's Rekognition, and a preview that records each time it is made
    calls: list[bytes] = []

    def preview() -> bytes:
        calls.append(b"jpeg")
        return b"\xff\xd8\xff\xe0 a small jpeg"

    # When the Rekognition labeler labels the image
    labels = RekognitionLabeler(partial(rekognition_client, "us-east-1")).labels(preview)
    # Then it made the preview once and got labels, each a name and a confidence from 0 to 100
    assert calls == [b"jpeg"]
    assert labels
    assert all(set(label) == {"name", "confidence"} for label in labels)
    assert all(isinstance(label["name"], str) and label["name"] for label in labels)
    assert all(0 <= label["confidence"] <= 100 for label in labels)


def test_no_labels_calls_nothing_and_makes_no_preview() -> None:
    # Given a preview that fails the test if it is made
    def preview() -> bytes:
        raise AssertionError("no preview should be made")

    # When NoLabels labels the image / Then there are no labels, and no preview was made
    assert NoLabels().labels(preview) == []
