"""`imagepipe upload` of a large file: the multipart upload the API opened for it (API.md),
sent part by part and resumable. The parts S3 already holds (GET /uploads/{id}/parts) are
skipped, so a second run after an interruption sends only the rest: POST /uploads returns the
same uploadId for the same file while its upload is open. One part is in memory at a time; each
is hashed (its SHA-256 is signed into its URL), PUT straight to S3 (no token) and retried on a
network error or a 5xx; then POST /uploads/{id}/complete with every part's ETag."""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import quote

import requests
from tqdm import tqdm

from imagepipe_local.client import Api, Refused

if TYPE_CHECKING:
    from imagepipe_local.upload import Outcome

SIGN_BATCH = 10  # parts signed per POST /uploads/{id}/parts (the API takes up to 100)
ATTEMPTS = 4  # tries of one part's PUT on a network error or a 5xx
BACKOFF = 0.5  # seconds before the second try, doubled for each next one
RESIGN_MARGIN = 30.0  # seconds: a URL closer to its expiry than this is signed again


@dataclass(frozen=True)
class Part:
    number: int  # 1-based, as S3 numbers them
    offset: int
    size: int


class PartFailed(Exception):
    """A part S3 would not take: its code (S3's <Code>, or what went wrong) and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


def plan(size: int, part_size: int, part_count: int) -> list[Part]:
    """The parts of a file of `size` bytes, as the API cut them: every part `part_size` bytes
    but the last, which holds the rest. A count that does not match is refused (ValueError)."""
    if size < 1 or part_size < 1:
        raise ValueError(f"cannot cut {size} bytes into parts of {part_size}")
    count = -(-size // part_size)
    if count != part_count:
        raise ValueError(
            f"{size} bytes in parts of {part_size} make {count} parts, not {part_count}"
        )
    return [Part(n + 1, n * part_size, min(part_size, size - n * part_size)) for n in range(count)]


def checksum(data: bytes) -> str:
    """What S3's x-amz-checksum-sha256 carries: standard, padded base64 of the 32-byte digest."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def read_part(file: IO[bytes], part: Part) -> bytes:
    file.seek(part.offset)
    data = file.read(part.size)
    if len(data) != part.size:
        raise PartFailed("file_changed", f"part {part.number}: the file is shorter than before")
    return data


def missing(
    parts: list[Part], stored: Iterable[dict[str, Any]]
) -> tuple[list[Part], dict[int, str]]:
    """The parts still to send, and the ETags of those S3 holds already with the right size
    (a part of another size is sent again: S3 keeps the last one under its number)."""
    sizes = {p.number: p.size for p in parts}
    done = {
        int(s["partNumber"]): str(s["etag"])
        for s in stored
        if sizes.get(int(s["partNumber"])) == int(s["size"]) and s.get("etag")
    }
    return [p for p in parts if p.number not in done], done


def send(api: Api, outcome: Outcome, progress: bool) -> None:
    """A large file in parts, after those S3 holds already (a previous, interrupted run's):
    its own progress bar; an S3 or API refusal fails the file with its code."""
    assert outcome.upload is not None
    try:
        result = send_file(
            api,
            outcome.image_id,
            outcome.path,
            outcome.upload,
            int(outcome.spec["size"]),
            progress=progress,
        )
    except Refused as refused:
        outcome.reject("failed", refused.code, refused.message)
        return
    except PartFailed as failed:
        outcome.reject("failed", failed.code, failed.message)
        return
    except ValueError as bad:  # the API's partSize and partCount do not fit the file
        outcome.reject("failed", "invalid_upload_plan", str(bad))
        return
    except OSError as error:
        outcome.reject("failed", "file_unreadable", f"{outcome.path}: {error.strerror}")
        return
    outcome.status = result.status
    outcome.parts = {
        "total": result.sent + result.skipped,
        "sent": result.sent,
        "skipped": result.skipped,
    }


@dataclass
class Result:
    status: str
    sent: int
    skipped: int


