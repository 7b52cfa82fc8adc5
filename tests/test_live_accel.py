"""Choosing the accelerator: TCG unless KVM is asked for, or the CPU shows VT-x/AMD-V, /dev/kvm
opens and a probe boot works (the probe itself needs such a machine; here the rules before it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.live import accel
from harness.live.assets import GuestAssets
from harness.live.errors import LiveError


def _assets(tmp_path: Path, key: str) -> GuestAssets:
    return GuestAssets("6.1", "p", "v", "r", "b", tmp_path, (), (), key)


def test_cpu_flags_decide_whether_kvm_is_tried(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu vme sse2 svm lm\n")
    assert accel.cpu_virtualization(cpuinfo)
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu vme sse2 hypervisor lm\n")
    assert not accel.cpu_virtualization(cpuinfo)
    assert not accel.cpu_virtualization(tmp_path / "missing")


def test_tcg_without_vmx_or_svm_and_the_reason_is_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(accel.ACCEL_VARIABLE, raising=False)
    monkeypatch.setattr(accel, "cpu_virtualization", lambda cpuinfo=accel.CPUINFO: False)
    probed: list[str] = []
    monkeypatch.setattr(accel, "_probe_kvm", lambda assets: probed.append(assets.key))
    chosen = accel.choose_accelerator(_assets(tmp_path, "no-vmx"))
    assert (chosen.name, chosen.reason) == ("tcg", "no vmx/svm flag in /proc/cpuinfo") and probed == []


def test_kvm_only_after_a_probe_boot_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(accel.ACCEL_VARIABLE, raising=False)
    monkeypatch.setattr(accel, "cpu_virtualization", lambda cpuinfo=accel.CPUINFO: True)
    monkeypatch.setattr(accel, "kvm_device_usable", lambda device=accel.KVM_DEVICE: True)
    monkeypatch.setattr(accel, "_probe_kvm", lambda assets: "timeout in phase 'kernel' after 10.0 s")
    failed = accel.choose_accelerator(_assets(tmp_path, "probe-fails"))
    assert failed.name == "tcg" and failed.reason == "KVM probe boot failed: timeout in phase 'kernel' after 10.0 s"
    monkeypatch.setattr(accel, "_probe_kvm", lambda assets: None)
    assert accel.choose_accelerator(_assets(tmp_path, "probe-works")).name == "kvm"


def test_the_environment_overrides_and_is_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(accel.ACCEL_VARIABLE, "tcg")
    assert accel.choose_accelerator(_assets(tmp_path, "x")).reason == "VFIOLAB_LIVE_ACCEL=tcg"
    monkeypatch.setenv(accel.ACCEL_VARIABLE, "hvf")
    with pytest.raises(LiveError, match="VFIOLAB_LIVE_ACCEL='hvf': expected tcg, kvm or auto"):
        accel.choose_accelerator(_assets(tmp_path, "x"))
