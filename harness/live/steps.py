"""Guest steps as shell commands: each step of a scenario's ``guest:`` part becomes one line run
in the guest's shell (:meth:`harness.live.session.GuestSession.run`).

Steps are a closed set of actions on the guest's own kernel interfaces (sysfs writes as an admin
would type them, reading files, the host's ``lspci``, vfiolab and the VFIO client through the
host's root); there is no free-form shell step, since scenario files come from other people and
the guest can read the host's root. Every value is quoted with :func:`shlex.quote`; paths and
addresses were checked by the guest schema. A write that the kernel refuses makes the step's
exit status non-zero, which is what ``status:`` compares.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import harness
from harness import sysfs
from harness.live.qemu import HOST_ROOT_MOUNT
from harness.live.spec import Step
from harness.sysfs import on_host

#: Paths in the guest's own /sys (the commands run there).
PCI_DEVICES = on_host(sysfs.PCI_DEVICES)
VFIO_MODULE = "harness.live.vfio"
#: The environment of programs run in the host's root: a clean one, writable /dev/shm (the
#: host's root is read-only), no bytecode written, no colours.
_CHROOT_ENVIRONMENT = (
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME=/dev/shm",
    "TMPDIR=/dev/shm",
    "LC_ALL=C.UTF-8",
    "PYTHONDONTWRITEBYTECODE=1",
    # The console is a terminal: no colours in what the steps' output is compared with.
    "NO_COLOR=1",
    "TERM=dumb",
)


def host_python() -> tuple[str, str]:
    """(interpreter, code directory): the Python running vfiolab now and the directory its
    ``harness`` package is imported from, which the guest runs through the host's root, so the
    guest's vfiolab is exactly the host's (a tox venv's, an editable checkout's)."""
    return sys.executable, str(Path(harness.__file__).resolve().parent.parent)


def _in_host_root(arguments: list[str], *, python_module: str | None = None) -> str:
    """``chroot /host env -i ... ARGUMENTS``, or the host's Python running ``python_module``
    with ``arguments``."""
    python, code = host_python()
    words = ["chroot", HOST_ROOT_MOUNT, "env", "-i", *_CHROOT_ENVIRONMENT, f"PYTHONPATH={code}"]
    if python_module is not None:
        # -S (no site): the VFIO client needs only the standard library and PYTHONPATH, and site's
        # .pth files cost a second of 9p reads under TCG; vfiolab needs its dependencies.
        words += [python, *(["-S"] if python_module == VFIO_MODULE else []), "-m", python_module]
    return " ".join(shlex.quote(word) for word in [*words, *arguments])


def _write(value: str, path: str) -> str:
    return f"printf '%s\\n' {shlex.quote(value)} > {shlex.quote(path)}"


def _device_file(address: str, name: str) -> str:
    return f"{PCI_DEVICES}/{address}/{name}"


def step_command(step: Step) -> str:
    """The shell line that carries out ``step`` in the guest."""
    action, value = step.action, step.value
    if action == "modprobe":
        return f"modprobe {shlex.quote(value)}"
    if action == "bind":
        address, driver = value["device"], value["driver"]
        device = shlex.quote(f"{PCI_DEVICES}/{address}")
        return (
            f"{{ modprobe {shlex.quote(driver)} 2>/dev/null; true; }}"
            f" && {_write(driver, _device_file(address, 'driver_override'))}"
            f" && {{ [ ! -e {device}/driver ] || {_write(address, _device_file(address, 'driver/unbind'))}; }}"
            f" && {_write(address, on_host(f'{sysfs.PCI_BUS}/drivers_probe'))}"
            f' && bound=$(readlink {device}/driver) && [ "${{bound##*/}}" = {shlex.quote(driver)} ]'
            f' || {{ echo "{address} is bound to ${{bound:-no driver}}, not {driver}" >&2; false; }}'
        )
    if action == "unbind":
        return _write(value, _device_file(value, "driver/unbind"))
    if action == "driver_override":
        return _write(value["driver"] or "", _device_file(value["device"], "driver_override"))
    if action == "reset_method":
        return _write(value["value"], _device_file(value["device"], "reset_method"))
    if action == "reset":
        return _write("1", _device_file(value, "reset"))
    if action == "remove":
        return _write("1", _device_file(value, "remove"))
    if action == "rescan":
        return _write("1", on_host(f"{sysfs.PCI_BUS}/rescan"))
    if action == "write":
        return _write(value["value"], value["path"])
    if action == "read":
        path = shlex.quote(value["path"])
        return f"head -c {int(value['bytes'])} {path}" if "bytes" in value else f"cat {path}"
    if action == "wait_for":
        path = shlex.quote(value)
        return f"while [ ! -e {path} ]; do sleep 0.1; done"
    if action == "sleep":
        return f"sleep {float(value):g}"
    if action == "lspci":
        return _in_host_root(["lspci", *value])
    if action == "vfiolab":
        return _in_host_root(list(value), python_module="harness.cli")
    if action == "vfio":
        arguments = [value["device"]]
        if "config_bytes" in value:
            arguments += ["--config-bytes", str(int(value["config_bytes"]))]
        if value.get("reset"):
            arguments.append("--reset")
        if value.get("hot_reset"):
            arguments.append("--hot-reset")
        if value.get("qemu_reset"):
            arguments.append("--qemu-reset")
        return _in_host_root(arguments, python_module=VFIO_MODULE)
    raise ValueError(f"unknown guest step {action!r}")


def modules_for(step: Step) -> list[str]:
    """Modules a step needs loaded first (beyond the scenario's own list)."""
    if step.action == "vfio":
        return ["vfio-pci", "vfio_iommu_type1"]
    return []
