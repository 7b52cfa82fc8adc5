"""Loading a host description: schema validation, cross-references, device models.

The JSON Schema (``host.schema.json``, shipped in the package) checks shapes; this module then
checks what a schema cannot (duplicate addresses, references to absent devices) and encodes
each function's device model. Every error names the file and line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from importlib import resources
from pathlib import PurePath
from typing import Any

from fakesys import names
from fakesys.errors import SourceError
from fakesys.host.model import (
    DEFAULT_CMDLINE,
    CpuSpec,
    DeviceMapperSpec,
    DiskSpec,
    FramebufferSpec,
    FunctionSpec,
    Host,
    IommuSpec,
    KernelSpec,
    MountSpec,
    NetSpec,
    SwapSpec,
)
from fakesys.hw.behaviour import BehaviourError, make_behaviour
from fakesys.hw.library import beside, load_device
from fakesys.source import Document, JsonPath, format_path, validate
from harness.pci.address import Bdf

PROFILES = ("5.10", "6.1", "6.8", "6.12")
#: Longest ``extends:`` chain (a host extending a host extending ...).
MAX_EXTENDS = 16


@cache
def host_schema() -> dict[str, Any]:
    """The host JSON Schema shipped with fakesys."""
    text = resources.files("fakesys.host").joinpath("host.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def profile_for_release(release: str) -> str | None:
    """The kernel profile whose rules a release follows (6.8.12-4-pve -> 6.8)."""
    match = re.match(r"^(\d+)\.(\d+)", release)
    if match is None:
        return None
    major, minor = int(match[1]), int(match[2])
    if (major, minor) < (5, 15):
        return "5.10"
    if (major, minor) < (6, 5):
        return "6.1"
    if (major, minor) < (6, 12):
        return "6.8"
    return "6.12"


WHERE = "__where__"
LIST_KEYS = {
    "pci": "bdf",
    "disks": "name",
    "net": "name",
    "mounts": "target",
    "swaps": "source",
    "device_mapper": "name",
}
BaseResolver = Callable[[str, str], tuple[Document, JsonPath]]


def _entry_key(section: str, value: object) -> object:
    if section == "pci" and isinstance(value, str):
        try:
            return Bdf.parse(value)
        except ValueError:
            return value
    return value


def _annotated(doc: Document, prefix: JsonPath) -> dict[str, Any]:
    """The host data with every list entry tagged with the file and line it came from."""
    data: dict[str, Any] = dict(doc.sub(prefix).data)
    for section in LIST_KEYS:
        items = data.get(section)
        if isinstance(items, list):
            data[section] = [
                {**item, WHERE: (doc.path, doc.line(prefix + (section, index)))} if isinstance(item, Mapping) else item
                for index, item in enumerate(items)
            ]
    return data


def merge_hosts(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` applied to ``base``: list entries merge by key, ``remove: true`` drops one,
    mappings merge recursively, anything else is replaced."""
    merged: dict[str, Any] = {key: value for key, value in base.items() if key != "extends"}
    for key, value in override.items():
        if key == "extends":
            continue
        current = merged.get(key)
        if key in LIST_KEYS and isinstance(current, list) and isinstance(value, list):
            field = LIST_KEYS[key]
            result = list(current)
            for entry in value:
                wanted = _entry_key(key, entry.get(field)) if isinstance(entry, Mapping) else None
                position = next(
                    (
                        i
                        for i, old in enumerate(result)
                        if isinstance(old, Mapping) and _entry_key(key, old.get(field)) == wanted
                    ),
                    None,
                )
                if position is None:
                    if not (isinstance(entry, Mapping) and entry.get("remove") is True):
                        result.append(entry)
                elif isinstance(entry, Mapping) and entry.get("remove") is True:
                    del result[position]
                else:
                    result[position] = {**result[position], **entry}
            merged[key] = result
        elif isinstance(current, Mapping) and isinstance(value, Mapping):
            merged[key] = merge_hosts(current, value)
        else:
            merged[key] = value
    return merged


