"""Hardware-lab runs (``vfiolab lab``): on a real host (or a live guest standing in for one), the
checker's prediction for each planned device, what the real kernel does to it when a VM starts,
the binding restored from an on-disk journal, and whether prediction and outcome agree.

Modules: :mod:`~harness.lab.plan` (the plan file), :mod:`~harness.lab.kernel` (the kernel
interface as a protocol, and on a real root), :mod:`~harness.lab.predict` (the checker's
prediction and refusals), :mod:`~harness.lab.journal` (the restore journal),
:mod:`~harness.lab.runner` (one run), :mod:`~harness.lab.results` and
:mod:`~harness.lab.reports` (classification, JSON, JUnit, diff), :mod:`~harness.lab.cli`.
The simulated kernel that tests use is :mod:`harness.scenario.labkernel`.
"""

from __future__ import annotations
