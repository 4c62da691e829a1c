"""Reads through the real images API handler on moto, with and without a CDN configured: the
URLs it returns, their signatures (checked with the public key) and their stability."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest

from imagepipe.domain.model import Image
from imagepipe_local.template import Template
from tests.cdn_keys import KEY_PAIR_ID, key_pair, verify
from tests.integration.helpers import api_with, seed_processed_image

IMAGE_ID = "c" * 32
CDN = "https://d111111abcdef8.cloudfront.net"


def cdn_secret() -> str:
    """The private key PEM as a secret's SecretString (what CDN_PRIVATE_KEY_SECRET names)."""
    secrets = boto3.client("secretsmanager")
    return secrets.create_secret(Name="imagepipe-cdn-key", SecretString=key_pair().pkcs8.decode())[
        "ARN"
    ]


def image_urls(body: dict[str, Any]) -> dict[str, str]:
    """key -> URL of every object of an image body."""
    urls = {body["original"]["key"]: body["original"]["url"]}
    urls.update({v["key"]: v["url"] for v in body["variants"]})
    return urls


def every_key(image: Image) -> set[str]:
    assert image.original_key is not None
    assert image.thumbnail is not None
    return {image.original_key, image.thumbnail.key, *(v.key for v in image.variants)}


def test_with_a_signing_cdn_reads_return_signed_cdn_urls_that_stay_the_same(
    aws: Template, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a processed image, and the API configured with a CDN and its key pair
    image = seed_processed_image(aws, image_id=IMAGE_ID)
    secret = cdn_secret()
    env = {
        "CDN_BASE_URL": CDN,
        "CDN_KEY_PAIR_ID": KEY_PAIR_ID,
        "CDN_PRIVATE_KEY_SECRET": secret,
        "URL_EXPIRY_SECONDS": "3600",
    }
    api = api_with(aws, monkeypatch, env, secret=secret)
    # When the image is read twice, and its session listed
    before = time.time()
    first = api.request("GET", f"/images/{IMAGE_ID}")
    second = api.request("GET", f"/images/{IMAGE_ID}")
    listing = api.request("GET", "/sessions/s-1/images")
    # Then every object has a CDN URL of its own key, signed for this key pair, valid at least
    # URL_EXPIRY_SECONDS, that CloudFront would accept (it verifies with the public key)
    assert first.status == 200, first.body
    body = first.json()
    urls = image_urls(body)
    thumbnail = body["thumbnail"]["url"]
    assert image.thumbnail is not None
    urls[image.thumbnail.key] = thumbnail
    assert set(urls) == every_key(image)
    for key, url in urls.items():
        signed = verify(url, key_pair().public)
        assert signed.resource == f"{CDN}/{key}"
        assert signed.key_pair_id == KEY_PAIR_ID
        assert signed.expires >= before + 3600
    # And the second read and the listing return byte-identical URLs (browsers reuse them)
    assert second.json() == body
    assert listing.json()["images"][0]["thumbnail"]["url"] == thumbnail


def test_with_an_unsigned_cdn_reads_return_plain_cdn_urls(
    aws: Template, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a processed image, and the API configured with a CDN that does not sign
    image = seed_processed_image(aws, image_id=IMAGE_ID)
    api = api_with(aws, monkeypatch, {"CDN_BASE_URL": CDN, "CDN_KEY_PAIR_ID": ""})
    # When the image is read
    body = api.request("GET", f"/images/{IMAGE_ID}").json()
    # Then each URL is the CDN's base and the key, with no query
    urls = image_urls(body)
    assert image.thumbnail is not None
    urls[image.thumbnail.key] = body["thumbnail"]["url"]
    assert urls == {key: f"{CDN}/{key}" for key in every_key(image)}


def test_without_a_cdn_reads_return_presigned_s3_urls(
    aws: Template, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a processed image, and the API with no CDN configured
    image = seed_processed_image(aws, image_id=IMAGE_ID)
    api = api_with(aws, monkeypatch, {"CDN_BASE_URL": "", "CDN_KEY_PAIR_ID": ""})
    # When the image is read
    body = api.request("GET", f"/images/{IMAGE_ID}").json()
    # Then each URL is a presigned S3 GET of its own key, valid URL_EXPIRY_SECONDS
    expiry = aws.function_environment("ImagesApiFunction")["URL_EXPIRY_SECONDS"]
    for key, url in image_urls(body).items():
        parts = urlsplit(url)
        assert "X-Amz-Signature=" in parts.query
        assert f"X-Amz-Expires={expiry}" in parts.query
        assert parts.path.endswith(key)
    assert image.original_key in image_urls(body)
