"""The routes of a multipart upload (POST /uploads starts it: domain/uploads.py): sign parts with
their SHA-256, list what S3 holds, complete after checking the part list, abort.

Every part but the last has the upload's part size, so a part's size is known from its number:
a part signed with any other size, or a part list that does not add up to the declared size,
is refused before S3 sees it."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, replace

from imagepipe.domain import keys
from imagepipe.domain.errors import Conflict, ErrorCode, InvalidRequest
from imagepipe.domain.images import ImagesDeps, delete_image, get_image
from imagepipe.domain.locking import update_image
from imagepipe.domain.model import Image, ImageStatus, Part, PartRequest, PartTarget
from imagepipe.domain.ports import ImageRepository
from imagepipe.domain.uploads import Layout, UploadDeps

MAX_PARTS_PER_REQUEST = 100


@dataclass(frozen=True)
class OpenUpload:
    image: Image
    upload_id: str
    layout: Layout

    @property
    def key(self) -> str:
        return keys.staging_key(self.image.image_id)


@dataclass(frozen=True)
class Listing:
    upload_id: str
    layout: Layout
    parts: list[Part]


def sign_parts(
    tenant: str, image_id: str, requests: Sequence[PartRequest], deps: UploadDeps
) -> list[PartTarget]:
    upload = _open_upload(tenant, image_id, deps.images)
    if not 1 <= len(requests) <= MAX_PARTS_PER_REQUEST:
        raise InvalidRequest(
            f"parts must list 1 to {MAX_PARTS_PER_REQUEST} parts",
            field="parts",
            code=ErrorCode.TOO_MANY_PARTS,
        )
    seen: set[int] = set()
    for index, part in enumerate(requests):
        where = f"parts[{index}]"
        _check_number(part.number, upload.layout, seen, where)
        expected = upload.layout.size_of(part.number)
        if part.size != expected:
            raise InvalidRequest(
                f"{where}.size: part {part.number} has {expected} bytes, not {part.size}",
                field=f"{where}.size",
                code=ErrorCode.INVALID_PART_SIZE,
            )
        if not _is_sha256(part.sha256):
            raise InvalidRequest(
                f"{where}.sha256 must be the base64 of the part's 32-byte SHA-256 digest",
                field=f"{where}.sha256",
                code=ErrorCode.INVALID_PART_CHECKSUM,
            )
    return [
        deps.multipart.presign_part(
            upload.key,
            upload.upload_id,
            number=part.number,
            size=part.size,
            sha256=part.sha256,
            expires_in=deps.policy.expiry_seconds,
        )
        for part in requests
    ]


def list_parts(tenant: str, image_id: str, deps: UploadDeps) -> Listing:
    upload = _open_upload(tenant, image_id, deps.images)
    parts = deps.multipart.parts(upload.key, upload.upload_id)
    if parts is None:
        raise _gone(upload, deps)
    return Listing(upload_id=upload.upload_id, layout=upload.layout, parts=parts)


def complete_upload(
    tenant: str, image_id: str, etags: Sequence[tuple[int, str]], deps: UploadDeps
) -> Image:
    """Idempotent: once the bytes have arrived, completing again answers the image as it is."""
    image = get_image(tenant, image_id, deps.images)
    if image.bytes_arrived:
        return image
    upload = _open_upload(tenant, image_id, deps.images, image)
    seen: set[int] = set()
    for index, (number, _) in enumerate(etags):
        _check_number(number, upload.layout, seen, f"parts[{index}]")
    missing = sorted(set(range(1, upload.layout.part_count + 1)) - seen)
    if missing:
        raise _mismatch(f"the part list lacks part(s) {_numbers(missing)}")
    stored = deps.multipart.parts(upload.key, upload.upload_id)
    if stored is None:
        return _arrived(upload, deps)
    by_number = {part.number: part for part in stored}
    for number, etag in etags:
        part = by_number.get(number)
        if part is None:
            raise _mismatch(f"part {number} was never uploaded (or not accepted)")
        if part.etag.strip('"') != etag.strip('"'):
            raise _mismatch(f"part {number}'s ETag is {part.etag}, not {etag}")
        if part.size != upload.layout.size_of(number):
            raise _mismatch(
                f"part {number} has {part.size} bytes; it must have "
                f"{upload.layout.size_of(number)} (the file has {upload.layout.size})"
            )
    chosen = [by_number[number] for number, _ in sorted(etags)]
    if not deps.multipart.complete(upload.key, upload.upload_id, chosen):
        return _arrived(upload, deps)
    return _mark_arrived(upload, deps)


def abort_upload(tenant: str, image_id: str, deps: ImagesDeps) -> None:
    """The parts, the pending record and its links go: the image is deleted (its upload aborted
    on the way), and a later POST /uploads for the same file starts afresh."""
    _open_upload(tenant, image_id, deps.images)
    delete_image(tenant, image_id, deps)


def _open_upload(
    tenant: str, image_id: str, images: ImageRepository, image: Image | None = None
) -> OpenUpload:
    image = image or get_image(tenant, image_id, images)
    if image.bytes_arrived:
        raise Conflict(
            f"the bytes of image {image_id} have arrived (it is {image.status.value})",
            code=ErrorCode.UPLOAD_COMPLETED,
        )
    if image.status is not ImageStatus.PENDING_UPLOAD or not image.upload_id or not image.part_size:
        raise Conflict(
            f"image {image_id} has no open multipart upload (it is {image.status.value}); "
            "POST /uploads again to start one",
            code=ErrorCode.UPLOAD_NOT_OPEN,
        )
    layout = Layout(size=image.size, part_size=image.part_size)
    return OpenUpload(image=image, upload_id=image.upload_id, layout=layout)


def _arrived(upload: OpenUpload, deps: UploadDeps) -> Image:
    """S3 no longer knows the upload: completed (by us, just now or earlier: the staged object
    is there) or given up (aborted, expired)."""
    if deps.storage.size(upload.key) == upload.layout.size:
        return _mark_arrived(upload, deps)
    raise _gone(upload, deps)


def _mark_arrived(upload: OpenUpload, deps: UploadDeps) -> Image:
    """Drop the upload id (S3 has forgotten it) and keep the part size: the record then says
    the bytes are in (Image.bytes_arrived), and nothing is signed or started for it again."""

    def arrived(current: Image) -> Image | None:
        if current.upload_id != upload.upload_id:
            return None
        return replace(current, upload_id=None, updated_at=deps.clock())

    saved = update_image(deps.images, upload.image.image_id, arrived)
    return saved or deps.images.get(upload.image.image_id) or upload.image


def _gone(upload: OpenUpload, deps: UploadDeps) -> Conflict:
    if deps.storage.size(upload.key) == upload.layout.size:
        _mark_arrived(upload, deps)
        return Conflict(
            f"the upload of image {upload.image.image_id} is complete; processing follows",
            code=ErrorCode.UPLOAD_COMPLETED,
        )

    # Forget it, so that the next POST /uploads starts a new one.
    def forget(current: Image) -> Image | None:
        if current.upload_id != upload.upload_id:
            return None
        return replace(current, upload_id=None, part_size=None, updated_at=deps.clock())

    update_image(deps.images, upload.image.image_id, forget)
    return Conflict(
        f"the multipart upload of image {upload.image.image_id} was aborted or has expired; "
        "POST /uploads again to start another",
        code=ErrorCode.UPLOAD_NOT_OPEN,
    )


def _check_number(number: int, layout: Layout, seen: set[int], where: str) -> None:
    if not 1 <= number <= layout.part_count or number in seen:
        problem = "is repeated" if number in seen else f"is not in 1..{layout.part_count}"
        raise InvalidRequest(
            f"{where}.partNumber {number} {problem}",
            field=f"{where}.partNumber",
            code=ErrorCode.INVALID_PART_NUMBER,
        )
    seen.add(number)


def _is_sha256(value: str) -> bool:
    try:
        return len(base64.b64decode(value, validate=True)) == 32
    except (binascii.Error, ValueError):
        return False


def _mismatch(message: str) -> InvalidRequest:
    return InvalidRequest(message, field="parts", code=ErrorCode.PARTS_MISMATCH)


def _numbers(numbers: Sequence[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:10])
    return shown + (f" and {len(numbers) - 10} more" if len(numbers) > 10 else "")
