"""The host's boot configuration, parsed: what the next boot will do before any driver binds.

This module owns the syntax of every file that decides the kernel command line and early driver
binding, and turns each into plain records with the file and line they came from:

- kernel arguments (``/proc/cmdline`` and the bootloader's copy): tokenising as the kernel does,
  parameter names with ``-`` and ``_`` alike, comma lists, ``vfio-pci.ids`` entries;
- the bootloader in use and its file: GRUB (``/etc/default/grub`` and ``/etc/default/grub.d/*.cfg``),
  systemd-boot (``/etc/kernel/cmdline``), either of them under Proxmox's proxmox-boot-tool;
- modprobe.d (``options``, ``softdep``, ``blacklist``, ``install``), ``/etc/modules``;
- initramfs-tools (``modules``, boot scripts, edits in the package-owned script directory),
  dracut (``force_drivers``, ``add_drivers``), mkinitcpio (``MODULES``, ``HOOKS``);
- driverctl overrides.

Everything is read through :class:`~harness.sysfs.HostView` and nothing is written. The helpers
that format lines (:func:`merge_kernel_args`, :meth:`Bootloader.edit_line`, :func:`options_line`,
:func:`softdep_line`, :func:`override_install_line`, :func:`initramfs_script`,
:func:`vfio_id_for`) are meant for the config generator too, so that what it writes is what this
module reads back.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import cast

from harness.paste import code, printable, prose
from harness.sysfs import HostView, PciFunction, clip, device_file, driver_file, on_host, shell_assignments

# --- Kernel arguments -------------------------------------------------------------------------


def param_name(name: str) -> str:
    """The kernel's view of a parameter name: ``-`` and ``_`` are the same (kernel/params.c
    ``parameq``, kernel-parameters.txt "Hyphens (dashes) and underscores are equivalent")."""
    return name.replace("-", "_")


def module_name(name: str) -> str:
    """kmod normalises module names the same way (``modname_normalize``)."""
    return name.replace("-", "_")


@dataclass(frozen=True)
class KernelArg:
    key: str
    value: str | None
    raw: str

    @property
    def name(self) -> str:
        return param_name(self.key)

    @property
    def values(self) -> list[str]:
        """The value as a comma list, empty items dropped: the IOMMU and ACS options are parsed
        item by item (``strcspn(p, ",")``), so a trailing comma is harmless."""
        return comma_values(self.value)


def comma_values(value: str | None) -> list[str]:
    if not value:
        return []
    return [item.strip() for item in value.split(",") if item.strip()]


def _tokens(text: str) -> list[str]:
    """Whitespace-separated words; double quotes protect spaces (lib/cmdline.c ``next_arg``)."""
    tokens: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
            current.append(char)
        elif char.isspace() and not quoted:
            if current:
                tokens.append("".join(current))
                current = []
        else:
            current.append(char)
    if current:
        tokens.append("".join(current))
    return tokens


def split_kernel_args(text: str | None) -> list[KernelArg]:
    """Kernel arguments in order. Words after ``--`` belong to init and are not parameters."""
    args: list[KernelArg] = []
    for token in _tokens(text or ""):
        if token == "--":
            break
        bare = token
        if bare.startswith('"'):
            bare = bare[1:].removesuffix('"')
        key, equals, value = bare.partition("=")
        if equals and value.startswith('"'):
            value = value[1:].removesuffix('"')
        args.append(KernelArg(key, value if equals else None, token))
    return args


def find_args(args: Iterable[KernelArg], name: str) -> list[KernelArg]:
    wanted = param_name(name)
    return [arg for arg in args if arg.name == wanted]


def has_arg(args: Iterable[KernelArg], name: str, value: str | None = None) -> bool:
    """Whether ``name`` (with ``value`` among its comma items, when given) is present."""
    return any(value is None or value in arg.values for arg in find_args(args, name))


def merge_kernel_args(existing: str, add: Iterable[str], remove: Iterable[str] = ()) -> str:
    """``existing`` with ``add`` appended. An added ``name=value`` replaces earlier arguments of the
    same name (the kernel applies them in order, so two would be confusing); names in ``remove``
    are dropped."""
    added = list(add)
    replace = {param_name(item.partition("=")[0]) for item in added} | {param_name(name) for name in remove}
    kept = [arg.raw for arg in split_kernel_args(existing) if arg.name not in replace]
    return " ".join(kept + added)


# --- vfio-pci ids -----------------------------------------------------------------------------

PCI_ANY_ID = 0xFFFFFFFF


@dataclass(frozen=True)
class PciIdMatch:
    """One ``vfio-pci ids=`` entry: ``vendor:device[:subvendor[:subdevice[:class[:class_mask]]]]``
    (drivers/vfio/pci/vfio_pci.c ``vfio_pci_fill_ids``; missing sub IDs mean any)."""

    vendor: int
    device: int
    subvendor: int = PCI_ANY_ID
    subdevice: int = PCI_ANY_ID
    class_code: int = 0
    class_mask: int = 0

    @classmethod
    def parse(cls, text: str) -> PciIdMatch | None:
        parts = text.strip().split(":")
        if len(parts) < 2 or len(parts) > 6:
            return None
        try:
            numbers = [int(part, 16) for part in parts]
        except ValueError:
            return None
        defaults = [PCI_ANY_ID, PCI_ANY_ID, 0, 0]
        numbers += defaults[len(numbers) - 2 :]
        return cls(*numbers)

    def matches(
        self,
        vendor: int | None,
        device: int | None,
        subvendor: int | None,
        subdevice: int | None,
        class_code: int | None,
    ) -> bool:
        # pci_match_one_device: each ID equal or PCI_ANY_ID, then the masked class.
        for wanted, actual in ((self.vendor, vendor), (self.device, device)):
            if wanted not in (PCI_ANY_ID, actual):
                return False
        for wanted, actual in ((self.subvendor, subvendor), (self.subdevice, subdevice)):
            if wanted not in (PCI_ANY_ID, actual):
                return False
        if self.class_mask:
            return class_code is not None and ((self.class_code ^ class_code) & self.class_mask) == 0
        return True

    def matches_function(self, function: PciFunction) -> bool:
        return self.matches(
            function.vendor, function.device, function.subsystem_vendor, function.subsystem_device, function.class_code
        )

    @property
    def has_subsystem(self) -> bool:
        return self.subvendor != PCI_ANY_ID or self.subdevice != PCI_ANY_ID

    def __str__(self) -> str:
        def hex_id(value: int) -> str:
            return "ffffffff" if value == PCI_ANY_ID else f"{value:04x}"

        fields = [hex_id(self.vendor), hex_id(self.device)]
        if self.has_subsystem or self.class_mask:
            fields += [hex_id(self.subvendor), hex_id(self.subdevice)]
        if self.class_mask:
            fields += [f"{self.class_code:06x}", f"{self.class_mask:06x}"]
        return ":".join(fields)


def parse_vfio_ids(value: str | None) -> tuple[list[PciIdMatch], list[str]]:
    """(entries, entries the driver rejects with "incorrect ID format")."""
    good: list[PciIdMatch] = []
    bad: list[str] = []
    for item in comma_values(value):
        parsed = PciIdMatch.parse(item)
        if parsed is None:
            bad.append(item)
        else:
            good.append(parsed)
    return good, bad


def format_vfio_ids(entries: Iterable[PciIdMatch]) -> str:
    return ",".join(str(entry) for entry in entries)


IdKey = tuple[int | None, ...]


def _id_counts(view: HostView) -> tuple[dict[IdKey, int], dict[IdKey, int]]:
    """How many functions of the host carry each vendor:device, and each vendor:device with its
    subsystem IDs; counted once per view, so that choosing ``ids=`` for every endpoint stays
    linear in the number of functions."""
    cached = view.derived.get("id-counts")
    if cached is not None:
        return cast(tuple[dict[IdKey, int], dict[IdKey, int]], cached)
    plain: dict[IdKey, int] = {}
    narrow: dict[IdKey, int] = {}
    for item in view.functions.values():
        key = (item.vendor, item.device)
        plain[key] = plain.get(key, 0) + 1
        full = (item.vendor, item.device, item.subsystem_vendor, item.subsystem_device)
        narrow[full] = narrow.get(full, 0) + 1
    view.derived["id-counts"] = (plain, narrow)
    return plain, narrow


def vfio_id_for(target: PciFunction, view: HostView) -> PciIdMatch | None:
    """The narrowest ``ids=`` entry for ``target`` that no other function of the host matches:
    vendor:device when that is enough, else with the subsystem IDs; None when only an address
    can tell them apart (identical IDs and subsystem IDs).

    A vendor:device entry matches exactly the functions with that vendor and device (any
    subsystem, no class mask), and a four-part entry exactly those with the same four IDs, so
    counting the functions per key answers "does another function match" without comparing
    every pair."""
    if target.vendor is None or target.device is None:
        return None
    plain, narrow = _id_counts(view)
    if plain.get((target.vendor, target.device), 0) <= 1:
        return PciIdMatch(target.vendor, target.device)
    if target.subsystem_vendor is None or target.subsystem_device is None:
        return None
    key = (target.vendor, target.device, target.subsystem_vendor, target.subsystem_device)
    if narrow.get(key, 0) > 1:
        return None
    return PciIdMatch(target.vendor, target.device, target.subsystem_vendor, target.subsystem_device)


# --- Where a setting was read -----------------------------------------------------------------

#: A configuration line longer than this is shown clipped in findings (a 1 MB ``ids=`` line
#: must not be copied into every finding that cites it).
DISPLAY_LIMIT = 200


@dataclass(frozen=True)
class Source:
    """A line of a configuration file (path as the user knows it, 1-based line, its text)."""

    path: str
    line: int
    text: str

    @property
    def shown(self) -> str:
        """The line for a report: stripped, and clipped when it is very long."""
        return clip(self.text.strip(), DISPLAY_LIMIT)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.shown}"


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Lines with ``\\`` continuations joined (kmod's ``freadline_wrapped``, the shell's rule),
    numbered by the line they start on."""
    pending: list[str] = []
    start = 0
    for number, line in enumerate(text.splitlines(), 1):
        if not pending:
            start = number
        if line.endswith("\\"):
            pending.append(line[:-1])
            continue
        pending.append(line)
        yield start, " ".join(part.strip() if index else part for index, part in enumerate(pending))
        pending = []
    if pending:
        yield start, " ".join(pending)


