"""The lab's kernel interface (:class:`harness.lab.kernel.LabKernel`) served by fakesys's
simulated kernel behind a rendered root: the fake of the sysfs and VFIO protocol that the lab's
tests run against (never the real ``/sys``).

The root is rendered when the kernel is made, so the checker's prediction reads a tree as it
reads a real host's; sysfs writes and reads then go to the simulated kernel directly (its
``write``, and the attribute functions its renderer uses), because re-rendering the tree after
every write costs a second; :meth:`SimulatedKernel.publish` renders the current state again.
The VFIO cycle is QEMU's vfio-pci model (:class:`fakesys.userspace.qemu.QemuProcess`: realize,
``vfio_pci_reset``, exit). Every operation is appended to an operations file beside the root
(``.ROOT.vfiolab-lab-ops``), so another process can :meth:`SimulatedKernel.attach` to the same
simulated host, as ``lab restore`` after a SIGKILL meets the real kernel in the state the killed
run left.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path

from fakesys.kernel.attributes import device_attributes
from fakesys.sysfs.rootdir import render_into
from fakesys.userspace.machine import Machine, render_machine
from fakesys.userspace.qemu import AssignedDevice, QemuError, QemuProcess
from fakesys.userspace.sync import rerender
from harness.lab.kernel import HostKernel, PhaseHook, VfioCycle
from harness.pci.address import Bdf
from harness.scenario.loader import Scenario
from harness.sysfs import PCI_DEVICES

_DEVICE_FILE = re.compile(
    rf"^{PCI_DEVICES}/(?P<address>[0-9a-f]{{4}}:[0-9a-f]{{2}}:[0-9a-f]{{2}}\.[0-7])/(?P<name>[a-z_]+)$"
)


def operations_file(root: Path) -> Path:
    return root.parent / f".{root.name}.vfiolab-lab-ops"


class SimulatedKernel(HostKernel):
    """A scenario's host rendered at ``root``, whose simulated kernel answers the lab."""

    def __init__(
        self,
        scenario: Scenario,
        root: Path | str,
        *,
        fresh: bool = True,
        render: bool = True,
        operations: Path | None = None,
    ) -> None:
        """``fresh``: a newly booted host (else the operations file is replayed, see
        :meth:`attach`); ``render``: render the root now (else it must already hold a render
        of this scenario: writes never change it, so one render can serve many runs);
        ``operations``: where the operations are kept (default beside the root)."""
        self.machine = Machine(scenario.host)
        root = Path(os.path.abspath(root))
        super().__init__(root)
        self._operations = operations or operations_file(root)
        if fresh:
            self._operations.unlink(missing_ok=True)
            if render:
                render_into(root, lambda path: render_machine(self.machine, path), replace=True)
        else:
            self._replay()
        self._seen = len(self.machine.kernel.log.records)

    @classmethod
    def attach(cls, scenario: Scenario, root: Path | str, operations: Path | None = None) -> SimulatedKernel:
        """The simulated host an earlier process left at ``root`` (its operations replayed)."""
        return cls(scenario, root, fresh=False, operations=operations)

    def _replay(self) -> None:
        try:
            text = self._operations.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        # A cycle's open, reset and close come from one process, one after the other: any other
        # operation while a cycle is open means that process died, and the kernel closed its files.
        opened: dict[str, tuple[QemuProcess, AssignedDevice]] = {}
        for line in text.splitlines():
            operation = json.loads(line)
            op, address = operation["op"], operation.get("address", "")
            if op not in ("vfio-reset", "vfio-close") or address not in opened:
                self._close_all(opened)
            if op == "write":
                self.machine.write("/" + operation["path"], operation["value"])
            elif op == "vfio-open":
                qemu = QemuProcess(self.machine.kernel, self.machine.userspace)
                with contextlib.suppress(QemuError):
                    opened[address] = (qemu, qemu.realize(self.machine.kernel.device(address)))
            elif op == "vfio-reset" and address in opened:
                qemu, assigned = opened[address]
                qemu.reset_device(assigned)
            elif op == "vfio-close" and address in opened:
                opened.pop(address)[0].exit()
        self._close_all(opened)

    @staticmethod
    def _close_all(opened: dict[str, tuple[QemuProcess, AssignedDevice]]) -> None:
        for qemu, _ in opened.values():
            qemu.exit()
        opened.clear()

    def _log_operation(self, operation: dict[str, str]) -> None:
        with open(self._operations, "a", encoding="utf-8") as stream:
            stream.write(json.dumps(operation) + "\n")
            stream.flush()
            os.fsync(stream.fileno())

    def write(self, relative: str, value: str) -> None:
        self._path(relative)  # the same path rules as on a real root
        self._log_operation({"op": "write", "path": relative, "value": value})
        result = self.machine.write("/" + relative, value)
        if result < 0:
            raise OSError(-result, os.strerror(-result), relative)

    def read(self, relative: str) -> bytes | None:
        match = _DEVICE_FILE.match(relative)
        if match is None:
            return None
        dev = self.machine.kernel.find(Bdf.parse(match["address"]))
        if dev is None:
            return None
        kernel = self.machine.kernel
        attribute = device_attributes(dev, kernel.profile, kernel.host.cpu.cores).get(match["name"])
        return None if attribute is None else attribute.content[:4096]

    def driver(self, address: str) -> str | None:
        dev = self.machine.kernel.find(Bdf.parse(address))
        return None if dev is None else dev.driver

    def publish(self) -> None:
        """Render the simulated kernel's current state into the root."""
        rerender(self.machine, self.root)

    def vfio_cycle(self, address: str, phase: PhaseHook | None = None) -> VfioCycle:
        """QEMU's realize, its reset and its exit, each logged before it happens (a process
        killed in between is replayed up to where it died, its files then closed)."""
        if phase is not None:
            phase("open")
        qemu = QemuProcess(self.machine.kernel, self.machine.userspace)
        start = len(self.machine.userspace.records)
        self._log_operation({"op": "vfio-open", "address": address})
        try:
            assigned = qemu.realize(self.machine.kernel.device(address))
        except QemuError as error:
            return VfioCycle(False, None, [], str(error))
        try:
            if phase is not None:
                phase("reset")
            self._log_operation({"op": "vfio-reset", "address": address})
            worked = qemu.reset_device(assigned)
        finally:
            self._log_operation({"op": "vfio-close", "address": address})
            qemu.exit()
        lines = [f"qemu: {record.text}" for record in self.machine.userspace.records[start:]]
        return VfioCycle(True, worked, lines)

    def new_log_lines(self) -> list[str]:
        records = self.machine.kernel.log.records[self._seen :]
        self._seen += len(records)
        return [record.text for record in records]
