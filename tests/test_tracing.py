"""Tracing of the API functions, each in a fresh interpreter as Lambda runs it: with tracing on
(Tracing: Active) every invocation sends its handler subsegment to the X-Ray daemon, here a UDP
socket of the test; with tracing off (the local stack, the tests, POWERTOOLS_TRACE_DISABLED) the
handler answers the same and nothing is sent, without the X-Ray SDK (imagepipe.observability)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from imagepipe_local.template import PROJECT_ROOT, Template

FUNCTIONS = PROJECT_ROOT / "functions"
EVENTS = PROJECT_ROOT / "events"
TRACE_ROOT = "1-6750a000-0123456789abcdef01234567"
PARENT = "0123456789abcdef"
# First invocations answered without an AWS call, and their status: a body that is not JSON, a
# path no route has, a socket with no connection id. AWS_ENDPOINT_URL points at a closed port, so
# a call would fail the status.
_NO_ROUTE = (EVENTS / "images_get_unknown.json").read_text(encoding="utf-8")
EVENT: dict[str, tuple[dict[str, Any], int]] = {
    "PresignUploadFunction": (
        json.loads((EVENTS / "presign_upload_malformed_json.json").read_text(encoding="utf-8")),
        400,
    ),
    "ImagesApiFunction": (
        json.loads(_NO_ROUTE.replace("/images/ffffffffffffffffffffffffffffffff", "/nowhere")),
        404,
    ),
    "EventsSocketFunction": ({"requestContext": {"routeKey": "$connect"}}, 400),
}

_INVOKE = """
import importlib, json, os, sys
module, event = sys.argv[1], json.loads(sys.argv[2])
handler = importlib.import_module(module).handler
os.environ["_X_AMZN_TRACE_ID"] = sys.argv[3]  # as the runtime sets it per invocation

class Context:
    function_name = "f"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:f"
    memory_limit_in_mb = 256
    aws_request_id = "00000000-0000-4000-8000-000000000001"
    def get_remaining_time_in_millis(self):
        return 10000

response = handler(event, Context())
from imagepipe.observability import tracer
print(json.dumps({"status": response["statusCode"], "provider": type(tracer.provider).__name__,
                  "xray": "aws_xray_sdk.core" in sys.modules}))
"""


@pytest.fixture
def daemon() -> Iterator[socket.socket]:
    """A UDP socket standing in for the X-Ray daemon."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock


def invoke(function: str, daemon: socket.socket, env: dict[str, str]) -> dict[str, Any]:
    """One cold start and first invocation of a function, with the template's environment, the
    variables the Lambda runtime adds and `env`."""
    template = Template.load()
    _, handler = template.function_handler(function)
    full = {
        key: value
        for key, value in os.environ.items()
        if key not in ("POWERTOOLS_TRACE_DISABLED", "AWS_SAM_LOCAL", "LAMBDA_TASK_ROOT")
    }
    full.update(template.function_environment(function))
    full.update(
        {
            "PYTHONPATH": str(FUNCTIONS),
            "LAMBDA_TASK_ROOT": str(FUNCTIONS),
            "AWS_LAMBDA_FUNCTION_NAME": function,
            "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{daemon.getsockname()[1]}",
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
            "AWS_MAX_ATTEMPTS": "1",
            **env,
        }
    )
    trace = f"Root={TRACE_ROOT};Parent={PARENT};Sampled=1"
    done = subprocess.run(  # noqa: S603 - our own interpreter and code
        [
            sys.executable,
            "-c",
            _INVOKE,
            handler.rsplit(".", 1)[0],
            json.dumps(EVENT[function][0]),
            trace,
        ],
        env=full,
        capture_output=True,
        text=True,
        check=True,
        cwd=FUNCTIONS,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def received(daemon: socket.socket) -> list[dict[str, Any]]:
    """The trace documents the daemon got (each datagram: a JSON header line, then one)."""
    daemon.setblocking(False)
    documents: list[dict[str, Any]] = []
    while True:
        try:
            datagram = daemon.recv(65536)
        except BlockingIOError:
            return documents
        header, _, body = datagram.decode().partition("\n")
        assert json.loads(header) == {"format": "json", "version": 1}
        documents.append(json.loads(body))


@pytest.mark.parametrize("function", list(EVENT))
def test_with_tracing_on_each_invocation_sends_its_handler_subsegment(
    function: str, daemon: socket.socket
) -> None:
    # Given a function in Lambda with tracing on (Tracing: Active, a sampled trace id)
    # When it starts cold and handles a request
    result = invoke(function, daemon, {})

    # Then it answered without AWS
    assert result["status"] == EVENT[function][1]
    # And its tracer is Powertools' over the X-Ray SDK
    assert result["provider"] == "AsyncAWSXRayRecorder"
    assert result["xray"]
    # And the handler's subsegment reached the daemon, in the invocation's trace, annotated
    documents = received(daemon)
    handler = [doc for doc in documents if doc.get("name") == "## handler"]
    assert len(handler) == 1, documents
    assert handler[0]["trace_id"] == TRACE_ROOT
    assert handler[0]["parent_id"] == PARENT
    assert handler[0]["annotations"] == {"ColdStart": True, "Service": "imagepipe"}
    assert "end_time" in handler[0]


@pytest.mark.parametrize("function", list(EVENT))
def test_with_tracing_off_the_handler_answers_the_same_and_sends_nothing(
    function: str, daemon: socket.socket
) -> None:
    # Given the same function with tracing off
    on = invoke(function, daemon, {})
    received(daemon)

    # When it starts cold and handles the same request
    off = invoke(function, daemon, {"POWERTOOLS_TRACE_DISABLED": "1"})

    # Then it answers as with tracing on, with no X-Ray SDK and nothing sent to the daemon
    assert off["status"] == on["status"] == EVENT[function][1]
    assert off["provider"] == "NoTracingProvider"
    assert not off["xray"]
    assert received(daemon) == []
