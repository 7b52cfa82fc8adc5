"""The finding-code registry (harness/codes.py) is complete and exact, and scenario files cannot
expect a code no check emits."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from harness.codes import CODES, suggest
from harness.scenario import ScenarioError, load_scenario

REPO = Path(__file__).resolve().parent.parent
_CODE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9][a-z0-9-]*$")
_PREFIXES = {code.split(".", 1)[0] for code in CODES}


def _code_literals() -> dict[str, str]:
    """Every string literal in the checker's modules that has the shape of a finding code."""
    found: dict[str, str] = {}
    paths = [*sorted((REPO / "harness" / "checks").glob("*.py")), REPO / "harness" / "checker.py"]
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and _CODE.match(node.value)
                and node.value.split(".", 1)[0] in _PREFIXES
            ):
                found.setdefault(node.value, f"{path.relative_to(REPO)}:{node.lineno}")
    return found


def test_every_code_a_check_writes_is_registered() -> None:
    unregistered = {code: where for code, where in _code_literals().items() if code not in CODES}
    assert unregistered == {}


def test_every_registered_code_is_written_by_some_check() -> None:
    literals = _code_literals()
    assert sorted(code for code in CODES if code not in literals) == []


def test_suggestion_for_a_misspelt_code() -> None:
    assert suggest("reset.bus-reset-break-device") == "reset.bus-reset-breaks-device"
    assert suggest("zzz") is None


@pytest.mark.parametrize(
    ("where", "code", "message"),
    [
        ("absent", "reset.bus-reset-break-device", "did you mean 'reset.bus-reset-breaks-device'"),
        ("findings", "reset.nothing-like-this", "no check emits 'reset.nothing-like-this'"),
    ],
)
def test_an_expected_code_no_check_emits_is_a_load_error(tmp_path: Path, where: str, code: str, message: str) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text(
        "host:\n  extends: terramaster-f4-424-pro\n"
        "expect:\n  checker:\n    devices:\n      0000:03:00.0:\n"
        f"        {where}: [{code}]\n"
    )
    with pytest.raises(ScenarioError, match=re.escape(message)) as raised:
        load_scenario(str(path))
    assert f"{path}:7:" in str(raised.value)


def test_list_codes_prints_the_registry() -> None:
    from tests.helpers import vfiolab

    completed = vfiolab("check", "--list-codes")
    assert completed.returncode == 0
    listed = [line.split()[0] for line in completed.stdout.splitlines()]
    assert listed == list(CODES)
