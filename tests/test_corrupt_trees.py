"""Corrupt trees are reported, never misread: copies of the default scenario's rendered root with
one thing broken each (capability pointers, config sizes, identity files, driver and
iommu_group links, a missing iommu_groups directory, hostile links and special files), checked
end to end. A verdict that needed the broken fact is at least warn, and nothing outside the root
shows up in any report.

Also here: random config-space bytes through HostView and the checker (hypothesis), and the
1 MB ``ids=`` line that used to exhaust memory.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
from collections.abc import Callable
from io import StringIO
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.checker import CheckReport, DeviceReport, check_root, run_checks
from harness.checks import CheckOptions
from harness.findings import Finding, Severity, Verdict
from harness.pci import regs
from harness.pci.config import CapabilityLoopError, ConfigSpace
from harness.report import load_schema, to_json, write_human
from harness.rootfs import DirectoryRoot, Unreadable
from harness.sysfs import read_host
from tests.conftest import RenderRoot
from tests.helpers import deadline

SCENARIO = "terramaster-f4-424-pro"
ASM = "0000:03:00.0"  # known to break on a bus reset: fails on the good tree
NIC = "0000:02:00.0"  # passes on the good tree
CANARY = "CANARY-91c2-outside-the-root"


@pytest.fixture
def tree(scenario_root: RenderRoot, tmp_path: Path) -> Path:
    """A private copy of the default scenario's root, to break."""
    root = tmp_path / "root"
    shutil.copytree(scenario_root(SCENARIO), root, symlinks=True)
    return root


def device_dir(root: Path, bdf: str) -> Path:
    return (root / "sys/bus/pci/devices" / bdf).resolve()


def edit_config(root: Path, bdf: str, edit: Callable[[bytearray], None]) -> None:
    path = device_dir(root, bdf) / "config"
    data = bytearray(path.read_bytes())
    edit(data)
    path.write_bytes(bytes(data))


def device(report: CheckReport, bdf: str) -> DeviceReport:
    found = report.device(bdf)
    assert found is not None, f"{bdf} dropped from the report"
    return found


def codes(item: DeviceReport) -> dict[str, Finding]:
    return {finding.code: finding for finding in item.findings}


def evidence_of(report: CheckReport) -> str:
    findings = [finding for item in report.devices for finding in item.findings] + report.host_findings
    return "\n".join(f"{finding.code} {item.path}: {item.value}" for finding in findings for item in finding.evidence)


def text_of(report: CheckReport) -> str:
    human = StringIO()
    write_human(report, human, verbose=True)
    return json.dumps(to_json(report)) + human.getvalue()


def test_the_good_tree_has_no_tree_findings(tree: Path) -> None:
    report = check_root(tree)
    assert not [finding for finding in report.host_findings if finding.code.startswith("tree.")]
    assert not [finding for item in report.devices for finding in item.findings if finding.code.startswith("tree.")]
    assert device(report, NIC).verdict is Verdict.PASS
    assert device(report, ASM).verdict is Verdict.FAIL


# --- Capability lists -----------------------------------------------------------------------------


def test_a_capability_pointer_into_the_header_keeps_the_asm1062_failing(tree: Path) -> None:
    """The audit's case: 0x34 = 0x10 hid the PM and Express capabilities and flipped the ASM1062
    from FAIL to PASS."""

    def into_header(config: bytearray) -> None:
        config[regs.CAPABILITIES_POINTER] = 0x10

    edit_config(tree, ASM, into_header)
    report = check_root(tree)
    jsonschema.validate(to_json(report), load_schema())
    asm = device(report, ASM)
    assert asm.verdict is Verdict.FAIL
    found = codes(asm)
    assert "reset.bus-reset-breaks-device" in found
    corrupt = found["tree.capability-list"]
    assert corrupt.severity is Severity.WARN and corrupt.could_not_judge
    assert "capability pointer at 0x34 is 0x10, inside the 64-byte header" in corrupt.message
    # The reset analysis says it could not read the capabilities instead of "no PM capability".
    evidence = " ".join(item.value for item in found["reset.bus-reset-breaks-device"].evidence)
    assert "capability list is corrupt" in evidence and "no Power Management capability" not in evidence