def _relative(path: str) -> str:
    return path.lstrip("/")


# --- Bootloader -------------------------------------------------------------------------------

GRUB_FILE = "/etc/default/grub"
GRUB_DIR = "/etc/default/grub.d"
KERNEL_CMDLINE_FILE = "/etc/kernel/cmdline"
PROXMOX_BOOT_UUIDS = "/etc/kernel/proxmox-boot-uuids"
GRUB_VARIABLES = ("GRUB_CMDLINE_LINUX", "GRUB_CMDLINE_LINUX_DEFAULT")


@dataclass
class GrubConfig:
    #: Values after sourcing /etc/default/grub then grub.d/*.cfg, as grub-mkconfig does.
    values: dict[str, str] = field(default_factory=dict)
    #: The line that last set each variable.
    sources: dict[str, Source] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    @property
    def cmdline(self) -> str:
        """What a normal (non-recovery) entry gets: GRUB_CMDLINE_LINUX then _DEFAULT
        (grub.d/10_linux ``linux_entry ... "${GRUB_CMDLINE_LINUX} ${GRUB_CMDLINE_LINUX_DEFAULT}"``)."""
        return " ".join(part for part in (self.values.get(name, "") for name in GRUB_VARIABLES) if part).strip()


_SHELL_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def _expand(value: str, env: dict[str, str]) -> str:
    # grub.d snippets commonly append: GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT x".
    return _SHELL_VAR.sub(lambda match: env.get(match.group(1) or match.group(2), ""), value).strip()


