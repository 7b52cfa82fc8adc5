"""modprobe.d target: ``/etc/modprobe.d/vfio.conf`` with ``options vfio-pci ids=`` (narrowed when
the plain ID would capture another device), ``softdep <host driver> pre: vfio-pci``, and
``install`` hooks for devices only an address tells apart. The initramfs targets install the
same file (:func:`vfio_conf`).

``allow_unsafe_interrupts`` is written only when asked for by name, under a warning.
"""

from __future__ import annotations

from harness import paste
from harness.bootconfig import VFIO_CONF, options_line
from harness.generate.binding import EarlyBinding, early_binding
from harness.generate.gpu_setup import vendor_reset_lines
from harness.generate.idle_d3_fix import modprobe_lines as idle_d3_lines
from harness.generate.output import GeneratedFile, GeneratedOutput
from harness.generate.plan import Plan

#: For the targets that write vfio.conf among other files: how to get it as one document.
MODPROBE_ALONE = "the modprobe target for /etc/modprobe.d/vfio.conf alone"
UNSAFE_INTERRUPTS_WARNING = (
    "WARNING: allow_unsafe_interrupts lets vfio run without interrupt remapping; a guest can then "
    "forge MSI writes and inject interrupts into the host. Asked for with --unsafe unsafe-interrupts."
)


def vfio_conf(plan: Plan, binding: EarlyBinding) -> GeneratedFile:
    lines = plan.comments()
    lines += [paste.comment(text) for text in binding.explanations]
    lines += binding.modprobe_lines()
    lines += idle_d3_lines(plan)
    lines += vendor_reset_lines(plan)
    if "unsafe-interrupts" in plan.options.unsafe:
        lines += [
            paste.comment(UNSAFE_INTERRUPTS_WARNING),
            options_line("vfio_iommu_type1", {"allow_unsafe_interrupts": "1"}),
        ]
    return GeneratedFile(VFIO_CONF, "\n".join(lines) + "\n", description="vfio-pci claims the devices at boot")


def generate(plan: Plan) -> GeneratedOutput:
    binding = early_binding(plan)
    output = GeneratedOutput("modprobe", notes=[*plan.notes, *plan.forced_comment()])
    conf = vfio_conf(plan, binding)
    output.show_file(conf, f"the file {conf.path} ({conf.description}); save it there, then:")
    commands = plan.boot.rebuild_commands()
    output.commands += [("rebuild the initramfs so it carries the file", command) for command in commands]
    output.reads.update({command: (conf.path,) for command in commands})
    if binding.driverctl_only:
        output.notes += [text for text in binding.explanations if "driverctl" in text]
    return output
