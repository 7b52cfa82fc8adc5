"""Running a scenario's guest live and judging it: ``pass``, ``fail`` or ``infra-error``.

One run: the guest assets for the kernel (built or cached), the accelerator, QEMU's command
from the scenario's ``guest:`` part, boot, the modules and the host's root when steps need them,
a marker in the guest's kernel log, the steps (each with its exit status and output), then the
guest's dmesg and the ``guest_sysfs`` values, all compared with the expectations.

Classification:

- ``infra-error``: the run could not get to the point of asking the guest anything: assets
  missing or unbuildable, QEMU missing or refusing its command line, a timeout or QEMU exit
  before the guest's shell was ready (boot timed out before the kernel ran, ``/init`` did not
  come up), the harness's own setup (modules, 9p) failing;
- ``fail``: something about the guest did not hold: an expectation, a step that did not finish
  in its time, the guest dying during the steps, or a kernel crash at any time (a crash is the
  kernel's, never the infrastructure's);
- ``pass``: every expectation held.

The artifacts (console log, QEMU command and stderr, guest dmesg, guest sysfs snapshot,
``result.json``) stay on failure, on infra-error, and with ``keep``.
"""

from __future__ import annotations

import contextlib
import json
import resource
import shutil
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from harness import exitcodes
from harness.live.accel import choose_accelerator
from harness.live.artifacts import Artifacts
from harness.live.assets import GuestAssets, guest_assets
from harness.live.console import Mark
from harness.live.errors import ConsoleEOF, ConsoleError, GuestCrash, LiveError
from harness.live.expect import (
    StepOutcome,
    check_guest_dmesg,
    check_guest_sysfs,
    check_step,
    crashes_in_dmesg,
    dmesg_since,
)
from harness.live.qemu import build_launch
from harness.live.session import STEPS_BEGIN, GuestSession, TimedLine, Timeouts
from harness.live.spec import GuestSpec
from harness.live.steps import modules_for, step_command
from harness.scenario.expect import Failure
from harness.scenario.loader import Scenario

if TYPE_CHECKING:
    from harness.live.proxy.devices import ProxiedDevices

PASS = "pass"
FAIL = "fail"
INFRA_ERROR = "infra-error"
TAIL_LINES = 25
#: QEMU 7.2 with x-pci-proxy-dev devices was seen to die of SIGSEGV while the guest kernel boots
#: (2 of about 25 boots, both just after the guest's IOMMU set up its groups; the same boots
#: passed when run again). A boot that ends that way, before the guest's shell was ready, is run
#: again up to this many times, and the result says so (LiveResult.boot_retries).
PROXY_BOOT_RETRIES = 2
_HOST_ROOT_MODULES = ("virtio_pci", "9pnet_virtio", "9p")


