"""Kernel command line checks (codes ``cmdline.*``): the IOMMU arguments, invalid or misleading
options, and whether what the bootloader is configured with is what the running kernel booted.

Host-level findings only (``device=None``). The parsing of the command line and of the
bootloader's files lives in :mod:`harness.bootconfig`; this module only judges.
"""

from __future__ import annotations

from collections.abc import Iterator

from harness.bootconfig import (
    BootConfig,
    Bootloader,
    KernelArg,
    find_args,
    intel_iommu_default,
    is_proxmox_kernel,
    parse_vfio_ids,
    read_boot_config,
)
from harness.checks.base import CheckContext
from harness.findings import Evidence, Finding, Severity

#: Arguments that matter for passthrough, for telling which edits went to a file nobody reads.
RELEVANT = (
    "intel_iommu",
    "amd_iommu",
    "iommu",
    "iommu.passthrough",
    "vfio_pci.ids",
    "vfio_pci.disable_vga",
    "vfio_iommu_type1.allow_unsafe_interrupts",
    "pcie_acs_override",
    "pcie_aspm",
    "rd.driver.pre",
)
PARAMS_DOC = "Documentation/admin-guide/kernel-parameters.txt"


class _Cmdline:
    """The booted and the configured argument lists, and the evidence for them."""

    def __init__(self, ctx: CheckContext, boot: BootConfig) -> None:
        self.ctx = ctx
        self.boot = boot
        self.loader: Bootloader = boot.bootloader
        self.booted: list[KernelArg] = boot.booted or []
        self.configured: list[KernelArg] = boot.configured

    def proc(self) -> Evidence:
        value = self.ctx.view.cmdline
        return self.ctx.evidence("proc/cmdline", value if value is not None else "could not be read")

    def loader_evidence(self) -> list[Evidence]:
        return [self.ctx.evidence(path, value) for path, value in self.loader.read]

    def both(self) -> list[Evidence]:
        return [self.proc(), *self.loader_evidence()]

    def places(self, name: str, value: str | None = None) -> tuple[list[KernelArg], list[KernelArg]]:
        """(matching booted arguments, matching configured arguments)."""

        def pick(args: list[KernelArg]) -> list[KernelArg]:
            return [arg for arg in find_args(args, name) if value is None or value in arg.values]

        return pick(self.booted), pick(self.configured)

    def where(self, booted: list[KernelArg], configured: list[KernelArg]) -> str:
        if booted and configured:
            return f"on the running kernel's command line and in {self.loader.path}"
        if booted:
            return f"on the running kernel's command line (no longer in {self.loader.path}: gone after a reboot)"
        return f"in {self.loader.path} (not booted yet)"

    def apply(self) -> str:
        return " && ".join(self.loader.update_commands)


def _effective(args: list[KernelArg], name: str, on: str = "on") -> bool | None:
    """The last on/off among the comma items of every ``name=`` argument (the kernel handles them
    in order, so the last one wins); None when neither appears."""
    state: bool | None = None
    for arg in find_args(args, name):
        for item in arg.values:
            if item == "off":
                state = False
            elif item == on:
                state = True
    return state


def check(ctx: CheckContext) -> Iterator[Finding]:
    boot = read_boot_config(ctx.view)
    line = _Cmdline(ctx, boot)
    if boot.booted is None:
        yield Finding(
            "cmdline.unknown",
            Severity.INFO,
            "/proc/cmdline could not be read: the running kernel's arguments are unknown",
            "Every command-line check compares the bootloader's configuration with what the kernel booted with.",
            "read the checked root's proc/cmdline (capture it with the rest of the host)",
            [line.proc()],
        )
    yield from _iommu_disabled(line)
    yield from _intel_iommu(line)
    yield from _amd_iommu_on(line)
    yield from _iommu_pt(line)
    yield from _pcie_aspm_off(line)
    yield from _acs_override(line)
    yield from _vfio_ids(line)
    yield from _not_booted(line)
    yield from _unused_file(line)


