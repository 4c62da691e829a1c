"""The emulated AWS endpoint: moto's server on loopback, behind a front that does what real S3
does on a browser POST upload or a PUT and moto does not."""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from imagepipe_local import log
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
    forged URLs and parts whose bytes differ from their checksum."""

    def __init__(
        self, host: str, port: int, expose_headers: list[str], credentials: dict[str, str]
    ) -> None:
        self.host, self.port = host, port
        self.expose = ", ".join(expose_headers)
        self.credentials = credentials
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def _app(self) -> Callable[..., Any]:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        moto = DomainDispatcherApplication(create_backend_app)
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
        from moto.moto_server.werkzeug_app import MotoRequestHandler
        from werkzeug.serving import make_server

        self._server = make_server(
            self.host, self.port, self._app(), threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


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