class _HostLoader:
    def __init__(self, doc: Document, prefix: JsonPath, data: Mapping[str, Any]) -> None:
        self.doc = doc
        self.prefix = prefix
        self.data = data

    def where(self, at: tuple[str | int, ...]) -> tuple[str, int]:
        """File and line of ``at``: list entries carry their own (they may come from a base)."""
        if len(at) >= 2 and at[0] in LIST_KEYS and isinstance(at[1], int):
            entry = self.data.get(str(at[0]), [])[at[1]]
            if isinstance(entry, Mapping) and WHERE in entry:
                path, line = entry[WHERE]
                return str(path), int(line)
        return self.doc.path, self.doc.line(self.prefix + tuple(at))

    def line(self, *at: str | int) -> int:
        return self.where(tuple(at))[1]

    def error(self, at: tuple[str | int, ...], message: str) -> SourceError:
        path, line = self.where(at)
        return SourceError(path, line, message)

    def bdf(self, text: str, at: tuple[str | int, ...]) -> Bdf:
        try:
            return Bdf.parse(text)
        except ValueError as problem:
            raise self.error(at, str(problem)) from None

    def load(self) -> Host:
        if not self.data.get("pci"):
            raise self.error(("pci",), "a host needs a pci: list of functions (or extends: a host that has one)")
        functions = self.load_functions()
        host = Host(
            source=self.doc.path,
            functions=functions,
            name=str(self.data.get("name", "")),
            dmi=str(self.data.get("dmi", "")),
            dmi_id={str(key): str(value) for key, value in self.data.get("dmi_id", {}).items()},
            hypervisor=self.data.get("hypervisor"),
            kernel=self.load_kernel(),
            cpu=self.load_cpu(),
            iommu=self.load_iommu(),
        )
        known = {spec.bdf for spec in functions}
        self.require_fields()
        for index, item in enumerate(self.data.get("disks", [])):
            controller = self.bdf(item["controller"], ("disks", index, "controller"))
            if controller not in known:
                raise self.error(
                    ("disks", index, "controller"),
                    f"disk {item['name']} names controller {controller}, which is not in pci:",
                )
            host.disks.append(
                DiskSpec(
                    name=item["name"],
                    controller=controller,
                    model=item["model"],
                    serial=item["serial"],
                    port=item.get("port", 0),
                    wwn=item.get("wwn"),
                    size_bytes=item.get("size_bytes", DiskSpec.size_bytes),
                    rotational=item.get("rotational", not item["name"].startswith("nvme")),
                    bay=item.get("bay"),
                    partitions=list(item.get("partitions", [])),
                )
            )
        disk_names = [disk.name for disk in host.disks]
        for name in disk_names:
            if disk_names.count(name) > 1:
                raise self.error(("disks",), f"disk name {name} is used twice")
        host.device_mapper = [
            DeviceMapperSpec(item["name"], list(item["slaves"])) for item in self.data.get("device_mapper", [])
        ]
        host.mounts = [
            MountSpec(item["source"], item["target"], item.get("fstype", "ext4"), item.get("options", "rw,relatime"))
            for item in self.data.get("mounts", [])
        ]
        host.swaps = [
            SwapSpec(item["source"], item.get("size_kib", SwapSpec.size_kib)) for item in self.data.get("swaps", [])
        ]
        for index, item in enumerate(self.data.get("net", [])):
            device = self.bdf(item["device"], ("net", index, "device"))
            if device not in known:
                raise self.error(
                    ("net", index, "device"), f"interface {item['name']} names {device}, which is not in pci:"
                )
            host.net.append(
                NetSpec(
                    item["name"], device, item.get("operstate", "up"), item.get("mac", NetSpec.mac), item.get("master")
                )
            )
        host.modules = {
            module: {param: _param_text(value) for param, value in params.items()}
            for module, params in self.data.get("modules", {}).items()
        }
        framebuffer = self.data.get("framebuffer")
        if framebuffer is not None:
            host.framebuffer = FramebufferSpec(
                framebuffer["base"],
                framebuffer["size"],
                framebuffer.get("resource", "BOOTFB"),
                framebuffer.get("driver"),
            )
        files = dict(self.data.get("files", {}))
        try:
            names.file_paths(list(files))
        except names.BadName as problem:
            raise self.error(("files",), f"files: {problem}") from None
        host.files = files
        return host

    def require_fields(self) -> None:
        """Fields the schema cannot demand (an extending host may name only the key)."""
        required = {"disks": ("controller", "model", "serial"), "net": ("device",), "device_mapper": ("slaves",)}
        for section, fields in required.items():
            for index, item in enumerate(self.data.get(section, [])):
                for field in fields:
                    if field not in item:
                        raise self.error(
                            (section, index), f"{section}[{index}] ({item[LIST_KEYS[section]]}): missing {field}:"
                        )

    def load_functions(self) -> list[FunctionSpec]:
        functions: list[FunctionSpec] = []
        seen: dict[Bdf, int] = {}
        for index, item in enumerate(self.data["pci"]):
            at: tuple[str | int, ...] = ("pci", index)
            bdf = self.bdf(item["bdf"], at + ("bdf",))
            if "device" not in item:
                raise self.error(at, f"{bdf}: missing device: (a device library name)")
            if bdf in seen:
                raise self.error(at + ("bdf",), f"{bdf} is listed twice (first at line {seen[bdf]})")
            seen[bdf] = self.line(*at)
            where = self.where(at)
            # The devices/ directory beside the file naming the device, then beside this scenario.
            model = load_device(item["device"], item.get("override"), where, beside((where[0], self.doc.path)))
            bus = item.get("bus") or {}
            secondary = bus.get("secondary")
            subordinate = bus.get("subordinate", secondary)
            if secondary is not None:
                if not model.is_bridge:
                    raise self.error(at + ("bus",), f"{bdf} ({item['device']}) is not a bridge and has no bus range")
                if subordinate < secondary:
                    raise self.error(at + ("bus",), f"subordinate bus {subordinate} is below secondary bus {secondary}")
                if secondary <= bdf.bus:
                    raise self.error(
                        at + ("bus",), f"secondary bus {secondary} must be above the bridge's own bus {bdf.bus}"
                    )
            behind = self.bdf(item["behind"], at + ("behind",)) if "behind" in item else None
            for entry in item.get("behaviours", []):
                try:
                    make_behaviour(entry)
                except BehaviourError as problem:
                    raise self.error(at, f"{bdf}: {problem}") from None
            functions.append(
                FunctionSpec(
                    bdf=bdf,
                    device_name=item["device"],
                    model=model,
                    source=self.where(at)[0],
                    line=self.line(*at),
                    behind=behind,
                    secondary_bus=secondary,
                    subordinate_bus=subordinate,
                    label=item.get("label"),
                    driver=item.get("driver"),
                    irq=item.get("irq"),
                    gsi=item.get("gsi"),
                    numa_node=item.get("numa_node", -1),
                    power=item.get("power"),
                    acpi_power_resources=item.get("acpi_power_resources", False),
                    condition=item.get("condition", "ok"),
                    iommu_group=item.get("iommu_group"),
                    behaviours=[*model.behaviours, *item.get("behaviours", [])],
                )
            )
        return functions

    def load_kernel(self) -> KernelSpec:
        item = self.data.get("kernel", {})
        spec = KernelSpec()
        if "release" in item:
            spec.release = item["release"]
        derived = profile_for_release(spec.release)
        if "profile" in item:
            spec.profile = item["profile"]
        elif derived is None:
            raise self.error(
                ("kernel", "release"),
                f"cannot tell the kernel version from {spec.release!r}; add profile: (one of {', '.join(PROFILES)})",
            )
        else:
            spec.profile = derived
        spec.cmdline = item.get("cmdline", DEFAULT_CMDLINE.format(release=spec.release))
        spec.version = item.get("version", f"Linux version {spec.release} (build@vfiolab) #1 SMP PREEMPT_DYNAMIC")
        spec.log = list(item.get("log", []))
        return spec

    def load_cpu(self) -> CpuSpec:
        item = self.data.get("cpu", {})
        spec = CpuSpec()
        vendor = item.get("vendor", spec.vendor)
        if vendor == "amd":
            spec = CpuSpec(
                vendor="amd", model="AMD Ryzen 7 5700G with Radeon Graphics", family=25, model_number=80, cores=8
            )
        for key in ("model", "family", "model_number", "cores", "virtualization"):
            if key in item:
                setattr(spec, key, item[key])
        if "flags" in item:
            spec.flags = list(item["flags"])
        return spec

    def load_iommu(self) -> IommuSpec:
        item = self.data.get("iommu", {})
        spec = IommuSpec()
        for key in ("firmware_table", "enabled", "interrupt_remapping", "default_domain"):
            if key in item:
                setattr(spec, key, item[key])
        for text, regions in item.get("reserved_regions", {}).items():
            spec.reserved_regions[self.bdf(text, ("iommu", "reserved_regions", text))] = list(regions)
        return spec


