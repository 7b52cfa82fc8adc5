"""``vfiolab capture``: a root into a bundle, and the bundle checked as the root was.

* Every shipped scenario, rendered after its steps and captured: the bundle gives the same report
  as the directory (the whole JSON when not redacted; the same verdicts, finding codes and groups
  when redacted), and the generator writes the same output from either.
* This machine's real ``/``, as root and as ``nobody``: the capture completes, the bundle checks
  with the same verdicts as ``check`` on ``/`` as that user, and (traced with strace) nothing is
  written but the bundle.
* Redaction: serials, MACs, hostnames, UUIDs and IP addresses planted in a rendered root (in
  contents and in file names, a PCIe Device Serial Number in config space) appear nowhere in the
  bundle, decompressed, names included; the by-id name the checker's fix text gives on the
  bundle is the bundle's own link name, and agrees with the disk's udev record.
* The manifest, the output rules (exit 73, --overwrite, atomic, modes) and a bundle captured again.
"""

from __future__ import annotations

import gzip
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.capture.bundle import MANIFEST, _tar_info, _ustar_header, capture, read_manifest
from harness.checker import check_root
from harness.generate import TARGETS, GenerateRefused, generate
from harness.pci import regs
from harness.pci.config import ConfigSpace
from harness.report import to_json
from harness.rootfs import Kind
from harness.rootfs_bundle import BundleRoot, Member
from tests.canary import run_cli
from tests.conftest import RenderRoot

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = sorted(path.stem for path in (REPO / "scenarios").glob("*.yaml"))


def signature(document: dict[str, Any]) -> dict[str, Any]:
    """Verdicts, finding codes and groups of a JSON report (what redaction must not change)."""
    return {
        "devices": [
            (item["bdf"], item["verdict"], sorted(finding["code"] for finding in item["findings"]))
            for item in document["devices"]
        ],
        "host": sorted(finding["code"] for finding in document["findings"]),
        "groups": [(group["group"], group["verdict"], group["devices"]) for group in document["groups"]],
        "exit_code": document["exit_code"],
    }


def report(root: Path | str) -> dict[str, Any]:
    document = to_json(check_root(root))
    document.pop("root")
    return document


@pytest.mark.parametrize("name", SCENARIOS)
def test_a_bundle_checks_like_the_root_it_was_captured_from(name: str, final_root: RenderRoot, tmp_path: Path) -> None:
    root = final_root(name)
    expected = report(root)
    capture(root, tmp_path / "plain.tar.gz", redact=False)
    assert report(tmp_path / "plain.tar.gz") == expected
    capture(root, tmp_path / "redacted.tar.gz")
    assert signature(report(tmp_path / "redacted.tar.gz")) == signature(expected)


def test_the_generator_writes_the_same_from_a_bundle(final_root: RenderRoot, tmp_path: Path) -> None:
    root = final_root("terramaster-f4-424-pro")
    bundle = tmp_path / "host.tar.gz"
    capture(root, bundle, redact=False)

    def outputs(where: Path) -> dict[str, str]:
        found = {}
        for target in TARGETS:
            for device in ("0000:00:17.0", "0000:03:00.0"):
                try:
                    found[f"{target} {device}"] = generate(target, where, [device]).text()
                except GenerateRefused as refused:
                    found[f"{target} {device}"] = f"refused: {refused.reasons} {refused.alternative}"
        return found

    assert outputs(bundle) == outputs(root)


# --- This machine ----------------------------------------------------------------------------------

_TRACED = (
    "open,openat,openat2,creat,rename,renameat,renameat2,link,linkat,symlink,symlinkat,unlink,unlinkat,"
    "mkdir,mkdirat,rmdir,truncate,chmod,fchmodat,chown,fchownat,lchown,utimensat,mknodat"
)
_WRITE_FLAGS = re.compile(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|O_APPEND")
_CAPTURE = (
    "import sys; from harness.capture.bundle import capture; "
    "result = capture('/', sys.argv[1]); print(result.members, result.seconds)"
)


def _user() -> str | None:
    """``nobody`` when the tests run as root (the capture then runs as both); None otherwise."""
    return "nobody" if os.geteuid() == 0 else None


_ENV = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}


