"""Writes to sysfs control files, with the kernel's semantics, messages and errors.

Each function is the ``*_store`` of an attribute: drivers/pci/pci-sysfs.c (``reset_store``,
``reset_method_store``, ``driver_override_store``, ``d3cold_allowed_store``, ``remove_store``,
``dev_rescan_store``, ``bus_rescan_store``), drivers/pci/pci-driver.c (``new_id_store``,
``remove_id_store``) and drivers/base/bus.c (``bind_store``, ``unbind_store``,
``drivers_probe_store``). A store returns the byte count on success or a negative errno, as the
write(2) a process made would see it.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from fakesys.kernel import binding, power
from fakesys.kernel.drivers import IdMatch
from fakesys.kernel.pcidev import PciDev
from fakesys.kernel.reset import init_reset_methods, probe_method, reset_function
from harness.pci.address import Bdf

if TYPE_CHECKING:
    from fakesys.kernel.kernel import FakeKernel

_DEVICE_PATH = re.compile(r"^/sys/bus/pci/devices/(?P<bdf>[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7])/(?P<attr>.+)$")
_DEVICES_TREE = re.compile(
    r"^/sys/devices/pci[0-9a-f]{4}:[0-9a-f]{2}(?:/[0-9a-f:.]+)*/(?P<bdf>[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7])/(?P<attr>[^/]+(?:/[^/]+)?)$"
)
_DRIVER_PATH = re.compile(r"^/sys/bus/pci/drivers/(?P<driver>[^/]+)/(?P<attr>bind|unbind|new_id|remove_id)$")
_THROUGH_DRIVER_LINK = re.compile(
    r"^/sys/bus/pci/devices/(?P<bdf>[^/]+)/driver/(?P<attr>bind|unbind|new_id|remove_id)$"
)
_MODULE_PARAM = re.compile(r"^/sys/module/(?P<module>[^/]+)/parameters/(?P<param>[^/]+)$")

#: Module parameters that are writable at run time (module_param mode with S_IWUSR).
WRITABLE_PARAMETERS = {("vfio_pci", "disable_idle_d3"), ("vfio_iommu_type1", "allow_unsafe_interrupts")}


def _strip(value: str) -> str:
    """sysfs_streq-style comparison ignores one trailing newline."""
    return value[:-1] if value.endswith("\n") else value


def _kstrtoul(value: str) -> int | None:
    text = _strip(value).strip()
    try:
        return int(text, 0)
    except ValueError:
        return None


def write(kernel: FakeKernel, path: str, value: str) -> int:
    """Write ``value`` to the sysfs file at ``path``; returns len(value) or -errno."""
    kernel.clock.boundary()
    count = len(value.encode())
    through_link = _THROUGH_DRIVER_LINK.match(path)
    if through_link:
        # <device>/driver is a symlink to the driver's directory.
        try:
            dev = kernel.find(Bdf.parse(through_link["bdf"]))
        except ValueError:
            dev = None
        if dev is None or dev.driver is None:
            return -errno.ENOENT
        path = f"/sys/bus/pci/drivers/{dev.driver}/{through_link['attr']}"
    if path == "/sys/bus/pci/drivers_probe":
        return _drivers_probe(kernel, value, count)
    if path == "/sys/bus/pci/rescan":
        return _rescan(kernel, value, count)
    match = _DRIVER_PATH.match(path)
    if match:
        name = match["driver"]
        if name not in kernel.registered_drivers():
            return -errno.ENOENT
        handlers: dict[str, Callable[[FakeKernel, str, str, int], int]] = {
            "bind": _bind,
            "unbind": _unbind,
            "new_id": _new_id,
            "remove_id": _remove_id,
        }
        return handlers[match["attr"]](kernel, name, value, count)
    match = _MODULE_PARAM.match(path)
    if match:
        key = (match["module"], match["param"])
        if key not in WRITABLE_PARAMETERS:
            return -errno.EACCES
        text = _strip(value).strip()
        parsed = {"1": "Y", "y": "Y", "Y": "Y", "0": "N", "n": "N", "N": "N"}.get(text)
        if parsed is None:
            return -errno.EINVAL
        kernel.module_params.setdefault(key[0], {})[key[1]] = parsed
        return count
    match = _DEVICE_PATH.match(path) or _DEVICES_TREE.match(path)
    if match:
        dev = kernel.find(Bdf.parse(match["bdf"]))
        if dev is None:
            return -errno.ENOENT
        return _device_attribute(kernel, dev, match["attr"], value, count)
    return -errno.ENOENT


def _device_attribute(kernel: FakeKernel, dev: PciDev, attr: str, value: str, count: int) -> int:
    if attr == "driver_override":
        text = value.split("\n", 1)[0]
        if len(value) >= 4095:
            return -errno.EINVAL
        dev.driver_override = text or None
        return count
    # reset and reset_method exist when a method existed at enumeration (their is_visible runs
    # once, when the attributes are created).
    if attr == "reset":
        if not dev.reset_files:
            return -errno.ENOENT
        return _reset(kernel, dev, value, count)
    if attr == "reset_method":
        if not dev.reset_files or not kernel.profile.has_reset_method:
            return -errno.ENOENT
        return _reset_method(kernel, dev, value, count)
    if attr == "d3cold_allowed":
        number = _kstrtoul(value)
        if number is None:
            return -errno.EINVAL
        dev.d3cold_allowed = bool(number)
        power.runtime_resume(kernel, dev)
        return count
    if attr == "remove":
        number = _kstrtoul(value)
        if number is None:
            return -errno.EINVAL
        if number:
            kernel.remove_device(dev)
        return count
    if attr == "rescan":
        number = _kstrtoul(value)
        if number is None:
            return -errno.EINVAL
        if number:
            kernel.rescan()
        return count
    if attr == "power/control":
        text = _strip(value)
        if text == "on":
            dev.runtime_allowed = False
            power.runtime_resume(kernel, dev)
        elif text == "auto":
            dev.runtime_allowed = dev.driver is not None
            if dev.usage_count == 0 and dev.runtime_allowed:
                power.runtime_suspend(kernel, dev)
        else:
            return -errno.EINVAL
        return count
    return -errno.EACCES


def _reset(kernel: FakeKernel, dev: PciDev, value: str, count: int) -> int:
    """reset_store: only "1"; resume the device first, then pci_reset_function."""
    if _kstrtoul(value) != 1:
        return -errno.EINVAL
    power.get_sync(kernel, dev)
    result = reset_function(kernel, dev)
    power.put(kernel, dev)
    return result if result < 0 else count


def _reset_method(kernel: FakeKernel, dev: PciDev, value: str, count: int) -> int:
    """reset_method_store (drivers/pci/pci.c, 6.12.117 line 5186; 6.1.192 line 5273)."""
    if _strip(value) == "":
        dev.reset_methods = []
        kernel.dev_warn(dev, "All device reset methods disabled by user")
        return count
    if _strip(value) == "default":
        dev.reset_methods = init_reset_methods(dev, kernel.profile)
        return count
    chosen: list[str] = []
    for raw in value[:count].split(" "):
        if _strip(raw) == "":
            continue
        name = raw.strip()
        if name not in kernel.profile.reset_method_names:
            kernel.dev_err(dev, f"Invalid reset method '{name}'")
            return -errno.EINVAL
        if probe_method(dev, name):
            kernel.dev_err(dev, f"Unsupported reset method '{name}'")
            return -errno.EINVAL
        if len(chosen) == len(kernel.profile.reset_method_names):
            kernel.dev_err(dev, "Too many reset methods")
            return -errno.EINVAL
        chosen.append(name)
    if probe_method(dev, "device_specific") == 0 and (not chosen or chosen[0] != "device_specific"):
        kernel.dev_warn(dev, "Device-specific reset disabled/de-prioritized by user")
    dev.reset_methods = chosen
    return count


def _find_device(kernel: FakeKernel, value: str) -> PciDev | None:
    """bus_find_device_by_name: the exact sysfs name, one trailing newline ignored."""
    name = _strip(value)
    try:
        bdf = Bdf.parse(name)
    except ValueError:
        return None
    return kernel.find(bdf) if str(bdf) == name else None


def _bind(kernel: FakeKernel, driver_name: str, value: str, count: int) -> int:
    dev = _find_device(kernel, value)
    if dev is None or not binding.matches(kernel, driver_name, dev):
        return -errno.ENODEV
    result = binding.probe(kernel, dev, driver_name)
    return result if result < 0 else count


def _unbind(kernel: FakeKernel, driver_name: str, value: str, count: int) -> int:
    dev = _find_device(kernel, value)
    if dev is None or dev.driver != driver_name:
        return -errno.ENODEV
    binding.remove(kernel, dev)
    return count


def _parse_id(value: str, count: int) -> tuple[int, list[int]] | None:
    """sscanf("%x %x %x %x %x %x ...") on the buffer: the number of fields matched and them."""
    fields: list[int] = []
    for token in value.split():
        try:
            fields.append(int(token, 16))
        except ValueError:
            break
        if len(fields) == count:
            break
    return len(fields), fields


def _new_id(kernel: FakeKernel, driver_name: str, value: str, count: int) -> int:
    """new_id_store: "vendor device [subvendor subdevice class class_mask [driver_data]]"; a
    duplicate dynamic ID is -EEXIST; then the driver is attached to every matching device."""
    parsed = _parse_id(value, 7)
    assert parsed is not None
    number, fields = parsed
    if number < 2:
        return -errno.EINVAL
    fields += [0xFFFFFFFF, 0xFFFFFFFF, 0, 0, 0][: 7 - number]
    vendor, device, subvendor, subdevice, class_code, class_mask = fields[:6]
    entry = IdMatch(
        vendor=vendor,
        device=device,
        subvendor=None if subvendor == 0xFFFFFFFF else subvendor,
        subdevice=None if subdevice == 0xFFFFFFFF else subdevice,
        class_code=class_code & class_mask if class_mask else None,
        class_mask=class_mask or 0xFFFFFF,
    )
    existing = kernel.dynamic_ids.setdefault(driver_name, [])
    if number != 7 and entry in existing:
        return -errno.EEXIST
    existing.append(entry)
    for dev in kernel.present:
        if dev.driver is None and binding.matches(kernel, driver_name, dev):
            binding.probe(kernel, dev, driver_name)
    return count


def _remove_id(kernel: FakeKernel, driver_name: str, value: str, count: int) -> int:
    parsed = _parse_id(value, 6)
    assert parsed is not None
    number, fields = parsed
    if number < 2:
        return -errno.EINVAL
    existing = kernel.dynamic_ids.get(driver_name, [])
    for entry in existing:
        if entry.vendor == fields[0] and entry.device == fields[1]:
            existing.remove(entry)
            return count
    return -errno.ENODEV


def _drivers_probe(kernel: FakeKernel, value: str, count: int) -> int:
    dev = _find_device(kernel, value)
    if dev is None:
        return -errno.ENODEV
    result = binding.attach(kernel, dev)
    return result if result < 0 else count


def _rescan(kernel: FakeKernel, value: str, count: int) -> int:
    number = _kstrtoul(value)
    if number is None:
        return -errno.EINVAL
    if number:
        kernel.rescan()
    return count
