"""The emulated AWS endpoint: moto's server on loopback, behind a front that does what real S3
does on a browser POST upload or a PUT and moto does not. It runs in a process of its own
(`python -m imagepipe_local.s3_front`, started and stopped by `EmulatedAws`): moto is pure
Python, and in the stack's process its request handling held the GIL against the handlers'
(measured: 40 uploads of 12 MP photos, tests/bench/throughput.py)."""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from imagepipe_local import log, vectors
from imagepipe_local.post_policy import check_post
from imagepipe_local.sigv4 import Refusal, check_checksum, check_presigned, is_presigned
from imagepipe_local.template import Template


class EmulatedAws:
    """moto's server on loopback, plus what real S3 does on a browser POST upload and moto
    does not: the POST policy is enforced (signature, expiry, conditions, checksum, size range:
    see post_policy.py), the response carries ETag and Location, and the bucket's CORS
    ExposeHeaders are sent (without ETag a browser client cannot confirm its upload). On a PUT
    (PutObject, UploadPart), a presigned URL's SigV4 signature and expiry are verified and an
    x-amz-checksum-sha256 header is checked against the body (see sigv4.py): moto accepts
    forged URLs and parts whose bytes differ from their checksum.

    `start()` runs it in a child process (see `serve`) and returns once it listens; `stop()`
    ends it. The child also ends when this process dies (its stdin closes). With `in_process`,
    the server runs on a thread of this process instead, sharing moto's backends with it."""

    def __init__(
        self,
        host: str,
        port: int,
        expose_headers: list[str],
        credentials: dict[str, str],
        *,
        in_process: bool = False,
    ) -> None:
        self.host, self.port = host, port
        self.expose_headers = list(expose_headers)
        self.expose = ", ".join(expose_headers)
        self.credentials = credentials
        self.in_process = in_process
        self._process: subprocess.Popen[str] | None = None
        self._server: Any = None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def _app(self) -> Callable[..., Any]:
        from moto.moto_server.werkzeug_app import create_backend_app

        moto = _Dispatcher(create_backend_app)
        expose = self.expose
        credentials = self.credentials
        endpoint = f"http://{self.host}:{self.port}"

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            origin = environ.get("HTTP_ORIGIN")
            added: list[tuple[str, str]] = []
            if origin and expose:
                added.append(("Access-Control-Expose-Headers", expose))
            if environ.get("REQUEST_METHOD") == "PUT":
                refusal = _check_put(environ, credentials)
                if refusal is not None:
                    log.warning(
                        "S3 PUT to %s refused: %s", environ.get("PATH_INFO"), refusal.message
                    )
                    return _refuse(start_response, refusal, origin)
            elif _is_form_upload(environ):
                body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
                bucket = environ.get("PATH_INFO", "/").strip("/").split("/")[0]
                parsed = _form(environ, body)
                if isinstance(parsed, str):
                    refusal = Refusal(400, "InvalidArgument", parsed)
                else:
                    fields, content = parsed
                    refusal = check_post(fields, content, bucket=bucket, secret_for=credentials.get)
                if refusal is not None:
                    log.warning("S3 POST to %s refused: %s", bucket, refusal.message)
                    return _refuse(start_response, refusal, origin)
                environ["wsgi.input"] = io.BytesIO(body)
                added += [
                    ("ETag", f'"{hashlib.md5(content).hexdigest()}"'),  # noqa: S324 - S3's ETag
                    ("Location", f"{endpoint}/{bucket}/{quote(fields.get('key', ''))}"),
                ]
            if not added:
                return moto(environ, start_response)

            def start(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
                names = {name.lower() for name, _ in added}
                kept = [(k, v) for k, v in headers if k.lower() not in names]
                return start_response(status, [*kept, *added], *exc)

            return moto(environ, start)

        return app

    def start(self) -> None:
        """The server in a child process; returns once it listens (or raises why not)."""
        if self.in_process:
            self._server = self._listen()
            threading.Thread(target=self._server.serve_forever, daemon=True).start()
            return
        config = {
            "host": self.host,
            "port": self.port,
            "expose_headers": self.expose_headers,
            "credentials": self.credentials,
        }
        # Our own interpreter and module; the configuration goes through stdin, which the
        # child then watches: it stops when stdin closes (stop(), or this process's death).
        process = subprocess.Popen(
            [sys.executable, "-m", "imagepipe_local.s3_front"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.write(json.dumps(config) + "\n")
        process.stdin.flush()
        if process.stdout.readline().strip() != "ready":
            process.stdin.close()
            code = process.wait()
            raise RuntimeError(
                f"the emulated AWS endpoint did not start on {self.host}:{self.port} "
                f"(exit {code}; see its error above)"
            )
        process.stdout.close()
        self._process = process

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        process, self._process = self._process, None
        if process is None:
            return
        assert process.stdin is not None
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _listen(self) -> Any:
        from moto.moto_server.werkzeug_app import MotoRequestHandler
        from werkzeug.serving import make_server

        vectors.install()  # QueryVectors, which moto lacks

        return make_server(
            self.host, self.port, self._app(), threaded=True, request_handler=MotoRequestHandler
        )

    def serve(self) -> None:
        """In the child: serve until stdin closes. "ready" on stdout once listening."""
        fast_dynamodb_item_results()
        cached_jsonpath_parsers()
        server = self._listen()
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        print("ready", flush=True)
        # Whatever moto prints from now on goes where the stack's log goes.
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
        sys.stdin.read()  # until the parent closes it, or dies
        server.shutdown()
        server.server_close()


# DynamoDB operations whose results are items and counts, in the wire's own shape already.
_ITEM_OPERATIONS = frozenset(
    {
        "GetItem",
        "BatchGetItem",
        "Query",
        "Scan",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "BatchWriteItem",
        "TransactGetItems",
        "TransactWriteItems",
    }
)
_JSON_1_0 = "application/x-amz-json-1.0"


def fast_dynamodb_item_results() -> bool:
    """moto serializes every DynamoDB result by walking it against botocore's shape model, a
    generic pass that was nearly half of moto's CPU in the throughput bench (every image record,
    with its thumbnail and metadata maps, is read several times per upload). The results of the
    item operations are already the JSON protocol's dicts (DynamoResult made them so: raw bytes
    for B values, which the wire carries as base64): they are dumped as they are, None members
    left out as the serializer leaves them out. Installed in moto's own process only (serve()):
    moto in a test's process keeps its own serializer. Returns whether it was installed."""
    from moto.dynamodb.responses import DynamoResult

    if getattr(DynamoResult, "_imagepipe_fast", False):
        return False
    generic = DynamoResult.execute_result

    def execute_result(self: Any, context: Any) -> Any:
        if context.operation_model.name not in _ITEM_OPERATIONS or not isinstance(
            self.result, dict
        ):
            return generic(self, context)
        body = json.dumps(_without_none(self.result), separators=(",", ":"), default=_wire)
        return 200, {"Content-Type": _JSON_1_0}, body

    setattr(DynamoResult, "execute_result", execute_result)  # noqa: B010 (mypy: a method)
    setattr(DynamoResult, "_imagepipe_fast", True)  # noqa: B010
    return True


def cached_jsonpath_parsers() -> bool:
    """moto's EventBridge builds a JSONPath parser (ply's LR tables) for each of eight paths of
    each event it sends to a target (EventTemplateParser.parse): ~4 ms a lifecycle event. The
    parsed paths are kept instead (a parsed path is only read by `find`). In moto's own process
    only, like the above. Returns whether it was installed."""
    import jsonpath_ng.ext

    parse = getattr(jsonpath_ng.ext, "parse")  # noqa: B009 (not in the module's __all__)
    if hasattr(parse, "cache_info"):
        return False
    setattr(jsonpath_ng.ext, "parse", functools.lru_cache(maxsize=256)(parse))  # noqa: B010
    return True


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_without_none(v) for v in value]
    return value


def _wire(value: Any) -> Any:
    """What json cannot dump itself, as the JSON protocol writes it."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, set | frozenset):
        return [_without_none(v) for v in value]
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} in a DynamoDB result")


def _dispatcher_class() -> type:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    class Dispatcher(DomainDispatcherApplication):
        """moto's dispatcher, its host-to-backend lookup remembered: moto lists its package
        directory (a stat per service) and tries every service's URL patterns on each request,
        and a stack only ever sees a handful of hosts."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._backends: dict[str | None, Any] = {}

        def get_backend_for_host(self, host: str | None) -> Any:
            if host not in self._backends:
                self._backends[host] = super().get_backend_for_host(host)
            return self._backends[host]

    return Dispatcher


def _Dispatcher(create_app: Callable[..., Any]) -> Any:  # noqa: N802 - a class, made lazily
    return _dispatcher_class()(create_app)


def _refuse(
    start_response: Callable[..., Any], refusal: Refusal, origin: str | None
) -> list[bytes]:
    headers = [("Content-Type", "application/xml")]
    # A browser reads a cross-origin error only when it is allowed to: S3 answers its errors
    # with the bucket's CORS headers too.
    if origin:
        headers.append(("Access-Control-Allow-Origin", origin))
    start_response(f"{refusal.status} Refused", headers)
    return [refusal.xml()]


def _check_put(environ: dict[str, Any], credentials: dict[str, str]) -> Refusal | None:
    """What S3 would refuse in a PUT: a presigned URL's signature or expiry, then a body other
    than its x-amz-checksum-sha256 says. A checked body is put back for moto to read."""
    query = _undance(environ.get("QUERY_STRING", ""))
    headers = _headers(environ)
    if is_presigned(query):
        # The path as the client sent it (werkzeug's PATH_INFO is already decoded).
        raw_path = _undance(environ.get("RAW_URI") or environ.get("PATH_INFO", "/")).split("?")[0]
        refusal = check_presigned("PUT", raw_path, query, headers, secret_for=credentials.get)
        if refusal is not None:
            return refusal
    checksum = headers.get("x-amz-checksum-sha256")
    # aws-chunked bodies carry their checksum in a trailer, framed: moto decodes those.
    streaming = "aws-chunked" in headers.get("content-encoding", "") or headers.get(
        "x-amz-content-sha256", ""
    ).startswith("STREAMING-")
    if checksum is None or streaming:
        return None
    length = environ.get("CONTENT_LENGTH")
    stream = environ["wsgi.input"]
    if length:
        body = stream.read(int(length))
    else:
        # Without a length only a chunked (terminated) stream can be read to its end.
        body = stream.read() if environ.get("wsgi.input_terminated") else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return check_checksum(checksum, body)


def _undance(value: str) -> str:
    # WSGI hands strings as latin-1 decoded bytes; the URL's bytes are UTF-8.
    return str(value).encode("latin-1").decode("utf-8", "replace")


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    """The request's headers by lower-case name (CGI keeps two of them out of HTTP_*)."""
    headers = {
        key[5:].replace("_", "-").lower(): str(value)
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    for key in ("CONTENT_LENGTH", "CONTENT_TYPE"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = str(environ[key])
    return headers


def _is_form_upload(environ: dict[str, Any]) -> bool:
    path = environ.get("PATH_INFO", "/").strip("/")
    return (
        environ.get("REQUEST_METHOD") == "POST"
        and bool(path)
        and "/" not in path
        and str(environ.get("CONTENT_TYPE", "")).lower().startswith("multipart/form-data")
    )


def _form(environ: dict[str, Any], body: bytes) -> tuple[dict[str, str], bytes] | str:
    """The form's fields and file, or why S3 would refuse its shape outright. A field given
    twice (in any case) or a second file part is refused: what is checked must be what is
    stored."""
    from werkzeug.formparser import parse_form_data

    _, form, files = parse_form_data({**environ, "wsgi.input": io.BytesIO(body)})
    names = [name.lower() for name, _ in form.items(multi=True)]
    if len(names) != len(set(names)):
        return "a form field is given more than once"
    if len(list(files.items(multi=True))) != 1 or "file" not in files:
        return "the form must carry exactly one file, in the field 'file'"
    upload = files["file"]
    return {k: str(v) for k, v in form.items()}, upload.read()


def exposed_headers(template: Template) -> list[str]:
    """Every bucket's CORS ExposedHeaders, which the front sends on each cross-origin response."""
    headers: list[str] = []
    for bucket in template.of_type("AWS::S3::Bucket"):
        cors = template.properties(bucket).get("CorsConfiguration", {})
        for rule in cors.get("CorsRules", []):
            headers += [h for h in rule.get("ExposedHeaders", []) if h not in headers]
    return headers


def main() -> int:
    """`python -m imagepipe_local.s3_front`, run by EmulatedAws.start(): one JSON line of
    configuration on stdin, then serve until stdin closes."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    # moto's server logs every request; the front's refusals are what the stack's log wants.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    config = json.loads(sys.stdin.readline())
    EmulatedAws(
        config["host"], int(config["port"]), config["expose_headers"], config["credentials"]
    ).serve()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
