"""A labgrid strategy for vfiolab's live guest (``qemu-env.yaml`` imports it): the states of
labgrid's ShellStrategy (``off``, ``shell``), with the boot tried again when QEMU ended before
the guest's shell answered (its console socket broke). QEMU 7.2 with an ``x-pci-proxy-dev``
device dies now and then while the guest kernel boots (SIGSEGV, just after the guest's IOMMU set
up its groups; the same boot passes when run again), and vfiolab's live runner boots again in
that case too (``harness.live.runner.PROXY_BOOT_RETRIES``). On a busy 2-core host (load 7 to
14) 1 of 10, then 3 of 10 boots of this environment ended that way (with the intel-iommu's
interrupt remapping on or off alike). A guest that hangs is not booted again: the ShellDriver's
login timeout ends the transition.
"""

from __future__ import annotations

import enum
from typing import Any, ClassVar

import attr
from labgrid.factory import target_factory
from labgrid.step import step
from labgrid.strategy.common import Strategy, StrategyError, never_retry


class Status(enum.Enum):
    unknown = 0
    off = 1
    shell = 2


@attr.s(eq=False)
class LiveGuestStrategy(Strategy):  # type: ignore[misc]  # labgrid is untyped
    """``off`` → ``shell`` for a QEMU target whose QEMU may die while the guest boots.

    Args:
        boot_attempts (int): boots tried before the transition fails (default 4).
    """

    bindings: ClassVar[dict[str, str]] = {"qemu": "QEMUDriver", "shell": "ShellDriver"}

    status: Status = attr.ib(default=Status.unknown)
    boot_attempts: int = attr.ib(default=4, validator=attr.validators.instance_of(int))

    @never_retry  # type: ignore[untyped-decorator]
    @step(args=["status"])  # type: ignore[untyped-decorator]
    def transition(self, status: Status | str, *, step: Any) -> None:
        if not isinstance(status, Status):
            status = Status[status]
        if status == Status.unknown:
            raise StrategyError(f"can not transition to {status}")
        if status == self.status:
            step.skip("nothing to do")
            return
        if status == Status.off:
            self.target.deactivate(self.shell)
            self.target.activate(self.qemu)
            self.qemu.off()
        else:
            self._boot_to_shell()
        self.status = status

    def _boot_to_shell(self) -> None:
        self.target.deactivate(self.shell)
        self.target.activate(self.qemu)
        self.qemu.off()
        for attempt in range(1, self.boot_attempts + 1):
            self.qemu.on()
            try:
                self.target.activate(self.shell)
                return
            except ConnectionError as error:
                # The console's socket broke: QEMU ended (its QMP is gone too, so it cannot be
                # told to quit). Forget that process and start a new one.
                if attempt == self.boot_attempts:
                    raise
                self.logger.warning("QEMU ended while the guest booted (%s); booting again", error)
                self.qemu.status = 0
                self.target.deactivate(self.qemu)
                self.target.activate(self.qemu)


# An environment file imports this module each time it is loaded; the class is registered once.
if "LiveGuestStrategy" not in target_factory.all_classes:
    target_factory.reg_driver(LiveGuestStrategy)