def _interpreter(user: str | None) -> str:
    """A Python that ``user`` can run and that imports this checkout: the test's own, else the
    system's (a virtual environment under a private home is not reachable by ``nobody``)."""
    if user is None:
        return sys.executable
    candidates = dict.fromkeys([sys.executable, f"/usr/bin/python{sys.version_info[0]}.{sys.version_info[1]}"])
    for candidate in candidates:
        try:
            probe = subprocess.run(
                [candidate, "-c", "import harness.capture.bundle"],
                env=_ENV,
                cwd="/",
                capture_output=True,
                timeout=60,
                preexec_fn=_demote(user),
                check=False,
            )
        except OSError:
            continue
        if probe.returncode == 0:
            return candidate
    pytest.skip(f"no Python interpreter that {user} may run imports this checkout")


def _run_capture(out: Path, user: str | None, strace: str | None = None, log: Path | None = None) -> None:
    command = [_interpreter(user), "-c", _CAPTURE, str(out)]
    if strace is not None and log is not None:
        command = [
            strace,
            "-f",
            "-qq",
            # Stop only at the traced calls (not at every system call): a loaded machine stays usable.
            "--seccomp-bpf",
            "-o",
            str(log),
            "-e",
            f"trace={_TRACED}",
            *(["-u", user] if user else []),
            *command,
        ]
        demote = None
    else:
        demote = _demote(user)
    completed = subprocess.run(
        command, env=_ENV, cwd=out.parent, capture_output=True, text=True, timeout=600, preexec_fn=demote, check=False
    )
    assert completed.returncode == 0, completed.stderr
    assert "Traceback" not in completed.stderr


def _demote(user: str | None) -> Callable[[], None] | None:
    if user is None:
        return None
    entry = pwd.getpwnam(user)

    def drop() -> None:  # pragma: no cover - runs in the child
        os.setgroups([])
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)

    return drop