@dataclass
class LiveResult:
    """The outcome of one live run of one scenario on one guest kernel."""

    scenario: Scenario
    kernel: str
    status: str = INFRA_ERROR
    failures: list[Failure] = field(default_factory=list)
    #: The error that ended the run early (one line), with its report (phase, tail, log path).
    error: str = ""
    error_report: str = ""
    steps: list[StepOutcome] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    console_tail: list[str] = field(default_factory=list)
    accel: str = ""
    accel_reason: str = ""
    kernel_package: str = ""
    kernel_release: str = ""
    artifacts: Path | None = None
    seconds: float = 0.0
    #: CPU time QEMU used (user + system): what the run costs whatever else the machine does.
    qemu_cpu_seconds: float = 0.0
    #: A proxied device's service that ended early (watchdog, protocol error): the run cannot
    #: be judged, since the guest then read all-ones from a device the scenario did not kill.
    proxy_failure: str = ""
    #: What each proxied device's server saw (messages, resets), by device id.
    proxies: dict[str, dict[str, object]] = field(default_factory=dict)
    #: The guest's whole kernel log, the values of ``read_paths`` after the steps and of
    #: ``read_before`` before them.
    dmesg: list[TimedLine] = field(default_factory=list)
    values: dict[str, str | None] = field(default_factory=dict)
    values_before: dict[str, str | None] = field(default_factory=dict)
    #: QEMU died of SIGSEGV before the guest's shell was ready (see PROXY_BOOT_RETRIES).
    boot_crash: bool = False
    #: The errors of earlier attempts that ended in such a crash and were run again.
    boot_retries: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.scenario.name}[{self.kernel}]"

    @property
    def passed(self) -> bool:
        return self.status == PASS

    @property
    def exit_code(self) -> int:
        return {PASS: exitcodes.OK, FAIL: exitcodes.WARN}.get(self.status, exitcodes.CANNOT_RUN)

    def report(self) -> str:
        """What went wrong: each failed expectation, the error that ended the run, the
        console's last lines, and where the artifacts are."""
        text = [failure.report(str(self.scenario.path)) for failure in self.failures]
        if self.error_report:
            text.append(self.error_report)
        elif self.error:
            text.append(self.error)
        if self.status != PASS and self.console_tail and "console, last" not in self.error_report:
            text.append(f"console, last {len(self.console_tail)} lines:")
            text += [f"  | {line}" for line in self.console_tail]
        if self.artifacts is not None:
            text.append(f"artifacts kept in {self.artifacts}")
        return "\n".join(text)

    def summary(self) -> str:
        """``PASS live-intel-ahci[6.1] (linux-image-..., tcg) 4.2 s``."""
        what = ", ".join(item for item in (self.kernel_package or self.kernel, self.accel) if item)
        cpu = f", QEMU CPU {self.qemu_cpu_seconds:.1f} s" if self.qemu_cpu_seconds else ""
        retried = len(self.boot_retries)
        again = f" (after {retried} boot{'s' if retried > 1 else ''} where QEMU crashed)" if retried else ""
        return f"{self.status.upper()} {self.name} ({what}) {self.seconds:.1f} s{cpu}{again}"

    def to_json(self) -> dict[str, object]:
        return {
            "scenario": self.scenario.name,
            "kernel": self.kernel,
            "status": self.status,
            "kernel_package": self.kernel_package,
            "kernel_release": self.kernel_release,
            "accel": self.accel,
            "accel_reason": self.accel_reason,
            "seconds": round(self.seconds, 3),
            "qemu_cpu_seconds": round(self.qemu_cpu_seconds, 3),
            "phases": [{"phase": mark.phase, "seconds": mark.seconds} for mark in self.marks],
            "steps": [
                {
                    "step": outcome.step.describe(),
                    "status": outcome.status,
                    "seconds": round(outcome.seconds, 3),
                }
                for outcome in self.steps
            ],
            "failures": [failure.report(str(self.scenario.path)) for failure in self.failures],
            "error": self.error,
            "proxy_failure": self.proxy_failure,
            "boot_retries": self.boot_retries,
        }


def _setup(session: GuestSession, spec: GuestSpec, assets: GuestAssets) -> None:
    """Modules, the host's root, the steps' marker: the harness's part, before the steps."""
    wanted = list(spec.modules)
    if spec.needs_host_root:
        wanted += _HOST_ROOT_MODULES
    for step in spec.steps:
        wanted += modules_for(step)
    session.modprobe(dict.fromkeys(assets.loadable(wanted)))
    if spec.needs_host_root:
        session.mount_host_root()
    session.kmsg(STEPS_BEGIN.removeprefix("vfiolab-live: "))


def _run_steps(session: GuestSession, scenario: Scenario, spec: GuestSpec, result: LiveResult) -> None:
    for step in spec.steps:
        began = time.monotonic()
        try:
            done = session.run(step_command(step), phase=f"{step.describe()}", timeout=step.timeout)
        except ConsoleError as error:
            result.steps.append(StepOutcome(step, None, "", time.monotonic() - began))
            raise error
        outcome = StepOutcome(step, done.status, done.output, done.seconds)
        result.steps.append(outcome)
        result.failures += check_step(scenario, outcome)


def _judge_guest(
    session: GuestSession,
    scenario: Scenario,
    result: LiveResult,
    artifacts: Artifacts,
    *,
    read_paths: Sequence[str],
    binary_paths: Sequence[str],
) -> None:
    dmesg = session.dmesg()
    result.dmesg = dmesg
    if read_paths:
        result.values = session.read_values(read_paths, binary_paths)
    (artifacts.path / "guest-dmesg.txt").write_text(
        "".join(f"[{stamp // 1_000_000:5d}.{stamp % 1_000_000:06d}] {text}\n" for stamp, text in dmesg)
    )
    if "guest_dmesg" in scenario.expect:
        result.failures += check_guest_dmesg(scenario, dmesg)
    result.failures += crashes_in_dmesg(dmesg_since(dmesg, "boot"))
    if "guest_sysfs" in scenario.expect:
        values = session.read_values(list(scenario.expect["guest_sysfs"]))
        result.failures += check_guest_sysfs(scenario, values)


