"""The local CDN's key pair and CloudFront's signed URLs (canned policy), as the local stack
plays them (cdn.py serves the distribution).

The stack holds one 2048-bit RSA key pair (in `--data-dir` when given, so that URLs signed before
a restart still verify; else made for the run). The template is loaded with its public key as
CdnPublicKeyPem and the ARN of a secret holding its private key as CdnPrivateKeySecretArn, so the
API function signs URLs exactly as it does on AWS, and reads the key under the same IAM policy;
`CdnKeys.refusal` then checks a URL as CloudFront does."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.signers import CloudFrontSigner
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from imagepipe_local.identity import rsa_key
from imagepipe_local.template import LocalNames

# A CloudFront public key id is 'K' and 13 more upper-case alphanumerics; the template's
# `!Ref CdnPublicKey` names no key outside AWS, so the stack hands the functions this one.
LOCAL_KEY_PAIR_ID = "K2LOCALIMAGEPIPE"
KEY_FILE = "cdn-signing-key.pem"
SIGNING_PARAMETERS = ("Expires", "Signature", "Key-Pair-Id")
# CloudFront's messages for the refusals (all 403 AccessDenied).
MISSING_KEY = "Missing Key-Pair-Id query parameter or cookie value"
UNKNOWN_KEY = "Unknown Key"
DENIED = "Access denied"
# CloudFront signs with RSA-SHA1 (PKCS#1 v1.5), the one algorithm its canned policy knows.
SHA1 = hashes.SHA1()  # noqa: S303


def secret_name(names: LocalNames) -> str:
    return f"{names.stack_name}-cdn-private-key"


def secret_arn(names: LocalNames) -> str:
    # Without AWS's random suffix: Secrets Manager (and moto) accept the ARN without it.
    return f"arn:aws:secretsmanager:{names.region}:{names.account_id}:secret:{secret_name(names)}"


def _from_cloudfront_b64(text: str) -> bytes:
    return base64.b64decode(text.translate(str.maketrans("-_~", "+=/")), validate=True)


def canned_policy(resource: str, expires: int) -> bytes:
    """The policy CloudFront rebuilds for a canned-policy URL, byte for byte as botocore's
    CloudFrontSigner.build_policy writes it (order and separators matter: it is what is signed)."""
    statement = {"Resource": resource, "Condition": {"DateLessThan": {"AWS:EpochTime": expires}}}
    return json.dumps({"Statement": [statement]}, separators=(",", ":")).encode()


@dataclass(frozen=True)
class CdnKeys:
    private_key: rsa.RSAPrivateKey
    key_pair_id: str = LOCAL_KEY_PAIR_ID

    @classmethod
    def load(cls, data_dir: Path | None) -> CdnKeys:
        return cls(rsa_key(data_dir / KEY_FILE if data_dir else None))

    @property
    def public_pem(self) -> str:
        return (
            self.private_key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    @property
    def private_pem(self) -> str:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    def parameters(self, names: LocalNames) -> dict[str, str]:
        """The template parameters that make the distribution private with this key pair."""
        return {"CdnPublicKeyPem": self.public_pem, "CdnPrivateKeySecretArn": secret_arn(names)}

    def sign(self, url: str, expires: int) -> str:
        """`url` signed as the API function signs it (for tests: the stack itself never signs)."""

        def rsa_sha1(message: bytes) -> bytes:
            return self.private_key.sign(message, padding.PKCS1v15(), SHA1)

        signer = CloudFrontSigner(self.key_pair_id, rsa_sha1)
        return signer.generate_presigned_url(
            url, date_less_than=datetime.fromtimestamp(expires, UTC)
        )

    def refusal(self, url: str, now: float) -> str | None:
        """Why CloudFront refuses this signed URL (its message), or None when it verifies."""
        base, _, query = url.partition("?")
        found: dict[str, str] = {}
        kept = []
        for pair in query.split("&") if query else []:
            name, _, value = pair.partition("=")
            if name in SIGNING_PARAMETERS:
                found[name] = value
            else:
                kept.append(pair)
        if not found.get("Key-Pair-Id"):
            return MISSING_KEY
        if found["Key-Pair-Id"] != self.key_pair_id:
            return UNKNOWN_KEY
        expires = found.get("Expires", "")
        if not expires.isdigit() or int(expires) <= now:
            return DENIED
        # The policy's resource is the URL as requested, less the signing parameters: a changed
        # host, path or other parameter changes the policy and so breaks the signature.
        resource = f"{base}?{'&'.join(kept)}" if kept else base
        try:
            signature = _from_cloudfront_b64(found.get("Signature", ""))
            self.private_key.public_key().verify(
                signature, canned_policy(resource, int(expires)), padding.PKCS1v15(), SHA1
            )
        except (ValueError, InvalidSignature):
            return DENIED
        return None


def store_private_key(keys: CdnKeys, names: LocalNames, manager: Any) -> None:
    """The private key as the secret CdnPrivateKeySecretArn names (a fresh emulator each run)."""
    manager.create_secret(Name=secret_name(names), SecretString=keys.private_pem)