def _check_slash_as(user: str | None) -> dict[str, Any]:
    """``check`` of ``/`` in a forked child as ``user``, its JSON report (or the error)."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        try:
            os.close(read_end)
            demote = _demote(user)
            if demote is not None:
                demote()
            try:
                payload = json.dumps(report("/"))
            except Exception as error:
                payload = json.dumps({"error": str(error)})
            with os.fdopen(write_end, "w") as out:
                out.write(payload)
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as incoming:
        text = incoming.read()
    os.waitpid(child, 0)
    result: dict[str, Any] = json.loads(text)
    return result


def _output_directory(tmp_path: Path, user: str | None, request: pytest.FixtureRequest) -> Path:
    if user is None:
        directory = tmp_path / "out"
        directory.mkdir(parents=True)
        return directory
    # pytest keeps its temporary directories private to root (and puts the mode back whenever a
    # session starts), so another user's directory lives in the system's temporary directory.
    directory = Path(tempfile.mkdtemp(prefix="vfiolab-capture-test-", dir="/tmp"))
    request.addfinalizer(lambda: shutil.rmtree(directory, ignore_errors=True))
    entry = pwd.getpwnam(user)
    os.chown(directory, entry.pw_uid, entry.pw_gid)
    return directory


@pytest.mark.parametrize("as_user", [False, True], ids=["as-invoker", "as-nobody"])
def test_capturing_this_machine_completes_and_checks_like_check(
    as_user: bool, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    user = _user() if as_user else None
    if as_user and user is None:
        pytest.skip("the tests do not run as root: the capture already ran as a normal user (as-invoker)")
    if not os.path.isdir("/sys/bus/pci/devices") or not os.listdir("/sys/bus/pci/devices"):
        pytest.skip("this machine shows no PCI devices under /sys/bus/pci/devices")
    out = _output_directory(tmp_path, user, request) / "this.tar.gz"
    _run_capture(out, user)
    expected = _check_slash_as(user)
    assert "error" not in expected, expected
    found = report(out)
    assert signature(found) == signature(expected)
    manifest = read_manifest(BundleRoot(out))
    assert manifest["privileged"] is (user is None and os.geteuid() == 0)
    assert manifest["commands_not_run"] is None
    configs = [path for path in manifest["read"] if path.endswith("/config") and "/pci" in path]
    assert configs, "the PCI functions' config space is in the bundle"
    sizes = {len(BundleRoot(out).read(path, 4096).data) for path in configs}
    assert sizes <= ({64, 128} if manifest["privileged"] is False else {256, 4096})


def test_capturing_this_machine_writes_nothing_but_the_bundle(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed: the write check traces the capture's system calls")
    for user in dict.fromkeys([None, _user()]):
        directory = _output_directory(tmp_path / (user or "invoker"), user, request) if user else tmp_path / "invoker"
        directory.mkdir(exist_ok=True, parents=True)
        out = directory / "this.tar.gz"
        log = tmp_path / f"strace-{user or 'invoker'}.log"
        _run_capture(out, user, strace, log)
        offending = []
        for line in log.read_text().splitlines():
            if "ENOENT" in line or "EACCES" in line:
                continue
            call = line.split(None, 1)[-1]
            paths = re.findall(r'"([^"]*)"', call)
            writes = call.startswith(("open", "creat")) and _WRITE_FLAGS.search(call)
            changes = not call.startswith(("open", "creat"))
            if (writes or changes) and not all(_inside(path, directory) for path in paths):
                offending.append(call)
        assert offending == [], offending[:10]
        assert sorted(item.name for item in directory.iterdir()) == ["this.tar.gz"]


def _inside(path: str, directory: Path) -> bool:
    return (
        path in ("/dev/null", "")
        or Path(path).name.startswith((".this.tar.gz.", "this.tar.gz"))
        or (os.path.isabs(path) and Path(path).is_relative_to(directory))
    )


# --- Redaction --------------------------------------------------------------------------------------

HOSTNAME = "zorblax-nas"
VM_NAME = "quuxguest"
MAC = "3c:ec:ef:12:34:56"
VM_MAC = "BC:24:11:5E:7A:91"
SERIAL = "ZK4211QQ3H"
WWN = "50014ee2c1a2b301"
FS_UUID = "3b7e1c2a-9d4f-4e21-8a6b-0c5d2e7f9a13"
VFAT_ID = "7A3F-19C2"
SMBIOS_UUID = "6f1c2d3e-4b5a-4c7d-9e8f-0a1b2c3d4e5f"
IPV4 = "192.168.77.21"
PUBLIC_IPV4 = "81.169.145.92"
IPV6 = "2a02:8070:abcd:12::77"
DISK = "sdc"
DSN = bytes.fromhex("0123456789abcdef")
PLANTED = [HOSTNAME, VM_NAME, MAC, VM_MAC, SERIAL, WWN, FS_UUID, VFAT_ID, SMBIOS_UUID, IPV4, PUBLIC_IPV4, IPV6]


def _write(root: Path, relative: str, text: str, append: bool = False) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a" if append else "w") as out:
        out.write(text)


def _link(root: Path, relative: str, target: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink() or path.exists():
        path.unlink()
    path.symlink_to(target)


def _plant_dsn(root: Path, address: str) -> None:
    """Give the device a Device Serial Number: into its DSN capability, or one appended to its
    extended capability list."""
    path = root / "sys/bus/pci/devices" / address / "config"
    data = bytearray(path.read_bytes())
    space = ConfigSpace(bytes(data))
    existing = space.find(regs.EXT_DSN, extended=True)
    if existing is not None:
        where = existing.offset
    else:
        where = 0xF00
        last = space.extended_capabilities()[-1]
        header = int.from_bytes(data[last.offset : last.offset + 4], "little")
        data[last.offset : last.offset + 4] = ((header & 0x000FFFFF) | (where << 20)).to_bytes(4, "little")
        data[where : where + 4] = (regs.EXT_DSN | (1 << 16)).to_bytes(4, "little")
    data[where + 4 : where + 12] = DSN
    path.write_bytes(bytes(data))


@pytest.fixture
def planted_root(scenario_root: RenderRoot, tmp_path: Path) -> Path:
    root = tmp_path / HOSTNAME / "root"
    shutil.copytree(scenario_root("terramaster-f4-424-pro"), root, symlinks=True)
    _write(root, "etc/hostname", f"{HOSTNAME}.example.org\n")
    _write(root, "proc/sys/kernel/hostname", f"{HOSTNAME}\n")
    _write(root, "etc/pve/mapping/pci.cfg", f"sata\n\tmap id=1b21:0612,node={HOSTNAME},path=0000:03:00.0\n")
    # As on Proxmox (pmxcfs), etc/pve/qemu-server is the local node's directory under nodes/.
    node = root / "etc/pve/nodes" / HOSTNAME
    node.mkdir(parents=True)
    (root / "etc/pve/qemu-server").rename(node / "qemu-server")
    _link(root, "etc/pve/qemu-server", f"nodes/{HOSTNAME}/qemu-server")
    _write(root, f"etc/pve/nodes/{HOSTNAME}/qemu-server/101.conf", f"name: {VM_NAME}\nmemory: 2048\n")
    _write(
        root,
        "etc/pve/qemu-server/100.conf",
        f"net0: virtio={VM_MAC},bridge=vmbr0\nsmbios1: uuid={SMBIOS_UUID}\nipconfig0: ip={IPV4}/24,gw=192.168.77.1\n",
        append=True,
    )
    # A disk of the ASM1062 (whose disks the fix texts name): a serial, a WWN and a filesystem
    # in its udev record and by-id names.
    number = (root / f"sys/class/block/{DISK}/dev").read_text().strip()
    _write(
        root,
        f"run/udev/data/b{number}",
        f"S:disk/by-id/ata-WDC_WD40EFPX-68C6CN0_{SERIAL}\nE:ID_SERIAL=WDC_WD40EFPX-68C6CN0_{SERIAL}\n"
        f"E:ID_SERIAL_SHORT={SERIAL}\nE:ID_WWN=0x{WWN}\nE:ID_FS_UUID={FS_UUID}\nE:ID_FS_TYPE=ext4\n",
    )
    by_id = root / "dev/disk/by-id"
    for name in os.listdir(by_id):
        if os.readlink(by_id / name) == f"../../{DISK}":
            (by_id / name).unlink()
    _link(root, f"dev/disk/by-id/ata-WDC_WD40EFPX-68C6CN0_{SERIAL}", f"../../{DISK}")
    _link(root, f"dev/disk/by-id/wwn-0x{WWN}", f"../../{DISK}")
    _link(root, f"dev/disk/by-uuid/{FS_UUID}", f"../../{DISK}")
    _link(root, f"dev/disk/by-uuid/{VFAT_ID}", "../../nvme0n1p2")
    mounts = (root / "proc/mounts").read_text().replace("/dev/nvme0n1p2 ", f"/dev/disk/by-uuid/{VFAT_ID} ")
    _write(root, "proc/mounts", mounts)
    _write(root, "proc/cmdline", (root / "proc/cmdline").read_text().strip() + f" root=UUID={FS_UUID}\n")
    net = Path(os.path.realpath(root / "sys/class/net/enp1s0"))
    _write(root, str(net.relative_to(root) / "address"), f"{MAC}\n")
    enx = "enx" + MAC.replace(":", "")
    _write(root, f"sys/devices/virtual/net/{enx}/address", f"{MAC}\n")
    _write(root, f"sys/devices/virtual/net/{enx}/operstate", "down\n")
    _link(root, f"sys/class/net/{enx}", f"../../devices/virtual/net/{enx}")
    _write(
        root,
        "etc/network/interfaces",
        f"auto vmbr0\niface vmbr0 inet static\n\taddress {IPV4}/24\n\tgateway 192.168.77.1\n"
        f"\thwaddress {MAC}\niface vmbr0 inet6 static\n\taddress {IPV6}/64\n",
    )
    _write(
        root,
        "var/log/dmesg",
        f"[   12.345678] r8169 0000:01:00.0 eth0: RTL8125B, {MAC}, XID 641, IRQ 140\n"
        f"[   13.000000] {HOSTNAME} nfs: server {PUBLIC_IPV4} not responding, {IPV6}\n",
        append=True,
    )
    _write(root, "sys/class/dmi/id/product_uuid", f"{SMBIOS_UUID}\n")
    _plant_dsn(root, "0000:01:00.0")
    return root


def _everything(bundle: Path) -> str:
    """The bundle decompressed, as text: every header (names, link targets, pax records) and
    every member's bytes."""
    return gzip.decompress(bundle.read_bytes()).decode("latin-1")


