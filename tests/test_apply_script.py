"""apply.sh run for real, with bash and dash, against copies of rendered roots (VFIOLAB_ROOT, the
variable documented as for tests, so the test machine's /etc is never touched): dry run, apply,
idempotence, refusal of a host that changed since the plan (nothing written), atomic writes when
killed mid-run, the trap's report, usage errors; and the script judged by ``bash -n`` and
``shellcheck``."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.generate import GenerateOptions, generate
from tests.helpers import system_tool

RootOf = Callable[[str], Path]
SCENARIO = "terramaster-f4-424-pro"
INTEL_SATA = "0000:00:17.0"
MODULES = "etc/initramfs-tools/modules"
VFIO_CONF = "etc/modprobe.d/vfio.conf"
VM_CONFIG = "etc/pve/qemu-server/100.conf"
SHELLS = ("bash", "dash")


def plan_for(root: Path, out: Path, options: GenerateOptions | None = None) -> Path:
    generate("all", root, [INTEL_SATA], options).write(out)
    return out / "apply.sh"


@pytest.fixture
def host(final_root: RootOf, tmp_path: Path) -> Path:
    root = tmp_path / "host"
    shutil.copytree(final_root(SCENARIO), root, symlinks=True)
    return root


@pytest.fixture
def script(host: Path, tmp_path: Path) -> Path:
    return plan_for(host, tmp_path / "plan")


def run(
    script: Path,
    root: Path | None,
    *args: str,
    shell: str = "sh",
    path_prefix: Path | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    environment = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LC_ALL": "C"}
    if path_prefix is not None:
        environment["PATH"] = f"{path_prefix}:{environment['PATH']}"
    if root is not None:
        environment["VFIOLAB_ROOT"] = str(root)
    return subprocess.run(
        [shutil.which(shell) or shell, str(script), *args],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
        timeout=timeout,
    )


def temporaries(root: Path) -> list[str]:
    """apply.sh's temporary files (``.NAME.vfiolab-XXXXXX``)."""
    return sorted(path.name for path in root.rglob(".*") if ".vfiolab-" in path.name and path.name != ".vfiolab-root")


def snapshot(root: Path) -> dict[str, bytes | str]:
    """Every file's content and every link's target under ``root``."""
    found: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        relative = str(path.relative_to(root))
        if path.is_symlink():
            found[relative] = "-> " + os.readlink(path)
        elif path.is_file():
            found[relative] = path.read_bytes()
    return found


# --- Judged by the shell tools ----------------------------------------------------------------


