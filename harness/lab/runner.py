"""One lab run: for each planned device, check that the host matches the plan, predict with the
checker, and (with ``act``) bind it to vfio-pci, exercise each step through the kernel's own
interfaces, observe, restore the original binding, and compare prediction with outcome.

Phases per device: ``bind``, then per step the step itself (``vm-start``, ``function-reset``),
for ``vm-start`` the VFIO cycle's ``open`` and ``reset``, then ``read-back`` (config space and
the kernel log read back), and finally ``restore``. Every binding change is in the restore
journal before it is made; the binding is restored at the end of the device's steps, on any
exception, and on SIGTERM/SIGINT, which are only noted when they arrive and acted on at the next
phase boundary (once the blocking call in progress returns: a hot reset of a dead device blocks
about 65 s).

Test-only: :data:`PAUSE_VARIABLE` (``VFIOLAB_LAB_TEST_PAUSE=PHASE``, read by the CLI) makes a run
wait at the first boundary before PHASE until a signal arrives (at most :data:`PAUSE_SECONDS`),
so that a test on a real kernel can SIGTERM or SIGKILL it exactly there
(``tests/test_live_lab.py``). Unset, it does nothing.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from harness.checker import CheckReport, check_root
from harness.errors import CannotRunError, RefusedError
from harness.lab.journal import Change, RestoreJournal
from harness.lab.kernel import LabKernel, device_file, driver_file
from harness.lab.plan import Plan, PlannedDevice
from harness.lab.predict import Prediction, predict, refusal
from harness.lab.results import FAIL, INFRA_ERROR, PASS, PLANNED, LabRun, StepResult

VFIO_DRIVER = "vfio-pci"
_CONFIG_BYTES = 64
#: The phase boundaries of a run, in the order they come for one device.
PHASES = ("bind", "vm-start", "function-reset", "open", "reset", "read-back", "restore")
#: Test-only: the environment variable naming the phase a run pauses at (see the module's text).
PAUSE_VARIABLE = "VFIOLAB_LAB_TEST_PAUSE"
PAUSE_SECONDS = 300.0


class LabInterrupted(Exception):
    """SIGTERM or SIGINT arrived; raised at the next phase boundary."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@dataclass
class Observation:
    survives: bool
    outcome: str
    evidence: list[str] = field(default_factory=list)
    #: False: VFIO could not open the device (nothing was exercised).
    opened: bool = True
    #: The sysfs reset failed because the kernel has no reset method for the device.
    reset_missing: bool = False


def refuse_real_root(root: Path, act: bool) -> None:
    """Acting on the running system's own root needs root privileges and ``--yes``."""
    if act and Path(os.path.realpath(root)) == Path("/") and os.geteuid() != 0:
        raise RefusedError("lab run --yes on / changes this host's drivers and resets its devices: run it as root")


