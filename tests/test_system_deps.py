"""tools/system-deps, which `make run` and `make test` call first: what is there passes, what is
missing is one line saying what to install, and a non-zero exit."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "system-deps"


def run(*commands: str, path: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": path, "SYSTEM_DEPS_NO_INSTALL": "1"}
    return subprocess.run(  # noqa: S603 - our own script
        ["/bin/bash", str(SCRIPT), *commands], capture_output=True, text=True, env=env, check=False
    )


def test_a_missing_command_is_one_line_and_a_failure(tmp_path: Path) -> None:
    # Given a PATH with bash's basics but no npm
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("id",):
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    # When the script checks for npm
    checked = run("npm", path=str(bin_dir))
    # Then it says in one line what to install, and fails
    assert checked.returncode == 1
    assert checked.stdout == ""
    assert checked.stderr.count("\n") == 1
    assert "missing npm: install with 'sudo apt-get install npm'" in checked.stderr


def test_commands_that_are_there_pass_silently() -> None:
    # Given the machine's PATH, When a command it has is checked, Then nothing is said
    checked = run("bash", path="/usr/bin:/bin")
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, "", "")
