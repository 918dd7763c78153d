"""The graders rely only on public, documented behaviour of the objects they observe.

A check that reads a private attribute of pcmodel's clients (or of a student's object) ties its
verdict to one way of building them. Exercise 06's handover scenario knows that a member has
heard of a rebalance from the coordinator's answers to its heartbeats (Kafka's Heartbeat API),
seen on the member's connections to the broker, not from a flag inside the consumer.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pcmodel.grading
from pcmodel.grading import delivery_checks
from pcmodel.grading.checks import CheckFailed
from pcmodel.grading.delivery_harness import BATCH, Deliveries
from pcmodel.grading.engine import exercises_root

ROOT = exercises_root()
GRADING = Path(pcmodel.grading.__file__).parent
# Private names of the standard library the graders may use: os._exit ends a child at once,
# sys._current_frames shows where a stuck thread waits, and a probe wrapping a Condition's lock
# speaks the lock protocol threading.Condition itself uses (_is_owned, _release_save, ...).
_STANDARD = {"os", "sys"}


def _root(node: ast.expr) -> ast.expr:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node


def _private_reads(source: str) -> list[str]:
    """``obj._name`` in ``source`` where ``obj`` is neither the object's own (self, cls,
    super()) nor a standard module."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                and not node.attr.startswith("__")):
            continue
        root = _root(node.value)
        if isinstance(root, ast.Name) and root.id in {"self", "cls", *_STANDARD}:
            continue
        if isinstance(root, ast.Call) and isinstance(root.func, ast.Name) \
                and root.func.id == "super":
            continue
        found.append(f"line {node.lineno}: {ast.unparse(node)}")
    return found


def test_the_graders_read_no_private_attribute_of_what_they_observe():
    found = {path.name: reads for path in sorted(GRADING.glob("*.py"))
             if (reads := _private_reads(path.read_text(encoding="utf-8")))}
    assert not found, found


def test_the_scan_sees_a_private_read():
    assert _private_reads("def f(consumer):\n    return consumer._rejoin_needed\n") == [
        "line 2: consumer._rejoin_needed"]
    assert _private_reads("self._lock._is_owned()\nos._exit(1)\nsuper()._put(1)\n") == []


@pytest.mark.timeout(60)
def test_a_member_hears_of_the_rebalance_through_its_heartbeats():
    live = Deliveries(str(ROOT / "06_at_least_once" / "solution.py"))
    try:
        live.run("member A", hold_at=3 * BATCH + 1, client_id="member-2", heartbeat_ms=10)
        assert live.wait_held()
        # Nobody else has joined: no heartbeat is answered REBALANCE_IN_PROGRESS.
        tap = live.group.taps[id(live.members["member A"])]
        assert not tap.wait_heard(0.1)
        live.run("member B", client_id="member-1")
        assert live.wait_rebalancing("member A")
        live.release()
        assert live.settle(["member A", "member B"]) == {"stuck": [], "missing": 0,
                                                          "failed": []}
    finally:
        live.close()


@pytest.mark.timeout(120)
def test_the_handover_scores_the_same_every_time():
    buggy = str(ROOT / "zoo" / "06_at_least_once" / "commits_offsets_it_no_longer_owns.py")
    for _ in range(3):
        with pytest.raises(CheckFailed, match="which the group had given to the other member"):
            delivery_checks.check(buggy, "handover")
    delivery_checks.check(str(ROOT / "06_at_least_once" / "solution.py"), "handover")
