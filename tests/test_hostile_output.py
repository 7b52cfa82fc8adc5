"""Hostile names on a root through every generator target and the checker: every printed command
parses (``shlex.split``) with each value as one argument, no injected command becomes a word or a
line of its own, and pasting the commands into a shell (with stand-in programs on PATH) never runs
the injected one.

The roots are the Terramaster scenario rendered and then edited as a captured root could be: the
host name, the disks' ``/dev/disk/by-id`` names (where model and serial strings end up), the VM's
name, the host driver's name, modprobe.d and grub.d file names, dpkg package names.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness import paste
from harness.checker import check_root
from harness.errors import InputError, OutputError
from harness.generate import TARGETS, GeneratedOutput, GenerateOptions, GenerateRefused, generate
from tests.helpers import vfiolab

RootOf = Callable[[str], Path]
SCENARIO = "terramaster-f4-424-pro"
INTEL_SATA = "0000:00:17.0"
ASM = "0000:03:00.0"
#: What an attacker puts where a name belongs. Each tries to run `touch PWNED`.
PAYLOADS = [
    "'; touch PWNED; '",
    '"; touch PWNED; "',
    "$(touch PWNED)",
    "`touch PWNED`",
    "x\ntouch PWNED",
    "x\rtouch PWNED",
    "a b;touch PWNED",
    "x|touch PWNED&&touch PWNED",
    "x\x1b[2Jtouch PWNED",
    "-rf",
    "--help",
]
#: Programs the printed commands call; stand-ins record their arguments.
PROGRAMS = (
    "qm",
    "pvesh",
    "virsh",
    "driverctl",
    "update-initramfs",
    "proxmox-boot-tool",
    "update-grub",
    "dracut",
    "mkinitcpio",
    "kernel-install",
    "uname",
    "apt",
    "dpkg",
    "mv",
    "rm",
    "cat",
)
#: A CommonMark code span: a run of backticks, then the same run closing it.
#: A backslash-escaped backtick (a value in prose, harness.paste.prose) opens none.
CODE_SPAN = re.compile(r"(?<![`\\])(`+)(?!`)(.+?)(?<!`)\1(?!`)")
IDS = {
    "sda": "ata-WDC_WD40EFPX-68C6CN0_WD-WX12D34A5678",
    "sdb": "ata-WDC_WD40EFPX-68C6CN0_WD-WX12D34A5679",
    "sdc": "ata-WDC_WD40EFPX-68C6CN0_WD-WX12D34A5680",
    "sdd": "ata-WDC_WD40EFPX-68C6CN0_WD-WX12D34A5681",
}


# --- Hostile roots ---------------------------------------------------------------------------


def copy_root(final_root: RootOf, tmp_path: Path) -> Path:
    root = tmp_path / "root"
    shutil.copytree(final_root(SCENARIO), root, symlinks=True)
    return root


def file_name(payload: str) -> str:
    """The payload as one file name (a name cannot hold '/')."""
    return payload.replace("/", "_")


def make_hostile(root: Path, payload: str) -> None:
    (root / "etc/hostname").write_text(payload + "\n")
    by_id = root / "dev/disk/by-id"
    hostile_names = {
        "sda": f"ata-WDC_WD40EFPX-68C6CN0_{payload}",  # a serial
        "sdb": f"ata-{payload}_WD-WX12D34A5679",  # a model
        "sdc": payload,
        "sdd": f"ata-Evil_{payload}",
    }
    for disk, name in hostile_names.items():
        (by_id / IDS[disk]).unlink()
        (by_id / file_name(name)).symlink_to(f"../../{disk}")
    config = root / "etc/pve/qemu-server/100.conf"
    config.write_text(config.read_text().replace("name: truenas", f"name: {file_name(payload)}"))
    (root / "etc/modprobe.d" / file_name(payload)).write_text("options vfio-pci ids=8086:54d3\n")
    grub_d = root / "etc/default/grub.d"
    grub_d.mkdir(parents=True, exist_ok=True)
    value = shlex.quote(f"quiet {payload}")
    (grub_d / f"{file_name(payload)}.cfg").write_text(f"GRUB_CMDLINE_LINUX_DEFAULT={value}\n")


@pytest.fixture(scope="module", params=range(len(PAYLOADS)), ids=[repr(item) for item in PAYLOADS])
def hostile(
    request: pytest.FixtureRequest, final_root: RootOf, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, str]]:
    """One hostile root per payload, shared by the tests that only read it."""
    root = copy_root(final_root, tmp_path_factory.mktemp("hostile"))
    payload = PAYLOADS[request.param]
    make_hostile(root, payload)
    add_package_edits(root, payload)
    yield root, payload


# --- Judges ----------------------------------------------------------------------------------


def assert_safe_command(command: str) -> list[str]:
    """One line, parses, and no injected command is a word of its own."""
    assert "\n" not in command and "\r" not in command and "\x1b" not in command, command
    words = shlex.split(command)
    assert not [word for word in words if word == "touch" or word.startswith("touch ")], command
    return words


def assert_safe_text(text: str) -> None:
    """No line of printed text starts an injected command or carries a terminal escape."""
    for line in text.splitlines():
        assert not line.lstrip().startswith(("touch", "`touch", "$(touch")), line
        assert "\x1b" not in line and "\r" not in line, repr(line)


def commands_of(output: GeneratedOutput) -> list[str]:
    return [command for _, command in [*output.commands, *output.after_reboot]]


class Shell:
    """Runs pasted commands with stand-in programs on PATH; ``touch`` is the canary."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.bin = directory / "bin"
        self.bin.mkdir(parents=True)
        self.log = directory / "calls.log"
        self.canary = directory / "INJECTED"
        for name in PROGRAMS:
            stub = self.bin / name
            stub.write_text(
                f"#!/bin/sh\nprintf '%s\\0' {name} \"$@\" >> {shlex.quote(str(self.log))}\necho >> {self.log}\n"
            )
            stub.chmod(0o755)
        touch = self.bin / "touch"
        touch.write_text(f'#!/bin/sh\necho "$@" >> {shlex.quote(str(self.canary))}\n')
        touch.chmod(0o755)

    def paste(self, command: str) -> None:
        subprocess.run(
            ["/bin/sh", "-c", command],
            cwd=self.directory,
            env={"PATH": str(self.bin), "HOME": str(self.directory)},
            capture_output=True,
            check=False,
            timeout=30,
        )
        assert not self.canary.exists(), f"pasting {command!r} ran the injected command"
        assert not (self.directory / "PWNED").exists()

    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [line.split("\0") for line in self.log.read_text().split("\0\n") if line]


