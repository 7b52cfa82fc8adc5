"""The ``vfiolab scenario`` subcommands as plain functions (``harness.cli`` wires them into
argparse): ``run`` checks scenarios and writes JUnit XML, ``list`` shows what is there,
``show`` prints a scenario's resolved host and steps.

Exit codes (:mod:`harness.exitcodes`): 0 success (every scenario passed); 1 some scenario failed
an expectation; 65 a scenario does not load (a bad file, an unknown name), printed as one line
with file and line; 66 the scenarios that did not load could only not be read (missing, not a
regular file, too large); 73 the ``--keep`` directory or the ``--junit-xml`` file cannot be written
(raised as :class:`~harness.errors.OutputError` before any scenario runs when it can be told
then); 75 another process is rendering into a ``--keep`` directory.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any, TextIO

import yaml

from fakesys.errors import DirectoryBusyError, FakesysError, OutputDirectoryError
from harness import exitcodes
from harness.scenario.errors import vfiolab_error
from harness.scenario.junit import LoadFailure, check_junit_path, write_junit
from harness.scenario.loader import Scenario, list_scenarios, load_scenario
from harness.scenario.runner import RunResult, run_scenario

EXIT_OK = exitcodes.OK
EXIT_FAILED = exitcodes.WARN
EXIT_BAD_INPUT = exitcodes.DATA


def run_command(
    names: list[str], junit_xml: Path | None, keep: Path | None, out: TextIO, live_follows: bool = False
) -> int:
    """``vfiolab scenario run [NAME|PATH ...] [--junit-xml FILE] [--keep DIR]``.

    Runs the named scenarios (every scenario found when none is named), prints PASS or FAIL per
    scenario with the failure reports, then a summary. With ``keep`` each final root is left in
    ``keep/NAME``; otherwise a failed scenario's root is kept in a temporary directory named in
    its report.
    """
    if junit_xml is not None:
        check_junit_path(junit_xml)
    if keep is not None:
        _check_keep(keep)
    wanted = names or [str(path) for path in list_scenarios().values()]
    results: list[RunResult] = []
    problems: list[LoadFailure] = []
    problem_codes: set[int] = set()
    for name in wanted:
        try:
            scenario = load_scenario(name)
            result = run_scenario(scenario, keep=keep / scenario.name if keep is not None else None)
        except (OutputDirectoryError, DirectoryBusyError) as error:
            raise vfiolab_error(error) from None
        except FakesysError as error:
            print(f"ERROR {error}", file=out)
            problems.append(LoadFailure(Path(name).stem, str(error)))
            problem_codes.add(vfiolab_error(error).exit_code)
            continue
        results.append(result)
        _print_result(result, out, live_follows)
    failed = sum(not result.passed for result in results)
    skipped = sum(
        result.passed and result.skip_reason is not None and not (live_follows and result.unchecked)
        for result in results
    )
    waiting = sum(result.passed and not result.checked and bool(result.unchecked) for result in results)
    total = sum(result.seconds for result in results)
    count = len(results) + len(problems)
    live_only = waiting if live_follows else 0
    passed = len(results) - failed - skipped - live_only
    summary = f"{count} scenario{'s' if count != 1 else ''}: {passed} passed, {failed} failed"
    if skipped:
        summary += f", {skipped} skipped"
    if live_only:
        summary += f", {live_only} live only"
    if problems:
        summary += f", {len(problems)} did not load"
    print(f"{summary} ({total:.2f} s)", file=out)
    if junit_xml is not None:
        write_junit(junit_xml, results, problems)
        print(f"JUnit XML written to {junit_xml}", file=out)
    if problems:
        # Malformed data outranks a file that could not be read (66 only when that was all).
        return EXIT_BAD_INPUT if EXIT_BAD_INPUT in problem_codes else min(problem_codes)
    return EXIT_FAILED if failed else EXIT_OK


def _check_keep(keep: Path) -> None:
    """``--keep DIR`` must be a directory (or not exist yet): each scenario's root goes below it."""
    from harness.errors import OutputError

    if os.path.lexists(keep) and not keep.is_dir():
        raise OutputError(f"--keep {keep}: not a directory; each scenario's root is written to {keep}/NAME")


def _print_result(result: RunResult, out: TextIO, live_follows: bool = False) -> None:
    scenario = result.scenario
    if live_follows and result.passed and not result.checked and result.unchecked:
        print(f"LIVE {scenario.name}: {', '.join(result.unchecked)} are checked by the live runs below", file=out)
        return
    if result.passed and result.skip_reason is not None:
        # Nothing was compared: never a PASS (a live-only scenario without --live, or no expectations).
        print(f"SKIP {scenario.name} (kernel {scenario.kernel_profile}): {result.skip_reason}", file=out)
        return
    status = "PASS" if result.passed else "FAIL"
    layers = ", ".join(result.checked)
    print(
        f"{status} {scenario.name} (kernel {scenario.kernel_profile}; {layers}) {result.seconds * 1000:.0f} ms",
        file=out,
    )
    if result.unchecked:
        if live_follows:
            print(f"     live layers ({', '.join(result.unchecked)}): checked by the live runs below", file=out)
        else:
            print(f"     not checked: {result.live_reason}", file=out)
    if not result.passed:
        print(textwrap.indent(result.report(), "     "), file=out)
    elif result.kept is not None:
        print(f"     rendered root kept in {result.kept}", file=out)


def _one_line(text: str, width: int = 100) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 3].rstrip() + "..."


def list_command(out: TextIO) -> int:
    """``vfiolab scenario list``: name, layers checked and tags, then a one-line description."""
    found = list_scenarios()
    status = EXIT_OK
    for name, path in found.items():
        try:
            scenario = load_scenario(str(path))
        except FakesysError as error:
            print(f"{name}  (does not load: {error})", file=out)
            status = EXIT_BAD_INPUT
            continue
        layers = ", ".join(scenario.layers) or "no expectations"
        tags = ", ".join(scenario.tags) or "-"
        print(f"{name}  [{layers}]  tags: {tags}", file=out)
        print(f"    {_one_line(scenario.description or '(no description)')}", file=out)
    if not found:
        print("no scenarios found (looked in $VFIOLAB_SCENARIOS, ./scenarios and the package)", file=out)
    return status


class _ShowDumper(yaml.SafeDumper):
    """Block-style YAML with multi-line strings (host files) as literal blocks."""


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_ShowDumper.add_representer(str, _represent_text)


def show_data(scenario: Scenario) -> dict[str, Any]:
    """What ``show`` prints: the scenario with its host resolved (``extends:`` merged)."""
    data: dict[str, Any] = {"name": scenario.name}
    if scenario.description:
        data["description"] = scenario.description
    if scenario.tags:
        data["tags"] = list(scenario.tags)
    data["host"] = scenario.resolved_host()
    data["steps"] = list(scenario.steps)
    return data


def show_command(name: str, out: TextIO) -> int:
    """``vfiolab scenario show NAME``: the resolved host and the steps, as YAML."""
    try:
        scenario = load_scenario(name)
        data = show_data(scenario)
    except FakesysError as error:
        print(f"{error}", file=out)
        return vfiolab_error(error).exit_code
    print(f"# scenario {scenario.name} from {scenario.path}", file=out)
    print(f"# kernel profile {scenario.kernel_profile}; checks: {', '.join(scenario.layers) or 'nothing'}", file=out)
    out.write(yaml.dump(data, Dumper=_ShowDumper, sort_keys=False, default_flow_style=False, width=120))
    return EXIT_OK
