"""Rendering a booted :class:`FakeKernel` as a root directory that real tools read.

The tree follows the real kernel's layout (``sys/devices/pci0000:00/...`` nested through bridges,
relative symlinks that resolve, driver directories with back-links, IOMMU groups, block devices
linked to their controller) so that ``lspci -A linux-sysfs -O sysfs.path=ROOT/sys/bus/pci``,
the checker and shell tools read it exactly as they read a host. It also writes the ``/proc``
files, the kernel log (``var/log/dmesg``) and the host's configuration files.
"""

from __future__ import annotations

import posixpath

from fakesys.host.model import DiskSpec
from fakesys.kernel import acpi, drivers
from fakesys.kernel.attributes import device_attributes
from fakesys.kernel.kernel import FakeKernel
from fakesys.kernel.pcidev import PciDev
from fakesys.kernel.vga import iomem_text
from fakesys.names import KERNEL_LOG
from fakesys.sysfs.tree import Tree, TreeWriter

# /proc/cpuinfo flags of an Alder Lake-N (i3-N305) and a Zen 3 desktop part, as Linux 6.8 prints them.
_DEFAULT_FLAGS = {
    "intel": """
        fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts acpi mmx
        fxsr sse sse2 ss ht tm pbe syscall nx pdpe1gb rdtscp lm constant_tsc art arch_perfmon pebs bts
        rep_good nopl xtopology nonstop_tsc cpuid aperfmperf tsc_known_freq pni pclmulqdq dtes64 monitor
        ds_cpl vmx est tm2 ssse3 sdbg fma cx16 xtpr pdcm sse4_1 sse4_2 x2apic movbe popcnt
        tsc_deadline_timer aes xsave avx f16c rdrand lahf_lm abm 3dnowprefetch cpuid_fault epb cat_l2
        cdp_l2 ssbd ibrs ibpb stibp ibrs_enhanced tpr_shadow flexpriority ept vpid ept_ad fsgsbase
        tsc_adjust bmi1 avx2 smep bmi2 erms invpcid rdt_a rdseed adx smap clflushopt clwb intel_pt
        sha_ni xsaveopt xsavec xgetbv1 xsaves split_lock_detect avx_vnni dtherm ida arat pln pts hwp
        hwp_notify hwp_act_window hwp_epp hwp_pkg_req vnmi umip pku ospke waitpkg gfni vaes vpclmulqdq
        rdpid movdiri movdir64b fsrm md_clear serialize arch_lbr ibt flush_l1d arch_capabilities
    """.split(),
    "amd": """
        fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse
        sse2 ht syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm constant_tsc rep_good nopl nonstop_tsc
        cpuid extd_apicid aperfmperf rapl pni pclmulqdq monitor ssse3 fma cx16 sse4_1 sse4_2 x2apic
        movbe popcnt aes xsave avx f16c rdrand lahf_lm cmp_legacy svm extapic cr8_legacy abm sse4a
        misalignsse 3dnowprefetch osvw ibs skinit wdt tce topoext perfctr_core perfctr_nb bpext
        perfctr_llc mwaitx cpb cat_l3 cdp_l3 hw_pstate ssbd mba ibrs ibpb stibp vmmcall fsgsbase bmi1
        avx2 smep bmi2 erms invpcid cqm rdt_a rdseed adx smap clflushopt clwb sha_ni xsaveopt xsavec
        xgetbv1 xsaves cqm_llc cqm_occup_llc cqm_mbm_total cqm_mbm_local clzero irperf xsaveerptr rdpru
        wbnoinvd cppc arat npt lbrv svm_lock nrip_save tsc_scale vmcb_clean flushbyasid decodeassists
        pausefilter pfthreshold avic v_vmsave_vmload vgif v_spec_ctrl umip pku ospke vaes vpclmulqdq
        rdpid overflow_recov succor smca fsrm
    """.split(),
}


def device_path(dev: PciDev) -> str:
    """``sys/devices/pciDDDD:BB/<bridge>/.../<bdf>``."""
    chain = dev.path_from_root()
    root = chain[0].bdf
    return posixpath.join("sys/devices", f"pci{root.domain:04x}:{root.bus:02x}", *(node.name for node in chain))


