"""Checking an import before it is written: the files load, encode back, and boot as captured.

The scenario and its devices are written to a temporary directory and the scenario is loaded as a
user's ``vfiolab scenario run`` will load it (schema, names, topology, device search path). The
device files are not parsed and encoded again: the device library is given the data each was
written from and its encoding (:func:`fakesys.hw.library.preload`); that the texts parse back to
that data is what the tests check on the corpus. Then:

1. every device file's encoding is compared with what it was built from
   (:func:`harness.scenario.importer.devices.verify`); a difference is a bug, never the input's;
2. the host is booted in the simulated kernel (:class:`fakesys.kernel.kernel.FakeKernel`) and the
   captured kernel log loses the lines that kernel writes itself at boot (it writes its own:
   version, command line, IOMMU group adds ...), so the imported log holds each line once;
3. the IOMMU groups the simulated kernel computes are compared with the captured ones: where the
   members agree and only the number differs, the captured number is pinned (``iommu_group:``);
   where the members differ, the simulated kernel's groups stay and the difference is an
   assumption of the import;
4. for a captured root, the power state and IRQ of each function are compared and pinned where
   the simulated boot differs (``power:``, ``irq:``/``gsi:``), and what still differs (config
   bytes the simulated drivers program otherwise, reset methods) is noted.

The files live in one staging directory for the whole check; a file is rewritten only when its
text changed, so the device library's cache (keyed by file, modification time and size) encodes
each device file once however often the scenario is loaded again, and texts that did not change
since the last load are not loaded again. The host is booted a second time only when pins changed
it, and the final files are loaded once more at the end when they changed.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fakesys.errors import FakesysError
from fakesys.hw import library
from fakesys.kernel.kernel import FakeKernel
from fakesys.source import Document
from harness.scenario.importer import devices
from harness.scenario.importer.dmesg import BOOT_LINES, LOG_BUDGET, LogEntry
from harness.scenario.importer.model import DeviceFile, HostDraft, short_bdf
from harness.scenario.loader import Scenario, load_scenario

#: Lines of a log worth keeping when the log is over budget: they name a PCI function, or report
#: an error (the checker's kernel-log check looks for these).
_KEEP_WORDS = ("error", "fail", "fault", "warn", "not ready", "unable", "inaccessible", "link", "reset")


class StageError(Exception):
    """The import's own output does not load or encode back: a bug in vfiolab."""


Render = Callable[[HostDraft], dict[str, str]]


