"""The local stack's CDN: what the template's CloudFront distribution does, on the API port.

`GET /cdn/<key>` plays the distribution: it refuses, as CloudFront does, a URL whose signature,
expiry or key pair id does not verify (signed_urls.py), serves only `images/*` (the bucket
policy's reach), and sends the template's response headers policy's headers with S3's ETag,
`If-None-Match` and `Range` answered."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from xml.sax.saxutils import escape

import boto3
from botocore.exceptions import ClientError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from imagepipe_local.signed_urls import DENIED, CdnKeys
from imagepipe_local.template import Template

PATH = "/cdn"
ORIGIN_PREFIX = "images/"  # the bucket policy lets the distribution read nothing else
# Sent besides the template's response headers policy (distribution_headers): ranges, CORS
# (pages may draw images on a canvas), and `Connection: close` as on every response of the API
# port (http_api.FRONT_HEADERS says why).
LOCAL_HEADERS = {
    "Accept-Ranges": "bytes",
    "Access-Control-Allow-Origin": "*",
    "Connection": "close",
}
CHUNK = 256 * 1024


def environment(keys: CdnKeys | None, base_url: str) -> dict[str, str]:
    """What the API function is told locally: the CDN is this port's /cdn (the template's is the
    distribution's domain), and the key pair id the one the verifier knows."""
    env = {"CDN_BASE_URL": base_url}
    if keys is not None:
        env["CDN_KEY_PAIR_ID"] = keys.key_pair_id
    return env


def distribution_headers(template: Template) -> dict[str, str]:
    """The headers the template's response headers policy adds (Cache-Control, nosniff), read
    from the template so that the local CDN cannot drift from the distribution. Its HSTS header
    is left out: browsers ignore it over the local http://."""
    headers: dict[str, str] = {}
    for policy in template.of_type("AWS::CloudFront::ResponseHeadersPolicy"):
        config = template.resolve(template.properties(policy))["ResponseHeadersPolicyConfig"]
        for item in config.get("CustomHeadersConfig", {}).get("Items", []):
            headers[item["Header"]] = str(item["Value"])
        if "ContentTypeOptions" in config.get("SecurityHeadersConfig", {}):
            headers["X-Content-Type-Options"] = "nosniff"
    return headers


def _xml_error(status: int, code: str, message: str, **extra: str) -> Response:
    body = f"<Error><Code>{code}</Code><Message>{escape(message)}</Message></Error>"
    # Errors are not cached for a year: only CORS and the connection rule.
    headers = {"Access-Control-Allow-Origin": "*", "Connection": "close", **extra}
    return Response(body, status, headers=headers, media_type="text/xml")


def _requested_url(request: Request) -> str:
    """The URL as the client sent it (raw path, raw query): what it was signed over."""
    scope = request.scope
    raw_path = scope.get("raw_path") or request.url.path.encode()
    url = f"{scope['scheme']}://{request.headers.get('host', '')}{raw_path.decode('latin-1')}"
    query = scope.get("query_string", b"").decode("latin-1")
    return f"{url}?{query}" if query else url


def _etag_matches(header: str, etag: str) -> bool:
    candidates = [tag.strip().removeprefix("W/") for tag in header.split(",")]
    return "*" in candidates or etag.removeprefix("W/") in candidates


def byte_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """(first, last) of a single `bytes=` range; None to serve it all (no or unusable header,
    several ranges: RFC 9110 lets a server ignore Range); "unsatisfiable" for a 416."""
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, dash, last = header.removeprefix("bytes=").strip().partition("-")
    numbers = [part for part in (first, last) if part]
    if not dash or not numbers or not all(part.isdigit() for part in numbers):
        return None
    if not first:  # a suffix: the last N bytes
        length = int(last)
        return (max(0, size - length), size - 1) if length and size else "unsatisfiable"
    if last and int(last) < int(first):
        return None
    if int(first) >= size:
        return "unsatisfiable"
    return int(first), min(int(last), size - 1) if last else size - 1


class LocalCdn:
    """GET/HEAD /cdn/<key>: verify, then serve `images/*` of the bucket from the emulated S3."""

    def __init__(
        self,
        keys: CdnKeys | None,
        template: Template,
        *,
        endpoint_url: str,
        region: str,
    ) -> None:
        self.keys, self.bucket = keys, template.physical_name("ImagesBucket")
        self.headers = {**distribution_headers(template), **LOCAL_HEADERS}
        self._s3 = boto3.client("s3", region_name=region, endpoint_url=endpoint_url)

    def routes(self) -> Sequence[BaseRoute]:
        return [Route(f"{PATH}/{{key:path}}", self._serve, methods=["GET", "HEAD"])]

    async def _serve(self, request: Request) -> Response:
        # No key pair: a public distribution (CdnPublicKeyPem empty), nothing to verify.
        refusal = self.keys.refusal(_requested_url(request), time.time()) if self.keys else None
        key = request.scope["path"].removeprefix(f"{PATH}/")
        if refusal is None and not key.startswith(ORIGIN_PREFIX):
            refusal = DENIED  # on AWS, S3 refuses the distribution anything else
        if refusal is not None:
            return _xml_error(403, "AccessDenied", refusal)
        return await run_in_threadpool(self._deliver, key, request.method, request.headers)

    def _deliver(self, key: str, method: str, headers: Mapping[str, str]) -> Response:
        try:
            head = self._s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if error.response["Error"]["Code"] in ("404", "NoSuchKey"):
                return _xml_error(404, "NoSuchKey", "The specified key does not exist.")
            raise
        size, etag = int(head["ContentLength"]), head["ETag"]
        sent = {**self.headers, "ETag": etag}
        sent["Last-Modified"] = head["LastModified"].strftime("%a, %d %b %Y %H:%M:%S GMT")
        if _etag_matches(headers.get("if-none-match", ""), etag):
            return Response(status_code=304, headers=sent)
        sent["Content-Type"] = head.get("ContentType") or "application/octet-stream"
        wanted = byte_range(headers.get("range"), size)
        if wanted == "unsatisfiable":
            return _xml_error(
                416,
                "InvalidRange",
                "The requested range is not satisfiable",
                **{"Content-Range": f"bytes */{size}"},
            )
        status, s3_range = 200, None
        first, last = 0, size - 1
        if isinstance(wanted, tuple):
            (first, last), status = wanted, 206
            s3_range = f"bytes={first}-{last}"
            sent["Content-Range"] = f"bytes {first}-{last}/{size}"
        sent["Content-Length"] = str(last - first + 1 if size else 0)
        if method == "HEAD":
            return Response(status_code=status, headers=sent)
        if s3_range:
            body = self._s3.get_object(Bucket=self.bucket, Key=key, Range=s3_range)["Body"]
        else:
            body = self._s3.get_object(Bucket=self.bucket, Key=key)["Body"]
        return StreamingResponse(_chunks(body), status, headers=sent)


def _chunks(body: Any) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(CHUNK)
    finally:
        body.close()
