"""SigV4 as S3 checks it where an emulator does not: the signing key (shared with the POST policy
check), the query signature of a presigned request, and the x-amz-checksum-sha256 of a PUT body.
Used by the local stack's S3 front, so that a request real S3 would refuse is refused locally.

References: "Authenticating Requests: Using Query Parameters (AWS Signature Version 4)" and
"Checking object integrity" in the Amazon S3 documentation. The error codes and messages are
the ones S3 answers (as SDK error reports and LocalStack's AWS-validated tests quote them)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote

ALGORITHM = "AWS4-HMAC-SHA256"
# A presigned URL may not live longer than this (S3 refuses the URL outright otherwise).
MAX_EXPIRES = 604800
_REQUIRED = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
)


@dataclass(frozen=True)
class Refusal:
    status: int
    code: str
    message: str

    def xml(self) -> bytes:
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{self.code}</Code><Message>{self.message}</Message></Error>"
        ).encode()


UNKNOWN_KEY = Refusal(
    403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."
)
BAD_SIGNATURE = Refusal(
    403,
    "SignatureDoesNotMatch",
    "The request signature we calculated does not match the signature you provided. "
    "Check your key and signing method.",
)
EXPIRED = Refusal(403, "AccessDenied", "Request has expired")
INVALID_CHECKSUM = Refusal(
    400, "InvalidRequest", "Value for x-amz-checksum-sha256 header is invalid."
)
BAD_DIGEST = Refusal(
    400, "BadDigest", "The SHA256 you specified did not match the calculated checksum."
)


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def query_params(query: str) -> list[tuple[str, str]]:
    """The raw query string's pairs, decoded as SigV4 decodes them: `+` stays a plus (parse_qsl
    would make it a space and the canonical query would differ from the client's)."""
    pairs = [part.partition("=") for part in query.split("&") if part]
    return [(unquote(name), unquote(value)) for name, _, value in pairs]


def is_presigned(query: str) -> bool:
    """A query-signed SigV4 request (a presigned URL), as opposed to one with an Authorization
    header (the SDK's own calls) or an anonymous one."""
    return any(name == "X-Amz-Signature" for name, _ in query_params(query))


def check_presigned(
    method: str,
    raw_path: str,
    query: str,
    headers: Mapping[str, str],
    *,
    secret_for: Callable[[str], str | None],
    now: datetime | None = None,
) -> Refusal | None:
    """None when S3 would accept this presigned request's signature and expiry, else the refusal
    S3 would answer. `raw_path` is the path as sent (percent-encoded), `query` the raw query
    string, `headers` the received headers by lower-case name."""
    params = query_params(query)
    given = dict(params)
    missing = [name for name in _REQUIRED if name not in given]
    if missing:
        return _query_error(f"Query-string authentication version 4 requires {', '.join(missing)}")
    if given["X-Amz-Algorithm"] != ALGORITHM:
        return _query_error(f'X-Amz-Algorithm only supports "{ALGORITHM}"')
    scope = given["X-Amz-Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        return _query_error("Error parsing the X-Amz-Credential parameter")
    access_key, date, region, service, _ = scope
    try:
        signed_at = datetime.strptime(given["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        expires = int(given["X-Amz-Expires"])
    except ValueError:
        return _query_error("X-Amz-Date or X-Amz-Expires is malformed")
    if not 0 <= expires <= MAX_EXPIRES:
        return _query_error("X-Amz-Expires must be less than a week (in seconds) that is 604800")
    secret = secret_for(access_key)
    if secret is None:
        return UNKNOWN_KEY
    signed_headers = given["X-Amz-SignedHeaders"].split(";")
    # A signed header the request lacks cannot take part in the canonical request: S3 computes
    # another signature than the client's, hence a mismatch (no special error).
    if any(name not in headers for name in signed_headers):
        return BAD_SIGNATURE
    canonical = "\n".join(
        [
            method,
            _canonical_path(raw_path),
            _canonical_query([(k, v) for k, v in params if k != "X-Amz-Signature"]),
            "".join(f"{name}:{_trimmed(headers[name])}\n" for name in signed_headers),
            ";".join(signed_headers),
            "UNSIGNED-PAYLOAD",
        ]
    )
    string_to_sign = "\n".join(
        [
            ALGORITHM,
            given["X-Amz-Date"],
            "/".join(scope[1:]),  # the credential scope: all but the access key
            hashlib.sha256(canonical.encode()).hexdigest(),
        ]
    )
    expected = hmac.new(
        signing_key(secret, date, region, service), string_to_sign.encode(), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected, given["X-Amz-Signature"]):
        return BAD_SIGNATURE
    # Checked once the signature holds: a forged URL is reported as forged, whatever its dates.
    if (now or datetime.now(UTC)) > signed_at + timedelta(seconds=expires):
        return EXPIRED
    return None


def check_checksum(header: str, body: bytes) -> Refusal | None:
    """None when `header` (an x-amz-checksum-sha256 value) is the base64 SHA-256 of `body`."""
    try:
        digest = base64.b64decode(header, validate=True)
    except (binascii.Error, ValueError):
        return INVALID_CHECKSUM
    if len(digest) != hashlib.sha256().digest_size:
        return INVALID_CHECKSUM
    if not hmac.compare_digest(digest, hashlib.sha256(body).digest()):
        return BAD_DIGEST
    return None


def _canonical_path(raw_path: str) -> str:
    # S3 (unlike other services) encodes the path once: decode what was sent, encode each
    # segment as SigV4 says (everything but unreserved characters and the slashes).
    return quote(unquote(raw_path), safe="/~")


def _canonical_query(params: list[tuple[str, str]]) -> str:
    encoded = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in params)
    return "&".join(f"{k}={v}" for k, v in encoded)


def _trimmed(value: str) -> str:
    return " ".join(value.split())


def _query_error(message: str) -> Refusal:
    return Refusal(400, "AuthorizationQueryParametersError", message)