def _param_text(value: object) -> str:
    if isinstance(value, bool):
        return "Y" if value else "N"
    return str(value)


def _check_names(doc: Document, prefix: JsonPath, data: Mapping[str, Any]) -> None:
    """Every name in this document that becomes a path or selects a file (:mod:`fakesys.names`),
    and no control characters in any other string (apart from files' contents and device
    overrides), so that no value can forge a line of a rendered file."""

    def check(at: JsonPath, rule: Callable[[Any], object], value: object) -> None:
        try:
            rule(value)
        except names.BadName as problem:
            raise SourceError(doc.path, doc.line(prefix + at), f"{format_path(prefix + at)}: {problem}") from None

    if "extends" in data:
        check(("extends",), lambda value: names.library_name(value, "extends: name"), data["extends"])
    for path in data.get("files", {}):
        check(("files", path), names.file_path, path)
    for index, item in enumerate(data.get("pci", [])):
        if "device" in item:
            check(("pci", index, "device"), lambda value: names.library_name(value, "device name"), item["device"])
        if isinstance(item.get("driver"), str):
            check(("pci", index, "driver"), names.driver_name, item["driver"])
    for index, item in enumerate(data.get("disks", [])):
        check(("disks", index, "name"), names.block_name, item["name"])
    for index, item in enumerate(data.get("device_mapper", [])):
        check(("device_mapper", index, "name"), names.dm_name, item["name"])
        for slave_index, slave in enumerate(item.get("slaves", [])):
            check(("device_mapper", index, "slaves", slave_index), names.block_name, slave)
    for index, item in enumerate(data.get("net", [])):
        check(("net", index, "name"), names.interface_name, item["name"])
        if "master" in item:
            check(("net", index, "master"), names.interface_name, item["master"])
    for module, params in data.get("modules", {}).items():
        check(("modules", module), names.module_name, module)
        for param in params:
            check(("modules", module, param), names.parameter_name, param)
    for at, text in _strings(data, ()):
        check(at, names.one_line, text)


