"""The Python VFIO client without a guest: its ioctl numbers and struct layouts against the
kernel's own header as a C compiler reads it, the hot-reset-info retry, and its command line.
The live tests run it against a real guest kernel's vfio-pci."""

from __future__ import annotations

import errno
import fcntl
import struct
import subprocess
from pathlib import Path

import pytest

from harness.live import vfio
from tests.helpers import system_tool

C_PROGRAM = r"""
#include <stdio.h>
#include <stddef.h>
#include <linux/vfio.h>
#define N(x) printf(#x " %lu\n", (unsigned long)(x));
int main(void) {
    N(VFIO_GET_API_VERSION) N(VFIO_CHECK_EXTENSION) N(VFIO_SET_IOMMU) N(VFIO_GROUP_GET_STATUS)
    N(VFIO_GROUP_SET_CONTAINER) N(VFIO_GROUP_UNSET_CONTAINER) N(VFIO_GROUP_GET_DEVICE_FD)
    N(VFIO_DEVICE_GET_INFO) N(VFIO_DEVICE_GET_REGION_INFO) N(VFIO_DEVICE_RESET)
    N(VFIO_DEVICE_GET_PCI_HOT_RESET_INFO) N(VFIO_DEVICE_PCI_HOT_RESET)
    N(VFIO_TYPE1v2_IOMMU) N(VFIO_PCI_CONFIG_REGION_INDEX) N(VFIO_GROUP_FLAGS_VIABLE) N(VFIO_DEVICE_FLAGS_RESET)
    N(sizeof(struct vfio_group_status)) N(sizeof(struct vfio_region_info))
    N(offsetof(struct vfio_region_info, size)) N(offsetof(struct vfio_region_info, offset))
    N(offsetof(struct vfio_device_info, num_irqs)) N(sizeof(struct vfio_pci_dependent_device))
    N(offsetof(struct vfio_pci_dependent_device, devfn)) N(sizeof(struct vfio_pci_hot_reset_info))
    N(sizeof(struct vfio_pci_hot_reset))
    return 0;
}
"""


def test_ioctl_numbers_and_layouts_are_the_kernel_headers(tmp_path: Path) -> None:
    compiler = system_tool("cc", "build-essential")
    source = tmp_path / "vfio_numbers.c"
    source.write_text(C_PROGRAM)
    built = subprocess.run(
        [compiler, "-o", str(tmp_path / "numbers"), str(source)], capture_output=True, text=True, check=False
    )
    assert built.returncode == 0, f"the kernel's linux/vfio.h (linux-libc-dev) is needed: {built.stderr}"
    output = subprocess.run([str(tmp_path / "numbers")], capture_output=True, text=True, check=True).stdout
    header = {name: int(value) for name, value in (line.rsplit(" ", 1) for line in output.splitlines())}
    for name in (
        "VFIO_GET_API_VERSION",
        "VFIO_CHECK_EXTENSION",
        "VFIO_SET_IOMMU",
        "VFIO_GROUP_GET_STATUS",
        "VFIO_GROUP_SET_CONTAINER",
        "VFIO_GROUP_UNSET_CONTAINER",
        "VFIO_GROUP_GET_DEVICE_FD",
        "VFIO_DEVICE_GET_INFO",
        "VFIO_DEVICE_GET_REGION_INFO",
        "VFIO_DEVICE_RESET",
        "VFIO_DEVICE_GET_PCI_HOT_RESET_INFO",
        "VFIO_DEVICE_PCI_HOT_RESET",
        "VFIO_TYPE1v2_IOMMU",
        "VFIO_PCI_CONFIG_REGION_INDEX",
        "VFIO_GROUP_FLAGS_VIABLE",
        "VFIO_DEVICE_FLAGS_RESET",
    ):
        assert getattr(vfio, name) == header[name], name
    assert vfio._GROUP_STATUS.size == header["sizeof(struct vfio_group_status)"]
    assert vfio._REGION_INFO.size == header["sizeof(struct vfio_region_info)"]
    assert struct.calcsize("=IIII") == header["offsetof(struct vfio_region_info, size)"]
    assert struct.calcsize("=IIIIQ") == header["offsetof(struct vfio_region_info, offset)"]
    assert struct.calcsize("=III") == header["offsetof(struct vfio_device_info, num_irqs)"]
    assert vfio._DEPENDENT_DEVICE.size == header["sizeof(struct vfio_pci_dependent_device)"]
    assert struct.calcsize("=IHB") == header["offsetof(struct vfio_pci_dependent_device, devfn)"]
    assert vfio._HOT_RESET_INFO.size == header["sizeof(struct vfio_pci_hot_reset_info)"]
    assert vfio._HOT_RESET.size == header["sizeof(struct vfio_pci_hot_reset)"]


