"""The vfiolab pytest plugin, registered as ``vfiolab`` through the ``pytest11`` entry point.

It owns three things:

- **Scenario files as tests.** Every ``*.yaml`` directly in the scenario directories (``--scenario-dir
  DIR``, repeatable; else the ``vfiolab_scenario_dirs`` ini key; else ``scenarios/`` beside the
  ini file) is collected as one test item named after the scenario. The item runs the scenario
  (:func:`harness.scenario.runner.run_scenario`) and fails with the runner's report: file:line of
  each expectation that failed, what was expected, what was found, the neighbouring lines, and
  where the final root was kept. A file that does not load is a collection error of one line.
  Items carry the scenario's tags as keywords (``-k asm1062``).
- **Live scenarios.** A scenario with a ``guest:`` part (or guest expectations) also gives one
  item per guest kernel, ``NAME[6.1]``, marked ``live``: it boots the guest under QEMU and checks
  its expectations (:func:`harness.live.runner.run_live`); a run that is not ``pass`` fails with
  its report (``fail`` or ``infra-error``). When live runs are not possible here (no QEMU, guest
  assets that cannot be built, ``VFIOLAB_LIVE=off``) the item is skipped with the reason, never
  passed. The simulated item of such a scenario is only collected when it has simulated
  expectations. The ``live_run`` fixture runs a scenario live from a test, ``live_assets`` gives
  the guest assets for a test that drives a guest itself; both skip in the same way. A guest
  with proxied devices (``x-pci-proxy-dev``) that has a simulated counterpart is run once per
  session with its comparison (:func:`harness.live.compare.run_comparison`), which the item and
  the ``live_compare`` fixture share.
- **Fixtures.** ``scenario`` (the loaded :class:`~harness.scenario.Scenario`), ``fake_kernel`` (a
  :class:`~harness.scenario.simulated.SimulatedHost`: the booted simulated kernel, for driving
  steps from a test) and ``fake_host`` (the root directory rendered after the scenario's steps).
  The scenario is chosen by indirect parametrization (``@pytest.mark.parametrize("scenario",
  [...], indirect=True)``), else ``@pytest.mark.scenario("NAME")``, else the
  ``vfiolab_default_scenario`` ini key (the Terramaster F4-424 Pro).
- **Markers and reports.** ``live``, ``lab`` and ``scenario`` are registered; ``--live-keep DIR``
  keeps every live run's artifacts. JUnit XML gets the
  scenario name and kernel profile per scenario item (test case properties), the failure report
  as the failure text, and the vfiolab version as a test-suite property.

Heavy imports (the simulated machine) happen inside hooks and fixtures, so that loading the
plugin costs nothing in projects that do not use it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harness import __version__

if TYPE_CHECKING:
    from _pytest._code.code import ExceptionInfo, TerminalRepr, TracebackStyle

    from harness.live.assets import GuestAssets
    from harness.live.compare import Comparison
    from harness.live.runner import LiveResult
    from harness.scenario.loader import Scenario
    from harness.scenario.runner import RunResult
    from harness.scenario.simulated import SimulatedHost

SCENARIO_DIR_HELP = (
    "directory whose *.yaml files are collected as scenario tests (repeatable; "
    "default: the vfiolab_scenario_dirs ini key, else scenarios/ beside the ini file)"
)
SCENARIO_DIRS_INI_HELP = "directories whose *.yaml files are collected as scenario tests (default: scenarios)"
SCENARIO_KEEP_HELP = (
    "keep every scenario's final root in DIR/NAME (failed ones are always kept, in a temporary directory)"
)
DEFAULT_SCENARIO_INI_HELP = "scenario the fake_host, fake_kernel and scenario fixtures use when a test names none"
LIVE_KEEP_HELP = "keep every live run's artifacts (console log, QEMU command, guest dmesg and sysfs) in DIR"
#: ``VFIOLAB_LIVE=off`` (or 0, no, false) turns live runs off: live items are skipped.
LIVE_SWITCH = "VFIOLAB_LIVE"
MARKERS = (
    "live: needs a real guest kernel under QEMU (harness.live); deselect with -m 'not live'",
    "lab: needs real passthrough hardware in the lab; deselect with -m 'not lab'",
    "scenario(name): the scenario (name or path) the fake_host, fake_kernel and scenario fixtures use",
)


@dataclass(frozen=True)
class ScenarioSettings:
    """This run's plugin settings, resolved once: command line over ini over defaults."""

    directories: tuple[Path, ...]
    keep: Path | None
    #: Empty: harness.scenario.DEFAULT_SCENARIO (not imported here: it loads the simulated machine).
    default_scenario: str
    live_keep: Path | None = None


