"""The emulated AWS endpoint: moto's server on loopback, behind a front that does what real S3
does on a browser POST upload and moto does not."""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from imagepipe_local import log
from imagepipe_local.post_policy import Refusal, check_post
from imagepipe_local.template import Template


class EmulatedAws:
    """moto's server on loopback, plus what real S3 does on a browser POST upload and moto
    does not: the POST policy is enforced (signature, expiry, conditions, checksum, size range:
    see post_policy.py), the response carries ETag and Location, and the bucket's CORS
    ExposeHeaders are sent (without ETag a browser client cannot confirm its upload)."""

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
            if _is_form_upload(environ):
                body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
                bucket = environ.get("PATH_INFO", "/").strip("/").split("/")[0]
                parsed = _form(environ, body)
                if isinstance(parsed, str):
                    refusal: Refusal | None = Refusal(400, "InvalidArgument", parsed)
                else:
                    fields, content = parsed
                    refusal = check_post(fields, content, bucket=bucket, secret_for=credentials.get)
                if refusal is not None:
                    log.warning("S3 POST to %s refused: %s", bucket, refusal.message)
                    headers = [("Content-Type", "application/xml")]
                    if origin:
                        headers.append(("Access-Control-Allow-Origin", origin))
                    start_response(f"{refusal.status} Refused", headers)
                    return [refusal.xml()]
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
