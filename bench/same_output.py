"""Guard for speed work: ``vfiolab check`` prints byte-identical reports before and after.

``record DIR`` renders every shipped scenario that has a host (``fakesys render``) and a
synthetic host (bench/synthetic.py) under ``--trees``, runs ``check --root`` on each in text,
``--verbose`` and ``--json`` form and ``check --scenario`` on each scenario, and stores stdout and
exit code under DIR; ``compare DIR`` runs the same commands on the same trees and prints every
difference (exit 1 when any). Trees are kept between the two (their paths are in the output).

    .venv/bin/python bench/same_output.py record /tmp/before --trees /dev/shm/same-output
    ... change the code ...
    .venv/bin/python bench/same_output.py compare /tmp/before --trees /dev/shm/same-output
"""

from __future__ import annotations

import argparse
import difflib
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare import vfiolab_command
from synthetic import render_synthetic

REPO = Path(__file__).resolve().parent.parent


def scenario_names() -> list[str]:
    """Shipped scenarios a root can be rendered for (the live ones describe a guest, not a host)."""
    return sorted(path.stem for path in (REPO / "scenarios").glob("*.yaml") if not path.stem.startswith("live-"))


def prepare(trees: Path, synthetic: int) -> dict[str, Path]:
    roots: dict[str, Path] = {}
    vfiolab = vfiolab_command()
    for name in scenario_names():
        root = trees / name
        if not root.exists():
            subprocess.run([*vfiolab, "fakesys", "render", name, str(root)], check=True, stderr=subprocess.DEVNULL)
        roots[name] = root
    root = trees / f"synthetic-{synthetic}"
    if not root.exists():
        render_synthetic(synthetic, root)
    roots[root.name] = root
    return roots


def commands(roots: dict[str, Path]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, root in roots.items():
        found[f"{name}.text"] = ["check", "--root", str(root), "--no-color"]
        found[f"{name}.verbose"] = ["check", "--root", str(root), "--no-color", "--verbose"]
        found[f"{name}.json"] = ["check", "--root", str(root), "--json"]
        if not name.startswith("synthetic-"):
            found[f"{name}.scenario"] = ["check", "--scenario", name, "--no-color"]
    return found


def run(arguments: list[str]) -> bytes:
    done = subprocess.run([*vfiolab_command(), *arguments], capture_output=True, check=False)
    return done.stdout + f"\n[exit {done.returncode}]\n".encode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=("record", "compare"))
    parser.add_argument("directory", type=Path)
    parser.add_argument("--trees", type=Path, default=Path("/dev/shm/vfiolab-same-output"))
    parser.add_argument("--synthetic", type=int, default=1024)
    args = parser.parse_args()
    roots = prepare(args.trees, args.synthetic)
    args.directory.mkdir(parents=True, exist_ok=True)
    differences = 0
    for key, arguments in commands(roots).items():
        output = run(arguments)
        stored = args.directory / key
        if args.action == "record":
            stored.write_bytes(output)
            continue
        before = stored.read_bytes()
        if before != output:
            differences += 1
            print(f"DIFFERS: vfiolab {' '.join(arguments)}")
            diff = difflib.unified_diff(
                before.decode(errors="replace").splitlines(),
                output.decode(errors="replace").splitlines(),
                "before",
                "after",
                lineterm="",
                n=1,
            )
            print("\n".join(list(diff)[:40]))
    if args.action == "compare":
        print(f"{len(commands(roots))} outputs compared, {differences} differ")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