class LabRunner:
    """Runs ``plan`` on ``kernel``. ``emit`` gets each line the user sees (stderr in the CLI);
    ``on_phase`` is called at every phase boundary with (address, phase) before the phase;
    ``pause_at`` (test-only, see the module's text) names a phase to wait at for a signal."""

    def __init__(
        self,
        plan: Plan,
        kernel: LabKernel,
        journal: RestoreJournal,
        *,
        act: bool,
        emit: Callable[[str], object] = print,
        on_phase: Callable[[str, str], object] | None = None,
        pause_at: str | None = None,
    ) -> None:
        self.plan = plan
        self.kernel = kernel
        self.journal = journal
        self.act = act
        self.emit = emit
        self.on_phase = on_phase
        self.pause_at = pause_at
        self._signal: int | None = None
        #: The checker's report of the host the prediction came from (set by :meth:`run`).
        self.report: CheckReport | None = None

    def _note_signal(self, signum: int, frame: FrameType | None) -> None:
        self._signal = signum
        self.emit(f"lab: {signal.Signals(signum).name} received: restoring after the current call returns")

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        try:
            previous = {number: signal.signal(number, self._note_signal) for number in (signal.SIGTERM, signal.SIGINT)}
        except ValueError:  # not the main thread: the caller handles signals
            yield
            return
        try:
            yield
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)

    def _phase(self, address: str, phase: str) -> None:
        if self.on_phase is not None:
            self.on_phase(address, phase)
        if phase == self.pause_at:
            self.pause_at = None
            self._pause(address, phase)
        if self._signal is not None:
            raise LabInterrupted(self._signal)

    def _pause(self, address: str, phase: str) -> None:
        """The test-only pause: wait for a signal before ``phase`` (bounded)."""
        self.emit(f"lab: {PAUSE_VARIABLE}: paused before {phase} of {address}; waiting for a signal")
        deadline = time.monotonic() + PAUSE_SECONDS
        while self._signal is None and time.monotonic() < deadline:
            time.sleep(0.05)

    def run(self) -> LabRun:
        refuse_real_root(self.kernel.root, self.act)
        report = self.report = check_root(self.kernel.root)
        run = LabRun(self.plan.name, str(self.kernel.root), report.view.kernel_release or "unknown", self.act)
        self.emit(f"lab: plan {self.plan.name} on {self.kernel.root} (kernel {run.kernel_release})")
        if not self.act:
            self.emit("lab: dry run: nothing is written; --yes acts")
            for device in self.plan.devices:
                self._device(report, device, run.steps)
            return run
        with self._signals(), self.journal.locked():
            if self.journal.changes:
                left = ", ".join(change.address for change in self.journal.changes)
                raise CannotRunError(
                    f"the restore journal {self.journal.path} holds changes an earlier run left ({left}): "
                    "run vfiolab lab restore first"
                )
            try:
                for device in self.plan.devices:
                    self._device(report, device, run.steps)
            except LabInterrupted as interrupted:
                run.interrupted = True
                self.emit(f"lab: interrupted by {interrupted}; restoring every binding the run changed")
            finally:
                for result in self.journal.restore(self.kernel):
                    self.emit(f"lab: restore: {result.detail}")
                    if not result.restored:
                        run.not_restored.append(result.detail)
        return run

    def _device(self, report: CheckReport, device: PlannedDevice, out: list[StepResult]) -> None:
        """Append the device's results to ``out`` as they come (so an interrupted run reports
        the steps that ran)."""
        address = device.address
        self.emit(f"lab: {address} ({device.name}, expected {device.ids})")

        def results(classification: str, reason: str, prediction: Prediction | None = None) -> list[StepResult]:
            return [
                StepResult(
                    address,
                    device.name,
                    device.ids,
                    step,
                    classification,
                    prediction.describe(step) if prediction else "",
                    reason=reason,
                    prediction_evidence=prediction.evidence if prediction else [],
                    predicted_survives=prediction.survives(step) if prediction else None,
                )
                for step in device.steps
            ]

        mismatch = _host_mismatch(report, device)
        if mismatch is not None:
            self.emit(f"lab: {address}: infra-error: {mismatch}")
            out += results(INFRA_ERROR, mismatch)
            return
        prediction = predict(report, address, device.survives_override)
        for step in device.steps:
            self.emit(f"lab: {address}: predicted {prediction.describe(step)}")
        refused = refusal(report, address)
        if refused is not None:
            self.emit(f"lab: {address}: refused: {refused}")
            items = results(INFRA_ERROR, f"refused: {refused}", prediction)
            for item in items:
                item.refused = True
            out += items
            return
        driver = self.kernel.driver(address)
        self.emit(
            f"lab: {address}: would write {VFIO_DRIVER} to driver_override, unbind it from {driver or 'no driver'}, "
            f"probe it, run {', '.join(device.steps)}, read config space back, then bind {driver or 'no driver'} again"
            if not self.act
            else f"lab: {address}: binding to {VFIO_DRIVER} (was {driver or 'no driver'})"
        )
        if not self.act:
            out += results(PLANNED, "dry run", prediction)
            return
        try:
            self._exercise(device, prediction, driver, out)
        finally:
            for restored in self.journal.restore(self.kernel, only=address):
                self.emit(f"lab: {address}: restore: {restored.detail}")
                out.append(
                    StepResult(
                        address,
                        device.name,
                        device.ids,
                        "restore",
                        PASS if restored.restored else INFRA_ERROR,
                        f"bound to {driver or 'no driver'} again",
                        restored.detail,
                        reason="" if restored.restored else f"not restored: {restored.detail}",
                    )
                )

    def _bind(self, device: PlannedDevice, driver: str | None) -> str | None:
        """Bind to vfio-pci as a VM start does; the reason it did not work, or None."""
        address = device.address
        override = (self.kernel.read(device_file(address, "driver_override")) or b"").decode(errors="replace").strip()
        self.journal.record(Change(address, driver, None if override in ("", "(null)") else override))
        try:
            self.kernel.write(device_file(address, "driver_override"), VFIO_DRIVER)
            if driver is not None and driver != VFIO_DRIVER:
                self.kernel.write(driver_file(driver, "unbind"), address)
            if self.kernel.driver(address) != VFIO_DRIVER:
                self.kernel.write("sys/bus/pci/drivers_probe", address)
        except OSError as error:
            return f"binding to {VFIO_DRIVER} failed: {error.strerror or error}"
        if self.kernel.driver(address) != VFIO_DRIVER:
            return f"{VFIO_DRIVER} did not bind it (is the vfio-pci module loaded? modprobe vfio-pci)"
        return None

    def _exercise(
        self, device: PlannedDevice, prediction: Prediction, driver: str | None, out: list[StepResult]
    ) -> None:
        address = device.address
        self._phase(address, "bind")
        self.kernel.new_log_lines()
        problem = self._bind(device, driver)
        dead = False
        start = len(out)
        for step in device.steps:
            result = StepResult(
                address,
                device.name,
                device.ids,
                step,
                INFRA_ERROR,
                prediction.describe(step),
                prediction_evidence=prediction.evidence,
                predicted_survives=prediction.survives(step),
            )
            if problem is not None or dead:
                result.reason = problem or "an earlier step left the device dead: it needs a power cycle"
                out.append(result)
                continue
            # A step interrupted before it runs is not reported (the run says it was interrupted).
            self._phase(address, step)
            out.append(result)
            result.reason = "interrupted before the outcome was read"
            observation = self._step(address, step)
            if not observation.opened:
                result.reason = observation.outcome
                result.outcome_evidence = observation.evidence
                continue
            result.reason = ""
            result.outcome = observation.outcome
            result.observed_survives = observation.survives
            result.outcome_evidence = observation.evidence
            result.agree = observation.survives == prediction.survives(step) and _same_reset(
                step, prediction, observation
            )
            result.classification = PASS if result.agree else FAIL
            result.needs_power_cycle = not observation.survives
            dead = not observation.survives
            verdict = "agree" if result.agree else "DISAGREE"
            self.emit(f"lab: {address} {step}: {observation.outcome}; {verdict} -> {result.classification}")
            if dead:
                self.emit(f"lab: {address}: config space reads all-ones: the device needs a power cycle")
        for result in out[start:]:
            if result.classification == INFRA_ERROR:
                self.emit(f"lab: {address} {result.step}: infra-error: {result.reason}")
        self._phase(address, "restore")

    def _step(self, address: str, step: str) -> Observation:
        evidence: list[str] = []
        reset_missing = False
        if step == "vm-start":
            cycle = self.kernel.vfio_cycle(address, lambda phase: self._phase(address, phase))
            evidence += cycle.lines
            if not cycle.opened:
                evidence += [f"vfio: {cycle.error}", *(f"kernel: {line}" for line in self.kernel.new_log_lines())]
                return Observation(True, f"VFIO could not open the device: {cycle.error}", evidence, opened=False)
            if cycle.error:
                evidence.append(f"vfio: {cycle.error}")
            done = "a QEMU reset worked" if cycle.reset_worked else "no QEMU reset worked"
        else:
            try:
                self.kernel.write(device_file(address, "reset"), "1")
                done = "the function reset returned"
            except OSError as error:
                reset_missing = error.errno in (errno.ENOENT, errno.ENOTTY)
                done = f"the function reset failed: {error.strerror or error}"
            evidence.append(f"{device_file(address, 'reset')} <- 1: {done}")
        self._phase(address, "read-back")
        observation = self._observe(address, done, evidence)
        observation.reset_missing = reset_missing
        return observation

    def _observe(self, address: str, done: str, evidence: list[str]) -> Observation:
        config = self.kernel.read(device_file(address, "config"))
        evidence += [f"kernel: {line}" for line in self.kernel.new_log_lines()]
        if config is None or len(config) < 4:
            evidence.append(f"{device_file(address, 'config')}: not readable")
            return Observation(False, f"{done}; the device is gone (config space not readable)", evidence)
        head = config[:_CONFIG_BYTES]
        evidence.append(f"{device_file(address, 'config')}: {head[:16].hex(' ')}")
        if all(byte == 0xFF for byte in head):
            return Observation(False, f"{done}; dead: config space reads all-ones", evidence)
        return Observation(True, f"{done}; survives: config space reads back", evidence)


def _same_reset(step: str, prediction: Prediction, observation: Observation) -> bool:
    """For the sysfs reset: the kernel had no reset method exactly when none was predicted."""
    if step != "function-reset" or prediction.overridden:
        return True
    return (prediction.function_reset is None) == observation.reset_missing


def _host_mismatch(report: CheckReport, device: PlannedDevice) -> str | None:
    found = report.device(device.address)
    if found is None:
        return f"{device.address} is not on this host (moved or removed?); the plan expects {device.ids} there"
    function = found.function
    if (function.vendor, function.device) != (device.vendor, device.device):
        ids = f"{function.vendor or 0:04x}:{function.device or 0:04x}"
        return f"{device.address} is {ids}, the plan expects {device.ids}: a different card is in this slot"
    return None
