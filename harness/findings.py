"""What the checker reports: findings, their severities and evidence, and verdicts.

A :class:`Finding` has a stable ``code`` (scripts match on it), a ``severity``, a one-line
``message``, ``why`` (what breaks and how we know), ``evidence`` (each path read and the value
found) and a concrete ``fix``. A finding is about a device, an IOMMU group or the host. One
marked ``could_not_judge`` says a fact the verdict needs could not be read; it is never below
warn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

#: Where a fix names the devices to pass instead (filled in by the checker, see Finding.alternatives).
ALTERNATIVES = "\x00alternatives\x00"


class Severity(IntEnum):
    INFO = 1
    WARN = 2
    FAIL = 3

    @property
    def label(self) -> str:
        return self.name.lower()


class Verdict(IntEnum):
    PASS = 0
    WARN = 2
    FAIL = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def of(cls, severities: list[Severity]) -> Verdict:
        worst = max(severities, default=Severity.INFO)
        if worst is Severity.FAIL:
            return cls.FAIL
        if worst is Severity.WARN:
            return cls.WARN
        return cls.PASS


@dataclass(frozen=True)
class Evidence:
    """A path that was read (relative to the checked root, shown as absolute) and what it held."""

    path: str
    value: str


@dataclass
class Finding:
    code: str
    severity: Severity
    message: str
    why: str
    fix: str = ""
    evidence: list[Evidence] = field(default_factory=list)
    device: str | None = None
    group: int | None = None
    #: A host-level finding that makes passthrough impossible for every device (no IOMMU...).
    blocks_all: bool = False
    #: Devices the fix may offer instead of this one; the checker keeps only those that pass
    #: every check themselves and share neither the IOMMU group nor the reset with this device,
    #: and writes them where the fix holds :data:`ALTERNATIVES`.
    alternatives: tuple[str, ...] = ()
    #: A fact the verdict needs could not be read (a corrupt tree): the checker makes such a
    #: finding at least a warn, never a pass.
    could_not_judge: bool = False

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "code": self.code,
            "severity": self.severity.label,
            "message": self.message,
            "why": self.why,
            "evidence": [{"path": item.path, "value": item.value} for item in self.evidence],
            "fix": self.fix,
        }
        if self.device is not None:
            data["device"] = self.device
        if self.group is not None:
            data["group"] = self.group
        if self.blocks_all:
            data["blocks_all"] = True
        if self.could_not_judge:
            data["could_not_judge"] = True
        return data
