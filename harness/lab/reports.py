"""A lab run's reports: the agreement table on the terminal, JSON, JUnit XML (one test case per
device and step, properties carrying the kernel version, device IDs and the prediction), and the
difference between two runs (``lab diff``).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from harness import __version__
from harness.lab.results import FAIL, INFRA_ERROR, PLANNED, LabRun, StepResult
from harness.outputs import write_atomically

SUITE_NAME = "vfiolab.lab"


def _survival(value: bool | None) -> str:
    return "-" if value is None else ("survives" if value else "dies")


def table(run: LabRun) -> str:
    """The agreement table: device, step, predicted, observed, agree, result, and the reason of
    an infra-error (the full texts are in the JSON and JUnit reports)."""
    rows = [("device", "step", "predicted", "observed", "agree", "result")]
    for step in run.steps:
        agree = "-" if step.agree is None else ("yes" if step.agree else "no")
        rows.append(
            (
                f"{step.address} ({step.ids})",
                step.step,
                _survival(step.predicted_survives),
                _survival(step.observed_survives),
                agree,
                step.classification + (f": {step.reason}" if step.classification == INFRA_ERROR else ""),
            )
        )
    widths = [max(len(row[index]) for row in rows) for index in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
        for row in rows
    )


def junit_tree(run: LabRun) -> ET.ElementTree[ET.Element]:
    suites = ET.Element("testsuites")
    failures = sum(step.classification == FAIL for step in run.steps)
    errors = sum(step.classification == INFRA_ERROR for step in run.steps)
    skipped = sum(step.classification == PLANNED for step in run.steps)
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=f"{SUITE_NAME}.{run.plan}",
        tests=str(len(run.steps)),
        failures=str(failures),
        errors=str(errors),
        skipped=str(skipped),
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (("vfiolab", __version__), ("kernel", run.kernel_release), ("root", run.root)):
        ET.SubElement(properties, "property", name=name, value=value)
    for step in run.steps:
        case = ET.SubElement(suite, "testcase", classname=f"{SUITE_NAME}.{run.plan}.{step.name}", name=step.case)
        case_properties = ET.SubElement(case, "properties")
        for name, value in (
            ("kernel", run.kernel_release),
            ("ids", step.ids),
            ("prediction", step.prediction),
            ("outcome", step.outcome),
            ("agree", "" if step.agree is None else str(step.agree).lower()),
        ):
            ET.SubElement(case_properties, "property", name=name, value=value)
        if step.classification == FAIL:
            ET.SubElement(case, "failure", message=_message(step)).text = _details(step)
        elif step.classification == INFRA_ERROR:
            ET.SubElement(case, "error", message=_message(step)).text = _details(step)
        elif step.classification == PLANNED:
            ET.SubElement(case, "skipped", message="dry run: nothing was done (--yes acts)")
        ET.SubElement(case, "system-out").text = _details(step)
    return ET.ElementTree(suites)


def _message(step: StepResult) -> str:
    if step.classification == FAIL:
        return f"prediction and outcome disagree: predicted {step.prediction}; observed {step.outcome}"
    return step.reason or step.outcome


def _details(step: StepResult) -> str:
    lines = [f"prediction: {step.prediction}", *(f"  {line}" for line in step.prediction_evidence)]
    lines += [f"outcome: {step.outcome or step.reason}", *(f"  {line}" for line in step.outcome_evidence)]
    return "\n".join(lines) + "\n"


def write_junit(path: Path, run: LabRun) -> None:
    tree = junit_tree(run)
    ET.indent(tree)
    write_atomically(path, ET.tostring(tree.getroot(), encoding="utf-8", xml_declaration=True), "--junit-xml")


def write_json(path: Path, run: LabRun) -> None:
    write_atomically(path, (json.dumps(run.to_json(), indent=1) + "\n").encode(), "--json")


def diff(old: LabRun, new: LabRun) -> list[str]:
    """One line per device and step whose classification or agreement changed, appeared or went."""
    before = {step.case: step for step in old.steps}
    after = {step.case: step for step in new.steps}
    lines = []
    for case in sorted(before.keys() | after.keys()):
        was, now = before.get(case), after.get(case)
        if was is None and now is not None:
            lines.append(f"new      {case}: {now.classification} ({now.outcome or now.reason})")
        elif now is None and was is not None:
            lines.append(f"gone     {case}: was {was.classification}")
        elif (
            was is not None
            and now is not None
            and (was.classification, was.agree, was.outcome)
            != (
                now.classification,
                now.agree,
                now.outcome,
            )
        ):
            lines.append(
                f"changed  {case}: {was.classification} -> {now.classification}"
                f" (outcome {was.outcome or was.reason!r} -> {now.outcome or now.reason!r})"
            )
    if old.kernel_release != new.kernel_release:
        lines.insert(0, f"kernel   {old.kernel_release} -> {new.kernel_release}")
    return lines