def _standard_loop(config: bytearray) -> None:
    caps = ConfigSpace(bytes(config)).capabilities()
    config[caps[-1].offset + 1] = caps[0].offset


def _unaligned(config: bytearray) -> None:
    config[regs.CAPABILITIES_POINTER] |= 0x01


def _into_nothing(config: bytearray) -> None:
    config[0xF0:0xF2] = b"\xff\xff"
    config[regs.CAPABILITIES_POINTER] = 0xF0


def _extended_below_0x100(config: bytearray) -> None:
    header = regs.read_register(config, 0x100, 4)
    regs.write_register(config, 0x100, 4, (header & 0x000FFFFF) | 0x080 << 20)


def _extended_loop(config: bytearray) -> None:
    header = regs.read_register(config, 0x148, 4)
    regs.write_register(config, 0x148, 4, (header & 0x000FFFFF) | 0x100 << 20)


def _extended_unaligned(config: bytearray) -> None:
    header = regs.read_register(config, 0x100, 4)
    regs.write_register(config, 0x100, 4, header | 0x1 << 20)


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (_standard_loop, "the list loops"),
        (_unaligned, "not a multiple of 4 (read as 0x40)"),
        (_into_nothing, "capability at 0xf0 reads ff"),
        (_extended_below_0x100, "extended capability pointer at 0x100 is 0x080, below 0x100"),
        (_extended_loop, "extended capability pointer at 0x148 is 0x100: the list loops"),
        (_extended_unaligned, "not a multiple of 4 (read as 0x148)"),
    ],
    ids=["loop", "unaligned", "reads-ff", "ext-below-0x100", "ext-loop", "ext-unaligned"],
)
def test_corrupt_capability_lists_are_findings_and_never_pass(
    tree: Path, edit: Callable[[bytearray], None], fragment: str
) -> None:
    edit_config(tree, NIC, edit)
    nic = device(check_root(tree), NIC)
    assert nic.verdict >= Verdict.WARN
    corrupt = codes(nic)["tree.capability-list"]
    assert any(fragment in item.value for item in corrupt.evidence), corrupt.evidence
    assert nic.could_not_judge


def test_a_corrupt_port_above_a_device_is_reported_for_the_device(tree: Path) -> None:
    edit_config(tree, "0000:00:1c.6", _standard_loop)
    asm = device(check_root(tree), ASM)
    port = codes(asm)["tree.port-config"]
    assert "00:1c.6" in port.message and port.could_not_judge


# --- Config sizes and special files ---------------------------------------------------------------


@pytest.mark.parametrize(("size", "shown"), [(0, "empty (0 bytes)"), (30, "30 bytes"), (1000, "1000 bytes")])
def test_a_config_of_a_size_the_kernel_never_shows_is_reported(tree: Path, size: int, shown: str) -> None:
    for bdf in (ASM, NIC):
        path = device_dir(tree, bdf) / "config"
        path.write_bytes(path.read_bytes()[:size])
    report = check_root(tree)
    for bdf in (ASM, NIC):
        item = device(report, bdf)
        assert item.verdict >= Verdict.WARN
        assert codes(item)["tree.config-size"].message.endswith(f"config is {shown}")
    # Bytes that were never read are not "all-ones", and this is not the 64-byte non-root view.
    assert "all-ones" not in evidence_of(report)
    assert "power-link.not-answering" not in evidence_of(report)
    assert "checker.config-unreadable" not in [finding.code for finding in report.host_findings]
    assert device(report, ASM).verdict is Verdict.FAIL  # reset_method still names the bus reset


def test_a_fifo_as_config_does_not_block(tree: Path) -> None:
    path = device_dir(tree, NIC) / "config"
    path.unlink()
    os.mkfifo(path)
    with deadline(20):
        report = check_root(tree)
    nic = device(report, NIC)
    assert codes(nic)["tree.config-unreadable"].evidence[0].value == "not a regular file (FIFO)"
    assert nic.verdict >= Verdict.WARN
    assert (f"/{nic.function.path}/config", "not a regular file (FIFO)") in report.view.unseen


