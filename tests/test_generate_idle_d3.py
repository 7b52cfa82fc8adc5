"""The generator's disable_idle_d3 fix (family 4), judged like its other outputs: the vfio.conf
that kmod parses, the kernel arguments of a host whose vfio-pci is built in, and the text of a
refusal. Hosts: arc-a770-d3cold-6-2 (the GPU did not wake from D3cold) and arc-a770-vfio-6-1
(the same host, working)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.generate import GenerateOptions, GenerateRefused, generate
from harness.scenario import load_scenario
from harness.scenario.runner import render_final_root
from tests.generate_cli import modprobe_accepts, run_generate
from tests.test_checker import write_scenario

GPU = "0000:03:00.0"
LINE = "options vfio-pci disable_idle_d3=1"
ARG = "vfio_pci.disable_idle_d3=1"
SCENARIO_DEVICES = Path(__file__).resolve().parent.parent / "scenarios" / "devices"
FORCED = GenerateOptions(force=True)


def variant(tmp_path: Path, base: str, **host: Any) -> Path:
    """``base`` with ``host`` changes, rendered after its steps."""
    root = tmp_path / "root"
    path = write_scenario(tmp_path, "variant", {"extends": base, **host})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VFIOLAB_DEVICE_PATH", str(SCENARIO_DEVICES))
        render_final_root(load_scenario(str(path)), root)
    return root


def test_the_refusal_offers_disable_idle_d3_and_the_power_cycle(final_root: Any) -> None:
    with pytest.raises(GenerateRefused) as refused:
        generate("modprobe", final_root("arc-a770-d3cold-6-2"), [GPU])
    [fix] = refused.value.offers
    assert "0000:03:00.0 [8086:56a0] did not come back from D3cold" in fix
    assert "power-cycle the host" in fix
    assert f"/etc/modprobe.d/vfio.conf: {LINE}" in fix
    assert "full idle power" in fix
    run = run_generate("modprobe", "--device", GPU, root=final_root("arc-a770-d3cold-6-2"))
    assert run.code == 2 and run.out == ""
    assert LINE in run.err


def test_forced_modprobe_writes_it_and_kmod_accepts_the_file(final_root: Any, tmp_path: Path) -> None:
    output = generate("modprobe", final_root("arc-a770-d3cold-6-2"), [GPU], FORCED)
    [conf] = output.files
    lines = conf.content.splitlines()
    assert LINE in lines
    comment = lines[lines.index(LINE) - 1]
    assert comment.startswith("# 0000:03:00.0 [8086:56a0] did not come back from D3cold")
    assert "power-link.d3cold-wake-failed" in comment and "full idle power" in comment
    modprobe_accepts(tmp_path, conf.content)


def test_a_device_that_wakes_gets_no_disable_idle_d3(final_root: Any) -> None:
    output = generate("modprobe", final_root("arc-a770-vfio-6-1"), [GPU])
    assert "disable_idle_d3" not in output.files[0].content
    assert (generate("cmdline", final_root("arc-a770-vfio-6-1"), [GPU]).stdout or "").split() == ["intel_iommu=on"]


def test_already_configured_it_is_not_written_again(tmp_path: Path) -> None:
    conf = f"options vfio-pci ids=8086:56a0,8086:4f90\n{LINE}\nsoftdep drm pre: vfio-pci\n"
    root = variant(tmp_path, "arc-a770-d3cold-6-2", files={"/etc/modprobe.d/vfio.conf": conf})
    output = generate("modprobe", root, [GPU], FORCED)
    assert LINE not in output.files[0].content.splitlines()
    with pytest.raises(GenerateRefused) as refused:
        generate("modprobe", root, [GPU])
    [fix] = refused.value.offers
    assert "already keeps idle devices in D0" in fix and "do not suspend the host" in fix


def test_a_built_in_vfio_pci_gets_the_kernel_argument(tmp_path: Path) -> None:
    builtin = "kernel/drivers/vfio/vfio.ko\nkernel/drivers/vfio/pci/vfio-pci.ko\n"
    root = variant(tmp_path, "arc-a770-d3cold-6-2", files={"/lib/modules/6.4.1/modules.builtin": builtin})
    output = generate("cmdline", root, [GPU], FORCED)
    assert (output.stdout or "").split() == ["intel_iommu=on", ARG]
    assert any("built into this kernel" in note for note in output.notes)


def test_a_modular_vfio_pci_gets_no_kernel_argument(final_root: Any) -> None:
    output = generate("cmdline", final_root("arc-a770-d3cold-6-2"), [GPU], FORCED)
    assert ARG not in (output.stdout or "").split()
    assert any(f"the modprobe target writes {LINE}" in note for note in output.notes)
