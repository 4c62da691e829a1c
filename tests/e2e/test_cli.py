"""`imagepipe upload`, `ls`, `get` and `rm` as a user runs them: a subprocess whose stdout and
stderr are pipes (a terminal only where progress is the point), against the local stack or
nothing at all."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.e2e.conftest import ROOT, RunningStack, free_port, imagepipe, local_only, photo_file

pytestmark = [pytest.mark.e2e, local_only]

USAGE, UNREACHABLE, REJECTED, FAILED = 2, 3, 4, 5  # the README's exit codes


def small_png(directory: Path, name: str) -> Path:
    """A 48x32 PNG of random pixels: a new image every time, quick to process."""
    path = directory / name
    Image.frombytes("RGB", (48, 32), os.urandom(48 * 32 * 3)).save(path, "PNG")
    return path


def as_json(run: subprocess.CompletedProcess[str]) -> Any:
    """The whole of stdout is one JSON document (json.loads refuses anything around it)."""
    return json.loads(run.stdout)


def assert_one_line_error(run: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert run.returncode == code, run.stdout + run.stderr
    assert run.stdout == ""
    assert run.stderr.startswith("imagepipe: ")
    assert run.stderr.count("\n") == 1, run.stderr  # no traceback
    assert text in run.stderr


def test_bad_paths_are_one_line_usage_errors(tmp_path: Path) -> None:
    # Given a path that does not exist and a directory of images
    small_png(tmp_path, "a.png")
    # When each is sent without --recursive (no API is even asked)
    missing = imagepipe("upload", str(tmp_path / "nope.jpg"), "--api", "http://127.0.0.1:1")
    directory = imagepipe("upload", str(tmp_path), "--api", "http://127.0.0.1:1")
    # Then each exits 2 with one line naming the path and what to do
    assert_one_line_error(missing, USAGE, f"{tmp_path / 'nope.jpg'}: no such file")
    assert_one_line_error(directory, USAGE, "is a directory (add --recursive")


def test_an_api_that_is_down_is_exit_3_for_every_command(tmp_path: Path) -> None:
    # Given a port where nothing listens
    api = f"http://127.0.0.1:{free_port()}"
    image = small_png(tmp_path, "a.png")
    # When each API command is run against it
    runs = [
        imagepipe("upload", str(image), "--api", api),
        imagepipe("ls", "s-1", "--api", api),
        imagepipe("get", "0" * 32, "--api", api),
        imagepipe("rm", "0" * 32, "--api", api),
    ]
    # Then each says so in one line and exits 3
    for run in runs:
        assert_one_line_error(run, UNREACHABLE, f"no API answers at {api}")


def test_rejected_files_are_named_and_the_rest_still_sent(
    stack: RunningStack, tmp_path: Path
) -> None:
    # Given a text file, an empty .jpg and a good photo, in one batch
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "empty.jpg").write_bytes(b"")
    good = small_png(tmp_path, "good.png")
    names = [str(tmp_path / "notes.txt"), str(tmp_path / "empty.jpg"), str(good)]
    # When they are uploaded, stdout and stderr piped
    run = imagepipe("upload", *names, "--api", stack.api, "--session", "cli-rejects")
    # Then the API's reason names each rejected file, and the good one still completes
    assert run.returncode == REJECTED, run.stdout + run.stderr
    rows = {line.split()[0]: line for line in run.stdout.splitlines()[1:-1]}
    assert "rejected: unsupported_content_type" in rows[names[0]]
    assert "rejected: invalid_size" in rows[names[1]]
    assert " new " in rows[names[2]]
    assert " completed " in rows[names[2]]
    # And piped output carries no progress bar (no carriage returns anywhere)
    assert "\r" not in run.stdout + run.stderr


def test_a_file_the_pipeline_fails_is_named_with_its_error(
    stack: RunningStack, tmp_path: Path
) -> None:
    # Given a .jpg whose bytes are no image at all (the API only sees its name and size)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(os.urandom(2048))
    # When it is uploaded
    run = imagepipe("upload", str(broken), "--api", stack.api, "--json")
    # Then it was accepted, then failed with Ingest's code, and the exit code says so (5)
    assert run.returncode == FAILED, run.stdout + run.stderr
    (entry,) = as_json(run)["files"]
    assert (entry["outcome"], entry["status"]) == ("failed", "failed")
    assert entry["label"] == f"failed: {entry['error']['code']}"
    assert entry["error"]["code"] in {"unsupported_format", "corrupt_image"}


def test_eleven_files_go_in_batches_and_a_duplicate_names_its_image(
    stack: RunningStack, tmp_path: Path
) -> None:
    # Given a folder with 11 new images (more than one POST /uploads takes), a nested one
    # among them, and a file that is not an image (a folder's expansion skips it)
    folder = tmp_path / "album"
    (folder / "nested").mkdir(parents=True)
    long_name = "a-photo-whose-name-is-much-longer-than-twenty-eight-characters.png"
    paths = [small_png(folder, f"{n:02d}.png") for n in range(10)]
    paths.append(small_png(folder / "nested", long_name))
    (folder / "README.txt").write_text("captions")

    # When the folder is uploaded with --recursive and --json
    run = imagepipe(
        "upload", str(folder), "--recursive", "--json", "--api", stack.api, "--session", "cli-11"
    )

    # Then stdout is one JSON document: all 11 files, sent in batches of 10 and 1, completed
    assert run.returncode == 0, run.stdout + run.stderr
    document = as_json(run)
    files = {entry["path"]: entry for entry in document["files"]}
    assert set(files) == {str(p) for p in paths}
    assert {(e["outcome"], e["status"], e["error"]) for e in files.values()} == {
        ("new", "completed", None)
    }
    assert all(len(e["variants"]) == 6 for e in files.values())
    assert "\r" not in run.stderr  # no progress bar on a pipe

    # When one of them is sent again, in the table's form
    again = imagepipe("upload", str(paths[-1]), "--api", stack.api, "--session", "cli-11b")
    # Then it is named a duplicate of its image, with its full name
    image_id = files[str(paths[-1])]["imageId"]
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"duplicate of {image_id}" in again.stdout
    assert long_name in again.stdout


def test_ls_get_and_rm_cover_the_read_and_delete_api(stack: RunningStack, tmp_path: Path) -> None:
    # Given two images uploaded in a session
    sent = imagepipe(
        "upload",
        str(photo_file(tmp_path, "one.jpg", 1)),
        str(small_png(tmp_path, "two.png")),
        "--json",
        "--api",
        stack.api,
        "--session",
        "cli-read",
    )
    assert sent.returncode == 0, sent.stdout + sent.stderr
    one, two = (entry["imageId"] for entry in as_json(sent)["files"])

    # When the session is listed, as a table and as JSON
    table = imagepipe("ls", "cli-read", "--api", stack.api)
    listed = imagepipe("ls", "cli-read", "--api", stack.api, "--json")
    # Then both name both images, newest first
    assert table.returncode == 0, table.stderr
    assert table.stdout.split()[:5] == ["imageId", "filename", "status", "size", "created"]
    assert one in table.stdout
    assert two in table.stdout
    assert [i["imageId"] for i in as_json(listed)["images"]] == [two, one]

    # When one image is read and its files downloaded
    downloads = tmp_path / "downloads"
    got = imagepipe("get", one, "--api", stack.api, "--download", str(downloads))
    raw = imagepipe("get", one, "--api", stack.api, "--json")
    # Then the summary names its status and variants, and the original, the thumbnail and
    # the six variants are saved under their own names
    assert got.returncode == 0, got.stderr
    assert "completed" in got.stdout
    assert got.stdout.count("variant ") == 6
    saved = sorted(p.name for p in downloads.iterdir())
    assert len(saved) == 8
    assert f"{one}.jpg" in saved
    assert f"{one}_thumbnail.webp" in saved
    assert (downloads / f"{one}.jpg").read_bytes() == (tmp_path / "one.jpg").read_bytes()
    assert as_json(raw)["imageId"] == one

    # When one is unlinked from the session and the other deleted
    unlinked = imagepipe("rm", one, "--session", "cli-read", "--api", stack.api)
    deleted = imagepipe("rm", two, "--api", stack.api)
    # Then the session lists neither; the unlinked image remains, the deleted one is gone
    assert (unlinked.returncode, deleted.returncode) == (0, 0), unlinked.stderr + deleted.stderr
    assert as_json(imagepipe("ls", "cli-read", "--api", stack.api, "--json"))["images"] == []
    assert imagepipe("get", one, "--api", stack.api).returncode == 0
    gone = imagepipe("get", two, "--api", stack.api)
    assert_one_line_error(gone, REJECTED, "not_found")
    # And deleting it again is refused in one line too
    again = imagepipe("rm", two, "--api", stack.api)
    assert again.returncode == REJECTED
    assert again.stderr.count("\n") == 1


def test_progress_is_drawn_on_a_terminal_only(stack: RunningStack, tmp_path: Path) -> None:
    # Given a terminal 100 columns wide for stderr (stdout stays a pipe)
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
    image = small_png(tmp_path, "bar.png")
    # When a new image is uploaded
    with os.fdopen(controller, "rb", buffering=0) as screen:
        run = subprocess.run(  # noqa: S603 - our own command line
            [sys.executable, "-m", "imagepipe_local.cli", "upload", str(image), "--api", stack.api],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=terminal,
            text=True,
            timeout=120,
            check=False,
        )
        os.close(terminal)
        drawn = b""
        with contextlib.suppress(OSError):  # EIO once everything written is read
            while chunk := screen.read(65536):
                drawn += chunk
    # Then the terminal got the bars (bytes sent, images processed), the pipe only the table
    assert run.returncode == 0, run.stdout
    assert b"\r" in drawn
    assert b"processing: 100%" in drawn
    assert "\r" not in run.stdout
    assert " new " in run.stdout