def parse_grub_files(files: dict[str, str]) -> GrubConfig:
    """Parse ``{path: text}`` in the order given (the caller lists /etc/default/grub first)."""
    config = GrubConfig(files=list(files))
    for path, text in files.items():
        for number, line in logical_lines(text):
            stripped = line.strip().removeprefix("export ").strip()
            # One line at a time, so that a later line sees an earlier one's value.
            for name, value in shell_assignments(stripped).items():
                config.values[name] = _expand(value, config.values)
                config.sources[name] = Source(path, number, line)
    return config


def read_grub(view: HostView) -> GrubConfig:
    files: dict[str, str] = {}
    main = view.read_text(_relative(GRUB_FILE))
    if main is not None:
        files[GRUB_FILE] = main
    files.update(view.config_files(_relative(GRUB_DIR), "*.cfg"))
    return parse_grub_files(files)


def parse_kernel_cmdline_file(text: str) -> str:
    """/etc/kernel/cmdline: the arguments on one line; blank and ``#`` lines are ignored."""
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return " ".join(lines)


@dataclass
class Bootloader:
    kind: str  # "grub" or "systemd-boot"
    proxmox_boot_tool: bool
    #: The file holding the kernel arguments (as the user knows it).
    path: str
    #: GRUB: the variable to extend; None for /etc/kernel/cmdline.
    variable: str | None
    #: The arguments the next boot of the default entry gets from this configuration.
    cmdline: str
    #: Lines read, for evidence: (path, value).
    read: list[tuple[str, str]] = field(default_factory=list)
    grub: GrubConfig | None = None

    @property
    def name(self) -> str:
        base = "GRUB" if self.kind == "grub" else "systemd-boot"
        return f"{base} (proxmox-boot-tool)" if self.proxmox_boot_tool else base

    @property
    def update_commands(self) -> list[str]:
        """pve-docs system-booting.adoc: GRUB → update-grub (plus a refresh of the ESPs when
        proxmox-boot-tool manages them); systemd-boot on Proxmox → proxmox-boot-tool refresh."""
        if self.kind == "grub":
            return ["update-grub", "proxmox-boot-tool refresh"] if self.proxmox_boot_tool else ["update-grub"]
        if self.proxmox_boot_tool:
            return ["proxmox-boot-tool refresh"]
        return ['kernel-install add "$(uname -r)" "/boot/vmlinuz-$(uname -r)"']

    @property
    def args(self) -> list[KernelArg]:
        return split_kernel_args(self.cmdline)

    @property
    def current_value(self) -> str:
        if self.kind == "grub" and self.grub is not None and self.variable is not None:
            return self.grub.values.get(self.variable, "")
        return self.cmdline

    def edit_line(self, add: Iterable[str], remove: Iterable[str] = ()) -> str:
        """The configuration line with ``add`` merged in, as it should be written."""
        merged = merge_kernel_args(self.current_value, add, remove)
        if self.kind == "grub" and self.variable is not None:
            # The GRUB file is sourced by a shell (grub-mkconfig): double quotes as users write
            # them, unless the value holds something a shell expands inside them.
            if any(character in merged for character in '"$`\\') or "\n" in merged:
                return f"{self.variable}={shlex.quote(merged)}"
            return f'{self.variable}="{merged}"'
        return merged

    def fix(self, add: Iterable[str], remove: Iterable[str] = ()) -> str:
        """A concrete instruction: the line to write in which file, then the commands."""
        line = code(printable(self.edit_line(add, remove)))
        commands = " && ".join(self.update_commands)
        if self.kind == "grub":
            where = f"in {prose(self.path)} set {line}"
        else:
            where = f"write this one line to {prose(self.path)}: {line}"
        return f"{where}; then run `{commands}` and reboot"


