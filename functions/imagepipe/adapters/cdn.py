"""CloudFront delivery: image URLs under the distribution, signed with a canned policy when the
distribution trusts a key group (README "HTTP API", design "Delivery (CDN)")."""

from __future__ import annotations

import hashlib
import math
from datetime import UTC, datetime
from functools import lru_cache, partial
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
    key = _private_key(private_key_pem)
    return CloudFrontSigner(key_pair_id, partial(_sign_sha1, key))


def _sign_sha1(key: rsa.PrivateKey, message: bytes) -> bytes:
    """RSASSA-PKCS1-v1_5 with SHA-1: byte for byte what `rsa.sign(message, key, "SHA-1")`
    returns (the scheme is deterministic), about three times faster. `rsa.sign` raises the
    padded digest to the full private exponent; `blinded_decrypt` does the same exponentiation
    through the Chinese remainder theorem, blinded like `rsa.sign` against timing attacks."""
    import rsa

    size = rsa.common.byte_size(key.n)
    digest_info = rsa.pkcs1.HASH_ASN1["SHA-1"] + hashlib.sha1(message).digest()  # noqa: S324 - CloudFront's algorithm
    # EMSA-PKCS1-v1_5 (RFC 8017, 9.2): 00 01 FF..FF 00 DigestInfo
    padded = b"\x00\x01" + b"\xff" * (size - len(digest_info) - 3) + b"\x00" + digest_info
    signature = key.blinded_decrypt(rsa.transform.bytes2int(padded))
    return rsa.transform.int2bytes(signature, size)


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