def _iommu_disabled(line: _Cmdline) -> Iterator[Finding]:
    vendor = line.ctx.view.cpu.vendor
    options = (
        ("intel_iommu", "intel", "drivers/iommu/intel/iommu.c intel_iommu_setup sets dmar_disabled"),
        ("amd_iommu", "amd", "drivers/iommu/amd/init.c parse_amd_iommu_options sets amd_iommu_disabled"),
        (
            "iommu",
            None,
            "arch/x86/kernel/pci-dma.c iommu_setup sets no_iommu, which both VT-d and AMD-Vi detection honour",
        ),
    )
    for name, owner, source in options:
        if owner is not None and vendor not in (owner, None):
            continue  # the other vendor's driver never runs on this CPU
        booted_off = _effective(line.booted, name) is False
        configured_off = _effective(line.configured, name) is False
        if not booted_off and not configured_off:
            continue
        booted, configured = line.places(name, "off")
        text = f"{name}=off"
        if booted_off and configured_off:
            message = f"{text} on the kernel command line disables the IOMMU: no device can be passed through"
            fix = line.loader.fix([], remove=[name])
        elif booted_off:
            message = f"{text} on the running kernel's command line disables the IOMMU (no longer configured: reboot)"
            fix = "reboot: the bootloader configuration no longer has it"
        else:
            message = f"{text} in {line.loader.path} will disable the IOMMU at the next boot"
            fix = line.loader.fix([], remove=[name])
        yield Finding(
            "cmdline.iommu-disabled",
            Severity.FAIL,
            message,
            f"{PARAMS_DOC}: `{name}=off` turns the IOMMU off ({source}); without it the kernel creates no IOMMU "
            "groups and vfio-pci has nothing to attach a device to. Found " + line.where(booted, configured) + ".",
            fix,
            line.both(),
            blocks_all=booted_off,
        )


def _intel_iommu(line: _Cmdline) -> Iterator[Finding]:
    ctx = line.ctx
    view = ctx.view
    if view.cpu.vendor != "intel":
        return
    if _effective(line.booted, "intel_iommu") is False or _effective(line.booted, "iommu") is False:
        return  # cmdline.iommu-disabled said it
    booted_on = _effective(line.booted, "intel_iommu") is True
    default = intel_iommu_default(view, ctx.view.kernel_version)
    evidence = [
        line.proc(),
        ctx.evidence("sys/kernel/iommu_groups", f"{len(view.groups)} groups"),
        ctx.evidence("proc/cpuinfo", "vendor_id GenuineIntel"),
        *(ctx.evidence(path, value) for path, value in default.evidence),
    ]
    if view.iommu_active:
        if not booted_on:
            yield Finding(
                "cmdline.intel-iommu-default",
                Severity.INFO,
                "the IOMMU is on without intel_iommu=on: this kernel enables VT-d by default",
                f"The kernel created {len(view.groups)} IOMMU groups, so VT-d is active; {default.reason}. "
                "`intel_iommu=on` would change nothing.",
                "none needed",
                evidence,
            )
        return
    if booted_on or default.on:
        return  # active by argument or default but still no groups: firmware (the iommu check's concern)
    configured_on = _effective(line.configured, "intel_iommu") is True
    dmar = "DMAR" in view.firmware_tables
    firmware = (
        "The firmware publishes a DMAR table, so VT-d is enabled in the firmware setup."
        if dmar
        else "The firmware publishes no DMAR table either: VT-d must also be enabled in the firmware setup."
    )
    evidence.append(ctx.evidence("sys/firmware/acpi/tables/DMAR", "present" if dmar else "absent"))
    why = (
        "No IOMMU groups exist, the CPU is Intel and the running kernel was booted without `intel_iommu=on`; "
        f"{default.reason}. Without VT-d the kernel has no IOMMU groups and vfio-pci cannot take any device "
        f"({PARAMS_DOC}: intel_iommu=on enables VT-d when INTEL_IOMMU_DEFAULT_ON is not set). {firmware}"
    )
    if configured_on:
        message = f"intel_iommu=on is in {line.loader.path} but the running kernel booted without it"
        fix = f"run `{line.apply()}` and reboot"
    else:
        message = "the IOMMU is off: this Intel host needs intel_iommu=on on the kernel command line"
        fix = line.loader.fix(["intel_iommu=on"])
    yield Finding(
        "cmdline.intel-iommu-missing",
        Severity.FAIL,
        message,
        why,
        fix,
        evidence + line.loader_evidence(),
        blocks_all=True,
    )