def _proxy_outcome(proxied: ProxiedDevices | None, result: LiveResult, directory: Path) -> None:
    """After QEMU ended: each server's report in the artifacts, and a service that failed."""
    if proxied is None:
        return
    proxied.write_reports(directory)
    result.proxies = {server.name: server.stats.to_json() for server in proxied.servers}
    result.proxy_failure = proxied.failure


@contextlib.contextmanager
def _proxied(spec: GuestSpec) -> Iterator[ProxiedDevices | None]:
    """The proxy servers of the guest's ``x-pci-proxy-dev`` devices (None when it has none);
    imported only then, since the proxy brings in fakesys."""
    if not spec.proxies:
        yield None
        return
    from harness.live.proxy.devices import ProxiedDevices

    with ProxiedDevices(spec.proxies) as proxied:
        yield proxied


def run_live(
    scenario: Scenario,
    kernel: str | None = None,
    *,
    keep: Path | None = None,
    timeouts: Timeouts | None = None,
    offline: bool = False,
    extra_args: Sequence[str] = (),
    pass_fds: Sequence[int] = (),
    memfd_ram: bool = False,
    assets: GuestAssets | None = None,
    read_paths: Sequence[str] = (),
    binary_paths: Sequence[str] = (),
    read_before: Sequence[str] = (),
    after_steps: Callable[[GuestSession], object] | None = None,
) -> LiveResult:
    """Run ``scenario``'s guest on ``kernel`` (default: the first of its ``kernels``) and judge it.

    Args:
        keep: leave the artifacts in ``keep/SCENARIO-KERNEL`` whatever the outcome.
        offline: use cached guest assets only.
        extra_args, pass_fds, memfd_ram: for devices served from outside QEMU
            (:func:`harness.live.qemu.build_launch`).
        assets: use these instead of looking them up.
        read_paths, binary_paths: read these guest files after the steps (``binary_paths``, a
            subset, as hex bytes) into :attr:`LiveResult.values`.
        read_before: read these before the steps (after the modules), into
            :attr:`LiveResult.values_before`.
        after_steps: called with the guest's session after the steps, before the guest is
            judged: for tests that drive the guest's shell beyond the scenario's closed set of
            steps (their own code, never a scenario file's).

    A malformed ``guest:`` part raises :class:`~harness.live.errors.GuestSpecError` (bad input,
    not a run outcome); everything else ends up in the result. A guest with proxied devices
    whose boot ends in a QEMU crash is booted again (:data:`PROXY_BOOT_RETRIES`).
    """
    spec = GuestSpec.from_scenario(scenario)
    retries: list[str] = []
    began = time.monotonic()
    while True:
        result = _run_once(
            scenario,
            spec,
            kernel,
            keep=keep,
            timeouts=timeouts,
            offline=offline,
            extra_args=extra_args,
            pass_fds=pass_fds,
            memfd_ram=memfd_ram,
            assets=assets,
            read_paths=read_paths,
            binary_paths=binary_paths,
            read_before=read_before,
            after_steps=after_steps,
        )
        if not (result.boot_crash and spec.proxies and len(retries) < PROXY_BOOT_RETRIES):
            break
        retries.append(result.error)
        if keep is None and result.artifacts is not None:
            shutil.rmtree(result.artifacts, ignore_errors=True)
    result.boot_retries = retries
    result.seconds = time.monotonic() - began
    return result


