"""Start-up cost stays low: importing the command line, building its parser and importing the lab
plan load no check, no generator, no simulated machine and no jsonschema (each is imported by the
subcommand that needs it). Each import runs in a fresh interpreter, whose ``sys.modules`` is read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.helpers import REPO

#: Modules that a start-up must not load: large ones only some subcommands need.
HEAVY = (
    "jsonschema",
    "referencing",
    "yaml",
    "fakesys",
    "harness.checker",
    "harness.checks",
    "harness.bootconfig",
    "harness.scenario",
    "harness.pci.regs",
)


def loaded_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``code``."""
    program = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    environment = dict(os.environ)
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), environment.get("PYTHONPATH", "")]))
    done = subprocess.run(
        [sys.executable, "-c", program], cwd=REPO, env=environment, capture_output=True, text=True, check=True
    )
    modules: list[str] = json.loads(done.stdout)
    return set(modules)


def heavy(modules: set[str], allowed: tuple[str, ...] = ()) -> list[str]:
    def matches(module: str, prefix: str) -> bool:
        return module == prefix or module.startswith(prefix + ".")

    return sorted(
        module
        for module in modules
        if any(matches(module, prefix) for prefix in HEAVY) and not any(matches(module, ok) for ok in allowed)
    )


@pytest.mark.parametrize(
    "code",
    [
        "import harness.cli",
        "import harness.cli; harness.cli.build_parser()",
        "import harness.lab.plan",
    ],
)
def test_start_up_imports_nothing_heavy(code: str) -> None:
    assert heavy(loaded_after(code)) == []


def test_building_the_parser_imports_no_generator() -> None:
    modules = loaded_after("import harness.cli; harness.cli.build_parser()")
    generators = sorted(
        module for module in modules if module.startswith("harness.generate.") and module != "harness.generate.targets"
    )
    assert generators == []


def test_reading_yaml_does_not_import_jsonschema() -> None:
    """Only validating needs jsonschema: the scenario package and the YAML reader load without it."""
    modules = loaded_after("import harness.scenario, harness.scenario.documents, harness.scenario.errors")
    assert "fakesys.source" in modules  # the import above did run
    unwanted = ("jsonschema", "referencing", "fakesys.hw.library", "fakesys.host.loader", "harness.scenario.loader")
    assert sorted(modules.intersection(unwanted)) == []


def test_validating_still_works_after_the_lazy_import() -> None:
    """The first validation imports jsonschema and reports as before."""
    code = (
        "from fakesys.errors import SourceError\n"
        "from fakesys.source import Document, validate\n"
        "try:\n"
        "    validate(Document({'a': 'x'}, 'f.yaml'), {'properties': {'a': {'type': 'integer'}}})\n"
        "except SourceError as error:\n"
        "    print(error, file=sys.stderr)\n"
        "    assert 'expected integer' in str(error), error\n"
        "else:\n"
        "    raise SystemExit('no error')"
    )
    assert "jsonschema" in loaded_after(code)


def test_lazy_packages_keep_their_public_names() -> None:
    from fakesys.errors import FakesysError
    from fakesys.hw.library import set_device_dirs
    from harness import pci, scenario
    from harness.pci import address, config
    from harness.scenario import loader

    for name in ("DEFAULT_SCENARIO", "Scenario", "find_scenario", "list_scenarios", "load_scenario", "scenario_dirs"):
        assert getattr(scenario, name) is getattr(loader, name)
    assert scenario.ScenarioError is FakesysError
    assert scenario.use_device_dirs is set_device_dirs
    assert pci.Bdf is address.Bdf
    for name in ("Capability", "CapabilityLoopError", "CapabilityProblem", "ConfigSpace"):
        assert getattr(pci, name) is getattr(config, name)
    for package in (scenario, pci):
        assert set(package.__all__) <= set(dir(package))
        with pytest.raises(AttributeError):
            package.no_such_name  # noqa: B018


@pytest.mark.parametrize(
    "arguments",
    [
        ["check", "--root", "/x", "--json", "--device", "03:00.0"],
        ["--debug", "check", "--scenario", "terramaster-f4-424-pro"],
        ["generate", "--scenario", "s", "--device", "03:00.0", "--target", "proxmox"],
        ["scenario", "run", "a", "b", "--keep", "/tmp/k"],
        ["fakesys", "render", "s", "/tmp/d", "--force"],
        ["live", "--help"],
    ],
)
def test_the_parser_built_for_one_subcommand_parses_as_the_whole_parser(
    arguments: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from harness.cli import _command_in, build_parser

    command = _command_in(arguments)
    assert command == next(argument for argument in arguments if not argument.startswith("-"))

    def parsed(parser_command: str | None) -> tuple[dict[str, object], str]:
        try:
            namespace = vars(build_parser(parser_command).parse_args(arguments))
        except SystemExit as leaving:
            namespace = {"exit": leaving.code}
        return namespace, capsys.readouterr().out

    assert parsed(command) == parsed(None)


def test_top_level_help_builds_no_subcommand_of_its_own(capsys: pytest.CaptureFixture[str]) -> None:
    from harness import cli

    with pytest.raises(SystemExit):
        cli.build_parser("").parse_args(["--help"])
    short = capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["--help"])
    assert short == capsys.readouterr().out
    assert "generate  write the configuration" in short
    outline = cli.build_parser("")
    assert outline.parse_args(["check"]).command == "check"
    assert not hasattr(outline.parse_args(["check"]), "handler")