def send_file(
    api: Api,
    image_id: str,
    path: Path,
    upload: dict[str, Any],
    size: int,
    *,
    progress: bool,
    put: Callable[..., requests.Response] | None = None,
) -> Result:
    """Send what S3 lacks of the file and complete the upload. Refused (the API's 4xx) and
    PartFailed (S3's) are the caller's to report; an interrupted run leaves the parts sent so
    far in the open upload, for the next run to skip."""
    parts = plan(size, int(upload["partSize"]), int(upload["partCount"]))
    where = f"/uploads/{quote(image_id, safe='')}"
    try:
        listed = api.json("GET", f"{where}/parts")
    except Refused as refused:
        if refused.code != "upload_completed":
            raise
        # The bytes arrived already (a run that stopped after completing): nothing to send.
        return Result("pending_upload", 0, len(parts))
    todo, etags = missing(parts, listed.get("parts") or [])
    skipped = sum(p.size for p in parts if p.number in etags)
    with (
        path.open("rb") as file,
        tqdm(
            total=size,
            initial=skipped,
            desc=path.name,
            unit="B",
            unit_scale=True,
            disable=not progress,
        ) as bar,
    ):
        signer = _Signer(api, where, file)
        for start in range(0, len(todo), SIGN_BATCH):
            # Signed just before they are sent, so that the URLs do not expire meanwhile.
            batch = todo[start : start + SIGN_BATCH]
            signer.sign(batch)
            for part in batch:
                etags[part.number] = _send_part(file, part, signer, bar, put or _put)
    done = api.json(
        "POST",
        f"{where}/complete",
        json={"parts": [{"partNumber": n, "etag": etags[n]} for n in sorted(etags)]},
    )
    return Result(str(done.get("status") or "pending_upload"), len(todo), len(parts) - len(todo))


class _Signer:
    """The parts' presigned PUTs (POST /uploads/{id}/parts): each part's SHA-256 is signed in."""

    def __init__(self, api: Api, where: str, file: IO[bytes]) -> None:
        self.api, self.where, self.file = api, where, file
        self.signed: dict[int, dict[str, Any]] = {}

    def sign(self, batch: list[Part], data: bytes | None = None) -> None:
        """Hashes each part (read from the file, one at a time, unless its bytes are given)."""
        parts = [
            {
                "partNumber": p.number,
                "size": p.size,
                "sha256": checksum(data if data is not None else read_part(self.file, p)),
            }
            for p in batch
        ]
        answer = self.api.json("POST", f"{self.where}/parts", json={"parts": parts})
        for signed in answer.get("parts") or []:
            self.signed[int(signed["partNumber"])] = signed

    def url(self, part: Part, data: bytes) -> dict[str, Any]:
        """The part's signed PUT, signed again when it is about to expire."""
        signed = self.signed.get(part.number)
        if signed is None or _expiring(signed.get("expiresAt")):
            self.sign([part], data)
            signed = self.signed[part.number]
        return signed


def _send_part(
    file: IO[bytes],
    part: Part,
    signer: _Signer,
    bar: tqdm[Any],
    put: Callable[..., requests.Response],
) -> str:
    """PUT one part, retried with backoff on a network error or a 5xx; its ETag."""
    data = read_part(file, part)
    for attempt in range(1, ATTEMPTS + 1):
        signed = signer.url(part, data)
        counted = _Counted(data, bar)
        try:
            response = put(signed["url"], data=counted, headers=signed.get("headers") or {})
        except requests.RequestException as error:
            counted.undo()
            if attempt == ATTEMPTS:
                raise PartFailed("upload_unreachable", str(error)) from None
        else:
            if response.status_code < 300:
                etag = response.headers.get("ETag")
                if not etag:
                    raise PartFailed("upload_no_etag", f"part {part.number}: S3 sent no ETag")
                return etag
            counted.undo()
            code = re.search(r"<Code>([^<]+)</Code>", response.text)
            failure = PartFailed(
                code[1] if code else f"upload_{response.status_code}", response.text[:200]
            )
            if response.status_code < 500 or attempt == ATTEMPTS:
                raise failure
        time.sleep(BACKOFF * 2 ** (attempt - 1))
    raise AssertionError("unreachable")  # pragma: no cover


def _put(url: str, *, data: Any, headers: dict[str, str]) -> requests.Response:
    """The part straight to S3: a plain request, no API token."""
    return requests.put(url, data=data, headers=headers, timeout=120)


def _expiring(expires_at: object) -> bool:
    if not isinstance(expires_at, str) or not expires_at:
        return False
    try:
        moment = datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
    except ValueError:
        return False
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - datetime.now(UTC)).total_seconds() < RESIGN_MARGIN


class _Counted:
    """A part's body that advances the file's progress bar as requests reads it; undone when
    the PUT fails, so that a retried part is not counted twice."""

    def __init__(self, data: bytes, bar: tqdm[Any]) -> None:
        self._data, self._offset, self._bar = data, 0, bar

    def __len__(self) -> int:
        return len(self._data)

    def read(self, size: int = -1) -> bytes:
        end = len(self._data) if size is None or size < 0 else self._offset + size
        chunk = self._data[self._offset : end]
        self._offset += len(chunk)
        self._bar.update(len(chunk))
        return chunk

    def undo(self) -> None:
        self._bar.update(-self._offset)
        self._offset = 0