def _strings(value: Any, at: JsonPath) -> Iterator[tuple[JsonPath, str]]:
    """Every string in host data, with where it is, except files' contents and overrides."""
    if isinstance(value, str):
        yield at, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if key == "override" or (at == () and key == "files"):
                continue
            yield from _strings(item, (*at, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*at, index))


def _extends_chain(chain: tuple[str, ...], base_name: str) -> str:
    return " -> ".join((*chain, base_name))


def host_data(
    doc: Document, prefix: JsonPath = (), resolve_base: BaseResolver | None = None, seen: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The host at ``prefix`` in ``doc``, schema-checked, with its ``extends:`` chain merged.

    ``seen`` is the chain of file names (stems) that led here; a base already in it is a cycle,
    reported with the whole chain, and a chain longer than :data:`MAX_EXTENDS` is refused."""
    data: Any = doc.data
    for part in prefix:
        if not isinstance(data, Mapping) or part not in data:
            raise SourceError(doc.path, doc.line(prefix[:-1]), f"missing {'.'.join(map(str, prefix))}: section")
        data = data[part]
    if not isinstance(data, Mapping):
        raise SourceError(doc.path, doc.line(prefix), "expected the host description (a mapping)")
    try:
        validate(doc.sub(prefix), host_schema())
    except SourceError as problem:
        where = ".".join(str(part) for part in prefix)
        message = problem.message if not where else f"{where}.{problem.message}"
        raise SourceError(problem.path, problem.line, message) from None
    _check_names(doc, prefix, data)
    own = _annotated(doc, prefix)
    base_name = own.get("extends")
    if base_name is None:
        return own
    at = prefix + ("extends",)
    if resolve_base is None:
        raise doc.error(at, "extends: is only available in scenario files")
    chain = seen or (PurePath(doc.path).stem,)
    if base_name in chain:
        raise doc.error(at, f"extends: forms a cycle: {_extends_chain(chain, base_name)}")
    if len(chain) >= MAX_EXTENDS:
        raise doc.error(at, f"extends: chain longer than {MAX_EXTENDS} files: {_extends_chain(chain, base_name)}")
    try:
        base_doc, base_prefix = resolve_base(base_name, doc.path)
    except SourceError as problem:
        raise doc.error(at, f"extends: {problem.message if problem.path == base_name else problem}") from None
    base = host_data(base_doc, base_prefix, resolve_base, (*chain, base_name))
    return merge_hosts(base, own)


def load_host(doc: Document, prefix: JsonPath = (), resolve_base: BaseResolver | None = None) -> Host:
    """Load the host at ``prefix`` within ``doc`` (``("host",)`` inside a scenario file);
    ``resolve_base`` finds the document a host ``extends:``."""
    data = host_data(doc, prefix, resolve_base)
    return _HostLoader(doc, prefix, data).load()
