"""``vfiolab generate libvirt --domain FILE``: a libvirt domain written here (as ``virsh dumpxml``
prints one) is the VM. With ``--domain-xml`` stdout is that document with the ``<hostdev>``
elements added and every other byte unchanged, judged by virt-xml-validate (from stdin) and
libvirt's test driver; devices the domain already passes are not added again, a guest address
it uses is refused, a failing device it passes is warned about. The file is untrusted input:
only a regular file, at most 10 MiB, UTF-8, no DOCTYPE; each problem is one line with its exit
code (66 unreadable, 65 not a domain, 64 usage), never a hang or a traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import InputError
from harness.generate.libvirt_domain import DOMAIN_FILE_LIMIT, parse_domain
from tests.generate_cli import libvirt_accepts, run_generate, virt_xml_validate
from tests.helpers import REPO, deadline

RootOf = Callable[[str], Path]
INTEL_SATA = "0000:00:17.0"
SCENARIO = "terramaster-f4-424-pro"
VM_START = "terramaster-asm1062-vm-start"

#: A domain as virsh dumpxml prints one for a q35/OVMF guest: comments, a metadata namespace, a
#: disk, a NIC at guest address 01:00.0 and the ASM1062 (03:00.0) passed through.
DOMAIN = """<!--
WARNING: THIS IS AN AUTO-GENERATED FILE. CHANGES TO IT ARE LIKELY TO BE
OVERWRITTEN AND LOST. Changes to this xml configuration should be made using:
  virsh edit nas
-->
<domain type='kvm'>
  <name>nas</name>
  <uuid>3e9b4d3c-7a4f-4a52-9d0e-2b8f6c1d5a10</uuid>
  <metadata>
    <libosinfo:libosinfo xmlns:libosinfo="http://libosinfo.org/xmlns/libvirt/domain/1.0">
      <libosinfo:os id="http://debian.org/debian/12"/>
    </libosinfo:libosinfo>
  </metadata>
  <memory unit='KiB'>8388608</memory>
  <currentMemory unit='KiB'>8388608</currentMemory>
  <vcpu placement='static'>6</vcpu>
  <os>
    <type arch='x86_64' machine='pc-q35-7.2'>hvm</type>
    <loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>
    <nvram>/var/lib/libvirt/qemu/nvram/nas_VARS.fd</nvram>
  </os>
  <cpu mode='host-passthrough' check='none' migratable='on'>
    <topology sockets='1' dies='1' cores='3' threads='2'/>
  </cpu>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/var/lib/libvirt/images/nas.qcow2'/>
      <target dev='vda' bus='virtio'/>
      <address type='pci' domain='0x0000' bus='0x04' slot='0x00' function='0x0'/>
    </disk>
    <controller type='pci' index='0' model='pcie-root'/>
    <controller type='pci' index='1' model='pcie-root-port'>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0' multifunction='on'/>
    </controller>
    <interface type='network'>
      <source network='default'/>
      <model type='virtio'/>
      <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>
    </interface>
    <hostdev mode='subsystem' type='pci' managed='yes'>
      <source>
        <address domain='0x0000' bus='0x03' slot='0x00' function='0x0'/>
      </source>
      <address type='pci' domain='0x0000' bus='0x05' slot='0x00' function='0x0'/>
    </hostdev>
  </devices>
