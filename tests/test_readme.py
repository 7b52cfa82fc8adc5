"""The README is current: every example line in it runs as written and gives the exit code it
states, and what the first lines say about the main job is what the main job does."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import vfiolab

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")
#: An example: an indented line ``$ COMMAND``, optionally ending in ``# exit N``.
_EXAMPLE = re.compile(r"^    \$ (?P<command>.+?)(?:\s+# exit (?P<code>\d+))?$", re.MULTILINE)
EXAMPLES = [(match["command"], int(match["code"] or 0)) for match in _EXAMPLE.finditer(README)]


def test_the_readme_has_examples() -> None:
    assert len(EXAMPLES) >= 10
    assert all(command.startswith("vfiolab ") for command, _ in EXAMPLES)


@pytest.mark.parametrize(("command", "code"), EXAMPLES, ids=[command for command, _ in EXAMPLES])
def test_readme_example_runs_as_written(command: str, code: int, tmp_path: Path) -> None:
    shim = tmp_path / "bin"
    shim.mkdir()
    # `vfiolab` is this interpreter's harness (the checkout under test), whatever is on PATH.
    (shim / "vfiolab").write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m harness.cli "$@"\n')
    (shim / "vfiolab").chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    env = {
        **os.environ,
        "PATH": f"{shim}{os.pathsep}{os.environ.get('PATH', '')}{os.pathsep}/usr/sbin:/sbin",
        "PYTHONPATH": str(REPO),
        "NO_COLOR": "1",
    }
    completed = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command], cwd=work, env=env, capture_output=True, text=True, check=False
    )
    assert completed.returncode == code, f"{command}\nstdout: {completed.stdout[-2000:]}\nstderr: {completed.stderr}"
    assert "Traceback" not in completed.stderr


def test_what_the_first_lines_say_the_main_job_does() -> None:
    intro = README.split("\n\n", 2)[1]
    stated_code = int(re.search(r"it exits (\d+)", intro)[1])  # type: ignore[index]
    stated_failing = set(re.findall(r"0000:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]", intro))
    completed = vfiolab("check", "--scenario", "terramaster-f4-424-pro", "--json")
    assert completed.returncode == stated_code, completed.stderr
    summary = json.loads(completed.stdout)["summary"]
    failing = {answer["bdf"] for answer in summary["not_passing"] if answer["verdict"] == "fail"}
    assert failing == stated_failing
    assert "three devices fail" in intro and len(failing) == 3