class Renderer:
    def __init__(self, kernel: FakeKernel, writer: Tree, unprivileged: bool = False) -> None:
        self.kernel = kernel
        self.host = kernel.host
        self.out = writer
        self.unprivileged = unprivileged
        self.paths = {dev: device_path(dev) for dev in kernel.present}

    def render(self) -> None:
        self.out.mark()
        self.render_bus()
        for dev in self.kernel.present:
            self.render_device(dev)
        self.render_drivers()
        self.render_iommu()
        self.render_modules()
        self.render_block()
        self.render_net()
        self.render_proc()
        self.render_machine_identity()
        self.out.file(KERNEL_LOG, self.kernel.log.text())
        for path, content in self.host.files.items():
            self.out.file(path.lstrip("/"), content)

    def render_bus(self) -> None:
        out = self.out
        out.file("sys/bus/pci/drivers_probe", b"", 0o200)
        out.file("sys/bus/pci/rescan", b"", 0o200)
        out.file("sys/bus/pci/drivers_autoprobe", "1\n")
        out.file("sys/bus/pci/resource_alignment", "\n")
        out.directory("sys/bus/pci/slots")
        out.directory("sys/bus/pci/devices")
        out.directory("sys/bus/pci/drivers")
        roots = {(dev.bdf.domain, dev.bdf.bus) for dev in self.kernel.present if dev.parent is None}
        for domain, bus in sorted(roots):
            name = f"{domain:04x}:{bus:02x}"
            out.file(f"sys/devices/pci{name}/pci_bus/{name}/rescan", b"", 0o200)
            out.file(f"sys/devices/pci{name}/uevent", "")

    def render_device(self, dev: PciDev) -> None:
        out = self.out
        path = self.paths[dev]
        attributes = device_attributes(dev, self.kernel.profile, self.host.cpu.cores, self.unprivileged)
        for name, attribute in attributes.items():
            out.file(f"{path}/{name}", attribute.content, attribute.mode)
        out.link(f"{path}/subsystem", "sys/bus/pci")
        out.link(f"sys/bus/pci/devices/{dev.name}", path)
        if dev.driver:
            out.link(f"{path}/driver", f"sys/bus/pci/drivers/{dev.driver}")
            if dev.driver == "vfio-pci":
                out.directory(f"{path}/vfio-dev/vfio{self.kernel.devices.index(dev)}")
        if dev.iommu_group is not None:
            out.link(f"{path}/iommu_group", f"sys/kernel/iommu_groups/{dev.iommu_group}")
        node = acpi.companion(dev, self.kernel.devices.index(dev))
        if node is not None:
            for name, text in node.files.items():
                out.file(name, text + "\n", 0o444)
            for name, target in node.links.items():
                out.link(name, target)
            out.link(f"{path}/firmware_node", node.path)
            out.link(f"{node.path}/physical_node", path)
        if dev.is_bridge and dev.secondary_bus is not None:
            bus = f"{dev.bdf.domain:04x}:{dev.secondary_bus:02x}"
            out.file(f"{path}/pci_bus/{bus}/rescan", b"", 0o200)
            out.file(f"{path}/pci_bus/{bus}/cpuaffinity", f"{(1 << self.host.cpu.cores) - 1:x}\n")

    def render_drivers(self) -> None:
        out = self.out
        for name in self.kernel.drivers_in_use():
            base = f"sys/bus/pci/drivers/{name}"
            for control in ("bind", "unbind", "new_id", "remove_id"):
                out.file(f"{base}/{control}", b"", 0o200)
            out.file(f"{base}/uevent", b"", 0o200)
            module = drivers.driver(name).module
            if module:
                out.directory(f"sys/module/{module}/drivers")
                out.link(f"{base}/module", f"sys/module/{module}")
            for dev in self.kernel.present:
                if dev.driver == name:
                    out.link(f"{base}/{dev.name}", self.paths[dev])

    def render_iommu(self) -> None:
        out = self.out
        host = self.host
        kernel = self.kernel
        table = "DMAR" if host.cpu.vendor == "intel" else "IVRS"
        # Every ACPI machine has these; the IOMMU table is the one the BIOS setting adds.
        for always in ("APIC", "FACP", "HPET", "MCFG"):
            out.file(f"sys/firmware/acpi/tables/{always}", _acpi_table(always, False), 0o400)
        if host.iommu.firmware_table:
            out.file(f"sys/firmware/acpi/tables/{table}", _acpi_table(table, host.iommu.interrupt_remapping), 0o400)
        out.directory("sys/kernel/iommu_groups")
        out.directory("sys/class/iommu")
        if not kernel.iommu_enabled:
            return
        groups: dict[int, list[PciDev]] = {}
        for unit, unit_devices in kernel.iommu_units.items():
            unit_path = f"sys/devices/virtual/iommu/{unit}"
            out.link(f"sys/class/iommu/{unit}", unit_path)
            if host.cpu.vendor == "intel":
                ecap = 0xF0050AF7ECE if host.iommu.interrupt_remapping else 0xF0050AF7EC6
                out.file(f"{unit_path}/intel-iommu/cap", "1c0000c40660462\n")
                out.file(f"{unit_path}/intel-iommu/ecap", f"{ecap:x}\n")
                out.file(f"{unit_path}/intel-iommu/version", "1:0\n")
            else:
                out.file(f"{unit_path}/amd-iommu/cap", "0x00190063\n")
                out.file(f"{unit_path}/amd-iommu/features", "0x206d73ef22254ade\n")
            for dev in unit_devices:
                if dev.iommu_group is None:
                    continue
                groups.setdefault(dev.iommu_group, []).append(dev)
                out.link(f"{unit_path}/devices/{dev.name}", self.paths[dev])
                out.link(f"{self.paths[dev]}/iommu", unit_path)
        for number, members in groups.items():
            base = f"sys/kernel/iommu_groups/{number}"
            out.file(f"{base}/type", f"{host.iommu.default_domain}\n")
            regions = ["0x00000000fee00000 0x00000000feefffff msi"]
            for dev in members:
                regions.extend(host.iommu.reserved_regions.get(dev.bdf, []))
            out.file(f"{base}/reserved_regions", "".join(region + "\n" for region in regions))
            for dev in members:
                out.link(f"{base}/devices/{dev.name}", self.paths[dev])

    def render_modules(self) -> None:
        for module, params in self.kernel.module_params.items():
            # kernel/module/sysfs.c: every loaded module's directory has initstate.
            self.out.file(f"sys/module/{module}/initstate", "live\n")
            for param, value in params.items():
                self.out.file(f"sys/module/{module}/parameters/{param}", f"{value}\n")

    def disk_visible(self, disk: DiskSpec) -> bool:
        """The host sees a disk only while a host storage driver runs its controller."""
        controller = self.kernel.find(disk.controller)
        return controller is not None and controller.driver not in (None, "vfio-pci") and controller.device.responding

    def disk_path(self, disk: DiskSpec) -> str:
        controller = self.kernel.device(disk.controller)
        base = self.paths[controller]
        if disk.name.startswith("nvme"):
            return f"{base}/nvme/{disk.name.rsplit('n', 1)[0]}/{disk.name}"
        host_index = self._scsi_host_index(disk)
        return (
            f"{base}/ata{host_index + 1}/host{host_index}/target{host_index}:0:0/{host_index}:0:0:0/block/{disk.name}"
        )

    def _scsi_host_index(self, disk: DiskSpec) -> int:
        """ATA ports are numbered across controllers in probe order, one SCSI host each."""
        index = 0
        for dev in self.kernel.devices:
            ports = sorted(
                {d.port for d in self.host.disks if d.controller == dev.bdf and not d.name.startswith("nvme")}
            )
            if dev.bdf == disk.controller:
                return index + ports.index(disk.port)
            index += len(ports)
        return index

    def render_block(self) -> None:
        out = self.out
        by_id = "dev/disk/by-id"
        out.directory(by_id)
        rendered: set[str] = set()
        for disk in self.host.disks:
            if not self.disk_visible(disk):
                continue
            path = self.disk_path(disk)
            out.link(f"sys/block/{disk.name}", path)
            out.link(f"sys/class/block/{disk.name}", path)
            out.file(f"{path}/size", f"{disk.size_bytes // 512}\n")
            out.file(f"{path}/queue/rotational", "1\n" if disk.rotational else "0\n")
            out.file(
                f"{path}/device/model" if not disk.name.startswith("nvme") else f"{posixpath.dirname(path)}/model",
                f"{disk.model}\n",
            )
            out.file(f"{path}/dev", f"{8 if disk.name.startswith('sd') else 259}:{self.host.disks.index(disk) * 16}\n")
            out.file(f"dev/{disk.name}", b"")
            rendered.add(disk.name)
            names = _by_id_names(disk)
            for name in names:
                out.link(f"{by_id}/{name}", f"dev/{disk.name}")
            for number in disk.partitions:
                part = f"{disk.name}p{number}" if disk.name[-1].isdigit() else f"{disk.name}{number}"
                out.file(f"{path}/{part}/partition", f"{number}\n")
                out.link(f"sys/class/block/{part}", f"{path}/{part}")
                out.file(f"dev/{part}", b"")
                rendered.add(part)
                for name in names:
                    out.link(f"{by_id}/{name}-part{number}", f"dev/{part}")
        for index, mapper in enumerate(self.host.device_mapper):
            dm = f"dm-{index}"
            path = f"sys/devices/virtual/block/{dm}"
            out.link(f"sys/block/{dm}", path)
            out.link(f"sys/class/block/{dm}", path)
            out.file(f"{path}/dm/name", f"{mapper.name}\n")
            out.file(f"dev/{dm}", b"")
            out.link(f"dev/mapper/{mapper.name}", f"dev/{dm}")
            out.link(f"{by_id}/dm-name-{mapper.name}", f"dev/{dm}")
            for slave in mapper.slaves:
                if slave in rendered:
                    out.link(f"{path}/slaves/{slave}", f"sys/class/block/{slave}")

    def render_net(self) -> None:
        for interface in self.host.net:
            dev = self.kernel.device(interface.device)
            path = f"{self.paths[dev]}/net/{interface.name}"
            self.out.link(f"sys/class/net/{interface.name}", path)
            self.out.file(f"{path}/operstate", f"{interface.operstate}\n")
            self.out.file(f"{path}/address", f"{interface.mac}\n")
            self.out.link(f"{path}/device", self.paths[dev])
            if interface.master:
                self.out.link(f"{path}/master", f"sys/devices/virtual/net/{interface.master}")
                self.out.file(f"sys/devices/virtual/net/{interface.master}/operstate", "up\n")
                self.out.link(f"sys/class/net/{interface.master}", f"sys/devices/virtual/net/{interface.master}")

    def render_machine_identity(self) -> None:
        """/sys/class/dmi/id (drivers/firmware/dmi-id.c: a class device under
        /sys/devices/virtual/dmi/id) and, under Xen, /sys/hypervisor/type."""
        host = self.host
        if host.dmi_id:
            for attribute, value in sorted(host.dmi_id.items()):
                self.out.file(f"sys/devices/virtual/dmi/id/{attribute}", f"{value}\n")
            self.out.link("sys/class/dmi/id", "sys/devices/virtual/dmi/id")
        if host.hypervisor and host.hypervisor.startswith("Xen"):
            self.out.file("sys/hypervisor/type", "xen\n")

    def render_proc(self) -> None:
        host = self.host
        out = self.out
        out.file("proc/cmdline", host.kernel.cmdline + "\n")
        out.file("proc/version", f"{host.kernel.version}\n")
        out.file("proc/sys/kernel/osrelease", f"{host.kernel.release}\n")
        flags = host.cpu.flags if host.cpu.flags is not None else _DEFAULT_FLAGS[host.cpu.vendor]
        if not host.cpu.virtualization:
            flags = [flag for flag in flags if flag not in ("vmx", "svm")]
        if host.hypervisor and "hypervisor" not in flags:
            # CPUID.1:ECX bit 31, which every hypervisor sets; Linux names it "hypervisor".
            flags = [*flags, "hypervisor"]
        vendor_id = "GenuineIntel" if host.cpu.vendor == "intel" else "AuthenticAMD"
        blocks = []
        for cpu in range(host.cpu.cores):
            blocks.append(
                f"processor\t: {cpu}\nvendor_id\t: {vendor_id}\ncpu family\t: {host.cpu.family}\n"
                f"model\t\t: {host.cpu.model_number}\nmodel name\t: {host.cpu.model}\n"
                f"physical id\t: 0\ncore id\t\t: {cpu}\ncpu cores\t: {host.cpu.cores}\n"
                f"flags\t\t: {' '.join(flags)}\n"
            )
        out.file("proc/cpuinfo", "\n".join(blocks) + "\n")
        mounts = [f"{m.source} {m.target} {m.fstype} {m.options} 0 0\n" for m in host.mounts]
        out.file("proc/mounts", "".join(mounts))
        swaps = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n" + "".join(
            f"{swap.source:<40}partition\t{swap.size_kib}\t\t0\t\t-2\n" for swap in host.swaps
        )
        out.file("proc/swaps", swaps)
        out.file("proc/iomem", iomem_text(self.kernel.present, host.framebuffer))


