"""Driver binding checks (codes ``binding.*``): which driver holds each selected device, which
early-binding configuration covers it, whether that configuration wins the race against the host
driver at boot, and which other devices a ``vfio-pci ids=`` entry captures with it.

The boot configuration is parsed by :mod:`harness.bootconfig`; what counts as "the host uses
these disks" comes from :func:`harness.storage.disk_uses`, as for the host-use check.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from harness import paste
from harness.bootconfig import (
    DISPLAY_LIMIT,
    VFIO_CONF,
    BootConfig,
    BootScript,
    PciIdMatch,
    Source,
    builtin_modules,
    driver_override_targets,
    find_args,
    host_driver_module,
    initramfs_image,
    mtime,
    options_line,
    override_install_line,
    parse_modprobe_conf,
    parse_vfio_ids,
    read_boot_config,
    softdep_line,
    vfio_id_for,
)
from harness.checks.base import CheckContext, device_label
from harness.findings import Evidence, Finding, Severity
from harness.storage import disk_uses
from harness.sysfs import PciFunction, clip

VFIO = "vfio_pci"
INIT_ORDER = (
    "initramfs-tools `init` runs scripts/init-top/* (Debian's init-top/udev starts udevd, triggers coldplug "
    "and settles, so udev loads the host driver for every device), then load_modules for "
    "/etc/initramfs-tools/modules"
)


@dataclass(frozen=True)
class IdSource:
    """One ``ids=`` entry and where it is configured."""

    entry: PciIdMatch
    where: str
    evidence: Evidence
    #: The entry belongs to the current boot (not only to a bootloader file not booted yet).
    active: bool
    #: "modprobe" / "cmdline" / "script" / "module": how the fix must rewrite it.
    kind: str


@dataclass(frozen=True)
class Loader:
    """Something that loads vfio-pci at boot, and when."""

    #: "early" (before udev binds host drivers), "unordered" (an init-top script nothing orders
    #: against udev), "after-udev" (initramfs-tools modules), "real-root" (systemd-modules-load).
    stage: str
    text: str
    evidence: Evidence


@dataclass(frozen=True)
class AddressBinding:
    """A ``driver_override`` write that gives one address to vfio-pci at boot."""

    text: str
    evidence: Evidence
    #: Written before the host driver can load (an install hook on it, or an init-top script
    #: that udev's script waits for).
    early: bool


def check(ctx: CheckContext) -> Iterator[Finding]:
    boot = read_boot_config(ctx.view)
    sources = _id_sources(ctx, boot)
    edits_reported = False
    for function in ctx.selected():
        yield _driver(ctx, function)
        covering = [source for source in sources if source.entry.matches_function(function)]
        override = boot.driverctl.get(function.name)
        module = _host_module(ctx, function)
        addresses = _address_bindings(boot, function, module)
        yield from _ignored_modprobe_files(ctx, boot, function)
        if not covering and override is None and not addresses:
            yield _unconfigured(ctx, boot, function)
            continue
        loaders = _loaders(ctx, boot, module)
        yield _configured(
            ctx,
            boot,
            function=function,
            covering=covering,
            addresses=addresses,
            loaders=loaders,
            module=module,
        )
        if addresses and not any(item.early for item in addresses):
            yield _address_unordered(boot, function, addresses, module)
        if covering:
            yield from _ordering(ctx, boot, function=function, covering=covering, loaders=loaders, module=module)
            yield from _not_effective(ctx, boot, function=function, covering=covering, loaders=loaders, module=module)
            yield from _modconf(boot, function, covering)
            yield from _collateral(ctx, boot, function, covering)
        if covering or addresses:
            yield from _stale(ctx, boot, function)
        if override is not None:
            yield _driverctl(function, override.driver, override.path, module)
        if (covering or addresses) and boot.initramfs_tools and boot.initramfs_tools.package_edits:
            yield _package_edits(boot, module, function)
            edits_reported = True
    if not edits_reported and boot.initramfs_tools and boot.initramfs_tools.package_edits:
        yield _package_edits(boot, None, None)


# --- What the configuration says --------------------------------------------------------------


def _scripts(boot: BootConfig) -> list[BootScript]:
    return boot.initramfs_tools.scripts if boot.initramfs_tools is not None else []


def _id_sources(ctx: CheckContext, boot: BootConfig) -> list[IdSource]:
    """Every ``ids=`` entry with where it is configured. One configuration line can hold
    thousands of entries: its text is clipped and shared by them, never copied per entry."""
    sources: list[IdSource] = []

    def add(value: str | None, where: str, evidence: Evidence, active: bool, kind: str) -> None:
        sources.extend(IdSource(entry, where, evidence, active, kind) for entry in parse_vfio_ids(value)[0])

    for value, directive in boot.modprobe.option(VFIO, "ids"):
        add(value, str(directive.source), _line_evidence(directive.source), True, "modprobe")
    for directive in boot.modprobe.of("install"):
        if "vfio" in directive.rest:
            for word in directive.rest.split():
                if word.startswith("ids="):
                    add(word[4:], str(directive.source), _line_evidence(directive.source), True, "modprobe")
    booted = find_args(boot.booted or [], "vfio_pci.ids")
    for arg in booted:
        shown = clip(arg.raw, DISPLAY_LIMIT)
        add(arg.value, f"/proc/cmdline: {shown}", ctx.evidence("proc/cmdline", shown), True, "cmdline")
    booted_raw = {arg.raw for arg in booted}
    for arg in find_args(boot.configured, "vfio_pci.ids"):
        if arg.raw in booted_raw:
            continue
        shown = clip(arg.raw, DISPLAY_LIMIT)
        where = f"{boot.bootloader.path} (not booted yet): {shown}"
        add(arg.value, where, Evidence(boot.bootloader.path, shown), False, "cmdline")
    for script in _scripts(boot):
        if script.vfio_ids:
            line = next((line.strip() for line in script.text.splitlines() if "ids=" in line), "")
            evidence = Evidence(script.path, clip(line, DISPLAY_LIMIT))
            sources.extend(IdSource(entry, script.path, evidence, True, "script") for entry in script.vfio_ids)
    running = ctx.view.module_params.get(VFIO, {}).get("ids")
    if running:
        relative = f"sys/module/{VFIO}/parameters/ids"
        evidence = ctx.evidence(relative, clip(running, DISPLAY_LIMIT))
        add(running, f"the running vfio-pci ({ctx.view.show(relative)})", evidence, True, "module")
    return sources


def _line_evidence(source: Source) -> Evidence:
    return Evidence(source.path, source.shown)


def _address_bindings(boot: BootConfig, function: PciFunction, module: str | None) -> list[AddressBinding]:
    found: list[AddressBinding] = []
    tools = boot.initramfs_tools
    if tools is not None:
        for script in tools.scripts:
            if function.name not in script.overrides or tools.effective(script.phase).get(script.name) is not script:
                continue
            early = script.phase == "init-top" and tools.runs_before("init-top", script.name, "udev")
            line = next((item.strip() for item in script.text.splitlines() if "driver_override" in item), "")
            found.append(
                AddressBinding(f"driver_override written by {script.path}", Evidence(script.path, line), early)
            )
    for directive in boot.modprobe.of("install"):
        if function.name in driver_override_targets(directive.rest):
            early = _modprobe_in_image(boot) and module in (None, directive.module)
            evidence = _line_evidence(directive.source)
            found.append(AddressBinding(f"driver_override set by {directive.source}", evidence, early))
    return found


def _host_module(ctx: CheckContext, function: PciFunction) -> str | None:
    """The host driver's module; a name that is not a module name (a corrupt or hostile root)
    counts as unknown, so no fix prints it inside a modprobe.d line."""
    module = host_driver_module(ctx.view, function)
    return module if module is not None and paste.is_module_name(module) else None


def _modprobe_in_image(boot: BootConfig) -> bool:
    """modprobe.d reaches the initramfs: mkinitramfs and dracut copy it, mkinitcpio only with the
    modconf hook."""
    if boot.mkinitcpio is not None and boot.initramfs_tools is None and boot.dracut is None:
        return "modconf" in boot.mkinitcpio.hooks
    return True


def _loaders(ctx: CheckContext, boot: BootConfig, module: str | None) -> list[Loader]:
    loaders: list[Loader] = []
    builtin = builtin_modules(ctx.view)
    if builtin is not None and VFIO in builtin:
        relative = f"lib/modules/{ctx.view.kernel_release}/modules.builtin"
        loaders.append(Loader("early", "vfio-pci is built into the kernel", ctx.evidence(relative, "vfio-pci.ko")))
    if _modprobe_in_image(boot):
        if module is not None:
            hooks = boot.modprobe.loads_first(module, VFIO)
        else:
            hooks = [item for item in boot.modprobe.of("softdep") if VFIO in item.softdep_pre]
        for directive in hooks:
            loaders.append(
                Loader(
                    "early",
                    f"{directive.source} (modprobe loads vfio-pci before {directive.module})",
                    _line_evidence(directive.source),
                )
            )
    tools = boot.initramfs_tools
    for script in _scripts(boot):
        if not script.loads_vfio or tools is None or tools.effective(script.phase).get(script.name) is not script:
            continue
        stage = "after-udev"
        if script.phase == "init-top":
            stage = "early" if tools.runs_before("init-top", script.name, "udev") else "unordered"
        line = next((item.strip() for item in script.text.splitlines() if "vfio" in item), "")
        loaders.append(
            Loader(
                stage,
                f"{script.path} (initramfs {script.phase} script)",
                Evidence(script.path, line),
            )
        )
    if boot.dracut is not None:
        if boot.dracut.has("force_drivers", VFIO):
            source = boot.dracut.sources["force_drivers"][-1]
            loaders.append(Loader("early", f"{source} (dracut force_drivers)", _line_evidence(source)))
        for arg in find_args(boot.booted or [], "rd.driver.pre"):
            if VFIO in [item.replace("-", "_") for item in arg.values]:
                loaders.append(
                    Loader("early", f"/proc/cmdline: {arg.raw} (dracut)", ctx.evidence("proc/cmdline", arg.raw))
                )
    if boot.mkinitcpio is not None and VFIO in boot.mkinitcpio.modules:
        source = boot.mkinitcpio.sources["MODULES"]
        loaders.append(Loader("early", f"{source} (mkinitcpio MODULES)", _line_evidence(source)))
    if boot.initramfs_tools is not None:
        for entry in boot.initramfs_tools.lists(VFIO):
            source = entry.source
            loaders.append(Loader("after-udev", f"{source} (initramfs-tools modules)", _line_evidence(source)))
    for entry in boot.modules_load:
        if entry.module == VFIO:
            source = entry.source
            loaders.append(Loader("real-root", f"{source} (systemd-modules-load)", _line_evidence(source)))
    return loaders


# --- Findings ---------------------------------------------------------------------------------


def _driver(ctx: CheckContext, function: PciFunction) -> Finding:
    label = device_label(function)
    evidence = [ctx.device_evidence(function, "driver", function.driver or "(no link)")]
    if function.driver_override:
        evidence.append(ctx.device_evidence(function, "driver_override", function.driver_override))
    override = f" (driver_override: {function.driver_override})" if function.driver_override else ""
    broken = function.unreadable("driver")
    if broken is not None:
        evidence[0] = ctx.device_evidence(function, "driver", broken)
        message = f"could not tell which driver holds {label}{override}: the driver link is corrupt"
        why = "The driver link could not be read as ../bus/pci/drivers/<name> (see tree.driver-link)."
        return Finding(
            "binding.driver", Severity.WARN, message, why, "", evidence, device=function.name, could_not_judge=True
        )
    if function.driver == "vfio-pci":
        message = f"{label} is bound to vfio-pci{override}"
        why = "vfio-pci holds the device, so a VM can take it without unbinding a host driver first."
    elif function.driver:
        message = f"{label} is bound to the host driver {function.driver}{override}"
        why = (
            f"{function.driver} owns the device now; Proxmox and libvirt (managed) unbind it and bind vfio-pci "
            "by address when a VM starts, unless early binding gives it to vfio-pci at boot."
        )
    else:
        message = f"{label} has no driver bound{override}"
        why = "No driver holds the device; vfio-pci can be bound to it by address when a VM starts."
    return Finding("binding.driver", Severity.INFO, message, why, "none needed", evidence, device=function.name)


def _softdep_fix(module: str | None, ids: str | None, boot: BootConfig) -> str:
    lines = []
    if ids:
        lines.append(options_line("vfio-pci", {"ids": ids}))
    lines.append(softdep_line(module or "<host driver>", ["vfio-pci"]))
    rebuild = " && ".join(boot.rebuild_commands())
    return f"put `{'` and `'.join(lines)}` in {VFIO_CONF}, then run `{rebuild}` and reboot"


def _unconfigured(ctx: CheckContext, boot: BootConfig, function: PciFunction) -> Finding:
    module = _host_module(ctx, function)
    narrow = vfio_id_for(function, ctx.view)
    if narrow is not None:
        fix = "only if the host must never use it: " + _softdep_fix(module, str(narrow), boot)
    else:
        # Identical twins elsewhere on the host: an ids= entry would take them too.
        hook = override_install_line(module or "<host driver>", [function.name])
        fix = f"only if the host must never use it: put `{hook}` in {VFIO_CONF}"
    files = boot.modprobe.files
    modprobe = f"{len(files)} files ({', '.join(files)}): no vfio-pci ids= or driver_override" if files else "none"
    return Finding(
        "binding.none",
        Severity.INFO,
        f"no early binding to vfio-pci is configured for {function.name}",
        "No modprobe.d `options vfio-pci ids=`, kernel `vfio-pci.ids=`, initramfs script or driverctl override "
        "covers this device, so the host driver takes it at boot. That is fine for Proxmox and libvirt, which "
        "bind vfio-pci by address at VM start; early binding only matters when the host driver must never "
        "touch the device.",
        fix,
        [
            Evidence("/etc/modprobe.d/*.conf, /lib/modprobe.d/*.conf", modprobe),
            ctx.evidence("proc/cmdline", ctx.view.cmdline or "could not be read"),
            ctx.evidence("etc/driverctl.d", "no override" if not boot.driverctl else ", ".join(boot.driverctl)),
        ],
        device=function.name,
    )


def _configured(
    ctx: CheckContext,
    boot: BootConfig,
    *,
    function: PciFunction,
    covering: list[IdSource],
    addresses: list[AddressBinding],
    loaders: list[Loader],
    module: str | None,
) -> Finding:
    parts = [f"ids={source.entry} in {source.where}" for source in covering]
    evidence = [source.evidence for source in covering]
    driverctl = boot.driverctl.get(function.name)
    if driverctl is not None:
        parts.append(f"driverctl override to {driverctl.driver} ({driverctl.path})")
        evidence.append(Evidence(driverctl.path, driverctl.driver))
    for address in addresses:
        parts.append(address.text)
        evidence.append(address.evidence)
    if module is not None:
        for directive in boot.modprobe.blacklisted(module):
            parts.append(f"host driver blacklisted: {directive.source}")
            evidence.append(_line_evidence(directive.source))
    stages = {
        "early": "before udev binds host drivers",
        "unordered": "in init-top, in no promised order against udev's coldplug",
        "after-udev": "after udev coldplug",
        "real-root": "in the real root",
    }
    loading = (
        "; ".join(f"{loader.text}: {stages[loader.stage]}" for loader in loaders) or "nothing loads vfio-pci at boot"
    )
    evidence += [loader.evidence for loader in loaders]
    return Finding(
        "binding.configured",
        Severity.INFO,
        f"early binding configured for {function.name}: " + "; ".join(parts),
        "vfio-pci claims a device at boot when an ids= entry matches it (vendor:device, and subsystem IDs "
        "when given; drivers/vfio/pci/vfio_pci.c) and the module loads before the host driver binds, or when "
        f"driver_override names vfio-pci. Loaded by: {loading}.",
        "none needed",
        list(dict.fromkeys(evidence)),
        device=function.name,
    )


def _ordering(
    ctx: CheckContext,
    boot: BootConfig,
    *,
    function: PciFunction,
    covering: list[IdSource],
    loaders: list[Loader],
    module: str | None,
) -> Iterator[Finding]:
    if any(loader.stage == "early" for loader in loaders):
        return
    host = module or "the host driver"
    ids = ",".join(sorted({str(source.entry) for source in covering if source.kind != "modprobe"})) or None
    fix = _softdep_fix(module, ids, boot)
    evidence = [source.evidence for source in covering] + [loader.evidence for loader in loaders]
    unordered = [loader for loader in loaders if loader.stage == "unordered"]
    if unordered:
        yield Finding(
            "binding.script-unordered",
            Severity.WARN,
            f"{unordered[0].text.split(' (')[0]} loads vfio-pci in init-top with nothing ordering it before udev",
            f"{INIT_ORDER}. Within init-top the only ordering is PREREQ: mkinitramfs runs the PREREQ pairs "
            "through tsort (hook-functions cache_run_scripts), so unless udev's script lists this one, "
            f"coldplug may run first and {host} binds {function.name}; a script cannot ask to run before "
            "udev without editing udev's script. The softdep needs no ordering.",
            fix,
            evidence,
            device=function.name,
        )
        return
    late = [loader for loader in loaders if loader.stage == "after-udev"]
    if late:
        yield Finding(
            "binding.initramfs-modules-late",
            Severity.WARN,
            f"vfio-pci is loaded from /etc/initramfs-tools/modules, after udev has let {host} bind {function.name}",
            f"{INIT_ORDER}. So {host} is loaded and probes {function.name} before vfio-pci exists; its ids= only "
            f"takes devices no driver holds yet. `softdep {module or '<host driver>'} pre: vfio-pci` makes modprobe "
            "load vfio-pci first whenever udev loads the host driver, and mkinitramfs copies modprobe.d into the "
            "image.",
            fix,
            evidence,
            device=function.name,
        )
        return
    real_root = [loader for loader in loaders if loader.stage == "real-root"]
    where = "only in the real root (/etc/modules)" if real_root else "nowhere"
    yield Finding(
        "binding.no-early-loader",
        Severity.WARN,
        f"vfio-pci ids= covers {function.name}, but vfio-pci is loaded {where}: {host} binds it first",
        "vfio-pci has no PCI modalias of its own (its table matches only driver_override, "
        "drivers/vfio/pci/vfio_pci.c), so udev never loads it for a device; an ids= option only acts when "
        f"something loads the module, and by the real root {host} already owns the device.",
        fix,
        evidence,
        device=function.name,
    )


def _address_unordered(
    boot: BootConfig, function: PciFunction, addresses: list[AddressBinding], module: str | None
) -> Finding:
    host = module or "<host driver>"
    rebuild = " && ".join(boot.rebuild_commands())
    return Finding(
        "binding.script-unordered",
        Severity.WARN,
        f"{addresses[0].text} may run after {host} has bound {function.name}",
        f"driver_override only keeps other drivers away if it is written before one binds. {INIT_ORDER}; "
        "init-top scripts are ordered only by PREREQ (tsort in hook-functions cache_run_scripts), and a "
        "script cannot ask to run before udev. An install hook on the host driver runs exactly when it is "
        "about to load.",
        f"put `{override_install_line(host, [function.name])}` in {VFIO_CONF} instead, then run `{rebuild}`",
        [address.evidence for address in addresses],
        device=function.name,
    )


def _not_effective(
    ctx: CheckContext,
    boot: BootConfig,
    *,
    function: PciFunction,
    covering: list[IdSource],
    loaders: list[Loader],
    module: str | None,
) -> Iterator[Finding]:
    active = [source for source in covering if source.active]
    if not active or function.driver in (None, "vfio-pci"):
        return
    if function.driver_override and function.driver_override != "vfio-pci":
        return  # pinned to another driver on purpose
    if any(loader.stage == "early" for loader in loaders):
        fix = f"run `{' && '.join(boot.rebuild_commands())}` and reboot (the early loader is already configured)"
    else:
        fix = _softdep_fix(module, None, boot)
    yield Finding(
        "binding.not-effective",
        Severity.WARN,
        f"{function.name} is bound to {function.driver} although vfio-pci ids={active[0].entry} covers it",
        f"The configuration ({active[0].where}) should have given the device to vfio-pci at this boot. Either it "
        "was added after the initramfs was built or the host booted, or the host driver won the race (see "
        "binding.initramfs-modules-late / binding.no-early-loader).",
        fix,
        [ctx.device_evidence(function, "driver", function.driver), *(source.evidence for source in active)],
        device=function.name,
    )


def _modconf(boot: BootConfig, function: PciFunction, covering: list[IdSource]) -> Iterator[Finding]:
    config = boot.mkinitcpio
    if config is None or _modprobe_in_image(boot) or any(source.kind != "modprobe" for source in covering):
        return
    hooks = list(config.hooks)
    after = next((name for name in ("autodetect", "udev", "base") if name in hooks), None)
    hooks.insert(hooks.index(after) + 1 if after else len(hooks), "modconf")
    source = config.sources.get("HOOKS")
    where = source.path if source is not None else "/etc/mkinitcpio.conf"
    hooks_line = paste.code(paste.printable(f"HOOKS=({' '.join(hooks)})"))
    yield Finding(
        "binding.modconf-missing",
        Severity.WARN,
        f"mkinitcpio's HOOKS lack modconf: the vfio-pci ids= for {function.name} never reach the initramfs",
        "mkinitcpio copies /etc/modprobe.d into the image only through the modconf hook (archlinux/mkinitcpio "
        "install/modconf), so at boot vfio-pci loads without its ids= and softdep lines are unknown; the host "
        "driver binds the device.",
        f"in {paste.prose(where)} set {hooks_line}, then run `mkinitcpio -P` and reboot",
        [_line_evidence(source)] if source is not None else [],
        device=function.name,
    )


def _storage_uses(ctx: CheckContext, other: PciFunction) -> tuple[list[str], list[Evidence]]:
    uses: list[str] = []
    evidence: list[Evidence] = []
    for disk in ctx.view.whole_disks(other.bdf):
        use = disk_uses(ctx.view, disk)
        for _, severity, text in use.uses:
            if severity is Severity.FAIL:
                uses.append(f"{disk.name} holds {text}")
        if use.uses:
            evidence += use.evidence
    return uses, evidence


def _collateral(
    ctx: CheckContext, boot: BootConfig, function: PciFunction, covering: list[IdSource]
) -> Iterator[Finding]:
    view = ctx.view
    by_entry: dict[PciIdMatch, list[IdSource]] = {}
    for source in covering:
        by_entry.setdefault(source.entry, []).append(source)
    for entry, sources in by_entry.items():
        others = [item for item in view.functions.values() if item.bdf != function.bdf and entry.matches_function(item)]
        if not others:
            continue
        evidence = [source.evidence for source in sources]
        described: list[str] = []
        storage: list[str] = []
        for other in others:
            evidence.append(ctx.device_evidence(other, "subsystem_device", f"0x{other.subsystem_device or 0:04x}"))
            uses, more = _storage_uses(ctx, other)
            evidence += more
            storage += [f"{other.name}: {text}" for text in uses]
            described.append(f"{other.name} ({other.driver or 'no driver'}{', host disks' if uses else ''})")
        narrow = vfio_id_for(function, view)
        module = _host_module(ctx, function) or "<host driver>"
        fix, how = _narrow_fix(boot, function, entry, sources, narrow=narrow, module=module)
        severity = Severity.FAIL if storage else Severity.WARN
        consequence = (
            f" At the next boot vfio-pci takes the controller of the host's own disks ({'; '.join(storage)}): the "
            "host loses them and may not boot."
            if storage
            else " Those devices are lost to the host at every boot."
        )
        yield Finding(
            "binding.ids-collateral",
            severity,
            f"ids={entry} also captures {', '.join(described)}",
            f"A vfio-pci ids= entry matches every device with those IDs, not one address (vfio_pci_fill_ids adds a "
            f"dynamic ID to the driver), including devices hot-plugged later.{consequence} {how}",
            fix,
            evidence,
            device=function.name,
        )


def _narrow_fix(
    boot: BootConfig,
    function: PciFunction,
    entry: PciIdMatch,
    sources: list[IdSource],
    *,
    narrow: PciIdMatch | None,
    module: str,
) -> tuple[str, str]:
    """(fix, why this fix) for an ids= entry that captures other devices."""
    if narrow is not None and narrow != entry:
        steps = []
        for source in sources:
            if source.kind == "cmdline":
                steps.append(boot.bootloader.fix([f"vfio-pci.ids={narrow}"], ["vfio_pci.ids"]))
            elif source.kind == "modprobe":
                line = options_line("vfio-pci", {"ids": str(narrow)})
                steps.append(f"in {paste.prose(source.evidence.path)} write `{line}`")
            else:
                steps.append(f"in {paste.prose(source.where)} use ids={narrow}")
        steps.append(f"run `{' && '.join(boot.rebuild_commands())}`")
        subsystem = f"{function.subsystem_vendor or 0:04x}:{function.subsystem_device or 0:04x}"
        why = f"{function.name}'s subsystem IDs ({subsystem}) differ from the others', so the entry can name them."
        return "; ".join(steps), why
    fix = (
        f"remove ids={entry} and bind by address: put `{override_install_line(module, [function.name])}` in "
        f"{VFIO_CONF} (driver_override is written just before {module} loads, in the initramfs too), then run "
        f"`{' && '.join(boot.rebuild_commands())}`; or `driverctl set-override {function.name} vfio-pci`, which "
        f"applies only in the real root, after {module} has had the device"
    )
    why = (
        f"{function.name} has the same vendor, device and subsystem IDs as the others, so no ids= entry can tell "
        "them apart: only its address can (driver_override lets no other driver match the device)."
    )
    return fix, why


def _driverctl(function: PciFunction, driver: str, path: str, module: str | None) -> Finding:
    host = module or "the host driver"
    if driver == "vfio-pci":
        message = f"driverctl gives {function.name} to vfio-pci, but only after the initramfs"
        why = (
            "driverctl's udev rule starts driverctl@pci-<address>.service, which runs in the real root: in the "
            f"initramfs {host} has already bound the device (and the host may have used it, e.g. assembled or "
            "imported its disks) before the override unbinds it."
        )
        softdep = softdep_line(module or "<host driver>", ["vfio-pci"])
        fix = (
            f"none needed when that is acceptable; otherwise add `{softdep}` and an ids= entry, or an init-top "
            "driver_override script (see binding.ids-collateral)"
        )
    else:
        message = f"driverctl pins {function.name} to {driver or 'no driver'}"
        why = (
            f"{path} makes driverctl set driver_override to {driver or 'none'} in the real root, which keeps "
            "vfio-pci from binding it there."
        )
        fix = f"`driverctl unset-override {function.name}` if the device should go to vfio-pci"
    return Finding(
        "binding.driverctl-late",
        Severity.INFO,
        message,
        why,
        fix,
        [Evidence(path, driver)],
        device=function.name,
    )


def _package_edits(boot: BootConfig, module: str | None, function: PciFunction | None) -> Finding:
    assert boot.initramfs_tools is not None
    edits = boot.initramfs_tools.package_edits
    listed = ", ".join(
        f"{edit.path.removeprefix('/usr/share/initramfs-tools/scripts/')} ({edit.kind})" for edit in edits
    )
    removed = {edit.path for edit in edits if edit.kind == "added"}
    # The deleted scripts' ids= must survive in modprobe.d, or nothing is bound any more.
    ids = sorted(
        {str(entry) for script in boot.initramfs_tools.scripts if script.path in removed for entry in script.vfio_ids}
    )
    lines = [options_line("vfio-pci", {"ids": ",".join(ids)})] if ids else []
    lines.append(softdep_line(module or "<host driver>", ["vfio-pci"]))
    steps = [f"put `{'` and `'.join(lines)}` in {VFIO_CONF} (the softdep needs no script and no ordering)"]
    steps += [f"delete {paste.prose(edit.path)}" for edit in edits if edit.kind == "added"]
    for edit in edits:
        if edit.kind != "edited":
            continue
        where = paste.prose(edit.path)
        if edit.package:
            steps.append(
                f"restore {where} with {paste.code(paste.command('apt', 'install', '--reinstall', edit.package))}"
            )
        else:
            steps.append(
                f"restore {where} from its package ({paste.code(paste.command('dpkg', '-S', edit.path))} names it)"
            )
    steps.append(f"run `{' && '.join(boot.rebuild_commands())}`")
    return Finding(
        "binding.package-script",
        Severity.WARN,
        f"hand changes in /usr/share/initramfs-tools/scripts: {listed}",
        "That directory belongs to packages (initramfs-tools(7): local boot scripts go in "
        "/etc/initramfs-tools/scripts). dpkg replaces a package's file on upgrade, so an edited script such "
        'as udev\'s init-top/udev (shipped with PREREQS="") silently loses the edit; the hand-made script then '
        "runs in no promised order against udev's coldplug (mkinitramfs orders init-top only by PREREQ, "
        "through tsort). Keeping the scripts means keeping an edited copy of udev's script in "
        "/etc/initramfs-tools/scripts/init-top/ (a file there replaces the package's of the same name) and "
        "merging every udev update into it by hand. Details: "
        + "; ".join(f"{edit.path}: {edit.detail}" for edit in edits)
        + ".",
        "; ".join(steps),
        [Evidence(edit.path, edit.detail) for edit in edits],
        device=function.name if function is not None else None,
    )


def _stale(ctx: CheckContext, boot: BootConfig, function: PciFunction) -> Iterator[Finding]:
    image = initramfs_image(ctx.view)
    if image is None:
        return
    built = mtime(ctx.view, image)
    if built is None:
        return
    paths: list[str] = []
    paths += [
        item.source.path
        for item in boot.modprobe.directives
        if VFIO in (item.module, *item.softdep_pre) or "vfio" in item.rest
    ]
    if boot.initramfs_tools is not None:
        if boot.initramfs_tools.lists(VFIO):
            paths.append("/etc/initramfs-tools/modules")
        paths += [script.path for script in boot.initramfs_tools.scripts if script.loads_vfio]
    if boot.dracut is not None:
        paths += boot.dracut.files
    if boot.mkinitcpio is not None:
        paths += boot.mkinitcpio.files
    newer = []
    for path in dict.fromkeys(paths):
        changed = mtime(ctx.view, path.lstrip("/"))
        if changed is not None and changed > built:
            newer.append((path, changed))
    if not newer:
        return

    def stamp(seconds: float) -> str:
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")

    yield Finding(
        "binding.initramfs-stale",
        Severity.WARN,
        f"the initramfs {ctx.view.show(image)} is older than {', '.join(path for path, _ in newer)}",
        "Early binding happens inside the initramfs, which holds a copy of modprobe.d and the module lists "
        "taken when it was built; changes since then take effect only after it is rebuilt.",
        f"run `{' && '.join(boot.rebuild_commands())}` and reboot",
        [
            ctx.evidence(image, f"modified {stamp(built)}"),
            *(Evidence(path, f"modified {stamp(changed)}") for path, changed in newer),
        ],
        device=function.name,
    )


def _ignored_modprobe_files(ctx: CheckContext, boot: BootConfig, function: PciFunction) -> Iterator[Finding]:
    for path, text in boot.modprobe.ignored:
        for directive in parse_modprobe_conf(text, path):
            params = directive.params if directive.command == "options" and directive.module == VFIO else {}
            entries = parse_vfio_ids(params.get("ids"))[0]
            if not any(entry.matches_function(function) for entry in entries):
                continue
            yield Finding(
                "binding.modprobe-ignored-file",
                Severity.WARN,
                f"{path} sets vfio-pci ids for {function.name}, but modprobe ignores the file (no .conf suffix)",
                "modprobe.d(5): only files ending in .conf are read (kmod's conf_files_filter_out), so this "
                "options line never reaches vfio-pci.",
                f"rename it: {paste.code(paste.command('mv', path, path + '.conf'))}, then run "
                f"`{' && '.join(boot.rebuild_commands())}`",
                [Evidence(path, directive.source.shown)],
                device=function.name,
            )
