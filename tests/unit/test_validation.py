"""Request rules of POST /uploads: each rejection carries a stable code and names the field."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

import pytest

from imagepipe.domain.errors import InvalidRequest, NotFound
from imagepipe.domain.model import FileRequest
from imagepipe.domain.uploads import request_uploads
from imagepipe.domain.validation import (
    ALLOWED_CONTENT_TYPES,
    MAX_FILENAME_LENGTH,
    validate_file,
    validate_files,
    validate_image_id,
    validate_session_id,
)
from tests.unit.fakes import DEFAULT_POLICY, FakeWorld

MAX = DEFAULT_POLICY.max_upload_bytes
TENANT = "tenant-a"


def a_file(n: int = 0, **changes: Any) -> FileRequest:
    good = FileRequest(
        filename=f"photo-{n}.jpg",
        content_type="image/jpeg",
        size=1234,
        sha256=hashlib.sha256(f"bytes-{n}".encode()).hexdigest(),
    )
    return replace(good, **changes)


# ---- sessionId ----------------------------------------------------------------------------


@pytest.mark.parametrize("session_id", [None, ""])
def test_missing_session_id(session_id: str | None) -> None:
    # Given no session id / When it is validated / Then it is missing, named sessionId
    with pytest.raises(InvalidRequest) as caught:
        validate_session_id(session_id)
    assert caught.value.code == "missing_session_id"
    assert caught.value.field == "sessionId"


@pytest.mark.parametrize(
    "session_id",
    [
        "tenant#session",  # '#' separates tenant and session in the link key
        "has space",
        "x" * 129,
        "ümlaut",
        "s-1\n",
    ],
)
def test_invalid_session_id(session_id: str) -> None:
    # Given a malformed session id / When it is validated / Then it is invalid, named sessionId
    with pytest.raises(InvalidRequest) as caught:
        validate_session_id(session_id)
    assert caught.value.code == "invalid_session_id"
    assert caught.value.field == "sessionId"


@pytest.mark.parametrize("session_id", ["s-1", "a", "conv:2026.01_x-y", "x" * 128])
def test_valid_session_ids_are_returned_unchanged(session_id: str) -> None:
    # Given a well-formed session id / When it is validated / Then it comes back unchanged
    assert validate_session_id(session_id) == session_id


# ---- imageId ------------------------------------------------------------------------------


@pytest.mark.parametrize("image_id", ["", "../etc", "a/b", "a.b", "x" * 129, "id#1"])
def test_an_impossible_image_id_is_simply_not_found(image_id: str) -> None:
    # Given an id that no image can have / When it is validated
    # Then the caller gets a 404-kind error, not a hint about the id format
    with pytest.raises(NotFound) as caught:
        validate_image_id(image_id)
    assert caught.value.field == "imageId"


def test_a_well_formed_image_id_passes() -> None:
    # Given an id of letters, digits and a dash / When it is validated / Then it comes back as is
    assert validate_image_id("0123abcdef-Z") == "0123abcdef-Z"


# ---- files ----------------------------------------------------------------------------------


def test_no_files() -> None:
    # Given an empty list / When it is validated / Then it is refused as no_files
    with pytest.raises(InvalidRequest) as caught:
        validate_files([], MAX)
    assert caught.value.code == "no_files"
    assert caught.value.field == "files"


def test_too_many_files() -> None:
    # Given eleven files, one over the limit
    files = [a_file(n) for n in range(11)]

    # When they are validated / Then the list is refused as too_many_files
    with pytest.raises(InvalidRequest) as caught:
        validate_files(files, MAX)
    assert caught.value.code == "too_many_files"
    assert caught.value.field == "files"


def test_ten_files_are_allowed() -> None:
    # Given exactly the maximum / When they are validated / Then nothing is raised
    validate_files([a_file(n) for n in range(10)], MAX)


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"filename": ""}, "invalid_filename", "filename"),
        ({"filename": "a" * (MAX_FILENAME_LENGTH + 1)}, "invalid_filename", "filename"),
        ({"sha256": "a" * 63}, "invalid_sha256", "sha256"),
        ({"sha256": "a" * 65}, "invalid_sha256", "sha256"),
        ({"sha256": "g" * 64}, "invalid_sha256", "sha256"),
        ({"sha256": "A" * 64}, "invalid_sha256", "sha256"),  # the API lowercases before us
        ({"sha256": "a" * 64 + "\n"}, "invalid_sha256", "sha256"),
        ({"sha256": ""}, "invalid_sha256", "sha256"),
        ({"content_type": "image/svg+xml"}, "unsupported_content_type", "contentType"),
        ({"content_type": "application/pdf"}, "unsupported_content_type", "contentType"),
        ({"content_type": "IMAGE/JPEG"}, "unsupported_content_type", "contentType"),
        ({"content_type": ""}, "unsupported_content_type", "contentType"),
        ({"size": 0}, "invalid_size", "size"),
        ({"size": -1}, "invalid_size", "size"),
        ({"size": MAX + 1}, "file_too_large", "size"),
    ],
)
def test_each_bad_file_field_has_its_code(changes: dict[str, Any], code: str, field: str) -> None:
    # Given one bad file in third position among good ones
    files = [a_file(0), a_file(1), a_file(2, **changes)]

    # When the list is validated
    with pytest.raises(InvalidRequest) as caught:
        validate_files(files, MAX)

    # Then the error carries the code and points at the exact field of the exact file
    assert caught.value.code == code
    assert caught.value.field == f"files[2].{field}"
    assert "files[2]" in caught.value.message


@pytest.mark.parametrize(
    "changes",
    [
        {"filename": "a" * MAX_FILENAME_LENGTH},
        {"filename": "x"},
        {"size": 1},
        {"size": MAX},
        *({"content_type": content_type} for content_type in sorted(ALLOWED_CONTENT_TYPES)),
    ],
)
def test_boundary_values_are_accepted(changes: dict[str, Any]) -> None:
    # Given a file at the edge of what is allowed / When it is validated / Then nothing is raised
    validate_file(a_file(**changes), MAX, "files[0]")


def test_the_size_limit_is_the_policy_not_a_constant() -> None:
    # Given a policy of 100 bytes / When a 101-byte file is validated / Then it is too large
    with pytest.raises(InvalidRequest) as caught:
        validate_files([a_file(size=101)], 100)
    assert caught.value.code == "file_too_large"


# ---- request_uploads rejects before touching anything -------------------------------------


@pytest.mark.parametrize(
    ("session_id", "files", "code"),
    [
        (None, [a_file(0)], "missing_session_id"),
        ("bad#session", [a_file(0)], "invalid_session_id"),
        ("s-1", [], "no_files"),
        ("s-1", [a_file(n) for n in range(11)], "too_many_files"),
        ("s-1", [a_file(0), a_file(1, sha256="nope")], "invalid_sha256"),
        ("s-1", [a_file(0), a_file(1, size=MAX + 1)], "file_too_large"),
    ],
)
def test_request_uploads_rejects_bad_input_and_creates_nothing(
    session_id: str | None, files: list[FileRequest], code: str
) -> None:
    # Given an empty world
    world = FakeWorld()

    # When a bad request comes in
    with pytest.raises(InvalidRequest) as caught:
        request_uploads(TENANT, session_id, files, world.upload_deps)

    # Then it is rejected with its code and nothing at all was created, linked or presigned
    assert caught.value.code == code
    assert world.images.all() == []
    assert world.links.all() == []
    assert world.storage.presign_calls == []
    assert world.ids.issued == []


def test_one_bad_file_among_good_ones_creates_nothing_at_all() -> None:
    # Given four good files and, last, one with a disallowed type
    world = FakeWorld()
    files = [a_file(n) for n in range(4)] + [a_file(4, content_type="image/svg+xml")]

    # When they are requested together
    with pytest.raises(InvalidRequest) as caught:
        request_uploads(TENANT, "s-1", files, world.upload_deps)

    # Then the bad one is named, and the good ones were not created either
    assert caught.value.field == "files[4].contentType"
    assert world.images.all() == []
    assert world.links.all() == []
    assert world.storage.presign_calls == []
    for n in range(4):
        assert world.images.find_by_hash(TENANT, files[n].sha256) is None