#: Characters udev keeps in an ID it builds a device link from, besides ASCII letters and digits
#: (systemd src/shared/device-nodes.c, whitelisted_char_for_devnode).
_UDEV_KEPT = frozenset("#+-.:=@_")


def udev_id(text: str) -> str:
    """A model or serial as udev puts it into a link name: leading and trailing white space
    dropped, each run of white space one ``_`` (udev_replace_whitespace), then every character
    that is not an ASCII letter or digit, one of ``#+-.:=@_``, non-ASCII text or a ``\\x``
    escape becomes ``_`` (udev_replace_chars; both in systemd src/shared/udev-util.c). So a
    link name never holds a ``/``."""
    collapsed = "_".join(text.split())
    kept = []
    index = 0
    while index < len(collapsed):
        char = collapsed[index]
        if char == "\\" and collapsed[index + 1 : index + 2] == "x":
            kept.append("\\x")
            index += 2
            continue
        keep = (char.isascii() and char.isalnum()) or char in _UDEV_KEPT or not char.isascii()
        kept.append(char if keep else "_")
        index += 1
    return "".join(kept)


def _by_id_names(disk: DiskSpec) -> list[str]:
    """udev's persistent names (60-persistent-storage.rules): ata-/nvme-MODEL_SERIAL, wwn-."""
    model = udev_id(disk.model)
    serial = udev_id(disk.serial)
    wwn = udev_id(disk.wwn) if disk.wwn else None
    if disk.name.startswith("nvme"):
        names = [f"nvme-{model}_{serial}"]
        if wwn:
            names.append(f"nvme-eui.{wwn}")
        return names
    names = [f"ata-{model}_{serial}"]
    if wwn:
        names.append(f"wwn-{wwn}")
    return names