def test_nothing_planted_survives_redaction_and_the_pseudonyms_agree(planted_root: Path, tmp_path: Path) -> None:
    plain = tmp_path / "plain.tar.gz"
    capture(planted_root, plain, redact=False)
    unredacted = _everything(plain)
    for value in PLANTED:
        assert value.lower() in unredacted.lower(), f"{value} was not planted where the capture reads"
    bundle = tmp_path / "redacted.tar.gz"
    capture(planted_root, bundle)
    everything = _everything(bundle)
    for value in PLANTED:
        assert value.lower() not in everything.lower(), value
    for variant in (MAC.replace(":", ""), MAC.replace(":", "-"), HOSTNAME.upper(), SERIAL.lower()):
        assert variant.lower() not in everything.lower(), variant
    assert DSN not in gzip.decompress(bundle.read_bytes())
    assert DSN in gzip.decompress(plain.read_bytes())
    fs = BundleRoot(bundle)
    # Names that identify nobody stay: the Proxmox tree, the model, the kernel.
    assert fs.is_dir("etc/pve/qemu-server")
    assert "WDC_WD40EFPX-68C6CN0" in everything
    # The fix text names the disk by the bundle's own link, whose serial is the udev record's.
    expected = report(planted_root)
    found = report(bundle)
    assert signature(found) == signature(expected)
    fixes = " ".join(finding["fix"] for item in found["devices"] for finding in item["findings"])
    named = set(re.findall(r"/dev/disk/by-id/(\S+?)[`' ]", fixes))
    assert named, fixes
    links = set(fs.listdir("dev/disk/by-id").names)
    assert named <= links
    record = next(fs.read(f"run/udev/data/{name}", 4096).data.decode() for name in fs.listdir("run/udev/data").names)
    serial = re.search(r"^E:ID_SERIAL_SHORT=(.+)$", record, re.MULTILINE)
    assert serial is not None and len(serial.group(1)) == len(SERIAL)
    disk = [name for name in links if fs.readlink(f"dev/disk/by-id/{name}") == f"../../{DISK}"]
    assert f"ata-WDC_WD40EFPX-68C6CN0_{serial.group(1)}" in disk
    assert any(name.startswith("wwn-0x5") and len(name) == len(f"wwn-0x{WWN}") for name in disk)
    # One capture, one secret: the same MAC has one pseudonym in sysfs, the NIC name and the log.
    address = fs.read(f"sys/class/net/{fs.listdir('sys/class/net').names[0]}/address", 100).data.decode().strip()
    assert re.fullmatch(r"3c:ec:ef(:[0-9a-f]{2}){3}", address)
    assert address in fs.read("var/log/dmesg", 1 << 20).data.decode()
    assert f"enx{address.replace(':', '')}" in fs.listdir("sys/class/net").names


