"""Helpers for the generator's tests: ``vfiolab generate`` run in this process with stdout and
stderr captured apart (the output contract is about which goes where), the output rendered as
the command line prints it (for golden files), and the real validators fed from stdout."""

from __future__ import annotations

import io
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


def in_a_domain(hostdev: str, machine: str = "q35") -> str:
    """A ``<hostdev>`` document (what ``virsh attach-device`` takes) inside a minimal domain, for
    the validators that judge whole domains."""
    return (
        "<domain type='kvm'><name>attach-target</name><memory unit='MiB'>1024</memory>"
        f"<os><type arch='x86_64' machine='{machine}'>hvm</type></os><devices>\n{hostdev}</devices></domain>\n"
    )