def test_a_fifo_among_configuration_files_is_reported_unseen(tree: Path) -> None:
    os.mkfifo(tree / "etc/modprobe.d/evil.conf")
    with deadline(20):
        report = check_root(tree)
    assert ("/etc/modprobe.d/evil.conf", "not a regular file (FIFO); not read") in report.view.unseen


def test_a_2_gb_sparse_config_is_read_to_4096_bytes(tree: Path) -> None:
    path = device_dir(tree, NIC) / "config"
    with open(path, "r+b") as handle:
        handle.truncate(2 * 1024**3)
    with deadline(20):
        report = check_root(tree)
    nic = device(report, NIC)
    assert "larger than 4096 bytes" in codes(nic)["tree.config-size"].message
    assert report.view.functions[nic.function.bdf].config is not None
    assert nic.function.config is not None and nic.function.config.size == 4096


# --- Identity files -------------------------------------------------------------------------------


def test_an_empty_class_does_not_drop_the_device(tree: Path) -> None:
    (device_dir(tree, ASM) / "class").write_text("")
    report = check_root(tree)
    asm = device(report, ASM)
    assert asm.function.class_code == 0x010601  # from config space
    identity = codes(asm)["tree.identity"]
    assert "class" in identity.message and identity.evidence[0].value.startswith("empty; config space gives 0x010601")
    assert asm.verdict is Verdict.FAIL


@pytest.mark.parametrize("content", ["0xzzzz\n", "", "0x1b21 trailing\n", "0x1b21000\n", "-0x5\n", "9" * 5000])
def test_a_malformed_vendor_falls_back_to_config_space(tree: Path, content: str) -> None:
    (device_dir(tree, ASM) / "vendor").write_text(content)
    asm = device(check_root(tree), ASM)
    assert asm.function.vendor == 0x1B21
    assert "reset.bus-reset-breaks-device" in codes(asm)  # still recognised as the ASM1062
    assert "vendor" in codes(asm)["tree.identity"].message


def test_missing_identity_files_with_an_unreadable_config_are_reported(tree: Path) -> None:
    directory = device_dir(tree, NIC)
    for name in ("vendor", "device", "class"):
        (directory / name).unlink()
    (directory / "config").write_bytes(b"")
    nic = device(check_root(tree), NIC)
    assert nic.function.id_text == "????:????"
    assert "does not exist" in codes(nic)["tree.identity"].evidence[0].value
    assert nic.verdict >= Verdict.WARN


# --- Links ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["self-loop", "two-step-loop", "regular-file", "elsewhere"])
def test_a_broken_driver_link_is_not_read_as_a_driver(tree: Path, shape: str) -> None:
    link = device_dir(tree, ASM) / "driver"
    link.unlink()
    if shape == "self-loop":
        link.symlink_to("driver")
    elif shape == "two-step-loop":
        link.symlink_to("driver2")
        (link.parent / "driver2").symlink_to("driver")
    elif shape == "regular-file":
        link.write_text("ahci\n")
    else:
        link.symlink_to("../../../../etc")
    report = check_root(tree)
    asm = device(report, ASM)
    assert asm.function.driver is None
    assert "host driver driver" not in text_of(report)
    assert codes(asm)["tree.driver-link"].could_not_judge
    binding = codes(asm)["binding.driver"]
    assert binding.message.startswith("could not tell which driver holds") and binding.severity is Severity.WARN
    assert to_json(report)["devices"][[item.function.name for item in report.devices].index(ASM)]["driver"] is None


def test_a_broken_iommu_group_link_is_not_no_group(tree: Path) -> None:
    link = device_dir(tree, NIC) / "iommu_group"
    link.unlink()
    link.symlink_to("iommu_group")
    nic = device(check_root(tree), NIC)
    assert "isolation.no-group" not in codes(nic)
    assert "symlink to 'iommu_group'" in codes(nic)["tree.iommu-group-link"].message
    assert nic.verdict >= Verdict.WARN


