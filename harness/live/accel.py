"""Which accelerator a guest runs on: TCG (QEMU's emulator) unless KVM demonstrably works.

``/dev/kvm`` existing is not enough: on hosts that are themselves VMs with an unusual KVM
provider, a KVM guest can hang silently after the firmware or abort on an MSR. So KVM is used
only when the CPU flags show VT-x or AMD-V (``vmx``/``svm`` in ``/proc/cpuinfo``), ``/dev/kvm``
can be opened, and a probe boot of the same guest reaches its shell within a short timeout. The
answer is remembered for the process. ``$VFIOLAB_LIVE_ACCEL`` (``tcg``, ``kvm`` or ``auto``, the
default) overrides the choice.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness.live.assets import GuestAssets
from harness.live.errors import LiveError

ACCEL_VARIABLE = "VFIOLAB_LIVE_ACCEL"
CPUINFO = Path("/proc/cpuinfo")
KVM_DEVICE = Path("/dev/kvm")
#: Seconds a KVM probe boot may take to reach the guest's shell (KVM boots in about one).
PROBE_TIMEOUT = 20.0


@dataclass(frozen=True)
class Accelerator:
    name: str
    #: Why this one, for reports ("no vmx/svm in /proc/cpuinfo", "KVM probe boot failed: ...").
    reason: str


_chosen: dict[str, Accelerator] = {}


def cpu_virtualization(cpuinfo: Path = CPUINFO) -> bool:
    """Whether the CPU flags include VT-x (``vmx``) or AMD-V (``svm``)."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.partition(":")[2].split())
            return bool(flags & {"vmx", "svm"})
    return False


def kvm_device_usable(device: Path = KVM_DEVICE) -> bool:
    return os.access(device, os.R_OK | os.W_OK)


def _probe_kvm(assets: GuestAssets) -> str | None:
    """Boot the plain guest with KVM; None when it reaches its shell, else why not."""
    from harness.live.qemu import build_launch
    from harness.live.session import GuestSession, Timeouts
    from harness.live.spec import GuestSpec

    with tempfile.TemporaryDirectory(prefix="vfiolab-kvm-probe-") as directory:
        launch = build_launch(GuestSpec(), assets, Path(directory), accel="kvm")
        timeouts = Timeouts.from_environment()
        limits = Timeouts(
            kernel=PROBE_TIMEOUT / 2, init=PROBE_TIMEOUT / 2, ready=PROBE_TIMEOUT / 2, scale=timeouts.scale
        )
        session = GuestSession(launch, Path(directory), timeouts=limits)
        try:
            with session:
                session.boot()
                session.poweroff()
        except LiveError as error:
            return str(error)
    return None


def choose_accelerator(assets: GuestAssets) -> Accelerator:
    """TCG, or KVM when it is asked for or probed to work (see the module's docstring)."""
    wanted = os.environ.get(ACCEL_VARIABLE, "auto").strip().lower() or "auto"
    if wanted not in ("auto", "tcg", "kvm"):
        raise LiveError(f"{ACCEL_VARIABLE}={wanted!r}: expected tcg, kvm or auto")
    if wanted != "auto":
        return Accelerator(wanted, f"{ACCEL_VARIABLE}={wanted}")
    if assets.key in _chosen:
        return _chosen[assets.key]
    if not cpu_virtualization():
        chosen = Accelerator("tcg", "no vmx/svm flag in /proc/cpuinfo")
    elif not kvm_device_usable():
        chosen = Accelerator("tcg", f"{KVM_DEVICE} cannot be opened")
    else:
        failure = _probe_kvm(assets)
        chosen = (
            Accelerator("kvm", "KVM probe boot reached the shell")
            if failure is None
            else Accelerator("tcg", f"KVM probe boot failed: {failure}")
        )
    _chosen[assets.key] = chosen
    return chosen
