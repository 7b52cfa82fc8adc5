"""The results of a lab run: one :class:`StepResult` per device and step, classified ``pass``
(prediction and outcome agree), ``fail`` (they disagree) or ``infra-error`` (the plan does not
match the host, the host uses the device, VFIO could not be opened, an earlier step killed the
device); the run's exit code; JSON in and out (for ``lab diff``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness import exitcodes
from harness.errors import InputError, NoInputError

PASS = "pass"
FAIL = "fail"
INFRA_ERROR = "infra-error"
PLANNED = "planned"
CLASSIFICATIONS = (PASS, FAIL, INFRA_ERROR, PLANNED)
JSON_FORMAT = "vfiolab-lab-run"
JSON_VERSION = 1


@dataclass
class StepResult:
    address: str
    name: str
    ids: str
    step: str
    classification: str
    prediction: str = ""
    outcome: str = ""
    #: Prediction and outcome agree (None: nothing to compare).
    agree: bool | None = None
    reason: str = ""
    #: The prediction's evidence (checker findings) and the outcome's (VFIO lines, kernel log,
    #: config space read back).
    prediction_evidence: list[str] = field(default_factory=list)
    outcome_evidence: list[str] = field(default_factory=list)
    #: The two sides in short: the device survives (None: no prediction, or nothing observed).
    predicted_survives: bool | None = None
    observed_survives: bool | None = None
    #: The host uses the device (or a group peer): not touched.
    refused: bool = False
    #: The device's config space read back all-ones: it needs a power cycle.
    needs_power_cycle: bool = False

    @property
    def case(self) -> str:
        return f"{self.address} {self.step}"


@dataclass
class LabRun:
    plan: str
    root: str
    kernel_release: str
    acted: bool
    steps: list[StepResult] = field(default_factory=list)
    interrupted: bool = False
    #: What could not be restored, one line each (empty: every binding is back).
    not_restored: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """130 interrupted; 2 a device was refused; 1 a prediction disagrees (wins over
        infra-errors, so a real disagreement is never hidden); 3 infra-error; else 0."""
        classes = {step.classification for step in self.steps}
        if self.interrupted:
            return exitcodes.INTERRUPTED
        if any(step.refused for step in self.steps):
            return exitcodes.FAIL
        if FAIL in classes:
            return exitcodes.WARN
        if INFRA_ERROR in classes or self.not_restored:
            return exitcodes.CANNOT_RUN
        return exitcodes.OK

    def to_json(self) -> dict[str, Any]:
        return {"format": JSON_FORMAT, "version": JSON_VERSION, **asdict(self), "exit_code": self.exit_code}


def read_run(path: Path | str) -> LabRun:
    """A run's JSON as written by ``lab run --json``."""
    try:
        text = Path(path).read_bytes()[: 16 * 1024 * 1024]
    except FileNotFoundError:
        raise NoInputError(f"{path}: no such file") from None
    except OSError as error:
        raise NoInputError(f"{path}: cannot read: {error.strerror or error}") from None
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("format") != JSON_FORMAT or data.get("version") != JSON_VERSION:
            raise ValueError(f"not a vfiolab lab run (format {JSON_FORMAT} version {JSON_VERSION})")
        steps = [StepResult(**item) for item in data["steps"]]
        for step in steps:
            if step.classification not in CLASSIFICATIONS:
                raise ValueError(f"unknown classification {step.classification!r}")
        return LabRun(
            str(data["plan"]),
            str(data["root"]),
            str(data["kernel_release"]),
            bool(data["acted"]),
            steps,
            bool(data["interrupted"]),
            [str(item) for item in data["not_restored"]],
        )
    except (ValueError, KeyError, TypeError) as error:
        raise InputError(f"{path}: {error}") from None
