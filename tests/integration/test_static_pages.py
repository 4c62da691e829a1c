"""The local HTTP API serves the demo pages and the vendored Uppy bundle from local/web, and
nothing else there: not npm's package files, not node_modules at large, not the package."""

from __future__ import annotations

import http.client
from collections.abc import Iterator

import pytest

from imagepipe_local.http_api import VENDOR, HttpFront, LocalHttpApi
from imagepipe_local.invoke import FunctionRunner
from imagepipe_local.template import Template


@pytest.fixture
def port(template: Template) -> Iterator[int]:
    # No route is invoked here: the pages never reach a handler, so no emulator is needed.
    front = HttpFront(LocalHttpApi(FunctionRunner(template)), "127.0.0.1", 0).start()
    yield front.port
    front.stop()


def status_of(port: int, path: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


@pytest.mark.parametrize(
    "path", ["/", "/index.html", "/uppy", "/static/app.js", "/static/app.css", "/static/uppy.html"]
)
def test_the_pages_are_served(port: int, path: str) -> None:
    # Given the local HTTP API / When a page or its script or style is asked for / Then it is there
    assert status_of(port, path) == 200


def test_the_vendored_uppy_bundle_is_served(port: int) -> None:
    # Given Uppy installed from npm (`make test` and `make run` install it first)
    bundle = VENDOR["/vendor/uppy/"] / "uppy.min.js"
    assert bundle.is_file(), f"{bundle} is missing: run `make install`"

    # When its bundle is asked for / Then it is served
    assert status_of(port, "/vendor/uppy/uppy.min.js") == 200
    assert status_of(port, "/vendor/uppy/uppy.min.css") == 200


@pytest.mark.parametrize(
    "path",
    [
        "/static/package.json",
        "/static/package-lock.json",
        "/static/node_modules/uppy/package.json",
        "/static/node_modules/uppy/dist/uppy.min.js",
        "/static/../imagepipe_local/stack.py",
        "/static/%2e%2e/imagepipe_local/stack.py",
        "/vendor/uppy/../package.json",
        "/vendor/uppy/../../../package.json",
    ],
)
def test_nothing_else_under_local_web_is(port: int, path: str) -> None:
    # Given the local HTTP API / When npm's files, the package or a way out is asked for
    # Then nothing is served
    assert status_of(port, path) == 404


@pytest.mark.parametrize(("method", "path"), [("GET", "/"), ("OPTIONS", "/uploads")])
def test_every_response_closes_its_connection(port: int, method: str, path: str) -> None:
    # Given the local HTTP API (a kept-alive connection reused as the server idles it out lost
    # a POST's body under load) / When a page or an API preflight is asked for
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        response.read()
        # Then the server says it closes the connection after the response
        assert response.getheader("connection") == "close"
        assert response.will_close
    finally:
        connection.close()


@pytest.mark.parametrize("method", ["TRACE", "PUT", "PATCH"])
def test_a_method_no_route_has_gets_api_gateways_json_404(port: int, method: str) -> None:
    # Given the local API port / When /uploads is called with a method no route declares
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, "/uploads")
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    # Then the answer is API Gateway's: 404 with {"message": "Not Found"} as JSON, not HTML
    assert response.status == 404
    assert response.getheader("content-type", "").startswith("application/json")
    assert body == b'{"message":"Not Found"}'


@pytest.mark.parametrize("path", ["/", "/uppy"])
def test_pages_carry_a_policy_without_inline_script_and_nosniff(port: int, path: str) -> None:
    # Given the local API port / When a page is fetched
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
    finally:
        connection.close()
    # Then it says which sources may run and load, never inline script or eval, and that its
    # type is not to be guessed
    policy = response.getheader("content-security-policy", "")
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["script-src"] == "'self'"
    assert directives["default-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert f"ws://127.0.0.1:{port}" in directives["connect-src"]
    assert response.getheader("x-content-type-options") == "nosniff"


def _chunks(total: int) -> Iterator[bytes]:
    for _ in range(total // (1 << 20)):
        yield b" " * (1 << 20)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_over_api_gateways_10_mb_gets_its_413_before_any_function(
    port: int, chunked: bool
) -> None:
    # Given a request body of 11 MiB, declared up front or streamed in chunks
    total = 11 * (1 << 20)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        # When it is POSTed to a route
        if chunked:
            connection.request(
                "POST",
                "/uploads",
                body=_chunks(total),
                headers={"Content-Type": "application/json"},
                encode_chunked=True,
            )
        else:  # declared: the front answers before a byte of it is read
            connection.putrequest("POST", "/uploads")
            connection.putheader("Content-Type", "application/json")
            connection.putheader("Content-Length", str(total))
            connection.endheaders()
        response = connection.getresponse()
        # Then the front answers as API Gateway does, without invoking the function (no
        # emulator runs here: a handler would fail with a 500)
        assert response.status == 413
        assert response.read() == b'{"message":"Request Entity Too Large"}'
    finally:
        connection.close()
