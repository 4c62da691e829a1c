"""The local stack's CDN (imagepipe_local.cdn) over HTTP: a completed image's variants through
`/cdn/` on the API port, with the distribution's headers, ETag, 304 and Range; refusals of
unsigned, forged, expired and out-of-prefix URLs as CloudFront refuses them; and the API's URLs,
the same for two reads."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from PIL import Image

from imagepipe_local.signed_urls import CdnKeys, secret_name
from imagepipe_local.template import LocalNames
from tests.e2e.conftest import RunningStack, local_only, photo_file
from tests.e2e.test_local_stack import _presign_and_post, wait_for

pytestmark = [pytest.mark.e2e, local_only]  # the CDN played on the local stack's API port

IMMUTABLE = "public, max-age=31536000, immutable"


@pytest.fixture(scope="module")
def image(stack: RunningStack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A completed image of its own session."""
    path = photo_file(tmp_path_factory.mktemp("cdn"), "cdn.jpg", seed=7)
    entry = _presign_and_post(stack, path.read_bytes(), "e2e-cdn")
    completed = wait_for(stack, entry["imageId"])
    assert completed["status"] == "completed", completed
    return completed


@pytest.fixture(scope="module")
def keys(stack: RunningStack) -> CdnKeys:
    """The stack's key pair, read back from the secret the API function signs with."""
    from cryptography.hazmat.primitives import serialization

    secret = stack.client("secretsmanager").get_secret_value(SecretId=secret_name(LocalNames()))
    private = serialization.load_pem_private_key(secret["SecretString"].encode(), password=None)
    assert isinstance(private, rsa.RSAPrivateKey)
    return CdnKeys(private)


def cdn_url(stack: RunningStack, keys: CdnKeys, key: str, expires_in: int = 3600) -> str:
    return keys.sign(f"{stack.api}/cdn/{quote(key)}", int(time.time()) + expires_in)


def variant(image: dict[str, Any], fmt: str = "avif") -> dict[str, Any]:
    found: dict[str, Any] = next(v for v in image["variants"] if v["format"] == fmt)
    return found


def test_the_api_returns_the_same_cdn_urls_for_two_reads(
    stack: RunningStack, image: dict[str, Any]
) -> None:
    # Given a completed image / When it is read twice
    again = stack.http.get(f"{stack.api}/images/{image['imageId']}", timeout=10).json()
    # Then thumbnail, original and variants are signed CDN URLs on the API port, byte-identical
    urls = [image["thumbnail"]["url"], image["original"]["url"]]
    urls += [v["url"] for v in image["variants"]]
    assert urls == [again["thumbnail"]["url"], again["original"]["url"]] + [
        v["url"] for v in again["variants"]
    ]
    for url in urls:
        assert url.startswith(f"{stack.api}/cdn/images/"), url
        query = url.partition("?")[2]
        assert [p.partition("=")[0] for p in query.split("&")] == [
            "Expires",
            "Signature",
            "Key-Pair-Id",
        ]
    # And each serves
    assert requests.get(variant(image)["url"], timeout=10).status_code == 200


def test_a_variant_is_served_with_the_distribution_headers(
    stack: RunningStack, keys: CdnKeys, image: dict[str, Any]
) -> None:
    # Given a signed URL of an AVIF variant
    avif = variant(image)
    url = cdn_url(stack, keys, avif["key"])
    # When it is fetched
    response = requests.get(url, timeout=10)
    # Then the object comes with the response headers policy's headers and S3's ETag
    assert response.status_code == 200, response.text
    head = stack.s3().head_object(Bucket=stack.bucket, Key=avif["key"])
    assert response.headers["cache-control"] == IMMUTABLE
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-type"] == "image/avif"
    assert response.headers["etag"] == head["ETag"]
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["access-control-allow-origin"] == "*"
    assert int(response.headers["content-length"]) == head["ContentLength"] == avif["size"]
    decoded = Image.open(io.BytesIO(response.content))
    assert decoded.size == (avif["width"], avif["height"])
    # And HEAD answers the same headers without the body
    headed = requests.head(url, timeout=10)
    assert headed.status_code == 200
    assert headed.content == b""
    assert headed.headers["etag"] == head["ETag"]
    assert headed.headers["content-length"] == str(avif["size"])


def test_if_none_match_is_answered_304(
    stack: RunningStack, keys: CdnKeys, image: dict[str, Any]
) -> None:
    url = cdn_url(stack, keys, variant(image, "webp")["key"])
    etag = requests.get(url, timeout=10).headers["etag"]
    # When the browser revalidates with the ETag it holds
    response = requests.get(url, headers={"If-None-Match": etag}, timeout=10)
    # Then nothing is sent again
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == etag
    assert response.headers["cache-control"] == IMMUTABLE
    # And another ETag gets the object
    other = requests.get(url, headers={"If-None-Match": '"0000"'}, timeout=10)
    assert other.status_code == 200


def test_a_range_is_answered_206_and_an_unsatisfiable_one_416(
    stack: RunningStack, keys: CdnKeys, image: dict[str, Any]
) -> None:
    webp = variant(image, "webp")
    url = cdn_url(stack, keys, webp["key"])
    whole = requests.get(url, timeout=10).content
    # When the first 100 bytes and the last 10 are asked for
    first = requests.get(url, headers={"Range": "bytes=0-99"}, timeout=10)
    last = requests.get(url, headers={"Range": "bytes=-10"}, timeout=10)
    # Then those bytes come, as 206 with their Content-Range
    assert first.status_code == 206
    assert first.headers["content-range"] == f"bytes 0-99/{len(whole)}"
    assert first.content == whole[:100]
    assert last.status_code == 206
    assert last.content == whole[-10:]
    # And a range past the end is 416, naming the size
    past = requests.get(url, headers={"Range": f"bytes={len(whole)}-"}, timeout=10)
    assert past.status_code == 416
    assert past.headers["content-range"] == f"bytes */{len(whole)}"


def _denied(response: requests.Response) -> None:
    assert response.status_code == 403, response.url
    assert response.headers["content-type"].startswith("text/xml")
    assert "<Code>AccessDenied</Code>" in response.text
    assert "cache-control" not in response.headers


def test_unsigned_forged_expired_and_foreign_urls_are_refused(
    stack: RunningStack, keys: CdnKeys, image: dict[str, Any], tmp_path: Path
) -> None:
    key = variant(image)["key"]
    good = cdn_url(stack, keys, key)
    # Unsigned: the bare URL
    _denied(requests.get(good.partition("?")[0], timeout=10))
    # Forged: signed with a key of our own
    impostor = CdnKeys(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    _denied(requests.get(cdn_url(stack, impostor, key), timeout=10))
    # Expired: signed for a moment already gone
    _denied(requests.get(cdn_url(stack, keys, key, expires_in=-1), timeout=10))
    # Another object asked for with this object's signature
    other = variant(image, "webp")["key"]
    _denied(requests.get(good.replace(quote(key), quote(other)), timeout=10))
    # Outside images/: refused even when validly signed (the bucket policy's reach)
    original_upload = f"uploads/{image['imageId']}"
    _denied(requests.get(cdn_url(stack, keys, original_upload), timeout=10))
    # And a missing object under images/, validly signed, is 404
    missing = requests.get(cdn_url(stack, keys, "images/nothing/here.avif"), timeout=10)
    assert missing.status_code == 404
    assert "<Code>NoSuchKey</Code>" in missing.text