def _grub_loader(grub: GrubConfig, pbt: bool) -> Bootloader:
    # Extend _DEFAULT (what pve-docs tells users to edit) unless only GRUB_CMDLINE_LINUX is set.
    variable = "GRUB_CMDLINE_LINUX_DEFAULT"
    if "GRUB_CMDLINE_LINUX_DEFAULT" not in grub.sources and "GRUB_CMDLINE_LINUX" in grub.sources:
        variable = "GRUB_CMDLINE_LINUX"
    source = grub.sources.get(variable)
    path = source.path if source is not None else GRUB_FILE
    read = [(item.path, item.shown) for name, item in grub.sources.items() if name in GRUB_VARIABLES]
    if not read:
        read = [(GRUB_FILE, "no GRUB_CMDLINE_LINUX/_DEFAULT" if grub.files else "does not exist")]
    if pbt:
        read.insert(0, (PROXMOX_BOOT_UUIDS, "present"))
    return Bootloader("grub", pbt, path, variable, grub.cmdline, read, grub)


def _systemd_boot_loader(text: str, pbt: bool, grub: GrubConfig) -> Bootloader:
    args = parse_kernel_cmdline_file(text)
    read = [(KERNEL_CMDLINE_FILE, args)]
    if pbt:
        read.insert(0, (PROXMOX_BOOT_UUIDS, "present"))
    return Bootloader("systemd-boot", pbt, KERNEL_CMDLINE_FILE, None, args, read, grub)


def detect_bootloaders(view: HostView, grub: GrubConfig | None = None) -> tuple[Bootloader, Bootloader | None]:
    """(the bootloader whose file the next boot's kernel arguments come from, the other one when
    its file exists too). Following checker-and-generator §6.12: ``/etc/kernel/proxmox-boot-uuids``
    means proxmox-boot-tool manages the ESPs; with ``/etc/kernel/cmdline`` the host boots
    systemd-boot from it, otherwise GRUB. Confirmed against /proc/cmdline: GRUB's ``linux``
    command always prepends ``BOOT_IMAGE=``, systemd-boot never does, so a running kernel with
    BOOT_IMAGE came from GRUB even when someone created /etc/kernel/cmdline."""
    grub = grub if grub is not None else read_grub(view)
    pbt = view.exists(_relative(PROXMOX_BOOT_UUIDS))
    kernel_cmdline = view.read_text(_relative(KERNEL_CMDLINE_FILE))
    grub_loader = _grub_loader(grub, pbt)
    if kernel_cmdline is None:
        return grub_loader, None
    systemd_boot = _systemd_boot_loader(kernel_cmdline, pbt, grub)
    booted_by_grub = view.cmdline is not None and has_arg(split_kernel_args(view.cmdline), "BOOT_IMAGE")
    if booted_by_grub:
        grub_loader.read.append(("/proc/cmdline", "BOOT_IMAGE= (set by GRUB)"))
        return grub_loader, systemd_boot
    return systemd_boot, grub_loader if grub.files else None


def detect_bootloader(view: HostView, grub: GrubConfig | None = None) -> Bootloader:
    return detect_bootloaders(view, grub)[0]


# --- Kernel build configuration ---------------------------------------------------------------


def read_kernel_config(view: HostView, release: str | None) -> tuple[str, dict[str, str]] | None:
    """``/boot/config-<release>`` as {CONFIG_X: value} (``n`` for "is not set"), with its path."""
    if not release:
        return None
    path = f"boot/config-{release}"
    text = view.read_text(path)
    if text is None:
        return None
    values: dict[str, str] = {}
    for line in text.splitlines():
        unset = re.match(r"#\s*(CONFIG_\w+) is not set", line)
        if unset:
            values[unset.group(1)] = "n"
        elif line.startswith("CONFIG_") and "=" in line:
            name, _, value = line.partition("=")
            values[name] = value.strip().strip('"')
    return view.show(path), values


@dataclass(frozen=True)
class IntelIommuDefault:
    on: bool
    #: Why we think so, e.g. "CONFIG_INTEL_IOMMU_DEFAULT_ON=y in /boot/config-6.1.0-26-amd64".
    reason: str
    evidence: tuple[tuple[str, str], ...] = ()


def intel_iommu_default(view: HostView, version: tuple[int, ...] | None) -> IntelIommuDefault:
    """Whether this kernel turns VT-d on without ``intel_iommu=on``: its build configuration when
    the root has it, else Proxmox's statement that its kernels from 6.8 do (pve-docs
    qm-pci-passthrough.adoc); anything else is treated as off (Debian 12's 6.1 is)."""
    release = view.kernel_release or ""
    config = read_kernel_config(view, release)
    if config is not None:
        path, values = config
        value = values.get("CONFIG_INTEL_IOMMU_DEFAULT_ON", "n")
        return IntelIommuDefault(
            value == "y",
            f"CONFIG_INTEL_IOMMU_DEFAULT_ON={value} in {path}",
            ((path, f"CONFIG_INTEL_IOMMU_DEFAULT_ON={value}"),),
        )
    if release.endswith("-pve") and version is not None and version[:2] >= (6, 8):
        return IntelIommuDefault(True, f"Proxmox kernel {release} (pve-docs: on by default from 6.8)")
    return IntelIommuDefault(False, f"kernel {release or 'unknown'} is not known to enable it by default")


def is_proxmox_kernel(view: HostView) -> bool:
    return (view.kernel_release or "").endswith("-pve")


# --- modprobe.d -------------------------------------------------------------------------------

#: kmod's search path, highest priority first; a file name in an earlier directory hides the same
#: name in a later one (libkmod-config.c ``conf_files_list``).
MODPROBE_DIRS = ("etc/modprobe.d", "run/modprobe.d", "usr/local/lib/modprobe.d", "lib/modprobe.d", "usr/lib/modprobe.d")
MODPROBE_COMMANDS = ("alias", "options", "install", "remove", "softdep", "weakdep", "blacklist")


