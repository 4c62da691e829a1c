"""What S3 checks on a browser-based POST upload and an emulator does not: the policy's
signature, expiry and conditions, and the checksum field. Used by the local stack in front of
moto, so that a form which real S3 would refuse is refused locally too.

References: "Creating a POST policy" and "Browser-based uploads using POST (SigV4)" in the
Amazon S3 API reference."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from imagepipe_local.sigv4 import (
    BAD_SIGNATURE,
    UNKNOWN_KEY,
    Refusal,
    check_checksum,
    signing_key,
)

# Form fields S3 does not require the policy to mention.
_EXEMPT = {"policy", "x-amz-signature", "file", "x-ignore-", "awsaccesskeyid", "signature"}


def check_post(
    fields: Mapping[str, str],
    content: bytes,
    *,
    bucket: str,
    secret_for: Callable[[str], str | None],
    now: datetime | None = None,
) -> Refusal | None:
    """None when S3 would accept the upload, else the refusal S3 would answer."""
    lowered = {k.lower(): v for k, v in fields.items()}
    policy_b64 = lowered.get("policy")
    if not policy_b64:
        return Refusal(403, "AccessDenied", "Bucket POST must contain a policy")
    credential = lowered.get("x-amz-credential", "")
    parts = credential.split("/")
    if len(parts) != 5:
        return Refusal(400, "InvalidArgument", "x-amz-credential is malformed")
    access_key, date, region, service, _ = parts
    secret = secret_for(access_key)
    if secret is None:
        return UNKNOWN_KEY
    expected = hmac.new(
        signing_key(secret, date, region, service), policy_b64.encode(), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected, lowered.get("x-amz-signature", "")):
        return BAD_SIGNATURE
    try:
        policy: dict[str, Any] = json.loads(base64.b64decode(policy_b64))
        expiration = datetime.fromisoformat(str(policy["expiration"]).replace("Z", "+00:00"))
    except (ValueError, KeyError, TypeError):
        return Refusal(400, "InvalidPolicyDocument", "Invalid Policy: not a policy document")
    if (now or datetime.now(UTC)) > expiration:
        return Refusal(403, "AccessDenied", "Invalid according to Policy: Policy expired.")
    values = {**lowered, "bucket": bucket}
    mentioned: set[str] = set()
    for condition in policy.get("conditions", []):
        refusal = _check_condition(condition, values, len(content), mentioned)
        if refusal is not None:
            return refusal
    extra = sorted(
        name
        for name in lowered
        if name not in mentioned and name not in _EXEMPT and not name.startswith("x-ignore-")
    )
    if extra:
        return Refusal(
            403,
            "AccessDenied",
            f"Invalid according to Policy: Extra input fields: {', '.join(extra)}",
        )
    checksum = lowered.get("x-amz-checksum-sha256")
    if checksum is not None:
        return check_checksum(checksum, content)
    return None


def _check_condition(
    condition: Any, values: Mapping[str, str], size: int, mentioned: set[str]
) -> Refusal | None:
    if isinstance(condition, dict):
        ((name, expected),) = condition.items()
        name = str(name).lower()
        mentioned.add(name)
        if values.get(name) != expected:
            return _failed(f'["eq", "${name}", "{expected}"]')
        return None
    operator, *operands = condition
    operator = str(operator).lower()
    if operator == "content-length-range":
        low, high = int(operands[0]), int(operands[1])
        if not low <= size <= high:
            reason = "EntityTooSmall" if size < low else "EntityTooLarge"
            return Refusal(400, reason, f"Your proposed upload size {size} is outside {low}-{high}")
        return None
    name = str(operands[0]).lstrip("$").lower()
    mentioned.add(name)
    value = values.get(name)
    if operator == "eq" and value != operands[1]:
        return _failed(f'["eq", "${name}", "{operands[1]}"]')
    if operator == "starts-with" and not (value or "").startswith(str(operands[1])):
        return _failed(f'["starts-with", "${name}", "{operands[1]}"]')
    return None


def _failed(condition: str) -> Refusal:
    return Refusal(
        403, "AccessDenied", f"Invalid according to Policy: Policy Condition failed: {condition}"
    )
