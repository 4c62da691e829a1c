"""The Labeler adapters: none, local, and Rekognition against moto."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws

from imagepipe.adapters.aws import rekognition_client, reset_clients
from imagepipe.adapters.labels import LocalLabeler, NoLabels, RekognitionLabeler
from imagepipe.domain.model import Enrichment


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
    labeler = RekognitionLabeler(partial(rekognition_client, "us-east-1"))
    found = labeler.enrich(preview, filename="x.jpg", metadata={})
    # Then it made the preview once and got labels, each a name and a confidence from 0 to 100,
    # and their names, lower-case, as tags
    assert calls == [b"jpeg"]
    labels = found.labels
    assert labels
    assert all(set(label) == {"name", "confidence"} for label in labels)
    assert all(isinstance(label["name"], str) and label["name"] for label in labels)
    assert all(0 <= label["confidence"] <= 100 for label in labels)
    assert found.tags == tuple(dict.fromkeys(label["name"].lower() for label in labels))
    assert (found.description, found.missing) == (None, ())


def test_no_labels_calls_nothing_and_makes_no_preview() -> None:
    # Given a preview that fails the test if it is made
    def preview() -> bytes:
        raise AssertionError("no preview should be made")

    # When NoLabels labels the image / Then there are no labels, and no preview was made
    assert NoLabels().enrich(preview, filename="red car.jpg", metadata={}) == Enrichment()


def test_the_local_labeler_tags_from_the_analysis_and_the_filename_without_a_preview() -> None:
    def preview() -> bytes:
        raise AssertionError("no preview should be made")

    metadata = {"width": 30, "height": 20, "colors": {"dominant": ["#ff0000"]}}
    found = LocalLabeler().enrich(preview, filename="my redCar.png", metadata=metadata)
    assert found == Enrichment(tags=("red", "landscape", "car"))


def test_an_unreachable_rekognition_is_reported_missing_not_raised() -> None:
    # Given a Rekognition endpoint nothing listens on (connection refused at once)
    client = boto3.client(
        "rekognition",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"total_max_attempts": 1}),
    )
    labeler = RekognitionLabeler(lambda: client)

    # When it labels / Then nothing is raised; the labels are reported missing
    found = labeler.enrich(lambda: b"jpeg", filename="x", metadata={})
    assert found == Enrichment(missing=("labels",))