def _amd_iommu_on(line: _Cmdline) -> Iterator[Finding]:
    booted, configured = line.places("amd_iommu", "on")
    if not booted and not configured:
        return
    yield Finding(
        "cmdline.amd-iommu-on",
        Severity.WARN,
        "amd_iommu=on is not a valid value: the kernel ignores it",
        "drivers/iommu/amd/init.c parse_amd_iommu_options knows fullflush, off, force_enable, force_isolation, "
        "pgtbl_v1/v2, irtcachedis and nohugepages; for anything else it logs `AMD-Vi: Unknown option - 'on'`. "
        "The AMD IOMMU is on by default, so the argument does nothing (and hides a real typo). Found "
        + line.where(booted, configured)
        + ".",
        line.loader.fix([], remove=["amd_iommu"]),
        line.both(),
    )


def _iommu_pt(line: _Cmdline) -> Iterator[Finding]:
    booted, configured = line.places("iommu", "pt")
    if not booted and not configured:
        return
    raw = (booted or configured)[0].raw
    comma = (
        f" `{raw}` is harmless: `iommu=` takes a comma list and skips empty items (arch/x86/kernel/pci-dma.c "
        "iommu_setup)."
        if raw.endswith(",")
        else ""
    )
    yield Finding(
        "cmdline.iommu-pt",
        Severity.INFO,
        f"{raw}: host-owned devices use identity DMA mappings (optional for passthrough)",
        f"{PARAMS_DOC}: iommu=pt (same as iommu.passthrough=1) only changes the DMA domain of devices the host "
        "keeps; devices given to vfio-pci get their own translated domain either way." + comma,
        "none needed",
        line.both(),
    )


def _pcie_aspm_off(line: _Cmdline) -> Iterator[Finding]:
    booted, configured = line.places("pcie_aspm", "off")
    if not booted and not configured:
        return
    yield Finding(
        "cmdline.pcie-aspm-off",
        Severity.INFO,
        "pcie_aspm=off does not disable ASPM: it leaves the firmware's ASPM setup untouched",
        f"{PARAMS_DOC}: pcie_aspm=off means \"Don't touch ASPM configuration at all. Leave any configuration "
        'done by firmware unchanged" (drivers/pci/pcie/aspm.c). Links the firmware put in L0s/L1 stay there. '
        "Found " + line.where(booted, configured) + ".",
        "to force ASPM off, use the policy instead: "
        + line.loader.fix(["pcie_aspm.policy=performance"], ["pcie_aspm"]),
        line.both(),
    )


def _acs_override(line: _Cmdline) -> Iterator[Finding]:
    booted, configured = line.places("pcie_acs_override")
    if not booted and not configured:
        return
    raw = (booted or configured)[0].raw
    view = line.ctx.view
    release = view.kernel_release or "unknown"
    evidence = [*line.both(), line.ctx.evidence("proc/sys/kernel/osrelease", release)]
    if is_proxmox_kernel(view):
        message = f"{raw} fakes ACS isolation: IOMMU groups no longer show which devices can reach each other"
        why = (
            "pcie_acs_override exists only in kernels carrying the out-of-tree ACS override patch (the Proxmox "
            f"kernel {release} has it). It makes the kernel group devices as if the hardware isolated them; "
            "peer-to-peer DMA between them still happens, so a guest can reach host devices behind the same "
            "switch or root complex."
        )
    else:
        unknown = [item for item in view.kernel_log or [] if "Unknown kernel command line parameters" in item.text]
        if unknown and view.kernel_log_path is not None:
            evidence.append(Evidence(f"{view.kernel_log_path}:{unknown[0].number}", unknown[0].text))
        message = f"{raw} does nothing on kernel {release}: the option exists only in patched kernels"
        why = (
            "pcie_acs_override is not in mainline or Debian kernels; it comes from an out-of-tree patch "
            f"(Proxmox's kernel has it). Kernel {release} ignores it and passes it to init as an unknown "
            "parameter, so the IOMMU groups are the hardware's."
        )
    yield Finding(
        "cmdline.acs-override",
        Severity.WARN,
        message,
        why + " Found " + line.where(booted, configured) + ".",
        "remove it and pass a whole IOMMU group, or use a slot whose root port has ACS: "
        + line.loader.fix([], remove=["pcie_acs_override"]),
        evidence,
    )


