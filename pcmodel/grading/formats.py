"""Score reports in the formats teachers' platforms read.

A report is what :func:`pcmodel.grading.engine.grade` returns. Besides that JSON, the same report
can be written as:

- Gradescope's ``results.json`` (:func:`gradescope`): ``score``, ``output`` and ``tests[]`` with
  ``name``, ``score``, ``max_score``, ``output`` and ``status`` (``passed`` / ``failed``), as
  Gradescope's autograder specification describes;
- JUnit XML (:func:`junit_xml`): one ``<testsuite>`` per graded submission, one ``<testcase>`` per
  check with a ``<failure>`` saying what was expected, what happened and the hint, which CI
  servers and most learning platforms display;
- a CSV table of a class (:func:`write_csv`): one row per student, a column per check.
"""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["check_message", "check_passed", "gradescope", "junit_xml", "write_csv"]


def check_passed(check: dict[str, Any]) -> bool:
    """Whether a check of a report passed: every point earned, and no failure. A check worth
    no points (information only, such as the lint notes) earns all of its none either way, so
    its outcome decides."""
    return check.get("earned") == check.get("points") and check.get("outcome",
                                                                    "passed") == "passed"


def check_message(check: dict[str, Any]) -> str:
    """What a failed check tells the student, as plain text (empty for a passed check)."""
    if check_passed(check):
        return ""
    lines = []
    if check.get("rounds", 1) > 1 and check.get("failures"):
        lines.append(f"failed {check['failures']} of {check['rounds']} rounds")
    for label in ("expected", "got", "hint"):
        if check.get(label):
            lines.append(f"{label}: {check[label]}")
    if check.get("details"):
        lines += ["", check["details"]]
    return "\n".join(lines)


def gradescope(report: dict[str, Any]) -> dict[str, Any]:
    """The report as Gradescope's ``results.json`` document."""
    tests = []
    for check in report["checks"]:
        output = check_message(check)
        if check.get("output"):
            output = (output + "\n\nyour code printed:\n" + check["output"]).strip()
        tests.append({
            "name": f"{check['id']}: {check.get('title', '')}".strip(": "),
            "score": check["earned"],
            "max_score": check["points"],
            "output": output,
            "status": "passed" if check["earned"] == check["points"] else "failed",
        })
    summary = f"{report.get('exercise', '')}: {report['score']} / {report['max_score']}".strip(": ")
    if report.get("error"):
        summary += f"\n{report['error']}"
    return {"score": report["score"], "output": summary, "tests": tests}


def junit_xml(reports: Sequence[tuple[str, dict[str, Any]]]) -> bytes:
    """JUnit XML for ``(student, report)`` pairs: a ``<testsuite>`` per student."""
    root = ET.Element("testsuites")
    for student, report in reports:
        checks = report["checks"]
        failed = [c for c in checks if c["earned"] != c["points"]]
        suite = ET.SubElement(root, "testsuite", {
            "name": f"{report.get('exercise', 'exercise')}.{student}",
            "tests": str(len(checks)),
            "failures": str(len(failed)),
            "errors": "1" if report.get("error") else "0",
            "time": f"{sum(c.get('duration', 0.0) for c in checks):.3f}",
        })
        props = ET.SubElement(suite, "properties")
        for name in ("score", "max_score", "impl"):
            ET.SubElement(props, "property", {"name": name, "value": str(report.get(name, ""))})
        for check in checks:
            case = ET.SubElement(suite, "testcase", {
                "classname": f"{report.get('exercise', 'exercise')}.{student}",
                "name": check["id"],
                "time": f"{check.get('duration', 0.0):.3f}",
            })
            if check["earned"] != check["points"]:
                failure = ET.SubElement(case, "failure", {
                    "message": (check.get("got") or "failed")[:500],
                    "type": check.get("outcome", "failed"),
                })
                failure.text = check_message(check)
            if check.get("output"):
                ET.SubElement(case, "system-out").text = check["output"]
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def write_csv(path: Path, rows: Iterable[tuple[str, dict[str, Any]]]) -> None:
    """One row per student: ``student, file, score, max_score, error`` then a column per check."""
    rows = list(rows)
    check_ids: list[str] = []
    for _, report in rows:
        for check in report["checks"]:
            if check["id"] not in check_ids:
                check_ids.append(check["id"])
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["student", "file", "score", "max_score", "error", *check_ids])
        for student, report in rows:
            earned = {c["id"]: c["earned"] for c in report["checks"]}
            writer.writerow([student, report.get("impl", ""), report["score"],
                             report["max_score"], report.get("error", ""),
                             *(earned.get(name, "") for name in check_ids)])
