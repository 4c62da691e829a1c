"""`imagepipe upload`: what a browser does, from the command line: hash, presign in batches of
10, POST each new file straight to S3 (a large one in parts, resumably: multipart.py), wait for
the pipeline, and name each file's outcome."""

from __future__ import annotations

import hashlib
import mimetypes
import re
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from tqdm import tqdm

from imagepipe_local import multipart
from imagepipe_local.client import FAILED, OK, REJECTED, USAGE, Api, CliError, Refused, columns

BATCH = 10  # POST /uploads takes 1 to 10 files
TERMINAL = ("completed", "failed")
# Types mimetypes may not know on every Python; the API's allowlist decides the rest.
_TYPES = {
    ".heic": "image/heic",
    ".heif": "image/heif",
    ".avif": "image/avif",
    ".webp": "image/webp",
}
_FILE_INDEX = re.compile(r"^files\[(\d+)\]")


@dataclass
class Outcome:
    """One file's fate. kind: new | duplicate | rejected (by the API) | failed (accepted, then
    the upload or the processing failed)."""

    path: Path
    kind: str = ""
    image_id: str = ""
    status: str = ""
    code: str = ""
    message: str = ""
    variants: list[str] = field(default_factory=list)
    seconds: float = 0.0
    spec: dict[str, Any] = field(default_factory=dict)
    upload: dict[str, Any] | None = None
    parts: dict[str, int] | None = None  # a multipart upload's parts: total, sent, skipped

    @property
    def label(self) -> str:
        if self.kind in ("rejected", "failed"):
            return f"{self.kind}: {self.code}"
        if self.kind == "duplicate":
            return f"duplicate of {self.image_id}"
        return self.kind

    def reject(self, kind: str, code: str, message: str) -> None:
        self.kind, self.code, self.message = kind, code, message

    def as_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "filename": self.path.name,
            "imageId": self.image_id or None,
            "outcome": self.kind,
            "label": self.label,
            "status": self.status or None,
            "error": {"code": self.code, "message": self.message} if self.code else None,
            "variants": self.variants,
            "seconds": round(self.seconds, 3),
            "parts": self.parts,
        }


def content_type(path: Path) -> str:
    """From the name, as a browser does; Ingest decides from the bytes anyway."""
    suffix = path.suffix.lower()
    return _TYPES.get(suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def expand(arguments: Sequence[str], *, recursive: bool) -> list[Path]:
    """The files to send: named files as given, directories' image files (by name) when
    recursive. A missing path or a directory without --recursive is a usage error."""
    found: list[Path] = []
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            if not recursive:
                raise CliError(f"{argument} is a directory (add --recursive to send it)", USAGE)
            found += sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
                and content_type(p).startswith("image/")
            )
        elif path.is_file():
            found.append(path)
        elif path.exists():
            raise CliError(f"{argument} is not a regular file", USAGE)
        else:
            raise CliError(f"{argument}: no such file or directory", USAGE)
    unique = list(dict.fromkeys(found))
    if not unique:
        raise CliError(f"no image files in {' '.join(arguments)}", USAGE)
    return unique


def _describe(path: Path) -> dict[str, Any]:
    digest, size = hashlib.sha256(), 0
    try:
        with path.open("rb") as file:
            while chunk := file.read(1 << 20):
                digest.update(chunk)
                size += len(chunk)
    except OSError as error:
        raise CliError(f"{path}: {error.strerror}", USAGE) from None
    return {
        "filename": path.name,
        "contentType": content_type(path),
        "size": size,
        "sha256": digest.hexdigest(),
    }


def presign(api: Api, session: str, batch: list[Outcome]) -> None:
    """POST /uploads for up to 10 files. The API validates the whole request and names the
    first bad file (`field` = files[i]...): that file is rejected with the API's code and the
    rest are sent again, so one bad file never takes the other nine with it."""
    pending = list(batch)
    while pending:
        try:
            body = api.json(
                "POST", "/uploads", json={"sessionId": session, "files": [o.spec for o in pending]}
            )
        except Refused as refused:
            match = _FILE_INDEX.match(refused.field or "")
            if refused.status != 400 or match is None or int(match[1]) >= len(pending):
                raise  # about the request itself (token, session id): no file is to blame
            # (the index is the resent request's, not the user's: the message goes without it)
            message = _FILE_INDEX.sub("", refused.message).lstrip(".")
            pending.pop(int(match[1])).reject("rejected", refused.code, message)
            continue
        for outcome, entry in zip(pending, body["uploads"], strict=True):
            outcome.image_id, outcome.status = entry["imageId"], entry["status"]
            outcome.kind = "new" if entry["isNew"] else "duplicate"
            outcome.upload = entry.get("upload")
        return