def _vfio_ids(line: _Cmdline) -> Iterator[Finding]:
    view = line.ctx.view
    booted = find_args(line.booted, "vfio_pci.ids")
    seen = {arg.raw for arg in booted}
    found = [(arg, "on the running kernel's command line") for arg in booted]
    found += [
        (arg, f"in {line.loader.path} (not booted yet)")
        for arg in find_args(line.configured, "vfio_pci.ids")
        if arg.raw not in seen
    ]
    for arg, label in found:
        entries, invalid = parse_vfio_ids(arg.value)
        matched = []
        for entry in entries:
            devices = [str(item.bdf) for item in view.functions.values() if entry.matches_function(item)]
            matched.append(f"{entry} matches {', '.join(devices) or 'no device'}")
        yield Finding(
            "cmdline.vfio-ids",
            Severity.INFO,
            f"{arg.raw} {label}: vfio-pci claims {', '.join(map(str, entries)) or 'nothing'}",
            "Module parameters on the kernel command line apply whenever the module loads (vfio-pci and "
            "vfio_pci are the same name: kernel/params.c treats - and _ alike). "
            + ("; ".join(matched) or "No valid entry")
            + ". Whether vfio-pci loads before the host driver is the binding check's concern.",
            "none needed",
            [line.proc(), *line.loader_evidence()],
        )
        if invalid:
            replacement = [f"vfio-pci.ids={','.join(map(str, entries))}"] if entries else []
            yield Finding(
                "cmdline.vfio-ids-invalid",
                Severity.WARN,
                f"{arg.raw}: vfio-pci rejects {', '.join(invalid)} (incorrect ID format)",
                "drivers/vfio/pci/vfio_pci.c vfio_pci_fill_ids reads each comma item as "
                "vendor:device[:subvendor[:subdevice[:class[:class_mask]]]] in hex and logs "
                '"vfio_pci: incorrect ID format" for anything else; that entry binds nothing.',
                line.loader.fix(replacement, ["vfio_pci.ids"]),
                [line.proc(), *line.loader_evidence()],
            )


def _missing(wanted: list[KernelArg], have: list[KernelArg]) -> list[KernelArg]:
    present = {(arg.name, arg.value) for arg in have}
    return [arg for arg in wanted if (arg.name, arg.value) not in present]


def _not_booted(line: _Cmdline) -> Iterator[Finding]:
    if line.boot.booted is None:
        return
    missing = _missing(line.configured, line.booted)
    if not missing:
        return
    words = " ".join(arg.raw for arg in missing)
    yield Finding(
        "cmdline.not-booted",
        Severity.WARN,
        f"configured but not booted yet: {words}",
        f"{line.loader.name} will pass these arguments from {line.loader.path}, but /proc/cmdline shows the "
        "running kernel started without them: the boot configuration was not regenerated, or the host was "
        "not rebooted since. Until then they have no effect, and every check of the running kernel reflects "
        "the old arguments.",
        f"run `{line.apply()}` and reboot",
        line.both(),
    )


def _unused_file(line: _Cmdline) -> Iterator[Finding]:
    other = line.boot.unused_bootloader
    if other is None or line.boot.booted is None:
        return
    candidates = [arg for arg in _missing(other.args, line.configured) if arg.name in RELEVANT]
    candidates = _missing(candidates, line.booted)
    if not candidates:
        return
    words = " ".join(arg.raw for arg in candidates)
    yield Finding(
        "cmdline.unused-file",
        Severity.WARN,
        f"{words} is in {other.path}, which this host's bootloader does not read",
        f"This host boots with {line.loader.name}, which takes its arguments from {line.loader.path} "
        f"(pve-docs system-booting.adoc); {other.path} belongs to {other.name.split(' ')[0]}. The running "
        "kernel does not have these arguments.",
        line.loader.fix([arg.raw for arg in candidates]),
        [line.proc(), *line.loader_evidence(), *(line.ctx.evidence(path, value) for path, value in other.read)],
    )