def test_hot_reset_info_grows_its_buffer_when_the_kernel_says_enospc(monkeypatch: pytest.MonkeyPatch) -> None:
    """vfio_pci_ioctl_get_pci_hot_reset_info() answers ENOSPC with the count filled in when
    the buffer is too small."""
    devices = [(3, 0, 2, 0x08), (3, 0, 2, 0x09)] + [(7, 0, 4, index) for index in range(10)]
    sizes: list[int] = []

    def ioctl(fd: int, request: int, buffer: bytearray) -> int:
        assert request == vfio.VFIO_DEVICE_GET_PCI_HOT_RESET_INFO
        argsz = struct.unpack_from("=I", buffer)[0]
        sizes.append(argsz)
        struct.pack_into("=I", buffer, 8, len(devices))
        if argsz < 12 + 8 * len(devices):
            raise OSError(errno.ENOSPC, "No space left on device")
        for index, item in enumerate(devices):
            struct.pack_into("=IHBB", buffer, 12 + 8 * index, *item)
        return 0

    monkeypatch.setattr(fcntl, "ioctl", ioctl)
    found = vfio.Device(99, "0000:02:01.0").hot_reset_info()
    assert sizes == [12 + 8 * 8, 12 + 8 * 12]
    assert [item.address for item in found[:2]] == ["0000:02:01.0", "0000:02:01.1"]
    assert {item.group for item in found} == {3, 7}


def test_a_failing_ioctl_names_the_call_and_the_errno(monkeypatch: pytest.MonkeyPatch) -> None:
    def ioctl(fd: int, request: int, argument: object) -> int:
        raise OSError(errno.ENOTTY, "Inappropriate ioctl for device")

    monkeypatch.setattr(fcntl, "ioctl", ioctl)
    with pytest.raises(vfio.VfioError) as caught:
        vfio.Device(99, "0000:01:00.0").reset()
    assert str(caught.value) == "VFIO_DEVICE_RESET 0000:01:00.0: ENOTTY (Inappropriate ioctl for device)"
    assert caught.value.errno == errno.ENOTTY


def test_no_vfio_here_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(
        vfio.VfioError, match=rf"open container {tmp_path}/dev/vfio/vfio: ENOENT \(No such file or directory\)"
    ):
        vfio.VfioSession("0000:01:00.0", root=str(tmp_path))


def test_group_comes_from_the_iommu_group_link(tmp_path: Path) -> None:
    device = tmp_path / "sys/bus/pci/devices/0000:01:00.0"
    device.mkdir(parents=True)
    (device / "iommu_group").symlink_to("../../../kernel/iommu_groups/4")
    assert vfio.iommu_group("0000:01:00.0", str(tmp_path)) == 4
    with pytest.raises(vfio.VfioError, match=r"no IOMMU group for 0000:02:00\.0"):
        vfio.iommu_group("0000:02:00.0", str(tmp_path))


def test_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert vfio.main(["--help"]) == 0
    assert "usage: python -m harness.live.vfio DEVICE" in capsys.readouterr().out
    assert vfio.main([]) == 64
    assert "name exactly one device" in capsys.readouterr().err
    assert vfio.main(["0000:01:00.0", "--frobnicate"]) == 64
    assert "unknown option '--frobnicate'" in capsys.readouterr().err
