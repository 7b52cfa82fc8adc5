"""labgrid's QEMU environment (``qemu-env.yaml``) names the live guest's kernel and initramfs
through ``LG_VFIOLAB_VMLINUX`` and ``LG_VFIOLAB_INITRAMFS`` (labgrid substitutes only ``LG_*``
variables into an environment file). When they are unset, they are set here from the live
runner's assets (``vfiolab live assets``; guest kernel ``LG_VFIOLAB_KERNEL``, default 6.1)
before labgrid's plugin reads the environment file (its ``pytest_configure`` runs last).
"""

from __future__ import annotations

import os
import sys

import pytest

KERNEL_VARIABLE = "LG_VFIOLAB_KERNEL"
ASSET_VARIABLES = ("LG_VFIOLAB_VMLINUX", "LG_VFIOLAB_INITRAMFS")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if all(name in os.environ for name in ASSET_VARIABLES):
        return
    environment_file = getattr(config.option, "lg_env", None) or os.environ.get("LG_ENV")
    if environment_file is None or "LG_VFIOLAB_" not in _text(environment_file):
        return
    from harness.live.assets import guest_assets
    from harness.live.errors import AssetError

    try:
        assets = guest_assets(os.environ.get(KERNEL_VARIABLE, "6.1"))
    except AssetError as error:
        raise pytest.UsageError(f"{environment_file}: no live guest to boot: {error}") from None
    if assets.note:
        print(f"live guest: {assets.note}", file=sys.stderr)
    os.environ.setdefault("LG_VFIOLAB_VMLINUX", str(assets.vmlinux))
    os.environ.setdefault("LG_VFIOLAB_INITRAMFS", str(assets.initramfs))


def _text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as file:
            return file.read(100_000)
    except OSError:
        return ""