@pytest.fixture
def shell(tmp_path: Path) -> Shell:
    return Shell(tmp_path / "shell")


# --- The generator ---------------------------------------------------------------------------


def test_every_target_prints_only_safe_commands(hostile: tuple[Path, str], shell: Shell) -> None:
    root, payload = hostile
    options = {
        "proxmox": GenerateOptions(node="pve"),
        "cmdline": GenerateOptions(unsafe=("acs-override",)),
        "all": GenerateOptions(unsafe=("acs-override",)),
    }
    report = check_root(root)
    for target in TARGETS:
        output = generate(target, root, [INTEL_SATA], options.get(target, GenerateOptions()), report)
        assert_safe_text(output.text())
        assert_safe_text(output.guidance())
        if output.stdout is not None or output.commands_on_stdout:
            assert_safe_text(output.stdout_text())
        for item in output.files:
            assert_safe_text(item.content)
        for command in commands_of(output):
            assert_safe_command(command)
            shell.paste(command)
        if target == "libvirt":
            name = file_name(payload).splitlines()[0]
            expected = name if paste.is_hostname(name) else "vm100"
            assert commands_of(output) == [f"virsh attach-device {expected} hostdev-0000-00-17-0.xml --config"]
            assert any("is not a DNS name" in note for note in output.notes) is (expected == "vm100")


def test_the_proxmox_node_comes_only_from_a_valid_hostname_or_node(hostile: tuple[Path, str], shell: Shell) -> None:
    root, payload = hostile
    node = paste.node_from_hostname(payload)
    if paste.is_node_name(node):
        # Proxmox reads the first line up to the first dot: that part is a valid name.
        assert f"node={node}," in generate("proxmox", root, [INTEL_SATA]).files[1].content
    else:
        with pytest.raises(InputError, match="not a Proxmox node name"):
            generate("proxmox", root, [INTEL_SATA])
    output = generate("proxmox", root, [INTEL_SATA], GenerateOptions(node="pve-2"))
    [pvesh] = [command for command in commands_of(output) if command.startswith("pvesh")]
    words = assert_safe_command(pvesh)
    assert words[words.index("--map") + 1].split(",")[2] == "node=pve-2"
    shell.paste(pvesh)
    [call] = shell.calls()
    assert call[0] == "pvesh" and "node=pve-2" in call[call.index("--map") + 1]