def test_check_and_generate_redact_their_output(planted_root: Path) -> None:
    for arguments in (["--json"], ["--verbose"]):
        outcome = run_cli("check", "--root", str(planted_root), "--redact", *arguments)
        assert outcome.code in (0, 1, 2), outcome.stderr
        plain = run_cli("check", "--root", str(planted_root), *arguments)
        assert SERIAL in plain.stdout and HOSTNAME in plain.stdout
        for value in PLANTED:
            assert value.lower() not in outcome.stdout.lower(), value
        assert "WDC_WD40EFPX-68C6CN0_" in outcome.stdout
    outcome = run_cli("generate", "proxmox-disks", "--root", str(planted_root), "--device", "0000:03:00.0", "--redact")
    plain = run_cli("generate", "proxmox-disks", "--root", str(planted_root), "--device", "0000:03:00.0")
    assert outcome.code == plain.code == 0, outcome.stderr
    assert SERIAL in plain.stdout and SERIAL not in outcome.stdout
    assert re.search(r"/dev/disk/by-id/ata-WDC_WD40EFPX-68C6CN0_[A-Z0-9]{10}\b", outcome.stdout)
    mapped = run_cli("generate", "proxmox", "--root", str(planted_root), "--device", "0000:00:17.0", "--redact")
    assert HOSTNAME not in mapped.stdout + mapped.stderr and "node=host-" in mapped.stderr


