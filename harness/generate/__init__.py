"""The config generator: from a checked root and the devices to pass, the configuration each
tool needs, sharing one plan (:mod:`harness.generate.plan`) so that no two targets decide the
same thing twice.

Public API::

    from harness.generate import generate, GenerateOptions, GenerateRefused, TARGETS
    output = generate("proxmox", Path("/"), ["0000:00:17.0"], GenerateOptions(vmid=100))
    print(output.stdout_text(), end="")          # the one document (NeedsOutDirectory: several files)
    print(output.guidance(), end="", file=sys.stderr)   # notes, what stdout holds, next steps
    output.write(Path("plan"))                   # or every file, under the host's paths

    domain = read_domain_file("vm.xml")          # a libvirt domain (virsh dumpxml) as the VM
    generate("libvirt", Path("/"), ["0000:00:17.0"], GenerateOptions(domain=domain, domain_xml=True))

Errors: :class:`GenerateRefused` (the checker fails a device; ``.reasons``, ``.alternative``),
:class:`GenerateError` (bad input), :class:`~harness.generate.output.OutputExistsError`; all
derive from :class:`harness.errors.VfiolabError`; :class:`NeedsOutDirectory` is a usage error,
:class:`DomainFileError` an unreadable ``--domain`` file (exit 66).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.generate.targets import (
    CANNOT_EXPRESS,
    NOT_PASSING,
    OVERRIDE_PROPERTIES,
    QEMU_FORMATS,
    TARGET_MODULES,
    TARGET_OPTIONS,
    UNSAFE_WORKAROUNDS,
)

if TYPE_CHECKING:
    from harness.checker import CheckReport
    from harness.generate.libvirt_domain import DomainDocument, DomainFileError, read_domain_file
    from harness.generate.output import GeneratedFile, GeneratedOutput, NeedsOutDirectory, OutputExistsError
    from harness.generate.plan import GenerateError, GenerateOptions, GenerateRefused, Plan

    Target = Callable[[Plan], GeneratedOutput]

#: The targets by name, with what each writes (the writers load on first use: importing this
#: package stays cheap for the command line).
TARGETS: dict[str, str] = {name: description for name, (_, description) in TARGET_MODULES.items()}

#: Where the names this package exports live; loaded when first used (PEP 562).
_LAZY = {
    "DomainDocument": "harness.generate.libvirt_domain",
    "DomainFileError": "harness.generate.libvirt_domain",
    "read_domain_file": "harness.generate.libvirt_domain",
    "GeneratedFile": "harness.generate.output",
    "GeneratedOutput": "harness.generate.output",
    "NeedsOutDirectory": "harness.generate.output",
    "OutputExistsError": "harness.generate.output",
    "GenerateError": "harness.generate.plan",
    "GenerateOptions": "harness.generate.plan",
    "GenerateRefused": "harness.generate.plan",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'harness.generate' has no attribute {name!r}")


def target_writer(target: str) -> Target:
    """The function that writes ``target`` from a plan."""
    module, _ = TARGET_MODULES[target]
    writer: Target = importlib.import_module(f"harness.generate.{module}").generate
    return writer


def options_given(options: GenerateOptions) -> set[str]:
    """The options set away from their defaults, as the command line spells them (``--vmid``
    cannot be told from its default here; the command line adds it when given)."""
    given = {f"--unsafe {name}" for name in options.unsafe}
    flags = {
        "--force": options.force,
        "--domain-xml": options.domain_xml,
        "--guest-address": options.guest_address is not None,
        "--domain": options.domain is not None,
        "--format": options.qemu_format is not None,
        "--override": bool(options.id_overrides),
        "--node": options.node is not None,
    }
    return given | {name for name, value in flags.items() if value}


def check_target_options(target: str, given: set[str]) -> None:
    """Raise :class:`GenerateError` (a usage error) for options ``target`` does not use."""
    from harness.generate.plan import GenerateError

    if target not in TARGETS:
        raise GenerateError(f"unknown target {target!r}; targets: {', '.join(TARGETS)}")
    unused = sorted(given - TARGET_OPTIONS[target])
    if unused:
        users = sorted(name for name, used in TARGET_OPTIONS.items() if unused[0] in used)
        why = CANNOT_EXPRESS.get((target, unused[0]))
        raise GenerateError(
            f"{unused[0]} does not apply to target {target}"
            + (f": {why}" if why else "")
            + f" (it applies to: {', '.join(users) or 'none'})"
        )
    if {"--domain", "--vmid"} <= given:
        raise GenerateError("--domain and --vmid both name the VM: give one")


def generate(
    target: str,
    root: Path | str,
    devices: list[str],
    options: GenerateOptions | None = None,
    report: CheckReport | None = None,
) -> GeneratedOutput:
    """``report``: the checker's report of every endpoint of ``root`` when the caller has one
    (saves checking the root again)."""
    from harness.generate.plan import GenerateOptions, build_plan

    options = options or GenerateOptions()
    check_target_options(target, options_given(options))
    from harness.generate.gpu_setup import fixed_by

    plan = build_plan(
        Path(root), devices, options, refuse=target not in NOT_PASSING, report=report, fixed=fixed_by(target)
    )
    return target_writer(target)(plan)


__all__ = [
    "CANNOT_EXPRESS",
    "OVERRIDE_PROPERTIES",
    "QEMU_FORMATS",
    "TARGETS",
    "TARGET_OPTIONS",
    "UNSAFE_WORKAROUNDS",
    "DomainDocument",
    "DomainFileError",
    "GenerateError",
    "GenerateOptions",
    "GenerateRefused",
    "GeneratedFile",
    "GeneratedOutput",
    "NeedsOutDirectory",
    "OutputExistsError",
    "check_target_options",
    "generate",
    "options_given",
    "read_domain_file",
    "target_writer",
]