@dataclass(frozen=True)
class ModprobeDirective:
    command: str
    module: str  # normalised
    args: tuple[str, ...]
    #: Everything after the module name, verbatim (``install`` commands, ``options`` strings).
    rest: str
    source: Source

    @property
    def params(self) -> dict[str, str]:
        """``options``: parameter → value (the last wins, as in the kernel's parse_args)."""
        values: dict[str, str] = {}
        for arg in split_kernel_args(self.rest):
            values[param_name(arg.key)] = arg.value if arg.value is not None else ""
        return values

    @property
    def softdep_pre(self) -> list[str]:
        return self._softdep("pre:")

    @property
    def softdep_post(self) -> list[str]:
        return self._softdep("post:")

    def _softdep(self, which: str) -> list[str]:
        found: list[str] = []
        mode = None
        for arg in self.args:
            if arg in ("pre:", "post:"):
                mode = arg
            elif mode == which:
                found.append(module_name(arg))
        return found


def parse_modprobe_conf(text: str, path: str) -> list[ModprobeDirective]:
    """modprobe.d(5): one command per line, ``\\`` continues a line, a line starting with ``#`` is
    a comment. A ``#`` later in a line is *not* a comment to kmod."""
    directives: list[ModprobeDirective] = []
    for number, line in logical_lines(text):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        parts = stripped.split(None, 2)
        if parts[0] not in MODPROBE_COMMANDS or len(parts) < 2:
            continue
        rest = parts[2] if len(parts) > 2 else ""
        directives.append(
            ModprobeDirective(parts[0], module_name(parts[1]), tuple(rest.split()), rest, Source(path, number, line))
        )
    return directives


@dataclass
class ModprobeConfig:
    directives: list[ModprobeDirective] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    #: Files in a modprobe.d directory that kmod skips because the name lacks ``.conf``: (path, text).
    ignored: list[tuple[str, str]] = field(default_factory=list)

    def of(self, command: str, module: str | None = None) -> list[ModprobeDirective]:
        wanted = module_name(module) if module is not None else None
        return [
            item for item in self.directives if item.command == command and (wanted is None or item.module == wanted)
        ]

    def option(self, module: str, param: str) -> list[tuple[str, ModprobeDirective]]:
        return [
            (item.params[param_name(param)], item)
            for item in self.of("options", module)
            if param_name(param) in item.params
        ]

    def loads_first(self, module: str, first: str) -> list[ModprobeDirective]:
        """Lines that make modprobe load ``first`` before ``module``: a softdep ``pre:``, or an
        ``install`` command that modprobes it (the pre-softdep idiom)."""
        wanted = module_name(first)
        found = [item for item in self.of("softdep", module) if wanted in item.softdep_pre]
        pattern = re.compile(rf"\bmodprobe\b[^;&|]*\b{wanted.replace('_', '[-_]')}\b")
        found += [item for item in self.of("install", module) if pattern.search(item.rest)]
        return found

    def blacklisted(self, module: str) -> list[ModprobeDirective]:
        return self.of("blacklist", module)


def read_modprobe(view: HostView) -> ModprobeConfig:
    config = ModprobeConfig()
    chosen: dict[str, tuple[str, str]] = {}
    for directory in MODPROBE_DIRS:
        for path, text in view.config_files(directory).items():
            name = path.rsplit("/", 1)[1]
            if not name.endswith(".conf"):
                config.ignored.append((path, text))
                continue
            chosen.setdefault(name, (path, text))
    # kmod reads the surviving files in name order, whatever their directory.
    for name in sorted(chosen):
        path, text = chosen[name]
        config.files.append(path)
        config.directives.extend(parse_modprobe_conf(text, path))
    return config


def options_line(module: str, params: dict[str, str]) -> str:
    return f"options {module} " + " ".join(f"{key}={value}" for key, value in params.items())


def softdep_line(module: str, pre: Iterable[str]) -> str:
    return f"softdep {module} pre: " + " ".join(pre)


# --- Module lists (initramfs-tools modules, /etc/modules) --------------------------------------


@dataclass(frozen=True)
class ModuleEntry:
    module: str  # normalised
    args: str
    source: Source


def parse_module_list(text: str, path: str) -> list[ModuleEntry]:
    """modules(5): one module per line with optional arguments; ``#`` starts a comment line."""
    entries: list[ModuleEntry] = []
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", ";")):
            continue
        name, _, args = stripped.partition(" ")
        entries.append(ModuleEntry(module_name(name), args.strip(), Source(path, number, line)))
    return entries


def read_modules_load(view: HostView) -> list[ModuleEntry]:
    """Modules loaded by systemd-modules-load in the real root (after the initramfs)."""
    entries: list[ModuleEntry] = []
    text = view.read_text("etc/modules")
    if text is not None:
        entries += parse_module_list(text, "/etc/modules")
    for directory in ("etc/modules-load.d", "usr/lib/modules-load.d"):
        for path, body in view.config_files(directory, "*.conf").items():
            entries += parse_module_list(body, path)
    return entries


# --- initramfs-tools --------------------------------------------------------------------------