def test_generate_redacts_the_files_it_writes_and_its_refusal(planted_root: Path, tmp_path: Path) -> None:
    written = {}
    for name, extra in (("plain", []), ("redacted", ["--redact"])):
        arguments = ["generate", "all", "--root", str(planted_root), "--device", "0000:03:00.0", *extra]
        refused = run_cli(*arguments)
        assert refused.code == 2 and refused.stdout == "", refused.stderr
        out = tmp_path / name
        outcome = run_cli(*arguments, "--force", "--out", str(out))
        assert outcome.code == 0, outcome.stderr
        files = sorted(path for path in out.rglob("*") if path.is_file())
        assert files
        written[name] = "".join(path.read_text() for path in files) + outcome.stderr + refused.stderr
    found = [value for value in PLANTED if value.lower() in written["plain"].lower()]
    assert SERIAL in found, found
    for value in found:
        assert value.lower() not in written["redacted"].lower(), value


# --- The manifest and the output ----------------------------------------------------------------------


def test_the_manifest_says_what_was_read_kept_in_part_and_skipped(planted_root: Path, tmp_path: Path) -> None:
    (planted_root / "dev/console").unlink(missing_ok=True)
    os.mkfifo(planted_root / "proc/swaps.fifo")
    _link(planted_root, "proc/swaps", "swaps.fifo")
    bundle = tmp_path / "host.tar.gz"
    result = capture(planted_root, bundle)
    with tarfile.open(bundle) as tar:
        assert tar.getnames()[0] == MANIFEST
    manifest = read_manifest(BundleRoot(bundle))
    assert manifest["format"] == 1 and manifest["redacted"] is True
    assert HOSTNAME not in manifest["root"] and manifest["root"].endswith("/root")
    assert "proc/cmdline" in manifest["read"]
    assert "sys/devices/pci0000:00/0000:00:1c.6/0000:03:00.0/config" in manifest["read"]
    partial = {item["path"]: item["reason"] for item in manifest["partial"]}
    assert partial["sys/devices/pci0000:00/0000:00:1c.6/0000:03:00.0/remove"].startswith("write-only")
    skipped = {item["path"]: item["reason"] for item in manifest["skipped"]}
    assert skipped["proc/swaps.fifo"] == "not captured: a FIFO"
    assert manifest["commands"] == [] and "not this machine's /" in manifest["commands_not_run"]
    assert manifest["limits"]["content_bytes"] == 64 * 1024 * 1024
    assert result.skipped == len(manifest["skipped"])


def test_the_content_cap_bounds_the_bundle_and_the_manifest_says_what_it_left_out(
    scenario_root: RenderRoot, tmp_path: Path
) -> None:
    root = scenario_root("terramaster-f4-424-pro")
    whole = capture(root, tmp_path / "whole.tar.gz", redact=False)
    limit = whole.content_bytes // 4
    capped = capture(root, tmp_path / "capped.tar.gz", redact=False, content_limit=limit)
    fs = BundleRoot(tmp_path / "capped.tar.gz")
    manifest = read_manifest(fs)
    files = [member for name, member in fs.members() if name != MANIFEST]
    assert sum(len(member.data) for member in files) <= limit
    capped_reasons = [item for item in manifest["skipped"] if "size cap was reached" in item["reason"]]
    assert capped_reasons and capped.skipped == len(manifest["skipped"])
    # What did not fit is kept by presence only: reading it fails with the reason, as the checker
    # would be told on the host for a file it could not read.
    for item in capped_reasons:
        left = fs.member(item["path"])
        assert left is None or (left.data == b"" and left.unread == item["reason"]), item
    assert capped.compressed_bytes < whole.compressed_bytes