def test_without_iommu_groups_devices_that_share_a_group_are_not_each_alone(tree: Path) -> None:
    shutil.rmtree(tree / "sys/kernel/iommu_groups")
    report = check_root(tree)
    for bdf in ("0000:00:1f.3", "0000:00:1f.4", "0000:00:1f.5"):
        item = codes(device(report, bdf))
        assert "isolation.own-group" not in item
        assert "isolation.busy-siblings" in item
        assert "could not judge reserved regions (RMRR) of IOMMU group 9" in item["tree.iommu-group-unlisted"].message
    assert [finding.code for finding in report.host_findings if finding.code.startswith("tree.")] == [
        "tree.iommu-groups-missing"
    ]
    group = next(item for item in report.groups if item.number == 9)
    assert [str(bdf) for bdf in group.devices] == ["0000:00:1f.0", "0000:00:1f.3", "0000:00:1f.4", "0000:00:1f.5"]
    # A device alone in its (rebuilt) group still cannot pass: its reserved regions are unknown.
    assert device(report, NIC).verdict is Verdict.WARN


def test_a_device_link_loop_is_reported_and_the_check_completes(tree: Path) -> None:
    link = tree / "sys/bus/pci/devices" / NIC
    link.unlink()
    link.symlink_to(NIC)
    with deadline(20):
        report = check_root(tree)
    nic = device(report, NIC)
    assert codes(nic)["tree.device-unreadable"].message.endswith("(symlink loop (more than 40 links))")
    assert nic.verdict >= Verdict.WARN


def test_bridge_directories_nested_in_a_loop_do_not_hang_the_walk_up(tree: Path) -> None:
    """00:1c.6's directory is moved under 03:00.0's, which sits under 00:1c.6: each is the
    other's parent."""
    port = device_dir(tree, "0000:00:1c.6")
    moved = port / ASM / "0000:00:1c.6"
    moved.mkdir()
    for entry in port.iterdir():
        if entry.name != ASM and not entry.is_dir():
            shutil.copy2(entry, moved / entry.name, follow_symlinks=False)
    link = tree / "sys/bus/pci/devices/0000:00:1c.6"
    link.unlink()
    link.symlink_to(os.path.relpath(moved, link.parent))
    with deadline(20):
        report = check_root(tree)
    asm = device(report, ASM)
    assert "nests under" in codes(asm)["tree.topology"].message
    assert asm.verdict >= Verdict.WARN


# --- Nothing outside the root ---------------------------------------------------------------------


