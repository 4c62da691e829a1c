"""CDN image URLs: CloudFront canned-policy signatures (verified with the public key, apart from
the code that signs), the expiry window that keeps URLs stable, and the settings behind them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import rsa
from botocore.signers import CloudFrontSigner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import ValidationError

from imagepipe.adapters.cdn import CdnImageUrls, canned_policy_signer, window_expiry
from imagepipe.settings import ImagesApiSettings
from tests.cdn_keys import KEY_PAIR_ID, Forged, key_pair, verify
from tests.unit.fakes import FixedClock

BASE = "https://d111111abcdef8.cloudfront.net"
KEY = "images/2026/03/05/img-1/thumb.webp"
HOUR = 3600
# 2026-03-05T12:00:00Z is a whole multiple of an hour: start a little into a window.
START = datetime(2026, 3, 5, 12, 0, 0, tzinfo=UTC) + timedelta(seconds=1234.5)


def signed_urls(
    clock: FixedClock, *, pem: bytes | None = None, lifetime: int = HOUR
) -> CdnImageUrls:
    signer = canned_policy_signer(KEY_PAIR_ID, pem or key_pair().pkcs8)
    return CdnImageUrls(BASE, lifetime=lifetime, clock=clock, signer=signer)


@pytest.mark.parametrize("form", ["pkcs8", "pkcs1"])
def test_a_signed_url_verifies_with_the_public_key(form: str) -> None:
    # Given the URLs of a CDN with a key pair, its private key in either PEM form
    clock = FixedClock(START)
    pem = key_pair().pkcs8 if form == "pkcs8" else key_pair().pkcs1
    # When an object's URL is made
    url = signed_urls(clock, pem=pem).url(KEY)
    # Then it has the canned policy's shape, in the contract's order
    assert url.startswith(f"{BASE}/{KEY}?Expires=")
    assert "&Signature=" in url
    assert url.endswith(f"&Key-Pair-Id={KEY_PAIR_ID}")
    # And CloudFront's check passes: the signature over the rebuilt policy verifies with the
    # public key, for this object, this key pair, and at least an hour from now
    signed = verify(url, key_pair().public)
    assert signed.resource == f"{BASE}/{KEY}"
    assert signed.key_pair_id == KEY_PAIR_ID
    assert signed.expires >= START.timestamp() + HOUR


def test_the_signature_is_the_one_rsa_sign_makes() -> None:
    # Given the private key as the `rsa` package reads it, and messages of several lengths
    key = rsa.PrivateKey.load_pkcs1(key_pair().pkcs1)
    signer = canned_policy_signer(KEY_PAIR_ID, key_pair().pkcs8)
    for message in (b"", b"x", b"{}" * 200, bytes(range(256))):
        # When our signer signs one / Then its bytes are those of the package's own rsa.sign
        assert signer.rsa_signer(message) == rsa.sign(message, key, "SHA-1")


def test_a_url_fails_to_verify_with_another_key_or_for_another_object() -> None:
    # Given a signed URL
    url = signed_urls(FixedClock(START)).url(KEY)
    # When it is checked with another key pair's public key / Then it does not verify
    with pytest.raises(Forged):
        verify(url, key_pair(seed=1).public)
    # And its query moved onto another object's path does not verify either
    with pytest.raises(Forged):
        verify(url.replace("thumb.webp", "original.jpg"), key_pair().public)
    # Nor with a later expiry than the one signed
    expires = verify(url, key_pair().public).expires
    with pytest.raises(Forged):
        verify(url.replace(f"Expires={expires}", f"Expires={expires + HOUR}"), key_pair().public)


def test_reads_within_a_window_return_the_same_url_and_a_new_one_after_it() -> None:
    # Given the URLs of a signing CDN, and a first read
    clock = FixedClock(START)
    urls = signed_urls(clock)
    first = urls.url(KEY)
    # When the object is read again later in the same window
    window_end = verify(first, key_pair().public).expires - HOUR
    clock.advance(window_end - clock().timestamp())
    # Then the URL is byte-identical
    assert urls.url(KEY) == first
    # And a read just past the window gets a new URL, expiring one window later
    clock.advance(0.5)
    later = urls.url(KEY)
    assert later != first
    public = key_pair().public
    assert verify(later, public).expires == verify(first, public).expires + HOUR
    # And a fresh container (no cached signature) makes the same URL as the warm one
    assert signed_urls(clock).url(KEY) == later


@pytest.mark.parametrize("lifetime", [1, 60, 300, HOUR, 7 * 24 * HOUR])
def test_every_url_lives_at_least_the_minimum_and_less_than_two(lifetime: int) -> None:
    # Given moments all over a few windows, whole and fractional seconds, boundaries included
    base = datetime(2026, 3, 5, tzinfo=UTC)
    offsets = [0, 0.001, 0.5, 1, lifetime - 1, lifetime - 0.5, lifetime, lifetime + 0.25]
    offsets += [lifetime * k / 7 for k in range(22)]
    for offset in offsets:
        now = base + timedelta(seconds=offset)
        # When the expiry is computed
        expires = window_expiry(now, lifetime)
        # Then it is a window boundary, at least `lifetime` and less than two away
        assert expires % lifetime == 0
        assert now.timestamp() + lifetime <= expires < now.timestamp() + 2 * lifetime


def test_signatures_are_made_once_per_object_and_window() -> None:
    # Given a signer that counts its signatures
    calls: list[bytes] = []
    key = rsa.PrivateKey.load_pkcs1(key_pair().pkcs1)

    def counting(message: bytes) -> bytes:
        calls.append(message)
        return rsa.sign(message, key, "SHA-1")

    clock = FixedClock(START)
    urls = CdnImageUrls(
        BASE, lifetime=HOUR, clock=clock, signer=CloudFrontSigner(KEY_PAIR_ID, counting)
    )
    # When two objects are read three times within a window, then once after it
    for _ in range(3):
        urls.url(KEY)
        urls.url("images/other.jpg")
    clock.advance(HOUR)
    urls.url(KEY)
    # Then each object was signed once per window
    assert len(calls) == 3


def test_without_a_key_pair_the_url_is_the_plain_cdn_url() -> None:
    # Given a CDN without signing, its base URL written with a trailing slash
    urls = CdnImageUrls(BASE + "/", lifetime=HOUR, clock=FixedClock(START))
    # When an object's URL is made / Then it is the base and the key, nothing else
    assert urls.url(KEY) == f"{BASE}/{KEY}"


@pytest.mark.parametrize(
    ("key", "path"),
    [
        ("images/a b/c d.jpg", "images/a%20b/c%20d.jpg"),
        ("images/été/ß.webp", "images/%C3%A9t%C3%A9/%C3%9F.webp"),
        ("images/x?y#z&w.png", "images/x%3Fy%23z%26w.png"),
    ],
)
def test_keys_are_percent_encoded_and_signed_as_encoded(key: str, path: str) -> None:
    # Given the URLs of an unsigned and of a signed CDN
    clock = FixedClock(START)
    plain = CdnImageUrls(BASE, lifetime=HOUR, clock=clock)
    # When a key with spaces, non-ASCII or URL syntax is made a URL
    # Then its path is the UTF-8 percent-encoding, slashes kept
    assert plain.url(key) == f"{BASE}/{path}"
    # And the signature covers that encoded URL, as the browser will request it
    assert verify(signed_urls(clock).url(key), key_pair().public).resource == f"{BASE}/{path}"


def test_a_key_that_is_not_rsa_is_refused() -> None:
    # Given an EC private key in PKCS#8 PEM
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # When a signer is made from it / Then it is refused, naming the problem
    with pytest.raises(ValueError, match="not an RSA key"):
        canned_policy_signer(KEY_PAIR_ID, pem)


ENV = {
    "IMAGES_TABLE": "images",
    "SESSION_IMAGES_TABLE": "session-images",
    "IMAGES_BUCKET": "bucket",
    "EVENT_BUS_NAME": "bus",
    "EVENTS_URL": "wss://events.example",
    "TICKET_KEY_SECRET": "ticket-key",
}


def test_the_cdn_settings_are_optional() -> None:
    # Given the environment the API function had before the CDN / When it is read
    settings = ImagesApiSettings.model_validate(ENV)
    # Then there is no CDN
    assert (settings.cdn_base_url, settings.cdn_key_pair_id, settings.cdn_private_key_secret) == (
        "",
        "",
        "",
    )


@pytest.mark.parametrize(
    ("cdn", "problem"),
    [
        ({"CDN_BASE_URL": BASE, "CDN_KEY_PAIR_ID": KEY_PAIR_ID}, "without CDN_PRIVATE_KEY_SECRET"),
        ({"CDN_KEY_PAIR_ID": KEY_PAIR_ID, "CDN_PRIVATE_KEY_SECRET": "arn"}, "without CDN_BASE_URL"),
        ({"CDN_BASE_URL": "d111111abcdef8.cloudfront.net"}, "CDN_BASE_URL"),
    ],
)
def test_incomplete_cdn_settings_are_refused(cdn: dict[str, str], problem: str) -> None:
    # Given a key pair id without its secret or base URL, or a base URL without a scheme
    # When the settings are read / Then they are refused, naming what is wrong
    with pytest.raises(ValidationError, match=problem):
        ImagesApiSettings.model_validate({**ENV, **cdn})


def test_complete_cdn_settings_are_read() -> None:
    # Given all three CDN variables / When the settings are read / Then they are kept
    settings = ImagesApiSettings.model_validate(
        {
            **ENV,
            "CDN_BASE_URL": BASE,
            "CDN_KEY_PAIR_ID": KEY_PAIR_ID,
            "CDN_PRIVATE_KEY_SECRET": "arn:aws:secretsmanager:us-east-1:123456789012:secret:cdn",
        }
    )
    assert (settings.cdn_base_url, settings.cdn_key_pair_id) == (BASE, KEY_PAIR_ID)