class Staging:
    """A staging directory: :meth:`load` writes the files that changed and loads the scenario as
    a user's ``vfiolab scenario run`` would."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.directory = Path(tempfile.mkdtemp(prefix="vfiolab-import-"))
        self.written: dict[str, str] = {}
        self.loaded: Scenario | None = None

    def load(self, files: dict[str, str], made: Sequence[DeviceFile] = ()) -> Scenario:
        """Write the files that changed and load the scenario; the device files of ``made`` are
        given to the device library with the data they were written from (see the module
        docstring)."""
        changed = self.loaded is None
        made_from = {f"devices/{device.name}.yaml": device for device in made}
        for relative, text in files.items():
            if self.written.get(relative) == text:
                continue
            target = self.directory / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            self.written[relative] = text
            changed = True
            device = made_from.get(relative)
            if device is not None:
                self.preload(target, device)
        if changed or self.loaded is None:
            # The same texts loaded before load the same: each is loaded once.
            self.loaded = load_scenario(str(self.directory / f"{self.name}.yaml"))
        return self.loaded

    def preload(self, target: Path, device: DeviceFile) -> None:
        """The device library takes the data ``target`` was just written from, encoded, as the
        file's contents: the texts are not parsed and encoded again (the dumper's round trip is
        checked by the tests, on every import of the corpus)."""
        document = Document(devices.file_data(device), str(target))
        library.preload(target, (self.directory / "devices",), document, devices.staged_model(device, str(target)))

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


@contextmanager
def staging(name: str) -> Iterator[Staging]:
    staged = Staging(name)
    try:
        yield staged
    finally:
        staged.remove()


def verify_devices(draft: HostDraft, files: dict[str, str], scenario: Scenario | None = None) -> list[str]:
    """What differs between each device file and what it was built from; with ``scenario`` (the
    staged files loaded) its encoded models are compared instead of encoding the files again."""
    models = {spec.device_name: spec.model for spec in scenario.host.functions} if scenario is not None else {}
    problems = []
    for device in draft.devices:
        text = files[f"devices/{device.name}.yaml"]
        for problem in devices.verify(device, text, device.facts, models.get(device.name)):
            problems.append(f"devices/{device.name}.yaml ({', '.join(device.functions)}): {problem}")
    return problems


def filter_log(draft: HostDraft, kernel: FakeKernel) -> None:
    """The captured log without the lines the simulated kernel writes at boot, within budget."""
    own = Counter(record.text for record in kernel.log.records)
    kept: list[LogEntry] = []
    dropped = 0
    seen: set[tuple[int | None, str]] = set()
    for _, entry in draft.log:
        if own[entry.text] > 0:
            own[entry.text] -= 1
            dropped += 1
            continue
        if BOOT_LINES.match(entry.text):
            dropped += 1
            continue
        key = (entry.time_us, entry.text)
        if key in seen:
            continue  # the same line from two sources
        seen.add(key)
        kept.append(entry)
    lines = [entry.formatted() for entry in kept]
    if sum(len(line) + 1 for line in lines) > LOG_BUDGET:
        before = len(lines)
        lines = [line for line in lines if _worth_keeping(line)]
        while lines and sum(len(line) + 1 for line in lines) > LOG_BUDGET:
            lines.pop()
        draft.note(
            "kernel log", f"{before - len(lines)} of {before} lines left out (the log is kept up to {LOG_BUDGET} bytes)"
        )
    if dropped:
        draft.note("kernel log", f"{dropped} lines the simulated kernel writes itself at boot are not repeated")
    kernel_section = draft.host.setdefault("kernel", {})
    if lines:
        kernel_section["log"] = lines
    else:
        kernel_section.pop("log", None)


def _worth_keeping(line: str) -> bool:
    lowered = line.lower()
    return any(word in lowered for word in _KEEP_WORDS) or " 0000:" in line


def computed_groups(kernel: FakeKernel) -> dict[int, list[str]]:
    groups: dict[int, list[str]] = {}
    for dev in kernel.present:
        if dev.iommu_group is not None:
            groups.setdefault(dev.iommu_group, []).append(str(dev.bdf))
    return groups


def compare_groups(draft: HostDraft, kernel: FakeKernel) -> tuple[dict[str, int], list[str]]:
    """Pins that make the simulated numbering the captured one, and the comparison in words."""
    present = {str(dev.bdf) for dev in kernel.present}
    computed = computed_groups(kernel)
    group_of = {member: number for number, members in computed.items() for member in members}
    pins: dict[str, int] = {}
    lines: list[str] = []
    same = 0
    captured_members: set[str] = set()
    for number, members in sorted(draft.captured_groups.items()):
        members = sorted({member for member in members if member in present})
        if not members:
            continue
        captured_members.update(members)
        found = {group_of.get(member) for member in members}
        only = next(iter(found)) if len(found) == 1 else None
        simulated = sorted(computed.get(only, [])) if only is not None else []
        if simulated == members:
            same += 1
            if group_of[members[0]] != number:
                pins[members[0]] = number
            continue
        split = ", ".join(
            f"{{{', '.join(short_bdf(m) for m in sorted(computed[g]))}}}" if g is not None else f"{{none: {member}}}"
            for member, g in sorted({(m, group_of.get(m)) for m in members}, key=lambda item: item[0])
        )
        draft.assume(
            f"IOMMU group {number}",
            "members",
            f"as the simulated kernel computes them: {split}",
            f"the source shows the group as {{{', '.join(short_bdf(member) for member in members)}}}; the "
            "simulated kernel's ACS and alias rules group these functions otherwise",
        )
        lines.append(f"group {number}: captured {{{', '.join(short_bdf(m) for m in members)}}}, simulated {split}")
    if draft.captured_groups:
        extra = sorted(set(group_of) - captured_members)
        for member in extra:
            draft.note(
                short_bdf(member),
                f"the simulated kernel puts it in IOMMU group {group_of[member]}; the source shows it in none",
            )
        total = len([1 for members in draft.captured_groups.values() if any(m in present for m in members)])
        lines.insert(0, f"the simulated kernel forms {same} of the {total} captured groups with the same members")
        if pins:
            lines.append(f"numbers pinned to the captured ones for {len(pins)} group(s) (iommu_group:)")
    elif computed:
        lines.append(f"the sources show no groups; the simulated kernel forms {len(computed)}")
    return pins, lines


def compare_state(draft: HostDraft, kernel: FakeKernel) -> dict[str, dict[str, Any]]:
    """For a captured root: pins for power states and IRQs the simulated boot gives otherwise."""
    pins: dict[str, dict[str, Any]] = {}
    for dev in kernel.present:
        bdf = str(dev.bdf)
        power = draft.captured_power.get(bdf)
        if power in ("D0", "D3hot", "D3cold") and dev.current_state != power:
            pins.setdefault(bdf, {})["power"] = power
        elif power is not None and power != dev.current_state:
            draft.note(short_bdf(bdf), f"power state: captured {power}, the simulated kernel shows {dev.current_state}")
        irq = draft.captured_irq.get(bdf)
        if irq is not None and irq != dev.irq:
            routed = dev.enable_count > 0 and not dev.msi_irqs and dev.irq == kernel.interrupt_route(dev)
            pins.setdefault(bdf, {})["gsi" if routed else "irq"] = irq
    return pins


def compare_after_boot(draft: HostDraft, kernel: FakeKernel) -> None:
    """What still differs once the imported host is booted: config bytes, reset methods, drivers."""
    for dev in kernel.present:
        bdf = str(dev.bdf)
        captured = draft.captured_config.get(bdf)
        if captured is not None:
            live = dev.device.read_block()[: len(captured)]
            offsets = [offset for offset in range(min(len(live), len(captured))) if live[offset] != captured[offset]]
            if offsets:
                shown = ", ".join(f"{offset:#x}" for offset in offsets[:6]) + (" ..." if len(offsets) > 6 else "")
                draft.note(
                    short_bdf(bdf),
                    f"after the simulated boot {len(offsets)} config byte(s) differ from the capture (at {shown}): "
                    "what its drivers and the kernel program there",
                )
        methods = draft.captured_reset.get(bdf)
        if methods is not None and kernel.profile.has_reset_method and methods != dev.reset_methods:
            draft.note(
                short_bdf(bdf),
                f"reset methods: captured {' '.join(methods) or '(none)'}, the simulated kernel finds "
                f"{' '.join(dev.reset_methods) or '(none)'}",
            )


def _apply_pins(draft: HostDraft, pins: dict[str, dict[str, Any]]) -> None:
    for entry in draft.host.get("pci", []):
        wanted = pins.get(str(_full(entry["bdf"])))
        if wanted:
            entry.update(wanted)


def _full(bdf: str) -> str:
    return bdf if bdf.count(":") == 2 else f"0000:{bdf}"


def stage(draft: HostDraft, name: str, render: Render) -> dict[str, str]:
    """Verify the import (see the module docstring) and return the texts to write."""
    with staging(name) as staged:
        files = render(draft)
        scenario = staged.load(files, draft.devices)
        problems = verify_devices(draft, files, scenario)
        if problems:
            raise StageError("; ".join(problems[:3]))
        kernel = FakeKernel(scenario.host)
        filter_log(draft, kernel)
        group_pins, draft.group_summary = compare_groups(draft, kernel)
        pins: dict[str, dict[str, Any]] = {bdf: {"iommu_group": number} for bdf, number in group_pins.items()}
        for bdf, state in compare_state(draft, kernel).items():
            pins.setdefault(bdf, {}).update(state)
        if pins:
            _apply_pins(draft, pins)
            try:
                kernel = FakeKernel(staged.load(render(draft), draft.devices).host)
            except FakesysError as error:
                if not group_pins:
                    raise
                for entry in draft.host.get("pci", []):
                    entry.pop("iommu_group", None)
                draft.note(
                    "IOMMU groups", f"the captured numbers could not be pinned ({error}); the simulated ones stay"
                )
                kernel = FakeKernel(staged.load(render(draft), draft.devices).host)
        compare_after_boot(draft, kernel)
        # The log and the comments changed since the last load: the files must load as written.
        files = render(draft)
        staged.load(files, draft.devices)
        return files