INITRAMFS_TOOLS_MODULES = "/etc/initramfs-tools/modules"
#: Where vfiolab puts (and the binding check suggests) the vfio-pci modprobe.d lines.
VFIO_CONF = "/etc/modprobe.d/vfio.conf"
LOCAL_SCRIPTS = "etc/initramfs-tools/scripts"
PACKAGE_SCRIPTS = "usr/share/initramfs-tools/scripts"
_LOADS_VFIO = re.compile(
    r"\b(?:modprobe|insmod)\b[^\n;|&]*vfio[-_]pci|vfio-pci[\"']?\s*>+\s*[\"']?/sys/bus/pci/devices/"
)
_IDS = re.compile(r"\bids=[\"']?([0-9A-Fa-f:,]+)")
_OVERRIDE = re.compile(r"vfio-pci[\"']?\s*>+\s*[\"']?/sys/bus/pci/devices/([0-9A-Fa-f:.]+)/driver_override")
_PREREQ = re.compile(r"^\s*PREREQS?=([\"']?)(.*?)\1\s*$", re.MULTILINE)


@dataclass
class BootScript:
    path: str
    phase: str  # init-top, init-premount, local-top ...
    name: str
    text: str
    in_package_dir: bool
    prereqs: list[str] = field(default_factory=list)
    loads_vfio: bool = False
    vfio_ids: list[PciIdMatch] = field(default_factory=list)
    #: Addresses it writes ``vfio-pci`` into driver_override for.
    overrides: list[str] = field(default_factory=list)


def driver_override_targets(text: str) -> list[str]:
    """Addresses that ``echo vfio-pci > /sys/bus/pci/devices/<address>/driver_override`` lines in
    a script or modprobe ``install`` command give to vfio-pci."""
    return [match.group(1).lower() for match in _OVERRIDE.finditer(text)]


def override_install_line(module: str, addresses: Iterable[str]) -> str:
    """A modprobe.d ``install`` line that gives ``addresses`` to vfio-pci by address whenever
    ``module`` (their host driver) is about to load, in the initramfs as in the real root:
    driver_override set first keeps every other driver from matching the device."""
    writes = "; ".join(f"echo vfio-pci > {on_host(device_file(address, 'driver_override'))}" for address in addresses)
    return f"install {module} {writes}; /sbin/modprobe vfio-pci; /sbin/modprobe --ignore-install {module} $CMDLINE_OPTS"


def parse_boot_script(path: str, text: str, in_package_dir: bool) -> BootScript:
    parts = path.rstrip("/").split("/")
    script = BootScript(path, parts[-2], parts[-1], text, in_package_dir)
    live = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    prereq = _PREREQ.search(live)
    script.prereqs = prereq.group(2).split() if prereq else []
    script.loads_vfio = bool(_LOADS_VFIO.search(live))
    for match in _IDS.finditer(live):
        script.vfio_ids += parse_vfio_ids(match.group(1))[0]
    script.overrides = driver_override_targets(live)
    return script


@dataclass(frozen=True)
class PackageEdit:
    """A file under /usr/share/initramfs-tools/scripts that is not as its package shipped it."""

    path: str
    kind: str  # "edited" (a package's file changed) or "added" (a file no package owns)
    detail: str
    #: The owning package, when known (dpkg's records, or udev for its own init scripts).
    package: str | None = None


@dataclass
class InitramfsTools:
    modules: list[ModuleEntry] = field(default_factory=list)
    scripts: list[BootScript] = field(default_factory=list)
    package_edits: list[PackageEdit] = field(default_factory=list)

    def lists(self, module: str) -> list[ModuleEntry]:
        return [entry for entry in self.modules if entry.module == module_name(module)]

    def vfio_scripts(self) -> list[BootScript]:
        return [script for script in self.scripts if script.loads_vfio]

    def effective(self, phase: str) -> dict[str, BootScript]:
        """The scripts of a phase that go into the image: a file in /etc/initramfs-tools/scripts
        replaces the package's file of the same name (hook-functions ``get_source``)."""
        found: dict[str, BootScript] = {}
        for script in sorted(self.scripts, key=lambda item: item.in_package_dir):
            if script.phase == phase:
                found.setdefault(script.name, script)
        return found

    def runs_before(self, phase: str, first: str, second: str) -> bool:
        """Whether ``first`` is (transitively) a PREREQ of ``second``. That is the only ordering
        there is: mkinitramfs sorts the PREREQ pairs with tsort (hook-functions
        ``cache_run_scripts``), so unrelated scripts come in no promised order."""
        scripts = self.effective(phase)
        pending = list(scripts[second].prereqs) if second in scripts else []
        seen: set[str] = set()
        while pending:
            name = pending.pop()
            if name == first:
                return True
            if name in seen:
                continue
            seen.add(name)
            if name in scripts:
                pending.extend(scripts[name].prereqs)
        return False


def _dpkg_md5sums(view: HostView) -> dict[str, tuple[str, str]]:
    """{"/usr/share/...": (md5, package)} from /var/lib/dpkg/info/*.md5sums, when the root has them."""
    owned: dict[str, tuple[str, str]] = {}
    for path, text in view.config_files("var/lib/dpkg/info", "*.md5sums").items():
        package = path.rsplit("/", 1)[1].removesuffix(".md5sums").split(":")[0]
        for line in text.splitlines():
            digest, _, name = line.partition("  ")
            if name:
                owned["/" + name.strip()] = (digest.strip(), package)
    return owned


