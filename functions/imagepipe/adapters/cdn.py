"""CloudFront delivery: image URLs under the distribution, signed with a canned policy when the
distribution trusts a key group (README "HTTP API", design "Delivery (CDN)")."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import quote

from botocore.signers import CloudFrontSigner

from imagepipe.domain.ports import Clock

if TYPE_CHECKING:
    import rsa

# Signed URLs kept per warm container: a pure-Python RSA signature costs milliseconds, and
# within a window every read of a key returns the same URL anyway. Entries of past windows
# fall out as new ones come in.
_SIGNED_URLS = 4096
# PKCS#8 (`BEGIN PRIVATE KEY`, what `openssl genrsa` 3.x and most tools write) wraps the PKCS#1
# key that `rsa` reads; this is its algorithm identifier for RSA.
_RSA_ENCRYPTION = "1.2.840.113549.1.1.1"


def window_expiry(now: datetime, lifetime: int) -> int:
    """The epoch second a URL made at `now` expires: `now + lifetime` rounded up to a multiple
    of `lifetime`. Reads in the same window agree on it; a URL lives [lifetime, 2*lifetime)."""
    earliest = math.ceil(now.timestamp()) + lifetime
    return -(-earliest // lifetime) * lifetime  # ceil(earliest / lifetime), in integers


class CdnImageUrls:
    """`<base>/<key, percent-encoded>`; with a signer, followed by
    `?Expires=<epoch>&Signature=<CloudFront base64>&Key-Pair-Id=<id>` (a canned policy)."""

    def __init__(
        self,
        base_url: str,
        *,
        lifetime: int,
        clock: Clock,
        signer: CloudFrontSigner | None = None,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._lifetime = lifetime
        self._clock = clock
        self._signer = signer
        self._signed = lru_cache(maxsize=_SIGNED_URLS)(self._sign)

    def url(self, key: str) -> str:
        url = f"{self._base}/{quote(key)}"
        if self._signer is None:
            return url
        return self._signed(url, window_expiry(self._clock(), self._lifetime))

    def _sign(self, url: str, expires: int) -> str:
        assert self._signer is not None
        return self._signer.generate_presigned_url(
            url, date_less_than=datetime.fromtimestamp(expires, UTC)
        )


def canned_policy_signer(key_pair_id: str, private_key_pem: bytes) -> CloudFrontSigner:
    """botocore's CloudFront signer with an RSA-SHA1 signature (what CloudFront verifies) by the
    pure-Python `rsa` package, imported here so that only a function that signs loads it."""
    import rsa

    key = _private_key(private_key_pem)

    def sign(message: bytes) -> bytes:
        return rsa.sign(message, key, "SHA-1")

    return CloudFrontSigner(key_pair_id, sign)


def _private_key(pem: bytes) -> rsa.PrivateKey:
    """An RSA private key from PEM, PKCS#1 (`BEGIN RSA PRIVATE KEY`) or unencrypted PKCS#8
    (`BEGIN PRIVATE KEY`)."""
    import rsa
    import rsa.pem

    if b"-----BEGIN RSA PRIVATE KEY-----" in pem:
        return rsa.PrivateKey.load_pkcs1(pem)
    from pyasn1.codec.der import decoder

    # PrivateKeyInfo ::= SEQUENCE { version, AlgorithmIdentifier, privateKey OCTET STRING }
    info, _ = decoder.decode(rsa.pem.load_pem(pem, "PRIVATE KEY"))
    if str(info[1][0]) != _RSA_ENCRYPTION:
        raise ValueError(f"the CDN signing key is not an RSA key (algorithm {info[1][0]})")
    return rsa.PrivateKey.load_pkcs1(bytes(info[2]), format="DER")
