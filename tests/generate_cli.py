"""Helpers for the generator's tests: ``vfiolab generate`` run in this process with stdout and
stderr captured apart (the output contract is about which goes where), the output rendered as
the command line prints it (for golden files), and the real validators fed from stdout."""

from __future__ import annotations

import io
import os
import subprocess
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import NamedTuple

from harness.cli import main
from harness.generate import GeneratedOutput, GenerateOptions, NeedsOutDirectory
from tests.helpers import system_tool


class Run(NamedTuple):
    code: int
    out: str
    err: str


def run_generate(*args: str, root: Path | None = None) -> Run:
    """``vfiolab generate ARGS [--root ROOT]`` in this process."""
    out, err = io.StringIO(), io.StringIO()
    arguments = ["generate", *args, *(["--root", str(root)] if root is not None else [])]
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(arguments)
        except SystemExit as exiting:
            code = int(exiting.code or 0)
    return Run(code, out.getvalue(), err.getvalue())


def option_arguments(options: GenerateOptions) -> list[str]:
    """The command-line arguments that give ``options`` (those away from their defaults)."""
    args: list[str] = []
    if options.vmid != GenerateOptions.vmid:
        args += ["--vmid", str(options.vmid)]
    if options.force:
        args.append("--force")
    if options.guest_address:
        args += ["--guest-address", options.guest_address]
    for key, value in options.id_overrides.items():
        args += ["--override", f"{key}={value}"]
    if options.domain_xml:
        args.append("--domain-xml")
    if options.qemu_format:
        args += ["--format", options.qemu_format]
    for name in options.unsafe:
        args += ["--unsafe", name]
    return args


def rendered(output: GeneratedOutput) -> str:
    """What the command line prints, in sections: stdout and stderr, or for a target with
    several files each file as ``--out`` writes it and stderr."""
    try:
        sections = [("stdout", output.stdout_text())]
        written = False
    except NeedsOutDirectory:
        sections = [(f"DIR/{item.path.lstrip('/')}", item.content) for item in output.files]
        written = True
    sections.append(("stderr", output.guidance(written=written)))
    return "".join(f"==> {name} <==\n{text}" for name, text in sections)


def virt_xml_validate(document: str) -> None:
    """virt-xml-validate reads the document from its stdin, as in ``... | virt-xml-validate - domain``."""
    completed = subprocess.run(
        [system_tool("virt-xml-validate"), "-", "domain"], input=document, capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def define_in_test_driver(document: str) -> str:
    """libvirt's test:///default driver defines the domain; its XML as libvirt keeps it."""
    import libvirt

    connection = libvirt.open("test:///default")
    try:
        domain = connection.defineXML(document)
        description: str = domain.XMLDesc()
        domain.undefine()
    finally:
        connection.close()
    return description


def libvirt_accepts(document: str) -> str:
    """virt-xml-validate (from stdin) and the test driver both accept the domain; its XML as
    libvirt keeps it."""
    virt_xml_validate(document)
    return define_in_test_driver(document)


def in_a_domain(hostdev: str, machine: str = "q35") -> str:
    """A ``<hostdev>`` document (what ``virsh attach-device`` takes) inside a minimal domain, for
    the validators that judge whole domains."""
    return (
        "<domain type='kvm'><name>attach-target</name><memory unit='MiB'>1024</memory>"
        f"<os><type arch='x86_64' machine='{machine}'>hvm</type></os><devices>\n{hostdev}</devices></domain>\n"
    )


def modprobe_accepts(tmp_path: Path, text: str) -> None:
    """kmod parses the file with nothing on stderr, without the test machine's /lib/modules."""
    config = tmp_path / "vfio-judge.conf"
    config.write_text(text)
    modules = tmp_path / "empty-modules"
    (modules / "lib/modules/0.0.0").mkdir(parents=True, exist_ok=True)
    completed = subprocess.run(
        [system_tool("modprobe"), "-c", "-C", str(config), "-d", str(modules), "-S", "0.0.0"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0 and completed.stderr == "", completed.stderr
    dumped = completed.stdout.splitlines()
    for line in text.splitlines():
        if line.startswith("options vfio-pci "):
            assert line.replace("vfio-pci", "vfio_pci", 1) in dumped
        elif line.startswith(("softdep ", "install ")):
            assert line in dumped


def qemu_judges(arguments: list[str], machine: str, addresses: list[str]) -> None:
    """qemu-system-x86_64 parses every -device: each vfio-pci device is judged in its own dry
    start (QEMU stops at the first host device it cannot open), with every bus device before it;
    a host address that exists on this machine is swapped for one that cannot, so the only
    acceptable failure is "no such host device"."""
    pairs = [arguments[index : index + 2] for index in range(0, len(arguments), 2)]
    assert all(pair[0] == "-device" for pair in pairs), arguments
    buses = [pair for pair in pairs if not pair[1].startswith("vfio-pci,")]
    for device in [pair for pair in pairs if pair[1].startswith("vfio-pci,")]:
        judged = [word for pair in [*buses, device] for word in pair]
        for address in addresses:
            if os.path.exists(f"/sys/bus/pci/devices/{address}"):
                judged = [part.replace(f"host={address}", "host=00fe:fe:1f.7") for part in judged]
        command = [system_tool("qemu-system-x86_64"), "-machine", f"{machine},accel=tcg", "-nodefaults"]
        command += ["-display", "none", "-S", "-monitor", "none", *judged]
        completed = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        assert completed.returncode != 0
        assert "no such host device" in completed.stderr, completed.stderr
        for problem in ("Property", "expects", "Parameter", "not found", "invalid", "not available"):
            assert problem not in completed.stderr.split("no such host device")[0], completed.stderr
