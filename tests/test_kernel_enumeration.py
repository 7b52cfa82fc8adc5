"""The simulated kernel's enumeration: IOMMU groups, reset methods, boot-time driver state."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from fakesys.kernel.kernel import FakeKernel
from harness.scenario import load_scenario

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def _kernel(name: str) -> FakeKernel:
    return FakeKernel(load_scenario(str(SCENARIOS / f"{name}.yaml")).host)


def _host(tmp_path: Path, body: str) -> FakeKernel:
    path = tmp_path / "host.yaml"
    path.write_text(textwrap.dedent(body))
    return FakeKernel(load_scenario(str(path)).host)


def _groups(kernel: FakeKernel) -> dict[int, list[str]]:
    groups: dict[int, list[str]] = {}
    for dev in kernel.devices:
        assert dev.iommu_group is not None
        groups.setdefault(dev.iommu_group, []).append(dev.bdf.short)
    return groups


def test_terramaster_groups_match_real_alder_lake_n_hosts() -> None:
    # Group numbering as on real Alder Lake-N probes (research notes): the GPU's own DMAR unit
    # registers first, then everything else in bus scan order; 03:00.0 lands in group 12 as
    # in the reference lspci -nnvv block.
    assert _groups(_kernel("terramaster-f4-424-pro")) == {
        0: ["00:02.0"],
        1: ["00:00.0"],
        2: ["00:14.0", "00:14.2"],
        3: ["00:16.0"],
        4: ["00:17.0"],
        5: ["00:1c.0"],
        6: ["00:1c.3"],
        7: ["00:1c.6"],
        8: ["00:1d.0"],
        9: ["00:1f.0", "00:1f.3", "00:1f.4", "00:1f.5"],
        10: ["01:00.0"],
        11: ["02:00.0"],
        12: ["03:00.0"],
        13: ["04:00.0"],
    }


def test_root_ports_get_their_acs_enabled_by_the_kernel() -> None:
    port = _kernel("terramaster-f4-424-pro").device("00:1c.6")
    control = port.device.read(port.acs_cap + 6, 2)
    assert control == 0x1D  # SrcValid+ ReqRedir+ CmpltRedir+ UpstreamFwd+, TransBlk left off


def test_switch_without_acs_behind_an_acs_root_port_groups_each_downstream_port_with_its_device() -> None:
    # drivers/iommu/iommu.c pci_device_group (6.1.192 and 6.12.117): an endpoint whose
    # downstream port lacks ACS joins that port's group; the ports themselves are grouped by the
    # ACS of the path above them (the upstream port is single-function, the root port has ACS),
    # so each downstream port gets its own group. Linux 6.1-6.12 therefore does not merge the
    # endpoints of different downstream ports, although they can reach each other peer to peer.
    groups = _groups(_kernel("n100-asm1184e-switch"))
    assert ["02:01.0", "03:00.0"] in groups.values()
    assert ["02:07.0", "06:00.0"] in groups.values()
    assert ["01:00.0"] in groups.values()


def test_switch_without_acs_behind_a_root_port_without_acs_is_one_group(tmp_path: Path) -> None:
    kernel = _host(
        tmp_path,
        """\
        host:
          extends: n100-asm1184e-switch
          pci:
            - bdf: 00:1c.0
              override: {extended_capabilities: [{id: acs, remove: true}]}
        """,
    )
    groups = _groups(kernel)
    switch = [
        "00:1c.0",
        "01:00.0",
        "02:01.0",
        "02:03.0",
        "02:05.0",
        "02:07.0",
        "03:00.0",
        "04:00.0",
        "05:00.0",
        "06:00.0",
    ]
    assert switch in groups.values()


def test_multifunction_functions_without_acs_share_a_group(tmp_path: Path) -> None:
    kernel = _host(
        tmp_path,
        """\
        host:
          pci:
            - {bdf: 00:1f.0, device: intel-adln-espi}
            - {bdf: 00:1f.4, device: intel-adln-smbus}
            - {bdf: 00:17.0, device: intel-adln-sata}
        """,
    )
    assert _groups(kernel) == {0: ["00:17.0"], 1: ["00:1f.0", "00:1f.4"]}


def test_intel_rc_integrated_endpoint_is_isolated_by_quirk(tmp_path: Path) -> None:
    # pci_quirk_rciep_acs: the multifunction GPU slot below would otherwise share a group.
    kernel = _host(
        tmp_path,
        """\
        host:
          pci:
            - {bdf: 00:02.0, device: intel-adln-uhd-graphics}
            - {bdf: 00:02.1, device: intel-adln-uhd-graphics}
        """,
    )
    assert sorted(_groups(kernel).values()) == [["00:02.0"], ["00:02.1"]]


def test_pinned_group_numbers_are_kept(tmp_path: Path) -> None:
    kernel = _host(
        tmp_path,
        """\
        host:
          pci:
            - {bdf: 00:17.0, device: intel-adln-sata, iommu_group: 7}
            - {bdf: 00:14.0, device: intel-adln-xhci}
        """,
    )
    assert _groups(kernel) == {7: ["00:17.0"], 0: ["00:14.0"]}


def test_no_groups_without_iommu(tmp_path: Path) -> None:
    kernel = _host(
        tmp_path,
        """\
        host:
          iommu: {firmware_table: false}
          pci:
            - {bdf: 00:17.0, device: intel-adln-sata}
        """,
    )
    assert kernel.devices[0].iommu_group is None


@pytest.mark.parametrize(
    ("bdf", "methods"),
    [
        ("03:00.0", ["pm", "bus"]),  # ASM1062: no FLR, NoSoftRst-, alone on bus 03
        ("00:17.0", []),  # Intel SATA: no FLR, NoSoftRst+, root bus
        ("04:00.0", ["flr", "bus"]),  # Samsung 980: FLReset+, NoSoftRst+
        ("01:00.0", ["bus"]),  # RTL8125: no FLR, NoSoftRst+
        ("00:02.0", ["flr", "pm"]),  # GPU: FLReset+, PM v2 NoSoftRst-, root bus
        ("00:1c.6", ["pm"]),  # a bridge cannot bus-reset itself
    ],
)
def test_reset_methods_follow_the_kernel_rules(bdf: str, methods: list[str]) -> None:
    assert _kernel("terramaster-f4-424-pro").device(bdf).reset_methods == methods


def test_asm1164_loses_bus_reset_only_where_the_quirk_exists(tmp_path: Path) -> None:
    body = """\
        host:
          kernel: {{release: {release}}}
          pci:
            - {{bdf: 00:1c.0, device: intel-adln-root-port-54be, bus: {{secondary: 3}}}}
            - {{bdf: 03:00.0, device: asmedia-asm1062, override: {{header: {{device: 0x1164}}}}}}
        """
    quirked = _host(tmp_path, body.format(release="6.12.117+deb12-amd64")).device("03:00.0")
    unquirked = _host(tmp_path, body.format(release="6.8.12-4-pve")).device("03:00.0")
    assert quirked.reset_methods == ["pm"]
    assert unquirked.reset_methods == ["pm", "bus"]


def test_device_with_a_sibling_on_its_bus_has_no_bus_reset() -> None:
    # Every NIC behind a switch downstream port is alone on its bus; the downstream ports are not.
    kernel = _kernel("n100-asm1184e-switch")
    assert kernel.device("03:00.0").reset_methods == ["bus"]


def test_drivers_leave_the_device_as_their_probe_does() -> None:
    early = _kernel("terramaster-f4-424-pro-vfio-early").device("03:00.0")
    assert (early.driver, early.current_state, early.irq, early.runtime_status) == (
        "vfio-pci",
        "D3hot",
        255,
        "suspended",
    )
    assert early.device.read(0x50 + 2, 2) & 1 == 0  # MSI off
    booted = _kernel("terramaster-f4-424-pro").device("03:00.0")
    assert (booted.driver, booted.current_state, booted.enable_count) == ("ahci", "D0", 1)
    assert booted.device.read(0x50 + 2, 2) & 1 == 1  # ahci turned MSI on
    assert booted.device.read(0x04, 2) & 0x400  # and INTx off


def test_never_bound_device_reads_unknown_power_state() -> None:
    assert _kernel("terramaster-f4-424-pro").device("00:14.2").current_state == "unknown"