def test_nothing_outside_the_root_reaches_any_report(tree: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    canary = outside / "canary"
    canary.write_text(f"{CANARY}\noptions vfio-pci ids=1b21:0612 # {CANARY}\n")
    (outside / "pci.ids").write_text(f"1b21  {CANARY}\n\t0612  {CANARY}\n")
    relative_up = "../" * 12 + str(outside).lstrip("/")

    def plant(path: str, target: str) -> None:
        where = tree / path
        where.parent.mkdir(parents=True, exist_ok=True)
        if where.is_symlink() or where.exists():
            where.unlink()
        where.symlink_to(target)

    plant("proc/cmdline", str(canary))
    plant("proc/cpuinfo", f"{relative_up}/canary")
    plant("etc/modprobe.d/evil.conf", str(canary))
    plant("etc/default/grub", f"{relative_up}/canary")
    plant("var/log/dmesg", str(canary))
    plant("usr/share/misc/pci.ids", str(outside / "pci.ids"))
    plant("usr/share/hwdata/pci.ids", f"{relative_up}/pci.ids")
    plant("sys/class/block/evil", str(outside))
    plant("dev/disk/by-id/evil", str(canary))
    plant(f"sys/bus/pci/devices/{NIC}/label", str(canary))
    report = check_root(tree)
    assert CANARY not in text_of(report)
    reasons = dict(report.view.unseen)
    assert "leaves the root" in reasons["/proc/cmdline"]


def test_both_resolution_modes_give_the_same_report(tree: Path) -> None:
    try:
        kernel = DirectoryRoot(tree, use_openat2=True)
    except Unreadable:
        pytest.skip("openat2(2) is not available here: only the walk runs")
    walk = DirectoryRoot(tree, use_openat2=False)
    reports = [to_json(run_checks(read_host(tree, fs))) for fs in (kernel, walk)]
    assert reports[0] == reports[1]


def test_on_this_machine_both_modes_give_the_same_report() -> None:
    """A real / reads the same through openat2 as through the walk (nothing changes there)."""
    if not os.path.isdir("/sys/bus/pci/devices") or not os.listdir("/sys/bus/pci/devices"):
        pytest.skip("this machine shows no PCI devices")
    try:
        kernel = DirectoryRoot("/", use_openat2=True)
    except Unreadable:
        pytest.skip("openat2(2) is not available here: only the walk runs")
    walk = DirectoryRoot("/", use_openat2=False)
    reports = [to_json(run_checks(read_host("/", fs))) for fs in (kernel, walk)]
    assert reports[0]["devices"] == reports[1]["devices"]
    assert reports[0]["host"] == reports[1]["host"]


# --- Random config space --------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=0, max_size=4096))
def test_config_space_decoding_never_raises_on_random_bytes(data: bytes) -> None:
    space = ConfigSpace(data)
    for problem in space.capability_problems():
        assert str(problem)
    space.express()
    space.power_management()
    space.acs()
    space.af_flr()
    try:
        space.capabilities()
        space.extended_capabilities()
    except CapabilityLoopError:
        assert any(problem.loop_to is not None for problem in space.capability_problems())


def _config_bytes() -> st.SearchStrategy[bytes]:
    """Random bytes, and random bytes over a plausible header (status with a capability list,
    a header type 0), so that the walks get far."""
    header = st.binary(min_size=64, max_size=4096).map(
        lambda data: data[:6] + bytes([0x10, data[7]]) + data[8:14] + b"\x00" + data[15:]
    )
    return st.one_of(st.binary(min_size=0, max_size=4096), header, st.sampled_from([b"", b"\xff" * 4096]))


@pytest.fixture(scope="module")
def random_root(scenario_root: RenderRoot, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("random") / "root"
    shutil.copytree(scenario_root(SCENARIO), root, symlinks=True)
    return root


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=_config_bytes())
def test_random_config_bytes_never_pass_a_device_whose_capabilities_could_not_be_read(
    random_root: Path, data: bytes
) -> None:
    (device_dir(random_root, NIC) / "config").write_bytes(data)
    view = read_host(random_root)
    report = run_checks(view, CheckOptions(devices=[NIC]))
    nic = device(report, NIC)
    function = nic.function
    space = function.config
    assert space is not None
    unreadable = "config" in function.problems or bool(space.capability_problems()) or space.dead
    if unreadable:
        assert nic.verdict is not Verdict.PASS, [finding.code for finding in nic.findings]
    if space.truncated and "config" not in function.problems:
        # The 64- or 128-byte view of a non-root reader: said, with how to see more.
        assert "checker.config-unreadable" in [finding.code for finding in report.host_findings]
    assert "all-ones" not in evidence_of(report) or space.dead


# --- Unbounded memory -----------------------------------------------------------------------------


def _limit_memory() -> None:  # pragma: no cover - runs in the child
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def test_a_1_mb_ids_line_is_checked_in_bounded_memory_and_time(tree: Path) -> None:
    ids = ",".join(f"{vendor:04x}:{number:04x}" for vendor in range(0x1000, 0x1010) for number in range(0x1800))
    assert len(ids) > 900_000
    (tree / "etc/modprobe.d/vfio.conf").write_text(f"options vfio-pci ids=1b21:0612,{ids}\n")
    completed = subprocess.run(
        [sys.executable, "-m", "harness.cli", "check", "--root", str(tree), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_limit_memory,
        check=False,
    )
    assert completed.returncode in (0, 1, 2), completed.stderr[-2000:]
    report = json.loads(completed.stdout)
    assert len(completed.stdout) < 1_000_000
    asm = next(item for item in report["devices"] if item["bdf"] == ASM)
    assert "binding.configured" in [finding["code"] for finding in asm["findings"]]
