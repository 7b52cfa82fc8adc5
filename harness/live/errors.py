"""The errors of live runs (:mod:`harness.live`), under :mod:`harness.errors`'s hierarchy.

    VfiolabError
    ├── InputError
    │   └── GuestSpecError         a scenario's guest: part that cannot be run      exit 65
    └── CannotRunError                                                            exit 3
        └── LiveError              a live run could not be carried out
            ├── AssetError         guest kernel/initramfs cannot be built (offline, unknown package, missing tool)
            ├── LaunchError        QEMU is missing or did not start (its stderr is in the message)
            └── ConsoleError       the guest console did not show what was waited for
                ├── ConsoleTimeout     the pattern did not appear in time
                ├── ConsoleEOF         QEMU exited (or closed the console) first
                └── GuestCrash         the kernel printed an oops, panic, BUG:, soft lockup, ...

A :class:`ConsoleError` carries the phase (``kernel``, ``init``, ``step 2: reset``...), the
pattern waited for, the seconds waited, the console's last lines and the path of the console log.
Whether it makes a run ``infra-error`` or ``fail`` depends on the phase: before the guest's shell
was ready it is the harness's infrastructure; after, it is about the guest
(:mod:`harness.live.runner`). A kernel crash is always ``fail``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harness.errors import CannotRunError, InputError


class GuestSpecError(InputError):
    """A scenario's ``guest:`` part that cannot be turned into a guest (a bus that names no port,
    a property that is not allowed); the message names the file and line."""


class LiveError(CannotRunError):
    """A live run that could not be carried out."""


class AssetError(LiveError):
    """The guest assets cannot be built or found: apt has no such package, no network, a tool
    (``dpkg-deb``, ``zstd``) is missing, a package's contents are not what was expected."""


class LaunchError(LiveError):
    """QEMU is missing, refused the command line or exited before the guest ran."""


class ConsoleError(LiveError):
    """The guest's console did not show what was waited for."""

    what = "console error"

    def __init__(
        self,
        phase: str,
        pattern: str,
        waited: float,
        *,
        tail: Sequence[str] = (),
        log_path: Path | None = None,
        detail: str = "",
    ) -> None:
        self.phase = phase
        self.pattern = pattern
        self.waited = waited
        self.tail = list(tail)
        self.log_path = log_path
        self.detail = detail
        super().__init__(self.summary())

    def summary(self) -> str:
        """One line: phase, what was waited for, how long, and the detail."""
        text = f"{self.what} in phase {self.phase!r} after {self.waited:.1f} s waiting for {self.pattern!r}"
        return f"{text}: {self.detail}" if self.detail else text

    def report(self, tail_lines: int = 25) -> str:
        """The summary, the console's last lines and where the whole log is."""
        lines = [self.summary()]
        if self.tail:
            lines.append(f"console, last {min(tail_lines, len(self.tail))} lines:")
            lines += [f"  | {line}" for line in self.tail[-tail_lines:]]
        if self.log_path is not None:
            lines.append(f"console log: {self.log_path}")
        return "\n".join(lines)


class ConsoleTimeout(ConsoleError):
    """The pattern did not appear before the phase's timeout."""

    what = "timeout"


class ConsoleEOF(ConsoleError):
    """QEMU exited, or closed the console, before the pattern appeared."""

    what = "QEMU exited"


class GuestCrash(ConsoleError):
    """The guest kernel printed a crash: an oops, a panic, ``BUG:``, a soft lockup, an RCU stall,
    a hung task or a ``WARNING:``. ``detail`` is the first crash line."""

    what = "guest kernel crash"