def _acpi_table(signature: str, interrupt_remapping: bool) -> bytes:
    """A minimal ACPI table: the 36-byte header, and for DMAR the width and flags fields."""
    body = b""
    if signature == "DMAR":
        body = bytes([38, 1 if interrupt_remapping else 0]) + b"\x00" * 10
    else:
        body = b"\x00" * 12
    length = 36 + len(body)
    header = bytearray(
        signature.encode()
        + length.to_bytes(4, "little")
        + b"\x01\x00"
        + b"VFIOLB"
        + b"FAKESYS "
        + (1).to_bytes(4, "little")
        + b"VLAB"
        + (1).to_bytes(4, "little")
    )
    table = header + body
    table[9] = (-sum(table)) & 0xFF
    return bytes(table)


def render(
    kernel: FakeKernel,
    root: str | Tree,
    unprivileged: bool = False,
    extra_files: dict[str, str] | None = None,
) -> None:
    """Write ``kernel``'s view below ``root`` (a directory path, real or pyfakefs, or a
    :class:`~fakesys.sysfs.tree.Tree` such as a MemoryTree). ``extra_files`` are files the
    running userspace created (reservations, its log), written after the host's own."""
    tree = TreeWriter(root) if isinstance(root, str) else root
    renderer = Renderer(kernel, tree, unprivileged)
    renderer.render()
    for path, content in (extra_files or {}).items():
        tree.file(path.lstrip("/"), content)