@pytest.mark.parametrize("scenario", [SCENARIO, "amd-ryzen-radeon-gpu"])
def test_the_script_passes_bash_n_and_shellcheck(final_root: RootOf, tmp_path: Path, scenario: str) -> None:
    devices = [INTEL_SATA] if scenario == SCENARIO else ["0000:08:00.0"]
    out = tmp_path / "plan"
    generate("all", final_root(scenario), devices, GenerateOptions(unsafe=("acs-override",))).write(out)
    script = out / "apply.sh"
    for shell in ("bash", "dash"):
        checked = subprocess.run([system_tool(shell), "-n", str(script)], capture_output=True, text=True, check=False)
        assert checked.returncode == 0, checked.stderr
    linted = subprocess.run(
        [system_tool("shellcheck", "shellcheck"), "--shell=sh", "--severity=info", str(script)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert linted.returncode == 0, linted.stdout


# --- Dry run, apply, idempotence ----------------------------------------------------------------


@pytest.mark.parametrize("shell", SHELLS)
def test_dry_run_then_apply_then_nothing_to_do(host: Path, script: Path, shell: str) -> None:
    before = snapshot(host)
    dry = run(script, host, shell=shell)
    assert dry.returncode == 0, dry.stderr
    assert snapshot(host) == before
    lines = dry.stdout.splitlines()
    assert "would create: /etc/modprobe.d/vfio.conf" in lines
    assert "would replace: /etc/initramfs-tools/modules (keeping a backup)" in lines
    assert "    +vfio_pci" in lines
    assert "would run: update-initramfs -u -k all" in lines
    assert "would run: qm set 100 -hostpci0 0000:00:17.0,pcie=1" in lines
    assert lines[-1] == "dry run: nothing changed; run ./apply.sh --yes to apply"

    applied = run(script, host, "--yes", shell=shell)
    assert applied.returncode == 0, applied.stderr
    plan = script.parent
    assert (host / VFIO_CONF).read_bytes() == (plan / VFIO_CONF).read_bytes()
    assert (host / MODULES).read_bytes() == (plan / MODULES).read_bytes()
    assert oct((host / VFIO_CONF).stat().st_mode & 0o777) == "0o644"
    [backup] = (host / "etc/initramfs-tools").glob("modules.vfiolab-*")
    assert backup.read_bytes() == before[MODULES]
    assert "would run (VFIOLAB_ROOT is set: no commands run): update-initramfs -u -k all" in applied.stdout
    assert (
        applied.stdout.splitlines()[-1] == "done: 2 file(s) written, 0 command(s) run, 2 not run (VFIOLAB_ROOT is set)"
    )
    assert temporaries(host) == []

    # What `qm set` would have done; then a second run finds everything in place.
    with (host / VM_CONFIG).open("a") as config:
        config.write("hostpci0: 0000:00:17.0,pcie=1\n")
    after = snapshot(host)
    again = run(script, host, "--yes", shell=shell)
    assert again.returncode == 0, again.stderr
    assert snapshot(host) == after
    assert again.stdout.splitlines() == [
        "unchanged: /etc/modprobe.d/vfio.conf",
        "unchanged: /etc/initramfs-tools/modules",
        "not needed: update-initramfs -u -k all (nothing it reads changed)",
        "unchanged: /etc/pve/qemu-server/100.conf has 'hostpci0: 0000:00:17.0,pcie=1'",
        "nothing to do: this host already has everything the plan puts in place",
    ]


def test_a_rebuild_runs_only_for_what_it_reads_and_reboot_checks_are_only_printed(host: Path, tmp_path: Path) -> None:
    script = plan_for(host, tmp_path / "plan", GenerateOptions(unsafe=("acs-override",)))
    text = script.read_text()
    assert "rebuild 'update-initramfs -u -k all' /etc/modprobe.d/vfio.conf /etc/initramfs-tools/modules" in text
    assert "rebuild update-grub /etc/default/grub" in text
    assert "echo 'after a reboot, check: cat /proc/cmdline'" in text
    assert not [line for line in text.splitlines() if line.strip().startswith("cat /proc/cmdline")]
    # Early binding already in place: only the bootloader's update is due.
    plan = script.parent
    for relative in (VFIO_CONF, MODULES):
        shutil.copy2(plan / relative, host / relative)
    fresh = plan_for(host, tmp_path / "plan2", GenerateOptions(unsafe=("acs-override",)))
    dry = run(fresh, host)
    assert dry.returncode == 0, dry.stderr
    assert "not needed: update-initramfs -u -k all (nothing it reads changed)" in dry.stdout
    assert "would run: update-grub" in dry.stdout
    assert dry.stdout.splitlines()[-1] == "after a reboot, check: cat /proc/cmdline"


# --- Refusals: nothing written ------------------------------------------------------------------


def add_twin(root: Path, source: str, address: str) -> None:
    """A second device with ``source``'s IDs at ``address`` (as after adding a card)."""
    devices = root / "sys/bus/pci/devices"
    real = (devices / source).resolve()
    twin = real.parent / address
    shutil.copytree(real, twin, symlinks=True)
    (devices / address).symlink_to(os.path.relpath(twin, devices))


def replace_by_symlink(path: Path, target: str) -> None:
    path.unlink()
    path.symlink_to(target)


def replace_by_fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


REFUSALS: list[tuple[str, Callable[[Path, Path], object], str]] = [
    (
        "a file edited after the plan",
        lambda root, plan: (root / MODULES).write_text((root / MODULES).read_text() + "zfs\n"),
        "/etc/initramfs-tools/modules changed since the plan was made",
    ),
    (
        "a file created after the plan",
        lambda root, plan: (root / VFIO_CONF).write_text("options vfio-pci ids=1b21:0612\n"),
        "/etc/modprobe.d/vfio.conf was created since the plan was made",
    ),
    (
        "a file replaced by a symlink",
        lambda root, plan: replace_by_symlink(root / MODULES, "/etc/passwd"),
        "/etc/initramfs-tools/modules is not a regular file (a symlink)",
    ),
    (
        "a new device matching the ids= entry",
        lambda root, plan: add_twin(root, INTEL_SATA, "0000:00:17.1"),
        "0000:00:17.1 now matches ids=8086:54d3 too (the plan saw 0000:00:17.0)",
    ),
    (
        "the planned device with other IDs",
        lambda root, plan: (root / "sys/bus/pci/devices" / INTEL_SATA / "device").write_text("0x54d4\n"),
        "0000:00:17.0 is 0x8086:0x54d4, not 0x8086:0x54d3",
    ),
    (
        "the planned device gone",
        lambda root, plan: (root / "sys/bus/pci/devices" / INTEL_SATA).unlink(),
        "0000:00:17.0 is not on this host",
    ),
    (
        "the VM's hostpci0 taken",
        lambda root, plan: (root / VM_CONFIG).write_text((root / VM_CONFIG).read_text() + "hostpci0: 0000:01:00.0\n"),
        "hostpci0 now holds 'hostpci0: 0000:01:00.0', not as planned",
    ),
    (
        "the VM's machine type changed",
        lambda root, plan: (root / VM_CONFIG).write_text(
            (root / VM_CONFIG).read_text().replace("machine: q35", "machine: pc")
        ),
        "'machine: pc' is not what the plan saw ('machine: q35', '' = unset)",
    ),
    (
        "the VM's configuration replaced by a FIFO (sed would wait on it forever)",
        lambda root, plan: replace_by_fifo(root / VM_CONFIG),
        "/etc/pve/qemu-server/100.conf is not a regular file; vfiolab reads only regular files",
    ),
    (
        "a file of the plan edited",
        lambda root, plan: (plan / VFIO_CONF).write_text("options vfio-pci ids=1b21:0612\n"),
        "etc/modprobe.d/vfio.conf is not the file vfiolab generated (edited since)",
    ),
]


# Every change with --yes; the dry run takes the same checks, so two of them suffice there.
@pytest.mark.parametrize(
    ("change", "message", "mode"),
    [(change, message, "--yes") for _, change, message in REFUSALS]
    + [(change, message, "--dry-run") for _, change, message in REFUSALS[::5]],
)
def test_a_changed_host_is_refused_and_nothing_written(
    host: Path, script: Path, change: Callable[[Path, Path], object], message: str, mode: str
) -> None:
    change(host, script.parent)
    before = snapshot(host)
    refused = run(script, host, mode)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert message in refused.stderr
    assert "apply.sh: refusing: this host is not as it was when the plan was made" in refused.stderr
    assert "nothing was changed" in refused.stderr and refused.stdout == ""
    assert snapshot(host) == before


def test_every_difference_is_named_at_once(host: Path, script: Path) -> None:
    for name, change, _ in REFUSALS[:4]:
        if "symlink" not in name:
            change(host, script.parent)
    refused = run(script, host, "--yes")
    assert refused.returncode == 2
    problems = [line for line in refused.stderr.splitlines() if line.startswith("  - ")]
    assert len(problems) == 3, refused.stderr


def test_another_host_is_refused(final_root: RootOf, script: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    shutil.copytree(final_root("n100-asm1184e-switch"), other, symlinks=True)
    refused = run(script, other, "--yes")
    assert refused.returncode == 2 and "refusing" in refused.stderr


# --- Interrupted: atomic writes and the trap's report ------------------------------------------------


def shim(directory: Path, name: str, body: str) -> Path:
    """A stand-in for ``name`` on PATH that runs ``body`` (with $PPID the script) and then the
    real program."""
    directory.mkdir(exist_ok=True)
    real = shutil.which(name)
    assert real is not None
    stub = directory / name
    stub.write_text(f'#!/bin/sh\n{body}\nexec {real} "$@"\n')
    stub.chmod(0o755)
    return directory


@pytest.mark.parametrize("shell", SHELLS)
def test_interrupted_before_a_rename_leaves_the_old_file_and_reports(
    host: Path, script: Path, tmp_path: Path, shell: str
) -> None:
    before = snapshot(host)
    counter = tmp_path / "count"
    # The third mv (vfio.conf in place, modules backed up, modules about to be renamed): SIGTERM.
    body = (
        f"n=$(cat {counter} 2>/dev/null || echo 0); n=$((n + 1)); echo $n > {counter}\n"
        '[ "$n" -ne 3 ] || { kill -TERM $PPID; sleep 1; exit 1; }'
    )
    stopped = run(script, host, "--yes", shell=shell, path_prefix=shim(tmp_path / "bin", "mv", body))
    assert stopped.returncode == 130, stopped.stdout + stopped.stderr
    assert "apply.sh: interrupted" in stopped.stderr
    assert "apply.sh: done before that:\n  - wrote: /etc/modprobe.d/vfio.conf\n  - backed up:" in stopped.stderr
    assert "still to run for what was written" in stopped.stderr and "  update-initramfs -u -k all" in stopped.stderr
    # modules untouched, no temporary file left
    assert (host / MODULES).read_bytes() == before[MODULES]
    assert (host / VFIO_CONF).read_bytes() == (script.parent / VFIO_CONF).read_bytes()
    assert temporaries(host) == []
    # A rerun finishes what is left.
    finished = run(script, host, "--yes", shell=shell)
    assert finished.returncode == 0, finished.stderr
    assert (
        "unchanged: /etc/modprobe.d/vfio.conf" in finished.stdout
        and "wrote: /etc/initramfs-tools/modules" in finished.stdout
    )
    assert (host / MODULES).read_bytes() == (script.parent / MODULES).read_bytes()


@pytest.mark.parametrize("shell", SHELLS)
def test_killed_mid_copy_never_leaves_a_truncated_file(host: Path, script: Path, tmp_path: Path, shell: str) -> None:
    before = snapshot(host)
    planned = {relative: (script.parent / relative).read_bytes() for relative in (VFIO_CONF, MODULES)}
    # cat copies the new content into the temporary file: write half of it, then SIGKILL the
    # script (no trap can run).
    body = 'head -c 20 "$2"; kill -KILL $PPID; exit 1'
    killed = run(script, host, "--yes", shell=shell, path_prefix=shim(tmp_path / "bin", "cat", body))
    assert killed.returncode != 0
    for relative, content in planned.items():
        if (host / relative).exists():
            assert (host / relative).read_bytes() in (before.get(relative), content), relative
        else:
            assert relative not in before
    # The partial copy is a temporary file nothing reads (not *.conf), and a rerun completes.
    assert all(not name.endswith((".conf", ".cfg")) for name in temporaries(host))
    finished = run(script, host, "--yes", shell=shell)
    assert finished.returncode == 0, finished.stderr
    assert temporaries(host) == []
    for relative, content in planned.items():
        assert (host / relative).read_bytes() == content


# --- Usage ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [["--bogus"], ["--yes", "--yes"], ["yes"]])
def test_usage_errors_exit_64(host: Path, script: Path, args: list[str]) -> None:
    completed = run(script, host, *args)
    assert completed.returncode == 64 and "usage:" in completed.stderr


def test_a_missing_test_root_is_a_usage_error(script: Path, tmp_path: Path) -> None:
    completed = run(script, tmp_path / "nonexistent", "--yes")
    assert completed.returncode == 64 and "no such directory" in completed.stderr


def test_yes_on_the_real_root_needs_root(script: Path) -> None:
    setpriv = shutil.which("setpriv")
    if setpriv is None or os.geteuid() != 0:
        pytest.skip("needs root and setpriv (util-linux) to run the script as another user")
    # A copy others can read: pytest's directories are private to root.
    shared = Path(tempfile.mkdtemp(prefix="vfiolab-apply-"))
    try:
        shared.chmod(0o755)
        copy = shared / "apply.sh"
        shutil.copy2(script, copy)
        completed = subprocess.run(
            [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "sh", str(copy), "--yes"],
            capture_output=True,
            text=True,
            env={"PATH": "/usr/bin:/bin"},
            check=False,
            timeout=60,
        )
    finally:
        shutil.rmtree(shared)
    assert completed.returncode == 73, completed.stdout + completed.stderr
    assert "run it as root" in completed.stderr and completed.stdout == ""