_SETTINGS = pytest.StashKey[ScenarioSettings]()
#: Per guest kernel: None when live runs work here, else why not (asked once per session).
_LIVE_UNAVAILABLE = pytest.StashKey[dict[str, "str | None"]]()
#: Live runs with a simulated counterpart, by (scenario file, kernel): run once per session,
#: shared by the scenario's live item and the tests that compare (live_compare).
_COMPARISONS = pytest.StashKey[dict[tuple[str, str], "tuple[Comparison, LiveResult]"]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("vfiolab", "vfiolab scenarios")
    group.addoption(
        "--scenario-dir", action="append", dest="vfiolab_scenario_dirs", metavar="DIR", help=SCENARIO_DIR_HELP
    )
    group.addoption("--scenario-keep", dest="vfiolab_scenario_keep", metavar="DIR", help=SCENARIO_KEEP_HELP)
    group.addoption("--live-keep", dest="vfiolab_live_keep", metavar="DIR", help=LIVE_KEEP_HELP)
    parser.addini("vfiolab_scenario_dirs", SCENARIO_DIRS_INI_HELP, type="paths", default=[])
    parser.addini("vfiolab_default_scenario", DEFAULT_SCENARIO_INI_HELP, default="")


def _settings(config: pytest.Config) -> ScenarioSettings:
    invoked = config.invocation_params.dir
    given: list[str] | None = config.getoption("vfiolab_scenario_dirs")
    if given:
        directories = [invoked / path for path in given]
    else:
        configured: list[Path] = config.getini("vfiolab_scenario_dirs")
        directories = configured or [config.rootpath / "scenarios"]
    keep: str | None = config.getoption("vfiolab_scenario_keep")
    default: str = config.getini("vfiolab_default_scenario")
    live_keep: str | None = config.getoption("vfiolab_live_keep")
    return ScenarioSettings(
        tuple(path.resolve() for path in directories),
        (invoked / keep).resolve() if keep else None,
        default,
        (invoked / live_keep).resolve() if live_keep else None,
    )


def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    config.stash[_SETTINGS] = _settings(config)
    config.stash[_LIVE_UNAVAILABLE] = {}
    config.stash[_COMPARISONS] = {}


def pytest_report_header(config: pytest.Config) -> str:
    directories = ", ".join(str(path) for path in config.stash[_SETTINGS].directories)
    return f"vfiolab {__version__}; scenario directories: {directories}"


def pytest_sessionstart(session: pytest.Session) -> None:
    """The vfiolab version as a JUnit test-suite property. This is what the
    ``record_testsuite_property`` fixture does; scenario items take no fixtures, and a run may
    hold nothing else, so the plugin records it once here."""
    from _pytest.junitxml import xml_key

    xml = session.config.stash.get(xml_key, None)
    if xml is not None:
        xml.add_global_property("vfiolab_version", __version__)


def _in_scenario_directory(path: Path, directories: tuple[Path, ...]) -> bool:
    # Only files directly in a scenario directory are scenarios: its devices/ subdirectory holds
    # the device descriptions that imported scenarios name (harness.scenario.importer).
    return path.resolve().parent in directories


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix not in (".yaml", ".yml"):
        return None
    if not _in_scenario_directory(file_path, parent.config.stash[_SETTINGS].directories):
        return None
    collector: ScenarioFile = ScenarioFile.from_parent(parent, path=file_path)
    return collector


class ScenarioFile(pytest.File):
    """A scenario file: one test item, or a one-line collection error when it does not load."""

    def collect(self) -> Iterator[ScenarioItem | LiveScenarioItem]:
        from harness.errors import VfiolabError
        from harness.scenario import ScenarioError, load_scenario
        from harness.scenario.loader import LIVE_LAYERS

        try:
            scenario = load_scenario(str(self.path))
        except ScenarioError as error:
            raise self.CollectError(str(error)) from None
        if not scenario.live or any(layer not in LIVE_LAYERS for layer in scenario.layers):
            yield ScenarioItem.from_parent(self, name=scenario.name, scenario=scenario)
        if scenario.live:
            from harness.live.spec import GuestSpec

            try:
                kernels = GuestSpec.from_scenario(scenario).kernels
            except VfiolabError as error:
                raise self.CollectError(str(error)) from None
            for kernel in kernels:
                yield LiveScenarioItem.from_parent(
                    self, name=f"{scenario.name}[{kernel}]", scenario=scenario, kernel=kernel
                )


class ScenarioFailed(Exception):
    """Some expectation of a scenario did not hold; carries the run's result for the report."""

    def __init__(self, result: RunResult) -> None:
        super().__init__(f"scenario {result.scenario.name} failed")
        self.result = result


class ScenarioItem(pytest.Item):
    """One scenario run as a test."""

    def __init__(self, *, scenario: Scenario, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.result: RunResult | None = None
        self.extra_keyword_matches.update(scenario.tags)
        self.user_properties += [("scenario", scenario.name), ("kernel_profile", scenario.kernel_profile)]

    def runtest(self) -> None:
        from harness.scenario.runner import run_scenario

        keep_root = self.config.stash[_SETTINGS].keep
        self.result = run_scenario(self.scenario, keep=keep_root / self.scenario.name if keep_root else None)
        self.user_properties.append(("layers", ",".join(self.result.checked)))
        if self.result.unchecked:
            self.user_properties.append(("not_checked_needs_live_run", ",".join(self.result.unchecked)))
        if not self.result.passed:
            raise ScenarioFailed(self.result)

    def repr_failure(
        self, excinfo: ExceptionInfo[BaseException], style: TracebackStyle | None = None
    ) -> str | TerminalRepr:
        from harness.scenario import ScenarioError

        if isinstance(excinfo.value, ScenarioFailed):
            result = excinfo.value.result
            count = len(result.failures)
            heading = (
                f"scenario {self.scenario.name} (kernel profile {self.scenario.kernel_profile}): "
                f"{count} expectation{'s' if count != 1 else ''} failed"
            )
            return f"{heading}\n{result.report()}"
        if isinstance(excinfo.value, ScenarioError):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"scenario {self.scenario.name}"


def live_unavailable(config: pytest.Config, kernel: str) -> str | None:
    """Why live runs on guest ``kernel`` are not possible here (None when they are). Builds the
    guest assets when the cache lacks them, once per session (so the build is not part of any
    test's call phase)."""
    import os

    known = config.stash[_LIVE_UNAVAILABLE]
    if kernel not in known:
        from harness.live.assets import guest_assets
        from harness.live.errors import LiveError
        from harness.live.qemu import qemu_binary

        switch = os.environ.get(LIVE_SWITCH, "").strip().lower()
        if switch in ("0", "off", "no", "false"):
            known[kernel] = f"live runs are turned off ({LIVE_SWITCH}={switch})"
        else:
            try:
                qemu_binary()
                guest_assets(kernel)
                known[kernel] = None
            except LiveError as error:
                known[kernel] = f"live runs are not possible here: {error}"
    return known[kernel]


class LiveFailed(Exception):
    """A live run that did not pass; carries its result for the report."""

    def __init__(self, result: LiveResult) -> None:
        super().__init__(f"live run {result.name}: {result.status}")
        self.result = result


class LiveScenarioItem(pytest.Item):
    """One scenario's guest on one kernel, run live."""

    def __init__(self, *, scenario: Scenario, kernel: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scenario = scenario
        self.kernel = kernel
        self.result: LiveResult | None = None
        self.add_marker("live")
        self.extra_keyword_matches.update(scenario.tags)
        self.user_properties += [("scenario", scenario.name), ("guest_kernel", kernel)]

    def setup(self) -> None:
        reason = live_unavailable(self.config, self.kernel)
        if reason is not None:
            pytest.skip(reason)

    def runtest(self) -> None:
        from harness.live.runner import run_live

        keep = self.config.stash[_SETTINGS].live_keep
        compared = compared_live_run(self.config, self.scenario, self.kernel)
        self.result = compared[1] if compared is not None else run_live(self.scenario, self.kernel, keep=keep)
        self.user_properties += [
            ("live_status", self.result.status),
            ("kernel_package", self.result.kernel_package),
            ("accel", self.result.accel),
            ("live_seconds", f"{self.result.seconds:.2f}"),
        ]
        if self.result.artifacts is not None:
            self.user_properties.append(("artifacts", str(self.result.artifacts)))
        if not self.result.passed:
            raise LiveFailed(self.result)

    def repr_failure(
        self, excinfo: ExceptionInfo[BaseException], style: TracebackStyle | None = None
    ) -> str | TerminalRepr:
        if isinstance(excinfo.value, LiveFailed):
            result = excinfo.value.result
            return f"live run {result.summary()}\n{result.report()}"
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"live scenario {self.scenario.name} on {self.kernel}"


def compared_live_run(config: pytest.Config, scenario: Scenario, kernel: str) -> tuple[Comparison, LiveResult] | None:
    """The live run of a scenario whose guest has proxied devices, with its comparison to the
    simulated counterpart (harness.live.compare), once per session; None when the guest has no
    proxied device or no counterpart."""
    key = (str(scenario.path), kernel)
    cache = config.stash[_COMPARISONS]
    if key not in cache:
        from harness.live.compare import run_comparison
        from harness.live.proxy.counterpart import NoCounterpart
        from harness.live.spec import GuestSpec

        if not GuestSpec.from_scenario(scenario).proxies:
            return None
        try:
            cache[key] = run_comparison(scenario, kernel, keep=config.stash[_SETTINGS].live_keep)
        except NoCounterpart:
            return None
    return cache[key]


@pytest.fixture
def live_compare(request: pytest.FixtureRequest) -> Callable[..., tuple[Comparison, LiveResult]]:
    """``live_compare(scenario, kernel)``: the live run of a scenario with proxied devices and
    its comparison with the simulated counterpart (shared with the scenario's live item);
    skips the test when live runs are not possible."""

    def compare(scenario: Scenario | str, kernel: str) -> tuple[Comparison, LiveResult]:
        from harness.scenario import load_scenario

        reason = live_unavailable(request.config, kernel)
        if reason is not None:
            pytest.skip(reason)
        loaded = load_scenario(scenario) if isinstance(scenario, str) else scenario
        compared = compared_live_run(request.config, loaded, kernel)
        if compared is None:
            raise AssertionError(f"{loaded.name} has no simulated counterpart")
        return compared

    return compare


@pytest.fixture
def live_run(request: pytest.FixtureRequest) -> Callable[..., LiveResult]:
    """Run a scenario (a :class:`~harness.scenario.Scenario`, name or path) live:
    ``live_run(scenario, kernel="6.1", **run_live_options)`` returns its
    :class:`~harness.live.runner.LiveResult`; skips the test when live runs are not possible."""

    def run(scenario: Scenario | str, kernel: str = "6.1", **options: Any) -> LiveResult:
        from harness.live.runner import run_live
        from harness.scenario import load_scenario

        reason = live_unavailable(request.config, kernel)
        if reason is not None:
            pytest.skip(reason)
        loaded = load_scenario(scenario) if isinstance(scenario, str) else scenario
        options.setdefault("keep", request.config.stash[_SETTINGS].live_keep)
        return run_live(loaded, kernel, **options)

    return run


@pytest.fixture
def live_assets(request: pytest.FixtureRequest) -> Callable[[str], GuestAssets]:
    """The guest assets for a kernel, ``live_assets("6.12")``, for tests that drive a
    :class:`~harness.live.session.GuestSession` themselves; skips the test when live runs are
    not possible."""

    def get(kernel: str = "6.1") -> GuestAssets:
        from harness.live.assets import guest_assets

        reason = live_unavailable(request.config, kernel)
        if reason is not None:
            pytest.skip(reason)
        return guest_assets(kernel)

    return get


def _scenario_name(request: pytest.FixtureRequest) -> str:
    param = getattr(request, "param", None)
    if isinstance(param, str):
        return param
    marker = request.node.get_closest_marker("scenario")
    if marker is not None:
        if not marker.args or not isinstance(marker.args[0], str):
            raise pytest.UsageError("@pytest.mark.scenario takes the scenario's name or path: scenario('NAME')")
        name: str = marker.args[0]
        return name
    from harness.scenario import DEFAULT_SCENARIO

    return request.config.stash[_SETTINGS].default_scenario or DEFAULT_SCENARIO


def _find_in_directories(name: str, directories: tuple[Path, ...]) -> str:
    """A bare name found in the configured scenario directories first; else as given (the
    loader then looks in $VFIOLAB_SCENARIOS, ./scenarios and the package)."""
    if "/" in name or name.endswith((".yaml", ".yml")):
        return name
    for directory in directories:
        candidate = directory / f"{name}.yaml"
        if candidate.is_file():
            return str(candidate)
    return name


@pytest.fixture
def scenario(request: pytest.FixtureRequest) -> Scenario:
    """The loaded scenario this test is about (indirect parameter, ``scenario`` marker, or the
    default). A fresh copy per test: tests may change it (``scenario.host.kernel.profile``)."""
    from harness.scenario import load_scenario

    directories = request.config.stash[_SETTINGS].directories
    return load_scenario(_find_in_directories(_scenario_name(request), directories))


@pytest.fixture
def fake_kernel(scenario: Scenario) -> SimulatedHost:
    """The scenario's host booted in the simulated kernel, steps not yet applied: drive it with
    ``fake_kernel.step("vm_start", 100)`` or ``fake_kernel.run_steps()``."""
    from harness.scenario.simulated import SimulatedHost

    return SimulatedHost(scenario)


@pytest.fixture
def fake_host(scenario: Scenario, tmp_path: Path) -> Path:
    """The scenario's root after its steps (what ``vfiolab check --scenario`` checks), rendered to
    a fresh directory under ``tmp_path``; tests may modify it."""
    from harness.scenario.runner import render_final_root

    root = tmp_path / "root"
    render_final_root(scenario, root)
    return root
