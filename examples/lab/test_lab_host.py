"""A labgrid-driven nightly lab run (example): for the target ``$LAB_HOST`` of ``--lg-env``, run the
host's lab plan with ``vfiolab lab run --yes`` over SSH, fetch its JSON and JUnit, power-cycle
the host when a device died, and pass only when every prediction agreed with the real kernel.

Run with labgrid's pytest plugin (``pip install 'vfiolab[lab]'``)::

    LAB_HOST=f4-424 pytest --lg-env examples/lab/env.yaml -m lab examples/lab/test_lab_host.py

Not part of vfiolab's own test suite: it needs a lab host.
"""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.lab

REMOTE = "/run/vfiolab"


def test_lab_plan_agrees_with_the_real_kernel(env: Any, tmp_path: Path) -> None:
    target = env.get_target(os.environ.get("LAB_HOST", "main"))
    if target is None:
        pytest.skip(f"no target {os.environ.get('LAB_HOST', 'main')!r} in the labgrid environment")
    ssh = target.get_driver("SSHDriver")
    plan = env.config.get_target_option(target.name, "plan")
    command = (
        f"mkdir -p {REMOTE} && vfiolab lab run {shlex.quote(plan)} --yes "
        f"--json {REMOTE}/lab-run.json --junit-xml {REMOTE}/lab-run.xml"
    )
    stdout, stderr, code = ssh.run(command)
    for name in ("lab-run.json", "lab-run.xml"):
        ssh.get(f"{REMOTE}/{name}", str(tmp_path))
    run = json.loads((tmp_path / "lab-run.json").read_text(encoding="utf-8"))
    dead = [step["address"] for step in run["steps"] if step["needs_power_cycle"]]
    if dead:
        # Only a power cycle brings back a device whose config space reads all-ones.
        target.get_driver("PowerProtocol").cycle()
    report = "\n".join([*stdout, *stderr])
    assert code != 3, f"infra-error on {target.name}:\n{report}"
    assert code == 0, f"vfiolab lab run exited {code} on {target.name}:\n{report}"
