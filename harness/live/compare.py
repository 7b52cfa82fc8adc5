"""The oracle: a live guest's kernel against its simulated counterpart, line by line and value by
value (``vfiolab live compare``).

What is compared, for the devices in scope (every proxied device and the port above it):

- the kernel log at boot and during the steps: the messages that name a device in scope, in
  order (``difflib`` alignment of their texts). Messages of subsystems the simulated kernel
  does not model are listed as *outside the model*, with the reason, and do not count (resource
  assignment, PCIe port services, MPS tuning, the ahci driver's own lines; see
  :data:`OUTSIDE_THE_MODEL`);
- the time between consecutive matched messages of the steps: the guest's gap must lie in the
  window the simulated kernel's sleep schedule allows for it (fakesys.clock windows, within one
  kernel call), widened by :data:`EXECUTION_ALLOWANCE_US` for the code between sleeps that the
  model does not time;
- each step's exit status;
- sysfs values after the steps: ``reset_method``, ``power_state``, the IOMMU group, link speed
  and width, the bound driver, and each proxied device's ``config`` bytes; and the ``config``
  bytes before the steps too (healthy devices), with what firmware and the kernel assign
  masked (:func:`masked_config`).

Everything here is data in, table out; :func:`run_comparison` runs both sides (the simulated one
through :mod:`harness.live.proxy.counterpart`, imported only then).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.live.session import KMSG_PREFIX, STEPS_BEGIN
from harness.live.steps import PCI_DEVICES
from harness.pci import regs
from harness.pci.config import ConfigSpace

if TYPE_CHECKING:
    from pathlib import Path

    from harness.live.proxy.counterpart import SimulatedRun
    from harness.live.runner import LiveResult
    from harness.live.spec import GuestSpec
    from harness.pci.address import Bdf
    from harness.scenario.loader import Scenario

#: Messages of code the simulated kernel does not model: (pattern on the text after
#: ``driver BDF: ``, why it is outside).
OUTSIDE_THE_MODEL: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), reason)
    for pattern, reason in (
        (
            r"^(BAR \d+[ :]|ROM \[|bridge window|PCI bridge to|  bridge window|reg 0x[0-9a-f]+:)",
            "resource assignment (firmware's and the kernel's allocator)",
        ),
        (r"^Max Payload Size set", "MPS tuning (drivers/pci/probe.c pci_configure_mps)"),
        (r"^(PME|AER|DPC|pciehp|bwctrl|PTM): |^Signaling PME", "PCIe port services (drivers/pci/pcie)"),
        (r"^PME# supported", "PM capability probe (drivers/pci/pci.c pci_pm_init)"),
        (r"^enabling device \(", "pci_enable_resources' message"),
        (
            r"^(version \d|SSS flag set|AHCI |flags: |\d+/\d+ ports implemented|controller can't do)",
            "the ahci driver's own messages (drivers/ata); fakesys models the PCI core",
        ),
    )
)
#: Time the model does not count, per gap: the code between sleeps (config accesses through the
#: proxy cost about 0.25 ms each under TCG: a pci_restore_state of a dead device, 120 accesses
#: and 60 mdelay(1), took 84-90 ms against the schedule's 60), printk, wake-up, and the host: a
#: TCG guest's clock is the host's, so a vCPU thread the host does not run for a while shows as
#: a longer gap (on this 2-core host shared with other work: up to 105 ms past the schedule's
#: window in one run, 0 in the next with the same steps).
EXECUTION_ALLOWANCE_US = 150_000
#: sysfs files compared for each device in scope; ``config`` of proxied devices too (as bytes).
VALUE_FILES = ("reset_method", "power_state", "iommu_group", "driver", "current_link_speed", "current_link_width")
_DEVICE_LINE = re.compile(r"^(?P<driver>\S+) (?P<bdf>[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]): (?P<text>.*)$")
SAME, GUEST_ONLY, SIMULATED_ONLY, OUTSIDE = "same", "guest only", "simulated only", "outside the model"


@dataclass(frozen=True)
class LogRow:
    verdict: str
    guest: str = ""
    simulated: str = ""
    #: For a matched message: the guest's gap to the previous matched one (µs), the window the
    #: simulated schedule allows (None: another kernel call, not timed) and whether it fits.
    guest_gap_us: int | None = None
    window_us: tuple[int, int] | None = None
    gap_fits: bool | None = None
    reason: str = ""


@dataclass(frozen=True)
class ValueRow:
    path: str
    guest: str | None
    simulated: str | None
    #: "before the steps" or "after the steps".
    when: str = "after the steps"

    @property
    def same(self) -> bool:
        return self.guest == self.simulated


@dataclass(frozen=True)
class StepRow:
    step: str
    guest: int | None
    simulated: int | None

    @property
    def same(self) -> bool:
        return self.simulated is None or self.guest == self.simulated


@dataclass
class Comparison:
    """A live run against its counterpart on one kernel."""

    scenario: str
    kernel: str
    scope: dict[str, str]
    boot: list[LogRow] = field(default_factory=list)
    steps: list[LogRow] = field(default_factory=list)
    #: The guest's messages about the devices in scope that the simulated kernel does not model.
    outside: list[LogRow] = field(default_factory=list)
    statuses: list[StepRow] = field(default_factory=list)
    values: list[ValueRow] = field(default_factory=list)
    live_status: str = ""
    live_seconds: float = 0.0

    def disagreements(self) -> list[str]:
        """One line per disagreement (empty when the two kernels agree)."""
        found: list[str] = []
        for part, rows in (("boot", self.boot), ("steps", self.steps)):
            for row in rows:
                if row.verdict in (GUEST_ONLY, SIMULATED_ONLY):
                    found.append(f"{part}: {row.verdict}: {row.guest or row.simulated}")
                elif row.gap_fits is False:
                    low, high = row.window_us or (0, 0)
                    found.append(
                        f"{part}: gap before {row.guest!r}: guest {_ms(row.guest_gap_us)}, "
                        f"schedule {_ms(low)}..{_ms(high)} (+{_ms(EXECUTION_ALLOWANCE_US)})"
                    )
        found += [
            f"step status: {row.step}: guest {row.guest}, simulated {row.simulated}"
            for row in self.statuses
            if not row.same
        ]
        found += [
            f"sysfs {row.path}: guest {row.guest!r}, simulated {row.simulated!r}" for row in self.values if not row.same
        ]
        return found

    @property
    def agrees(self) -> bool:
        return not self.disagreements()

    def table(self) -> str:
        """The agreement table, for people."""
        lines = [
            f"{self.scenario} on guest kernel {self.kernel} (live run {self.live_status}, {self.live_seconds:.1f} s)"
        ]
        lines.append("scope: " + ", ".join(f"{name} {bdf}" for name, bdf in self.scope.items()))
        for title, rows in (("kernel log at boot", self.boot), ("kernel log during the steps", self.steps)):
            lines.append(f"{title}:")
            lines += [_log_row(row) for row in rows] or ["  (no messages about the devices in scope)"]
        reasons: dict[str, int] = {}
        for row in self.outside:
            reasons[row.reason] = reasons.get(row.reason, 0) + 1
        lines.append("messages outside the model (not compared):")
        lines += [f"  ~ {count} x {reason}" for reason, count in reasons.items()] or ["  (none)"]
        lines.append("step exit status (guest / simulated):")
        for step in self.statuses:
            simulated = "-" if step.simulated is None else step.simulated
            lines.append(f"  {'=' if step.same else '!'} {step.step}: {step.guest} / {simulated}")
        for when in ("before the steps", "after the steps"):
            values = [value for value in self.values if value.when == when]
            if values:
                lines.append(f"sysfs {when} (guest / simulated):")
            for value in values:
                if value.same:
                    lines.append(f"  = {value.path}: {_short(value.guest)}")
                else:
                    lines.append(f"  ! {value.path}: {_short(value.guest)} / {_short(value.simulated)}")
        problems = self.disagreements()
        lines.append(f"{len(problems)} disagreement{'s' if len(problems) != 1 else ''}" + (":" if problems else ""))
        lines += [f"  {problem}" for problem in problems]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "kernel": self.kernel,
            "agrees": self.agrees,
            "disagreements": self.disagreements(),
            "live_status": self.live_status,
            "live_seconds": round(self.live_seconds, 3),
        }


def _ms(microseconds: int | None) -> str:
    return "-" if microseconds is None else f"{microseconds / 1000:.1f} ms"


def _short(value: str | None) -> str:
    if value is None:
        return "(absent)"
    return value if len(value) <= 60 else f"{value[:48]}... ({len(value.split())} bytes)"


def _log_row(row: LogRow) -> str:
    if row.verdict == SAME:
        timing = ""
        if row.guest_gap_us is not None:
            if row.window_us is None:
                timing = f"   (+{_ms(row.guest_gap_us)}, another kernel call)"
            else:
                low, high = row.window_us
                mark = "ok" if row.gap_fits else "OUTSIDE"
                timing = f"   (+{_ms(row.guest_gap_us)}; schedule {_ms(low)}..{_ms(high)}: {mark})"
        return f"  = {row.guest}{timing}"
    return f"  ! {row.verdict}: {row.guest or row.simulated}"


def outside_reason(text: str) -> str:
    """Why a message is outside the model ("" when it is inside)."""
    match = _DEVICE_LINE.match(text)
    message = match["text"] if match else text
    return next((reason for pattern, reason in OUTSIDE_THE_MODEL if pattern.search(message)), "")


def in_scope(text: str, scope: Sequence[str]) -> bool:
    return any(bdf in text for bdf in scope)


@dataclass(frozen=True)
class _Message:
    text: str
    stamp_us: int
    window_us: tuple[int, int] | None = None


def align(
    guest: Sequence[_Message], simulated: Sequence[_Message], scope: Sequence[str], timed: bool
) -> tuple[list[LogRow], list[LogRow]]:
    """(the in-scope messages of both logs aligned, with gaps checked when ``timed``; the
    guest's in-scope messages outside the model)."""
    guest_kept = [line for line in guest if in_scope(line.text, scope)]
    outside = [LogRow(OUTSIDE, guest=line.text, reason=outside_reason(line.text)) for line in guest_kept]
    outside = [row for row in outside if row.reason]
    guest_inside = [line for line in guest_kept if not outside_reason(line.text)]
    simulated_inside = [line for line in simulated if in_scope(line.text, scope) and not outside_reason(line.text)]
    matcher = difflib.SequenceMatcher(
        a=[line.text for line in guest_inside], b=[line.text for line in simulated_inside], autojunk=False
    )
    rows: list[LogRow] = []
    previous: _Message | None = None
    for tag, a1, a2, b1, b2 in matcher.get_opcodes():
        if tag != "equal":
            rows += [LogRow(GUEST_ONLY, guest=line.text) for line in guest_inside[a1:a2]]
            rows += [LogRow(SIMULATED_ONLY, simulated=line.text) for line in simulated_inside[b1:b2]]
            previous = None
            continue
        for guest_line, simulated_line in zip(guest_inside[a1:a2], simulated_inside[b1:b2], strict=True):
            gap = guest_line.stamp_us - previous.stamp_us if timed and previous is not None else None
            window = simulated_line.window_us if gap is not None else None
            fits = None if window is None or gap is None else window[0] <= gap <= window[1] + EXECUTION_ALLOWANCE_US
            rows.append(LogRow(SAME, guest_line.text, simulated_line.text, gap, window, fits))
            previous = guest_line
    return rows, outside


#: Config bits that firmware and the kernel set rather than the device, by offset: the BARs, the
#: ROM BAR and the interrupt line (the guest's firmware and kernel pick other addresses and
#: routes than the model's), Command.SERR (SeaBIOS sets it, pci_bios_init_device), and
#: DevCtl's Max Payload Size in the Express capability (the guest kernel sets it to its
#: port's, pci_configure_mps, which fakesys's kernel does not model); and MSI's address and
#: data (the interrupt the kernel allocates when a driver enables MSI).
ASSIGNED_BITS: dict[int, int] = {
    **dict.fromkeys((*range(0x10, 0x28), *range(0x30, 0x34), 0x3C), 0xFF),
    0x05: 0x01,
}
EXPRESS_DEVCTL = 0x08
DEVCTL_PAYLOAD = 0xE0


def masked_config(text: str | None) -> str | None:
    """Config bytes (hex, as read) without what firmware and the kernel set
    (:data:`ASSIGNED_BITS`): a whole byte so set reads ``..``, a partly set one shows the
    device's bits only."""
    if text is None:
        return None
    data = bytes.fromhex(text)
    masks = dict(ASSIGNED_BITS)
    space = ConfigSpace(data)
    if len(data) >= 0x40 and not space.dead:
        express = space.find(regs.CAP_EXPRESS)
        if express is not None:
            masks[express.offset + EXPRESS_DEVCTL] = DEVCTL_PAYLOAD
        msi = space.find(regs.CAP_MSI)
        if msi is not None:
            end = msi.offset + (14 if regs.read_register(data, msi.offset + 2, 2) & 0x80 else 10)
            masks.update(dict.fromkeys(range(msi.offset + 4, end), 0xFF))
    return " ".join(
        ".." if masks.get(offset) == 0xFF else f"{byte & ~masks.get(offset, 0) & 0xFF:02x}"
        for offset, byte in enumerate(data)
    )


def scope_of(spec: GuestSpec, addresses: dict[str, Bdf]) -> dict[str, str]:
    """The devices compared: each proxied device and the port or bridge above it."""
    scope: dict[str, str] = {}
    for device in spec.proxies:
        if device.bus not in (None, "pcie.0"):
            scope[device.bus] = str(addresses[device.bus])
        scope[device.id] = str(addresses[device.id])
    return dict(sorted(scope.items(), key=lambda item: item[1]))


def value_paths(spec: GuestSpec, addresses: dict[str, Bdf]) -> tuple[list[str], list[str]]:
    """(every sysfs path compared after the steps, the binary ones: the proxied devices'
    ``config``, which is also compared before the steps)."""
    paths: list[str] = []
    binary: list[str] = []
    proxied = {device.id for device in spec.proxies}
    for name, bdf in scope_of(spec, addresses).items():
        paths += [f"{PCI_DEVICES}/{bdf}/{item}" for item in VALUE_FILES]
        if name in proxied:
            binary.append(f"{PCI_DEVICES}/{bdf}/config")
    return paths + binary, binary


def compare(live: LiveResult, simulated: SimulatedRun, spec: GuestSpec) -> Comparison:
    scope = scope_of(spec, simulated.addresses)
    bdfs = list(scope.values())
    marker = next((index for index, (_, text) in enumerate(live.dmesg) if text == STEPS_BEGIN), len(live.dmesg))
    guest_boot = [_Message(text, stamp) for stamp, text in live.dmesg[:marker] if not text.startswith(KMSG_PREFIX)]
    guest_steps = [
        _Message(text, stamp) for stamp, text in live.dmesg[marker + 1 :] if not text.startswith(KMSG_PREFIX)
    ]
    result = Comparison(live.scenario.name, live.kernel, scope, live_status=live.status, live_seconds=live.seconds)
    result.boot, outside_boot = align(
        guest_boot, [_Message(r.text, r.timestamp_us) for r in simulated.boot], bdfs, timed=False
    )
    result.steps, outside_steps = align(
        guest_steps, [_Message(r.text, r.timestamp_us, r.window_us) for r in simulated.steps_log], bdfs, timed=True
    )
    result.outside = outside_boot + outside_steps
    outcomes = {outcome.step.index: outcome.status for outcome in live.steps}
    result.statuses = [
        StepRow(step.step.describe(), outcomes.get(step.step.index), step.status) for step in simulated.steps
    ]
    result.values = [
        ValueRow(
            path,
            masked_config(live.values_before.get(path)),
            masked_config(simulated.values_before.get(path)),
            "before the steps",
        )
        for path in live.values_before
    ]
    result.values += [ValueRow(path, live.values.get(path), simulated.values.get(path)) for path in live.values]
    return result


def run_comparison(
    scenario: Scenario, kernel: str, *, keep: Path | None = None, offline: bool = False, **options: Any
) -> tuple[Comparison, LiveResult]:
    """Run ``scenario``'s guest live on ``kernel`` and its counterpart, and compare them. Raises
    :class:`~harness.live.proxy.counterpart.NoCounterpart` when the guest has none."""
    from harness.live.proxy.counterpart import counterpart_host, run_counterpart
    from harness.live.runner import run_live
    from harness.live.spec import GuestSpec

    spec = GuestSpec.from_scenario(scenario)
    _, addresses = counterpart_host(spec, kernel)
    paths, binary = value_paths(spec, addresses)
    live = run_live(
        scenario,
        kernel,
        keep=keep,
        offline=offline,
        read_paths=paths,
        binary_paths=binary,
        read_before=binary,
        **options,
    )
    simulated = run_counterpart(spec, kernel, paths, binary, read_before=binary)
    return compare(live, simulated, spec), live