def _multipart(
    fields: dict[str, str], filename: str, data: bytes, media_type: str
) -> tuple[bytes, str]:
    """The browser's form: every field, then the file last (S3 ignores what follows it)."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        header = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
        parts.append(f"{header}{value}\r\n".encode())
    quoted = filename.replace('"', "%22")
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{quoted}"\r\n'
        f"Content-Type: {media_type}\r\n\r\n".encode()
        + data
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class _Counted:
    """A request body that advances the progress bar as requests reads it."""

    def __init__(self, data: bytes, bar: tqdm[Any], file_size: int) -> None:
        self._data, self._offset, self._bar = data, 0, bar
        self._left = file_size  # the bar counts the files' bytes, not the form around them

    def __len__(self) -> int:
        return len(self._data)

    def read(self, size: int = -1) -> bytes:
        end = len(self._data) if size is None or size < 0 else self._offset + size
        chunk = self._data[self._offset : end]
        self._offset += len(chunk)
        step = min(len(chunk), self._left)
        self._left -= step
        self._bar.update(step)
        return chunk


def send(outcome: Outcome, bar: tqdm[Any]) -> None:
    """The presigned POST straight to S3 (no token: its policy is the credential)."""
    assert outcome.upload is not None
    bar.set_description_str(outcome.path.name)
    data, form_type = _multipart(
        outcome.upload["fields"],
        outcome.path.name,
        outcome.path.read_bytes(),
        outcome.spec["contentType"],
    )
    try:
        posted = requests.post(
            outcome.upload["url"],
            data=_Counted(data, bar, outcome.spec["size"]),
            headers={"Content-Type": form_type, **outcome.upload.get("headers", {})},
            timeout=120,
        )
    except requests.RequestException as error:
        outcome.reject("failed", "upload_unreachable", str(error))
        return
    if posted.status_code >= 300:
        code = re.search(r"<Code>([^<]+)</Code>", posted.text)
        outcome.reject(
            "failed", code[1] if code else f"upload_{posted.status_code}", posted.text[:200]
        )


def wait(api: Api, outcomes: list[Outcome], timeout: float, progress: bool) -> None:
    """Poll each accepted image until it is completed or failed, or the time is up."""
    started = time.monotonic()
    waiting = [o for o in outcomes if o.image_id and o.kind in ("new", "duplicate")]
    with tqdm(total=len(waiting), desc="processing", unit="file", disable=not progress) as bar:
        while waiting:
            for outcome in list(waiting):
                try:
                    image = api.json("GET", f"/images/{outcome.image_id}")
                except Refused as refused:  # deleted meanwhile
                    outcome.reject("failed", refused.code, refused.message)
                    image = {"status": "failed"}
                outcome.status = str(image.get("status"))
                outcome.seconds = time.monotonic() - started
                if outcome.status in TERMINAL:
                    waiting.remove(outcome)
                    bar.update(1)
                    outcome.variants = [
                        f"{v.get('name')}.{v.get('format')}" for v in image.get("variants") or []
                    ]
                    error = image.get("error")
                    if outcome.status == "failed" and outcome.kind != "failed":
                        error = error or {}
                        outcome.reject("failed", str(error.get("code")), str(error.get("message")))
            if not waiting or time.monotonic() - started > timeout:
                break
            time.sleep(0.5)
    for outcome in waiting:
        outcome.message = f"still {outcome.status} after {timeout:g} s"


def upload(
    paths: Sequence[Path], *, api: Api, session: str, timeout: float, progress: bool
) -> list[Outcome]:
    outcomes = [Outcome(path=p, spec=_describe(p)) for p in paths]
    for batch in _batches(outcomes, BATCH):
        presign(api, session, batch)
    to_send = [o for o in outcomes if o.upload is not None]
    in_parts = [o for o in to_send if _is_multipart(o)]
    posts = [o for o in to_send if not _is_multipart(o)]
    if posts or not in_parts:
        total = sum(int(o.spec["size"]) for o in posts)
        with tqdm(total=total, unit="B", unit_scale=True, disable=not progress) as bar:
            for outcome in posts:
                send(outcome, bar)
    for outcome in in_parts:
        multipart.send(api, outcome, progress)
    wait(api, outcomes, timeout, progress)
    return outcomes


def _is_multipart(outcome: Outcome) -> bool:
    return (outcome.upload or {}).get("method") == "MULTIPART"


def _batches(items: list[Outcome], size: int) -> Iterable[list[Outcome]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def exit_code(outcomes: Sequence[Outcome]) -> int:
    """REJECTED if the API refused any file, else FAILED if any did not complete, else OK."""
    if any(o.kind == "rejected" for o in outcomes):
        return REJECTED
    if any(o.kind == "failed" or o.status != "completed" for o in outcomes):
        return FAILED
    return OK


def table(outcomes: Sequence[Outcome]) -> str:
    rows = [("file", "imageId", "outcome", "status", "variants", "time", "error")]
    rows += [
        (
            str(o.path),
            o.image_id or "-",
            o.label,
            o.status or "-",
            str(len(o.variants)),
            f"{o.seconds:.1f}s",
            o.message,
        )
        for o in outcomes
    ]
    return columns(rows)


def summary(outcomes: Sequence[Outcome]) -> str:
    counts = {kind: sum(o.kind == kind for o in outcomes) for kind in _KINDS}
    done = sum(o.status == "completed" for o in outcomes)
    parts = ", ".join(f"{n} {kind}" for kind, n in counts.items())
    return f"{len(outcomes)} file(s): {parts}; {done} completed"


_KINDS = ("new", "duplicate", "rejected", "failed")