def _run_once(
    scenario: Scenario,
    spec: GuestSpec,
    kernel: str | None,
    *,
    keep: Path | None,
    timeouts: Timeouts | None,
    offline: bool,
    extra_args: Sequence[str],
    pass_fds: Sequence[int],
    memfd_ram: bool,
    assets: GuestAssets | None,
    read_paths: Sequence[str],
    binary_paths: Sequence[str],
    read_before: Sequence[str],
    after_steps: Callable[[GuestSession], object] | None,
) -> LiveResult:
    kernel = kernel or spec.kernels[0]
    began = time.monotonic()
    result = LiveResult(scenario, kernel)
    artifacts = Artifacts(f"{scenario.name}-{kernel}", keep)
    session: GuestSession | None = None
    asked_guest = False
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        timeouts = timeouts or Timeouts.from_environment()
        assets = assets or guest_assets(kernel, offline=offline)
        result.kernel_package, result.kernel_release = assets.kernel_package, assets.kernel_release
        accelerator = choose_accelerator(assets)
        result.accel, result.accel_reason = accelerator.name, accelerator.reason
        with contextlib.ExitStack() as stack:
            proxied = stack.enter_context(_proxied(spec))
            launch = build_launch(
                spec,
                assets,
                artifacts.path,
                accel=accelerator.name,
                extra_args=extra_args,
                memfd_ram=memfd_ram,
                proxy_fds=proxied.fds if proxied is not None else None,
            )
            own_fds = proxied.pass_fds if proxied is not None else ()
            session = GuestSession(launch, artifacts.path, timeouts=timeouts, pass_fds=(*pass_fds, *own_fds))
            stack.callback(_proxy_outcome, proxied, result, artifacts.path)
            stack.enter_context(session)
            if proxied is not None:
                proxied.started()
            session.boot()
            _setup(session, spec, assets)
            session.console.mark("setup")
            asked_guest = True
            if read_before:
                result.values_before = session.read_values(read_before, binary_paths)
            _run_steps(session, scenario, spec, result)
            if after_steps is not None:
                after_steps(session)
            session.console.mark("steps")
            # What the guest printed up to here; the transfers that follow are base64 data.
            result.console_tail = session.tail(TAIL_LINES)
            _judge_guest(session, scenario, result, artifacts, read_paths=read_paths, binary_paths=binary_paths)
            session.console.mark("judged")
            if result.failures or keep is not None:
                session.snapshot(artifacts.path / "guest-sysfs")
                session.console.mark("snapshot")
            session.poweroff()
            session.console.mark("poweroff")
        result.status = FAIL if result.failures else PASS
    except GuestCrash as error:
        result.status = FAIL
        result.error, result.error_report = str(error), error.report(TAIL_LINES)
    except ConsoleError as error:
        result.status = FAIL if asked_guest else INFRA_ERROR
        result.error, result.error_report = str(error), error.report(TAIL_LINES)
        result.boot_crash = (
            isinstance(error, ConsoleEOF)
            and not asked_guest
            and session is not None
            and session.process.poll() == -signal.SIGSEGV
        )
        if asked_guest and result.steps and result.steps[-1].status is None:
            step = result.steps[-1].step
            result.failures.append(
                Failure(
                    "guest step",
                    f"{step.describe()}: finishes",
                    f"within {timeouts(step.timeout) if timeouts else step.timeout:.0f} s",
                    f"{error.what} after {error.waited:.1f} s",
                    [],
                    step.line,
                )
            )
    except LiveError as error:
        result.status = FAIL if asked_guest else INFRA_ERROR
        result.error = str(error)
    except KeyboardInterrupt:
        result.error = "interrupted"
        raise
    finally:
        if result.proxy_failure:
            result.status = INFRA_ERROR
            result.error = "; ".join(item for item in (result.proxy_failure, result.error) if item)
        if session is not None:
            session.close()
            children = resource.getrusage(resource.RUSAGE_CHILDREN)
            result.qemu_cpu_seconds = (children.ru_utime - children_before.ru_utime) + (
                children.ru_stime - children_before.ru_stime
            )
            result.marks = session.marks
            result.kernel_release = session.kernel_release or result.kernel_release
            if result.status != PASS and not result.console_tail:
                result.console_tail = session.tail(TAIL_LINES)
        result.seconds = time.monotonic() - began
        (artifacts.path / "result.json").write_text(json.dumps(result.to_json(), indent=1) + "\n")
        # An interrupted run leaves nothing behind unless asked to (--keep).
        result.artifacts = artifacts.finish(keep=result.status != PASS and result.error != "interrupted")
    return result


def live_kernels(scenario: Scenario, asked: Sequence[str] = ()) -> list[str]:
    """The kernels to run a scenario on: those asked for, else the scenario's own list."""
    return list(asked) or list(GuestSpec.from_scenario(scenario).kernels)
