"""Injected AWS faults: a fraction of the functions' AWS calls fail as AWS fails them.

`imagepipe local --fault-rate 0.3` puts this layer between the handlers and the emulated AWS.
It sits at botocore's HTTP send, inside the SDK's retry loop, so each attempt of a call is
decided on its own and the functions' retry configuration is exercised as it is on AWS. Only
calls a function's own code makes are touched (`iam.acting_as`): the browser's uploads, the
local stack's own event-source polling, what Lambda sends for a function (its on-failure
destination) and the tests' checks go through untouched.

Two modes, as in the wild:
- `before`: the request never reaches AWS; the answer is a throttle or a 5xx (nothing applied).
- `after`: the request is applied, then answered with a 5xx: an ambiguous write, which the
  SDK retries, so the caller's second attempt meets its own first one.
`both` picks one of the two for each faulted attempt.

Decisions come from one seeded generator: the same seed gives the same sequence of decisions
(which call each lands on depends on thread timing).
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import botocore.endpoint
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.compat import HTTPHeaders

from imagepipe_local import iam

Mode = Literal["before", "after", "both"]
MODES: tuple[Mode, ...] = ("before", "after", "both")


@dataclass(frozen=True)
class Fault:
    status: int
    code: str
    message: str


# What each service answers when it is throttled or has an internal error (the codes botocore's
# standard retry mode treats as retryable, as the services document them).
_S3 = (
    Fault(503, "SlowDown", "Please reduce your request rate."),
    Fault(500, "InternalError", "We encountered an internal error. Please try again."),
)
_DYNAMODB = (
    Fault(
        400,
        "ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded.",
    ),
    Fault(400, "ThrottlingException", "Rate of requests exceeds the allowed throughput."),
    Fault(500, "InternalServerError", "Internal server error"),
)
_GENERIC = (
    Fault(500, "InternalFailure", "The request processing has failed because of an unknown error."),
    Fault(503, "ServiceUnavailable", "The request has failed due to a temporary failure."),
)
_BY_SERVICE: dict[str, Sequence[Fault]] = {"s3": _S3, "dynamodb": _DYNAMODB}


class _Body:
    """The `raw` of an AWSResponse: what botocore reads the body from."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def _service_of(request: AWSPreparedRequest) -> str:
    # SigV4's credential scope names the service: .../<date>/<region>/<service>/aws4_request
    authorization = request.headers.get("Authorization", b"")
    if isinstance(authorization, bytes):
        authorization = authorization.decode("latin-1")
    for part in authorization.split(","):
        if "Credential=" in part:
            scope = part.split("Credential=", 1)[1].split("/")
            if len(scope) >= 4:
                return scope[3]
    return "unknown"


def error_response(request: AWSPreparedRequest, fault: Fault) -> AWSResponse:
    """The error as the service's protocol carries it: JSON with `__type` for the JSON
    protocols (DynamoDB, SQS, EventBridge, Secrets Manager), S3's XML otherwise."""
    request_id = uuid.uuid4().hex.upper()
    headers = {"x-amzn-RequestId": request_id, "x-amz-request-id": request_id}
    if "X-Amz-Target" in request.headers:
        body = json.dumps({"__type": fault.code, "message": fault.message}).encode()
        headers |= {"Content-Type": "application/x-amz-json-1.0", "x-amzn-ErrorType": fault.code}
    elif _service_of(request) == "s3":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{fault.code}</Code><Message>{fault.message}</Message>"
            f"<RequestId>{request_id}</RequestId></Error>"
        ).encode()
        headers["Content-Type"] = "application/xml"
    else:  # rest-json (API Gateway's management API)
        body = json.dumps({"message": fault.message}).encode()
        headers |= {"Content-Type": "application/json", "x-amzn-ErrorType": fault.code}
    return AWSResponse(request.url, fault.status, HTTPHeaders.from_dict(headers), _Body(body))


class FaultInjector:
    def __init__(self, rate: float, mode: Mode = "before", seed: int = 0) -> None:
        if not 0 <= rate <= 1:
            raise ValueError("the fault rate is a fraction between 0 and 1")
        if mode not in MODES:
            raise ValueError(f"the fault mode is one of {', '.join(MODES)}")
        self.rate = rate
        self.mode = mode
        self.seed = seed
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()

    def decide(self, service: str) -> tuple[Fault, Mode] | None:
        """Whether this attempt fails, with which error, and before or after AWS applies it."""
        with self._lock:
            self.calls[service] += 1
            if self._random.random() >= self.rate:
                return None
            mode: Mode = self.mode
            if mode == "both":
                mode = self._random.choice(("before", "after"))
            faults = _BY_SERVICE.get(service, _GENERIC)
            if mode == "after":  # applied, then lost: a server error, never a throttle
                faults = [f for f in faults if f.status >= 500]
            fault = self._random.choice(faults)
            self.injected[f"{service} {fault.code} {mode}"] += 1
            return fault, mode

    def summary(self) -> str:
        calls = sum(self.calls.values())
        injected = sum(self.injected.values())
        share = f"{injected / calls:.0%}" if calls else "0%"
        return f"faults: {injected} of {calls} function calls to AWS failed ({share})"


_installed: FaultInjector | None = None
_original_send = botocore.endpoint.Endpoint._send  # type: ignore[attr-defined]


def _send(self: Any, request: AWSPreparedRequest) -> Any:
    injector = _installed
    if injector is None or iam.function_code_running() is None:
        return _original_send(self, request)
    decided = injector.decide(_service_of(request))
    if decided is None:
        return _original_send(self, request)
    fault, mode = decided
    if mode == "after":
        applied = _original_send(self, request)
        applied.content  # noqa: B018 - read it whole, as a client would, before the 5xx
    return error_response(request, fault)


def install(injector: FaultInjector) -> FaultInjector:
    """Inject faults into every function's AWS calls in this process, from now on."""
    global _installed
    _installed = injector
    botocore.endpoint.Endpoint._send = _send  # type: ignore[attr-defined]
    return injector


def uninstall() -> None:
    global _installed
    _installed = None
    botocore.endpoint.Endpoint._send = _original_send  # type: ignore[attr-defined]