def test_a_domain_name_becomes_the_node_proxmox_uses(final_root: RootOf, tmp_path: Path) -> None:
    root = copy_root(final_root, tmp_path)
    (root / "etc/hostname").write_text("nas-01.lab.example\n")
    output = generate("proxmox", root, [INTEL_SATA])
    assert "node=nas-01," in output.files[1].content


def test_disk_commands_use_only_names_udev_writes(hostile: tuple[Path, str], shell: Shell) -> None:
    root, payload = hostile
    output = generate("proxmox-disks", root, [INTEL_SATA])
    assert_safe_text(output.text())
    values = []
    for command in commands_of(output):
        words = assert_safe_command(command)
        assert words[:3] == ["qm", "set", "100"] and len(words) == 5
        values.append(words[4])
        shell.paste(command)
    assert [call[4] for call in shell.calls()] == values
    for value in values:
        path = value.removeprefix("file=").split(",")[0]
        name = path.removeprefix("/dev/disk/by-id/")
        assert path in ("/dev/sda", "/dev/sdb") or paste.is_disk_id(name), value
        for option in value.split(",")[1:]:
            key, _, serial = option.partition("=")
            assert key == "serial" and len(urllib.parse.unquote(serial).encode()) <= 20
            assert all(character.isalnum() or character in "-%_.!~*'()" for character in serial)
    if not paste.is_disk_id(f"ata-WDC_WD40EFPX-68C6CN0_{payload}"):
        assert any("not a name udev writes" in note for note in output.notes)


def test_a_refusal_offers_only_safe_disk_commands(hostile: tuple[Path, str], shell: Shell) -> None:
    root, _ = hostile
    with pytest.raises(GenerateRefused) as refused:
        generate("proxmox", root, [ASM], GenerateOptions(node="pve"))
    alternative = refused.value.alternative or ""
    assert_safe_text(alternative)
    commands = [line for line in alternative.splitlines() if line and not line.startswith("#")]
    assert len(commands) == 2
    for command in commands:
        assert assert_safe_command(command)[:3] == ["qm", "set", "100"]
        shell.paste(command)
    for reason in refused.value.reasons:
        assert_safe_text(paste.printable(reason))


def test_the_refusal_on_the_command_line_is_safe(final_root: RootOf, tmp_path: Path) -> None:
    root = copy_root(final_root, tmp_path)
    make_hostile(root, "x\ntouch PWNED")
    completed = vfiolab("generate", "proxmox", "--root", str(root), "--device", ASM, "--node", "pve")
    assert completed.returncode == 2, completed.stderr
    assert completed.stdout == ""
    assert_safe_text(completed.stderr)
    alternative = completed.stderr.split("# Instead, pass the disks", 1)[1].splitlines()[1:]
    assert alternative
    for line in alternative:
        if line and not line.startswith("#"):
            assert_safe_command(line)


