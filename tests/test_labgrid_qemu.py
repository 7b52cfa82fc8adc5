"""labgrid's QEMU target of ``examples/lab/qemu-env.yaml`` boots again when QEMU ended during the
boot (``examples/lab/guest_strategy.py``): QEMU 7.2 with the proxy's device dies now and then
while the guest kernel boots. Here QEMU is ended on purpose during its first boot, and the
strategy must reach the guest's shell on the second. Needs labgrid, QEMU and the live guest's
assets (``tox -e labgrid``); skipped with the reason otherwise.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from harness.live.assets import guest_assets
from harness.live.errors import AssetError

pytestmark = pytest.mark.lab

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "lab"


def _replaced(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new)


def test_the_guest_strategy_boots_again_when_qemu_ended_during_the_boot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    labgrid = pytest.importorskip("labgrid", reason="labgrid is not installed (pip install 'vfiolab[lab]')")
    if shutil.which("qemu-system-x86_64") is None:
        pytest.skip("qemu-system-x86_64 is not installed (ci/install-system-packages.sh)")
    try:
        assets = guest_assets("6.1")
    except AssetError as error:
        pytest.skip(f"no live guest: {error}")
    monkeypatch.setenv("LG_VFIOLAB_VMLINUX", str(assets.vmlinux))
    monkeypatch.setenv("LG_VFIOLAB_INITRAMFS", str(assets.initramfs))
    starts = tmp_path / "starts"
    # The first QEMU boots the guest without the shell (so its boot never ends, however slow or
    # fast the machine) and is ended after a while (SIGTERM through the proxy wrapper, which
    # passes it on); the next ones run as the example's.
    wrapper = tmp_path / "qemu-ended-once.sh"
    wrapper.write_text(
        textwrap.dedent(
            f"""\
            #!/bin/sh
            case "${{1:-}}" in -version) exec qemu-system-x86_64 "$@" ;; esac
            echo start >> {starts}
            if [ "$(wc -l < {starts})" -gt 1 ]; then exec {EXAMPLES}/qemu-proxy.sh "$@"; fi
            for argument; do
                shift
                set -- "$@" "$(printf '%s' "$argument" | sed 's/vfiolab[.]console=shell/vfiolab.console=none/')"
            done
            exec 3<&0
            {EXAMPLES}/qemu-proxy.sh "$@" 0<&3 &
            child=$!
            sleep 8
            kill -TERM "$child"
            wait "$child"
            """
        )
    )
    wrapper.chmod(0o755)
    text = (EXAMPLES / "qemu-env.yaml").read_text()
    text = _replaced(text, "qemu: !template $BASE/qemu-proxy.sh", f"qemu: {wrapper}")
    text = _replaced(text, "  - guest_strategy.py", f"  - {EXAMPLES / 'guest_strategy.py'}")
    environment = tmp_path / "env.yaml"
    environment.write_text(text)
    env = labgrid.Environment(config_file=str(environment))
    try:
        target = env.get_target("main")
        strategy = target.get_driver("LiveGuestStrategy", activate=False)
        strategy.transition("shell")
        assert target.get_driver("CommandProtocol").run_check("echo ready") == ["ready"]
        # The first QEMU ended; a later boot (the second, unless QEMU died on its own too)
        # reached the shell.
        assert len(starts.read_text().splitlines()) >= 2
    finally:
        env.cleanup()