def test_output_rules(scenario_root: RenderRoot, tmp_path: Path) -> None:
    root = scenario_root("terramaster-f4-424-pro")
    out = tmp_path / "host.tar.gz"
    assert run_cli("capture", "--root", str(root), "--out", str(out)).code == 0
    first = out.read_bytes()
    run_cli("capture", "--root", str(root), "--out", str(out)).assert_one_line_error(73, "already exists")
    assert out.read_bytes() == first
    assert run_cli("capture", "--root", str(root), "--out", str(out), "--overwrite").code == 0
    assert out.stat().st_mode & 0o777 == 0o644 & ~_umask()
    private = tmp_path / "private.tar.gz"
    assert run_cli("capture", "--root", str(root), "--out", str(private), "--no-redact").code == 0
    assert private.stat().st_mode & 0o777 == 0o600
    run_cli("capture", "--root", str(root), "--out", str(tmp_path / "no/such/dir.tar.gz")).assert_one_line_error(
        73, "is not a directory"
    )
    run_cli("capture", "--root", str(root), "--out", str(tmp_path)).assert_one_line_error(73, "already exists")
    run_cli("capture", "--root", str(tmp_path / "missing"), "--out", str(tmp_path / "x.tar.gz")).assert_one_line_error(
        3, "cannot capture"
    )
    assert sorted(item.name for item in tmp_path.iterdir()) == ["host.tar.gz", "private.tar.gz"]


_COMPONENT = st.text(alphabet="abc:.-_0é", min_size=1, max_size=60)


@settings(max_examples=400, deadline=None)
@given(
    parts=st.lists(_COMPONENT, min_size=1, max_size=6),
    kind=st.sampled_from([Kind.FILE, Kind.DIRECTORY, Kind.SYMLINK]),
    size=st.integers(min_value=0, max_value=2048),
    mtime=st.one_of(st.integers(min_value=0, max_value=2**34).map(float), st.floats(min_value=0, max_value=2**33)),
    climbs=st.integers(min_value=0, max_value=40),
    mode=st.sampled_from([0o644, 0o755, 0o777, 0o200, 0o444]),
)
def test_the_header_writer_writes_what_tarfile_reads_back(
    *, parts: list[str], kind: Kind, size: int, mtime: float, climbs: int, mode: int
) -> None:
    """The capture's own ustar header (tens of thousands per bundle) says what tarfile's would,
    and falls back to a pax header exactly where one ustar block cannot hold the member."""
    name = "/".join(parts)
    target = "../" * climbs + "t" if kind is Kind.SYMLINK else None
    member = Member(kind, b"x" * size if kind is Kind.FILE else b"", target, mtime, mode)
    block = _ustar_header(name, member)
    try:
        expected = _tar_info(name, member).tobuf(tarfile.USTAR_FORMAT, "ascii", "strict")
    except ValueError:
        expected = None
    if expected is None or mtime != int(mtime):
        assert block is None
        return
    assert block is not None
    ours, theirs = (tarfile.TarInfo.frombuf(item, "ascii", "strict") for item in (block, expected))
    assert (ours.name, ours.mode, ours.size, ours.mtime, ours.type, ours.linkname) == (
        theirs.name,
        theirs.mode,
        theirs.size,
        theirs.mtime,
        theirs.type,
        theirs.linkname,
    )
    assert ours.name == name and ours.linkname == (target or "")


def test_gnu_tar_reads_a_bundle_as_vfiolab_does(final_root: RenderRoot, tmp_path: Path) -> None:
    tar = shutil.which("tar")
    if tar is None:
        pytest.skip("GNU tar is not installed")
    bundle = tmp_path / "host.tar.gz"
    capture(final_root("terramaster-f4-424-pro"), bundle)
    listed = subprocess.run([tar, "-tzf", str(bundle)], capture_output=True, text=True, check=True)
    assert listed.stderr == ""
    names = [line.rstrip("/") for line in listed.stdout.splitlines()]
    assert names[0] == MANIFEST
    assert sorted(names) == sorted(name for name, _ in BundleRoot(bundle).members())
    extracted = tmp_path / "x"
    extracted.mkdir()
    subprocess.run([tar, "-xzf", str(bundle), "-C", str(extracted)], capture_output=True, check=True)
    assert signature(report(extracted)) == signature(report(bundle))


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def test_a_bundle_captured_again_is_redacted_and_checks_the_same(final_root: RenderRoot, tmp_path: Path) -> None:
    root = final_root("terramaster-asm1062-vm-start")
    plain = tmp_path / "plain.tar.gz"
    capture(root, plain, redact=False)
    again = tmp_path / "again.tar.gz"
    capture(plain, again)
    assert signature(report(again)) == signature(report(root))
    assert "WD-WX12D34A5678" in _everything(plain) and "WD-WX12D34A5678" not in _everything(again)
    assert read_manifest(BundleRoot(again))["redacted"] is True