def test_a_hostile_grub_snippet_stays_quoted_in_the_file_written(final_root: RootOf, tmp_path: Path) -> None:
    root = copy_root(final_root, tmp_path)
    make_hostile(root, "$(touch PWNED)")
    output = generate("cmdline", root, [INTEL_SATA], GenerateOptions(unsafe=("acs-override",)))
    [grub] = output.files
    assert grub.path == "/etc/default/grub.d/$(touch PWNED).cfg"
    sourced = tmp_path / "sourced"
    sourced.mkdir()
    (sourced / "grub").write_text(grub.content)
    shell = Shell(tmp_path / "shell")
    completed = subprocess.run(
        ["/bin/sh", "-c", '. ./grub; printf %s "$GRUB_CMDLINE_LINUX_DEFAULT"'],
        cwd=sourced,
        env={"PATH": str(shell.bin)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert not shell.canary.exists()
    assert completed.stdout == "quiet $(touch PWNED) pcie_acs_override=downstream,multifunction"


def test_a_file_name_with_a_newline_is_not_written_under_out(final_root: RootOf, tmp_path: Path) -> None:
    root = copy_root(final_root, tmp_path)
    grub_d = root / "etc/default/grub.d"
    grub_d.mkdir(parents=True)
    (grub_d / "x\ntouch PWNED.cfg").write_text('GRUB_CMDLINE_LINUX_DEFAULT="quiet"\n')
    output = generate("cmdline", root, [INTEL_SATA], GenerateOptions(unsafe=("acs-override",)))
    assert [item.path for item in output.files] == ["/etc/default/grub.d/x\ntouch PWNED.cfg"]
    assert_safe_text(output.text())
    with pytest.raises(OutputError, match="not a plain path"):
        output.write(tmp_path / "out")
    assert not list((tmp_path / "out").rglob("*.cfg"))
    completed = vfiolab(
        *("generate", "cmdline", "--root", str(root), "--device", INTEL_SATA),
        *("--unsafe", "acs-override", "--out", str(tmp_path / "out")),
    )
    assert completed.returncode == 73 and "not a plain path" in completed.stderr
    assert "Traceback" not in completed.stderr


@pytest.mark.parametrize("payload", ["x\ntouch PWNED", "x\x1b[2Jtouch PWNED"])
def test_a_grub_assignment_it_cannot_edit_safely_is_left_to_the_user(
    final_root: RootOf, tmp_path: Path, payload: str
) -> None:
    root = copy_root(final_root, tmp_path)
    make_hostile(root, payload)
    output = generate("cmdline", root, [INTEL_SATA], GenerateOptions(unsafe=("acs-override",)))
    assert output.files == [] and output.commands == []
    assert any(note.startswith("left /etc/default/grub.d/") for note in output.notes)
    assert_safe_text(output.text())


def test_apply_sh_with_hostile_paths_runs_nothing_injected(final_root: RootOf, tmp_path: Path) -> None:
    root = copy_root(final_root, tmp_path)
    make_hostile(root, "$(touch PWNED)")
    out = tmp_path / "plan"
    generate("all", root, [INTEL_SATA], GenerateOptions(unsafe=("acs-override",))).write(out)
    shell = Shell(tmp_path / "shell")
    canary_only = tmp_path / "canary-bin"
    canary_only.mkdir()
    shutil.copy2(shell.bin / "touch", canary_only / "touch")
    environment = {"PATH": f"{canary_only}:/usr/bin:/bin", "VFIOLAB_ROOT": str(root)}
    for mode in ("--dry-run", "--yes"):
        completed = subprocess.run(
            ["sh", str(out / "apply.sh"), mode], capture_output=True, text=True, env=environment, check=False
        )
        assert completed.returncode == 0, completed.stdout + completed.stderr
    assert not shell.canary.exists()
    assert (root / "etc/default/grub.d/$(touch PWNED).cfg").read_text() == (
        out / "etc/default/grub.d/$(touch PWNED).cfg"
    ).read_text()


def _rebind_link(root: Path, driver: str) -> None:
    drivers = root / "sys/bus/pci/drivers"
    (drivers / driver).mkdir()
    link = root / "sys/bus/pci/devices" / INTEL_SATA / "driver"
    target = Path(os.readlink(link)).parent / driver
    link.unlink()
    link.symlink_to(target)


def test_a_driver_link_with_shell_syntax_never_reaches_the_output(final_root: RootOf, tmp_path: Path) -> None:
    """The reader does not take a driver name that no kernel driver could have (tree.driver-link)."""
    root = copy_root(final_root, tmp_path)
    _rebind_link(root, "ahci;touch PWNED")
    for target_name in ("modprobe", "initramfs-tools", "all"):
        output = generate(target_name, root, [INTEL_SATA])
        assert "touch PWNED" not in output.text()
    report = check_root(root)
    sata = report.device(INTEL_SATA)
    assert sata is not None and "tree.driver-link" in {finding.code for finding in sata.findings}
    for device in report.devices:
        for finding in device.findings:
            for command in backticked(finding.fix):
                assert_safe_command(command)
            assert "touch PWNED" not in finding.fix


def test_a_driver_name_that_is_no_module_is_refused_by_the_generator(final_root: RootOf, tmp_path: Path) -> None:
    """A name a driver may carry but a module may not ('.' is not in a module name): it would end
    up in modprobe.d install lines, which a shell runs."""
    root = copy_root(final_root, tmp_path)
    _rebind_link(root, "ahci.x")
    for target_name in ("modprobe", "initramfs-tools", "all"):
        with pytest.raises(InputError, match="not a kernel module name"):
            generate(target_name, root, [INTEL_SATA])
    completed = vfiolab("generate", "modprobe", "--root", str(root), "--device", INTEL_SATA)
    assert completed.returncode == 65 and "not a kernel module name" in completed.stderr
    assert "Traceback" not in completed.stderr


# --- The checker ------------------------------------------------------------------------------


def backticked(text: str) -> list[str]:
    """The commands a fix text sets off as code spans (single or double backticks), plus its ``qm
    set`` command (which ends at the first unquoted ``;`` or ``)``), each as a user would paste it."""
    parts = [match.group(2).strip() for match in CODE_SPAN.finditer(text)]
    if "qm set " in text and not any(part.startswith("qm set ") for part in parts):
        lexer = shlex.shlex("qm set " + text.split("qm set ", 1)[1], posix=True, punctuation_chars=";)")
        lexer.whitespace_split = True
        words: list[str] = []
        while (token := lexer.get_token()) is not None and not set(token) <= set(";),"):
            words.append(token)
        parts.append(shlex.join(words))
    return parts


def add_package_edits(root: Path, payload: str) -> None:
    """A hand-made initramfs script in the package directory, and one a package owns, edited,
    whose package has a hostile name."""
    scripts = root / "usr/share/initramfs-tools/scripts/init-top"
    scripts.mkdir(parents=True)
    (scripts / file_name(payload)).write_text("#!/bin/sh\nmodprobe vfio-pci ids=8086:54d3\n")
    (scripts / "vfio-bind").write_text("#!/bin/sh\nmodprobe vfio-pci ids=8086:54d3\n")
    (scripts / "udev").write_text('#!/bin/sh\nPREREQS="vfio-bind"\n')
    info = root / "var/lib/dpkg/info"
    info.mkdir(parents=True)
    (info / f"{file_name(payload)}.md5sums").write_text(
        "00000000000000000000000000000000  usr/share/initramfs-tools/scripts/init-top/udev\n"
    )


def test_every_fix_the_checker_prints_is_safe(hostile: tuple[Path, str], shell: Shell) -> None:
    root, payload = hostile
    report = check_root(root)
    fixes = [finding.fix for device in report.devices for finding in device.findings]
    fixes += [finding.fix for finding in report.host_findings]
    commands = [command for fix in fixes for command in backticked(fix)]
    assert any(command.startswith("mv ") for command in commands)  # the ignored modprobe.d file
    assert any(command.startswith(("apt ", "dpkg ")) for command in commands)  # the package edit
    assert any(command.startswith("qm set") for command in commands)  # the ASM1062's disks
    for command in commands:
        words = assert_safe_command(command)
        if words[0] == "mv":
            assert words[1] == f"/etc/modprobe.d/{paste.printable(file_name(payload))}"
        if words[0] in ("apt", "dpkg"):
            assert len(words) == (4 if words[0] == "apt" else 3)
        shell.paste(command.replace("<vmid>", "100"))
    for fix in fixes:
        assert_safe_text(fix)


def test_the_checker_json_on_the_command_line(final_root: RootOf, tmp_path: Path) -> None:
    import json

    root = copy_root(final_root, tmp_path)
    make_hostile(root, "`touch PWNED`")
    completed = vfiolab("check", "--root", str(root), "--json")
    assert completed.returncode == 2, completed.stderr
    document = json.loads(completed.stdout)
    fixes = [finding["fix"] for device in document["devices"] for finding in device["findings"]]
    asm = next(device for device in document["devices"] if device["bdf"] == ASM)
    [disk_fix] = [finding["fix"] for finding in asm["findings"] if "qm set" in finding["fix"]]
    [command] = [part for part in backticked(disk_fix) if part.startswith("qm set ")]
    words = shlex.split(command)
    # VM 100 is the only VM configured on the root, and it already has scsi0.
    assert words[:4] == ["qm", "set", "100", "-scsi1"] and words[5] == "-scsi2" and len(words) == 7
    for path in (words[4], words[6]):
        assert path in ("/dev/sdc", "/dev/sdd") or paste.is_disk_id(path.removeprefix("/dev/disk/by-id/")), path
    for fix in fixes:
        for command in backticked(fix):
            assert_safe_command(command)