def _package_edits(view: HostView, scripts: list[BootScript]) -> list[PackageEdit]:
    """vfio-related changes in the package-owned script directory. A script there that loads
    vfio-pci was put there by hand (no Debian package ships one); a script whose PREREQ names such
    a script was edited (udev's init-top/udev ships ``PREREQS=""``). With dpkg's md5sums in the
    root, ownership and edits are confirmed from them."""
    shipped = [script for script in scripts if script.in_package_dir]
    custom = {script.name for script in shipped if script.loads_vfio or script.overrides}
    suspects = [script for script in shipped if script.name in custom or custom & set(script.prereqs)]
    if not suspects:
        return []
    owned = _dpkg_md5sums(view) if view.exists("var/lib/dpkg/info") else {}
    edits: list[PackageEdit] = []
    for script in suspects:
        names = sorted(custom & set(script.prereqs))
        owner = owned.get(script.path)
        if owned and owner is None:
            edits.append(PackageEdit(script.path, "added", "no package owns it (not in /var/lib/dpkg/info/*.md5sums)"))
            continue
        if owner is not None:
            # Imported here: hashlib loads OpenSSL, a cost every check would pay at start-up.
            import hashlib

            data = view.read_bytes(_relative(script.path)) or b""
            if hashlib.md5(data, usedforsecurity=False).hexdigest() == owner[0]:
                continue
            detail = f"differs from package {owner[1]}'s copy (dpkg md5sums)"
            edits.append(PackageEdit(script.path, "edited", detail, owner[1]))
            continue
        if script.name in custom and not names:
            edits.append(PackageEdit(script.path, "added", "binds vfio-pci; no Debian package ships such a script"))
        else:
            owner_name = "udev" if script.name == "udev" else None
            detail = f"PREREQ names {', '.join(names)}, a hand-made script"
            edits.append(PackageEdit(script.path, "edited", detail, owner_name))
    return edits


def read_initramfs_tools(view: HostView) -> InitramfsTools | None:
    if not view.exists("etc/initramfs-tools") and not view.exists("usr/share/initramfs-tools"):
        return None
    config = InitramfsTools()
    text = view.read_text(_relative(INITRAMFS_TOOLS_MODULES))
    if text is not None:
        config.modules = parse_module_list(text, INITRAMFS_TOOLS_MODULES)
    for directory, in_package in ((LOCAL_SCRIPTS, False), (PACKAGE_SCRIPTS, True)):
        for path, body in view.config_files(directory, "*/*").items():
            config.scripts.append(parse_boot_script(path, body, in_package))
    config.package_edits = _package_edits(view, config.scripts)
    return config


def initramfs_script(body: str, prereqs: str = "") -> str:
    """An initramfs-tools boot script with the standard header (initramfs-tools(7))."""
    return (
        "#!/bin/sh\n"
        f'PREREQ="{prereqs}"\n'
        'prereqs() { echo "$PREREQ"; }\n'
        'case "$1" in\n'
        "    prereqs) prereqs; exit 0 ;;\n"
        "esac\n"
        f"{body.rstrip()}\n"
    )


# --- dracut -----------------------------------------------------------------------------------

DRACUT_VARIABLES = ("force_drivers", "add_drivers", "omit_drivers")


@dataclass
class DracutConfig:
    values: dict[str, list[str]] = field(default_factory=dict)
    sources: dict[str, list[Source]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    def has(self, variable: str, module: str) -> bool:
        return module_name(module) in self.values.get(variable, [])


def parse_dracut_files(files: dict[str, str]) -> DracutConfig:
    """dracut.conf(5): shell assignments, ``+=`` appends (with the list's own spaces)."""
    config = DracutConfig(files=list(files))
    for path, text in files.items():
        for number, line in logical_lines(text):
            match = re.match(r"^\s*([A-Za-z_]\w*)(\+?)=(.*)$", line)
            if match is None or match.group(1) not in DRACUT_VARIABLES:
                continue
            name, append, raw = match.groups()
            value = shell_assignments(f"{name}={raw}").get(name, "")
            modules = [module_name(item) for item in value.split()]
            config.values[name] = (config.values.get(name, []) if append else []) + modules
            config.sources.setdefault(name, []).append(Source(path, number, line))
    return config


def read_dracut(view: HostView) -> DracutConfig | None:
    if not (view.exists("etc/dracut.conf") or view.exists("etc/dracut.conf.d") or view.exists("usr/lib/dracut")):
        return None
    files: dict[str, str] = {}
    main = view.read_text("etc/dracut.conf")
    if main is not None:
        files["/etc/dracut.conf"] = main
    # The conf.d files of both directories in name order; /etc hides /usr/lib (dracut.conf(5)).
    snippets: dict[str, tuple[str, str]] = {}
    for directory in ("etc/dracut.conf.d", "usr/lib/dracut/dracut.conf.d"):
        for path, text in view.config_files(directory, "*.conf").items():
            snippets.setdefault(path.rsplit("/", 1)[1], (path, text))
    for name in sorted(snippets):
        files[snippets[name][0]] = snippets[name][1]
    return parse_dracut_files(files)


# --- mkinitcpio -------------------------------------------------------------------------------


@dataclass
class MkinitcpioConfig:
    modules: list[str] = field(default_factory=list)
    hooks: list[str] = field(default_factory=list)
    sources: dict[str, Source] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)


_ARRAY = re.compile(r"^[ \t]*(MODULES|HOOKS)(\+?)=\((.*?)\)", re.MULTILINE | re.DOTALL)