</domain>
"""


def write(tmp_path: Path, text: str | bytes, name: str = "nas.xml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def libvirt_run(root: Path, *args: str) -> tuple[int, str, str]:
    result = run_generate("libvirt", "--device", INTEL_SATA, *args, root=root)
    return result


# --- The domain is the VM ---------------------------------------------------------------------


def test_domain_xml_is_the_given_document_with_the_hostdev_added(final_root: RootOf, tmp_path: Path) -> None:
    path = write(tmp_path, DOMAIN)
    code, out, err = libvirt_run(final_root(SCENARIO), "--domain", str(path), "--domain-xml")
    assert code == 0, err
    added = out.replace(DOMAIN.split("  </devices>", maxsplit=1)[0], "", 1).replace("  </devices>\n</domain>\n", "")
    # Every byte of the document is kept; what is new sits at the end of <devices>.
    assert out.startswith(DOMAIN.split("  </devices>", maxsplit=1)[0]) and out.endswith("  </devices>\n</domain>\n")
    assert added.count("<hostdev ") == 1 and 'bus="0x00" slot="0x17"' in added
    assert added.lstrip().startswith("<!-- vfiolab: passthrough of 0000:00:17.0 [8086:54d3] -->")
    described = libvirt_accepts(out)
    assert described.count("<hostdev mode='subsystem' type='pci' managed='yes'>") == 2
    assert "<memory unit='KiB'>8388608</memory>" in described and "machine='pc-q35-7.2'" in described
    assert "<loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>" in described
    assert "domain nas from" in err and "pc-q35-7.2, ovmf, 8192 MiB, 6 vCPUs" in err
    assert "virsh define domain.xml" in err


def test_the_hostdev_alone_names_the_domain_for_attach_device(final_root: RootOf, tmp_path: Path) -> None:
    code, out, err = libvirt_run(final_root(SCENARIO), "--domain", str(write(tmp_path, DOMAIN)))
    assert code == 0, err
    assert out.count("<hostdev ") == 1
    assert "virsh attach-device nas hostdev-0000-00-17-0.xml --config" in err.splitlines()


def test_a_failing_device_the_domain_passes_is_warned_about(final_root: RootOf, tmp_path: Path) -> None:
    code, out, err = libvirt_run(final_root(VM_START), "--domain", str(write(tmp_path, DOMAIN)))
    assert code == 0, err
    [warning] = [line for line in err.splitlines() if "WARNING" in line]
    assert "domain nas already passes 0000:03:00.0 [1b21:0612] (<hostdev> 1: 0000:03:00.0)" in warning
    assert "reset.bus-reset-breaks-device" in warning and "virsh edit nas" in warning
    assert "already passes 0000:03:00.0" in out


def test_a_device_already_in_the_domain_is_not_added_again(final_root: RootOf, tmp_path: Path) -> None:
    document = DOMAIN.replace("bus='0x03' slot='0x00'", "bus='0x00' slot='0x17'")
    path = write(tmp_path, document)
    code, out, err = libvirt_run(final_root(SCENARIO), "--domain", str(path), "--domain-xml")
    assert code == 0, err
    assert out == document
    assert "0000:00:17.0 is already passed by domain nas (<hostdev> 1): not added again" in err
    code, out, err = libvirt_run(final_root(SCENARIO), "--domain", str(path))
    assert code == 0 and out == "" and "stdout: nothing" in err


def test_a_guest_address_the_domain_uses_is_refused(final_root: RootOf, tmp_path: Path) -> None:
    path = write(tmp_path, DOMAIN)
    code, out, err = libvirt_run(final_root(SCENARIO), "--domain", str(path), "--guest-address", "01:00")
    assert code == 64 and out == ""
    assert "--guest-address 01:00: 01:00.0 is taken by <interface> in domain nas" in err
    code, out, err = libvirt_run(
        final_root(SCENARIO), "--domain", str(path), "--guest-address", "07:00", "--domain-xml"
    )
    assert code == 0, err
    assert '<controller type="pci" index="7" model="pcie-root-port" />' in out
    assert 'bus="0x07" slot="0x00"' in out
    libvirt_accepts(out)


def test_id_overrides_go_into_the_document_with_their_namespace(final_root: RootOf, tmp_path: Path) -> None:
    path = write(tmp_path, DOMAIN)
    code, out, err = libvirt_run(
        final_root(SCENARIO), "--domain", str(path), "--domain-xml", "--override", "sub-device-id=0x1060"
    )
    assert code == 0, err
    assert '<qemu:override xmlns:qemu="http://libvirt.org/schemas/domain/qemu/1.0">' in out
    assert '<alias name="ua-hostdev0" />' in out
    libvirt_accepts(out)


@pytest.mark.parametrize(
    "document",
    [
        "<domain type='kvm'><name>tiny</name><memory>1048576</memory><os><type>hvm</type></os><devices/></domain>",
        "<domain type='kvm'><name>tiny</name><memory>1048576</memory><os><type>hvm</type></os></domain>\n",
    ],
    ids=["empty-devices", "no-devices"],
)
def test_a_domain_without_devices_gets_them(final_root: RootOf, tmp_path: Path, document: str) -> None:
    code, out, err = libvirt_run(final_root(SCENARIO), "--domain", str(write(tmp_path, document)), "--domain-xml")
    assert code == 0, err
    assert out.count("<devices>") == 1 and out.count("</devices>") == 1 and out.count("<hostdev ") == 1
    libvirt_accepts(out)


def test_the_domain_can_come_from_stdin() -> None:
    """``virsh dumpxml nas | vfiolab generate libvirt --domain - --domain-xml | virsh define /dev/stdin``."""
    completed = subprocess.run(
        [sys.executable, "-m", "harness.cli", "generate", "libvirt", "--scenario", SCENARIO]
        + ["--device", INTEL_SATA, "--domain", "-", "--domain-xml"],
        input=DOMAIN,
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("<!--\nWARNING: THIS IS AN AUTO-GENERATED FILE.")
    virt_xml_validate(completed.stdout)


def test_the_domain_gives_machine_and_memory_as_libvirt_reads_them() -> None:
    document = parse_domain(DOMAIN.replace("'0x04'", "'04'").encode(), "nas.xml").vm
    assert (document.memory_mib, document.vcpus, document.machine, document.firmware) == (8192, 6, "pc-q35-7.2", "ovmf")
    # libvirt reads addresses with base 0: '04' is octal 4, '0x04' hex.
    assert {str(bdf) for bdf in document.guest_addresses} >= {"0000:04:00.0", "0000:01:00.0", "0000:05:00.0"}
    assert document.passed[0].hosts == ("0000:03:00.0",)


# --- The file is untrusted input ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "code", "message"),
    [
        ("<network><name>default</name></network>", 65, "not a libvirt domain (the root element is <network>)"),
        ("<domain><name>x</name>", 65, "not well-formed XML"),
        ("<domain/>", 65, "an empty <domain/>"),
        (
            '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
            '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><domain><name>&c;</name></domain>',
            65,
            "a document type declaration",
        ),
        ('<!DOCTYPE domain SYSTEM "file:///etc/passwd"><domain/>', 65, "a document type declaration"),
        (
            "<domain><name>x</name><devices><hostdev type='pci'><source><address bus='zz'/></source></hostdev>"
            "</devices></domain>",
            65,
            "<address bus='zz'> is not a number",
        ),
        ("<domain><name>x</name><memory unit='parsec'>1</memory></domain>", 65, "is not a size libvirt reads"),
        ("<domain><name>x</name><vcpu>lots</vcpu></domain>", 65, "is not a count"),
        (b"<domain><name>\xff</name></domain>", 65, "not UTF-8"),
    ],
    ids=["network", "unclosed", "empty", "entities", "external-dtd", "bad-bus", "bad-unit", "bad-vcpu", "latin1"],
)
def test_a_bad_document_is_one_line_of_bad_input(
    final_root: RootOf, tmp_path: Path, content: str | bytes, code: int, message: str
) -> None:
    path = write(tmp_path, content)
    started = time.monotonic()
    result_code, out, err = libvirt_run(final_root(SCENARIO), "--domain", str(path))
    assert time.monotonic() - started < 30
    assert result_code == code and out == "", err
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400) | st.text(alphabet="<>/='\"x &;!-?domainevcsulbt0123456789", max_size=300))
def test_any_document_parses_or_is_bad_input(data: bytes | str) -> None:
    blob = data.encode() if isinstance(data, str) else data
    try:
        document = parse_domain(blob, "fuzz.xml")
    except InputError as error:
        assert "\n" not in str(error)
        return
    assert document.vm.kind == "libvirt"
    assert document.with_additions("    <hostdev/>\n", "").count("<hostdev/>") == 1


def test_what_is_not_a_regular_file_is_refused_unread(final_root: RootOf, tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.xml"
    os.mkfifo(fifo)
    with deadline(20):
        code, out, err = libvirt_run(final_root(SCENARIO), "--domain", str(fifo))
    assert code == 66 and "not a regular file" in err and len(err.splitlines()) == 1
    for path, message in ((tmp_path, "not a regular file"), (tmp_path / "missing.xml", "No such file")):
        code, out, err = libvirt_run(final_root(SCENARIO), "--domain", str(path))
        assert code == 66 and message in err and out == ""


def test_a_file_over_the_limit_is_refused(final_root: RootOf, tmp_path: Path) -> None:
    padding = " " * (DOMAIN_FILE_LIMIT + 1 - len(DOMAIN))
    path = write(tmp_path, DOMAIN.replace("</domain>", padding + "</domain>"))
    code, out, err = libvirt_run(final_root(SCENARIO), "--domain", str(path))
    assert code == 66 and "larger than 10 MiB" in err and out == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["proxmox", "--domain", "x.xml"], "--domain does not apply to target proxmox: it reads the VM from"),
        (["qemu", "--domain", "x.xml"], "--domain does not apply to target qemu"),
        (["libvirt", "--domain", "x.xml", "--vmid", "100"], "--domain and --vmid both name the VM: give one"),
    ],
)
def test_domain_with_what_it_does_not_go_with_is_a_usage_error(
    final_root: RootOf, args: list[str], message: str
) -> None:
    result = run_generate(*args, "--device", INTEL_SATA, root=final_root(SCENARIO))
    assert result.code == 64 and message in result.err and result.out == ""
