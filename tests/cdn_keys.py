"""CloudFront signed URLs, checked the way CloudFront checks them and independently of the code
under test: a key pair made with `cryptography`, and a verifier that rebuilds the canned policy
from the URL and checks the RSA-SHA1 signature with the public key."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from functools import cache
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

KEY_PAIR_ID = "K2TESTIMAGEPIPE"


@dataclass(frozen=True)
class KeyPair:
    private: rsa.RSAPrivateKey

    def private_pem(self, form: serialization.PrivateFormat) -> bytes:
        return self.private.private_bytes(
            serialization.Encoding.PEM, form, serialization.NoEncryption()
        )

    @property
    def pkcs8(self) -> bytes:
        """`BEGIN PRIVATE KEY`: what `openssl genrsa` (3.x) writes."""
        return self.private_pem(serialization.PrivateFormat.PKCS8)

    @property
    def pkcs1(self) -> bytes:
        """`BEGIN RSA PRIVATE KEY`."""
        return self.private_pem(serialization.PrivateFormat.TraditionalOpenSSL)

    @property
    def public(self) -> rsa.RSAPublicKey:
        return self.private.public_key()


@cache
def key_pair(seed: int = 0) -> KeyPair:
    """A 2048-bit key pair, one per seed for the test session (generation takes a moment)."""
    return KeyPair(rsa.generate_private_key(public_exponent=65537, key_size=2048))


@dataclass(frozen=True)
class Signed:
    resource: str
    expires: int
    key_pair_id: str


class Forged(Exception):
    """The signature does not verify with the public key."""


def verify(url: str, public: rsa.RSAPublicKey) -> Signed:
    """Check a canned-policy URL as CloudFront does; raises Forged when it does not verify."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True, strict_parsing=True))
    assert set(query) == {"Expires", "Signature", "Key-Pair-Id"}, query
    resource = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    expires = int(query["Expires"])
    policy = json.dumps(
        {
            "Statement": [
                {"Resource": resource, "Condition": {"DateLessThan": {"AWS:EpochTime": expires}}}
            ]
        },
        separators=(",", ":"),
    )
    signature = base64.b64decode(
        query["Signature"].replace("-", "+").replace("_", "=").replace("~", "/"), validate=True
    )
    try:
        public.verify(signature, policy.encode(), padding.PKCS1v15(), hashes.SHA1())  # noqa: S303 - CloudFront's algorithm
    except InvalidSignature as error:
        raise Forged(url) from error
    return Signed(resource=resource, expires=expires, key_pair_id=query["Key-Pair-Id"])
