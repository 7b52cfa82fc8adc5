"""The simulated kernel's idle D3cold (fakesys.kernel.power) on the Arc A770 host of
arc-a770-vfio-6-1, whose root port 00:01.0 has ACPI power resources: vfio-pci idles both
functions, the switch follows and the root port cuts the power of the whole card; waking one
function restores it, and a card that survives the power cycle answers again with nothing logged.
The failing card is the arc-a770-d3cold-6-2-vm-start scenario."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.scenario import load_scenario
from harness.scenario.runner import render_final_root
from tests.test_checker import write_scenario

SCENARIO_DEVICES = Path(__file__).resolve().parent.parent / "scenarios" / "devices"
PCI = "sys/bus/pci/devices"


def final(tmp_path: Path, steps: list[object] | None = None) -> Path:
    path = write_scenario(tmp_path, "variant", {"extends": "arc-a770-vfio-6-1"}, steps)
    root = tmp_path / "root"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VFIOLAB_DEVICE_PATH", str(SCENARIO_DEVICES))
        render_final_root(load_scenario(str(path)), root)
    return root


def text(root: Path, relative: str) -> str:
    return (root / relative).read_text().strip()


def test_the_idle_card_loses_its_power_at_the_root_port(tmp_path: Path) -> None:
    root = final(tmp_path)
    for name in ("0000:00:01.0", "0000:01:00.0", "0000:02:01.0", "0000:03:00.0", "0000:04:00.0"):
        assert text(root, f"{PCI}/{name}/power_state") == "D3cold", name
        assert text(root, f"{PCI}/{name}/power/runtime_status") == "suspended", name
    node = f"{PCI}/0000:00:01.0/firmware_node"
    assert text(root, f"{node}/power_state") == text(root, f"{node}/real_power_state") == "D3cold"
    assert text(root, f"{node}/adr") == "0x00010000"
    assert [path.name for path in (root / node / "power_resources_D3hot").iterdir()] == ["LNXPOWER:00"]
    assert text(root, f"{node}/power_resources_D0/LNXPOWER:00/resource_in_use") == "0"
    # Only the root port has a companion: the card's own functions do not.
    assert not (root / PCI / "0000:03:00.0/firmware_node").exists()


def test_waking_a_card_that_survives_restores_the_power_and_logs_nothing(tmp_path: Path) -> None:
    """Unbinding the GPU resumes it (pci_device_remove), its ports first; the card comes back."""
    root = final(tmp_path, [{"unbind": "03:00.0"}])
    assert text(root, f"{PCI}/0000:00:01.0/power_state") == "D0"
    assert text(root, f"{PCI}/0000:00:01.0/firmware_node/real_power_state") == "D0"
    assert (root / PCI / "0000:03:00.0/config").read_bytes()[:4] == bytes.fromhex("8680a056")
    log = (root / "var/log/dmesg").read_text()
    assert "Data Link Layer Link Active not set" not in log and "after resume" not in log