def parse_mkinitcpio_files(files: dict[str, str]) -> MkinitcpioConfig:
    """mkinitcpio.conf(5): bash arrays ``MODULES=(...)`` and ``HOOKS=(...)``, later files win."""
    config = MkinitcpioConfig(files=list(files))
    for path, text in files.items():
        live = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
        for match in _ARRAY.finditer(live):
            name, append, body = match.groups()
            items = [item.strip("\"'") for item in body.split()]
            if name == "MODULES":
                items = [module_name(item.removesuffix("?")) for item in items]
                config.modules = (config.modules if append else []) + items
            else:
                config.hooks = (config.hooks if append else []) + items
            number = live.count("\n", 0, match.start()) + 1
            config.sources[name] = Source(path, number, text.splitlines()[number - 1])
    return config


def read_mkinitcpio(view: HostView) -> MkinitcpioConfig | None:
    main = view.read_text("etc/mkinitcpio.conf")
    if main is None:
        return None
    files = {"/etc/mkinitcpio.conf": main}
    files.update(view.config_files("etc/mkinitcpio.conf.d", "*.conf"))
    return parse_mkinitcpio_files(files)


# --- driverctl --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DriverctlOverride:
    device: str  # full lowercase address
    driver: str
    path: str


def read_driverctl(view: HostView) -> dict[str, DriverctlOverride]:
    """/etc/driverctl.d/pci-<address>: the driver name driverctl restores at boot."""
    found: dict[str, DriverctlOverride] = {}
    for path, text in view.config_files("etc/driverctl.d", "pci-*").items():
        address = path.rsplit("/", 1)[1].removeprefix("pci-").lower()
        driver = text.strip().splitlines()[0].strip() if text.strip() else ""
        found[address] = DriverctlOverride(address, driver, path)
    return found


# --- Everything together ----------------------------------------------------------------------


@dataclass
class BootConfig:
    booted: list[KernelArg] | None
    bootloader: Bootloader
    #: The other bootloader's file when it exists too (its arguments do not reach the kernel).
    unused_bootloader: Bootloader | None
    modprobe: ModprobeConfig
    modules_load: list[ModuleEntry]
    initramfs_tools: InitramfsTools | None
    dracut: DracutConfig | None
    mkinitcpio: MkinitcpioConfig | None
    driverctl: dict[str, DriverctlOverride]

    @property
    def configured(self) -> list[KernelArg]:
        return self.bootloader.args

    def rebuild_commands(self) -> list[str]:
        """Rebuild the initramfs with whichever generator the host has (§6.7-6.9)."""
        commands: list[str] = []
        if self.initramfs_tools is not None:
            commands.append("update-initramfs -u -k all")
        if self.dracut is not None:
            commands.append("dracut -f --regenerate-all")
        if self.mkinitcpio is not None:
            commands.append("mkinitcpio -P")
        if not commands:
            commands.append("update-initramfs -u -k all")
        if self.bootloader.proxmox_boot_tool:
            commands.append("proxmox-boot-tool refresh")
        return commands


def read_boot_config(view: HostView) -> BootConfig:
    """The host's boot configuration, read once per view (the cmdline and binding checks and
    the generator all need it)."""
    cached = view.derived.get("boot-config")
    if isinstance(cached, BootConfig):
        return cached
    bootloader, unused = detect_bootloaders(view)
    config = BootConfig(
        booted=split_kernel_args(view.cmdline) if view.cmdline is not None else None,
        bootloader=bootloader,
        unused_bootloader=unused,
        modprobe=read_modprobe(view),
        modules_load=read_modules_load(view),
        initramfs_tools=read_initramfs_tools(view),
        dracut=read_dracut(view),
        mkinitcpio=read_mkinitcpio(view),
        driverctl=read_driverctl(view),
    )
    view.derived["boot-config"] = config
    return config


#: Drivers a device of a class gets from the host when nothing else binds it, for naming the
#: ``softdep`` module of a device that vfio-pci already holds (its real driver is then unknown).
CLASS_DRIVERS = {
    0x010601: "ahci",
    0x010802: "nvme",
    0x0C0330: "xhci_pci",
    0x0C0320: "ehci_pci",
    0x040300: "snd_hda_intel",
}


def host_driver_module(view: HostView, function: PciFunction) -> str | None:
    """The kernel module whose loading a ``softdep ... pre: vfio-pci`` must hook for this device:
    the module of its current driver (``/sys/bus/pci/drivers/<driver>/module``), else the usual
    driver of its class."""
    if function.driver and function.driver != "vfio-pci":
        module = view.readlink_name(driver_file(function.driver, "module"))
        return module_name(module or function.driver)
    if function.class_code is not None:
        return CLASS_DRIVERS.get(function.class_code)
    return None


def builtin_modules(view: HostView) -> set[str] | None:
    """Modules built into the running kernel (``/lib/modules/<release>/modules.builtin``)."""
    release = view.kernel_release
    if not release:
        return None
    for base in ("lib", "usr/lib"):
        text = view.read_text(f"{base}/modules/{release}/modules.builtin")
        if text is not None:
            return {module_name(line.rsplit("/", 1)[-1].removesuffix(".ko")) for line in text.split()}
    return None


def initramfs_image(view: HostView) -> str | None:
    """The running kernel's initramfs, relative to the root (Debian and dracut names)."""
    release = view.kernel_release
    if not release:
        return None
    for name in (f"boot/initrd.img-{release}", f"boot/initramfs-{release}.img"):
        if view.exists(name):
            return name
    return None


def mtime(view: HostView, relative: str) -> float | None:
    return view.mtime(relative)
