"""Graded checks for exercise 05: Kafka's range and round-robin partition assignors.

The student writes ``assign(subscriptions, partitions_per_topic)`` (range) and
``assign_roundrobin(...)`` returning ``{member: [(topic, partition), ...]}``. The checks use the
properties every assignor must have (each subscribed partition owned exactly once, only by a
member subscribed to its topic, every member present), the balance each one promises, determinism
under reordered input, Kafka's published examples, and exact agreement with a reference on seeded
random cases. Each check runs the student's function on the cases in the check's child process
and returns its results as data (:class:`Assignments`); the properties are checked in the grader,
on those results, by replaying the check's scenario (:func:`pcmodel.grading.replay.judge`). The
reference is pcmodel's own assignors (:mod:`pcmodel.topics.assignors`), whose
results are Kafka's; the exercise's ``solution.py`` stands in when those cannot be imported.
"""

from __future__ import annotations

import copy
import os
import random
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any

from pcmodel.grading.checks import budget, fail_on, problem
from pcmodel.grading.probes import load_impl
from pcmodel.grading.replay import judge, shape

# Imported here, in the grader, once: each check's child is forked from the grader and finds the
# library's assignors imported, instead of importing them again under the sandbox's audit hook.
try:
    from pcmodel.topics.assignors import get_assignor
except ImportError:  # no library beside the exercises: the reference solution stands in
    get_assignor = None

__all__ = ["EXAMPLES", "FUNCTIONS", "TIME_LIMIT", "check"]

FUNCTIONS = {"range": "assign", "roundrobin": "assign_roundrobin"}

# Seconds for one check of the default 150 cases (more cases: more time, in proportion), before
# PCMODEL_GRADE_TIME_SCALE. An assignor is a short pure function: the reference and every
# alternative solution take under 0.8 s per check (the child's start included), even with the
# machine's two cores loaded five times over. An assignor that never returns (a search for the
# next subscriber that goes round the circle for ever) is stopped here, not at the 20 s meant
# for checks that drive threads and processes.
TIME_LIMIT = 8.0
_CASES = 150

# Kafka's documented examples (RangeAssignor and RoundRobinAssignor javadoc).
EXAMPLES: dict[str, list[tuple[dict[str, list[str]], dict[str, int], dict[str, list[Any]]]]] = {
    "range": [
        ({"C0": ["t0", "t1"], "C1": ["t0", "t1"]}, {"t0": 3, "t1": 3},
         {"C0": [("t0", 0), ("t0", 1), ("t1", 0), ("t1", 1)], "C1": [("t0", 2), ("t1", 2)]}),
    ],
    "roundrobin": [
        ({"C0": ["t0", "t1"], "C1": ["t0", "t1"]}, {"t0": 3, "t1": 3},
         {"C0": [("t0", 0), ("t0", 2), ("t1", 1)], "C1": [("t0", 1), ("t1", 0), ("t1", 2)]}),
        ({"C0": ["t0"], "C1": ["t0", "t1"], "C2": ["t0", "t1", "t2"]},
         {"t0": 1, "t1": 2, "t2": 3},
         {"C0": [("t0", 0)], "C1": [("t1", 0)],
          "C2": [("t1", 1), ("t2", 0), ("t2", 1), ("t2", 2)]}),
    ],
}



def _reference(kind: str) -> Callable[..., Any]:
    if get_assignor is None:
        here = os.path.dirname(os.path.abspath(__file__))
        solution = os.path.join(here, "..", "..", "exercises", "05_assignor", "solution.py")
        return getattr(load_impl(solution, FUNCTIONS[kind]), FUNCTIONS[kind])
    library = get_assignor(kind).assign
    return lambda subs, counts: library(subs, counts)


def _normal(result: Any) -> dict[str, list[tuple[str, int]]]:
    """``{member: sorted [(topic, partition)]}``; ValueError when the shape is wrong."""
    if not isinstance(result, dict):
        raise ValueError(f"returned {type(result).__name__}, not a dict")
    out = {}
    for member, owned in result.items():
        try:
            out[member] = sorted((str(t), int(p)) for t, p in owned)
        except (TypeError, ValueError):
            raise ValueError(f"member {member!r} maps to {owned!r}, not a list of "
                             "(topic, partition) pairs") from None
    return out


# Names whose string order differs from their numeric or natural order ("consumer-10" sorts
# before "consumer-9", "T9" before "t1"), and member ids shaped like Kafka's
# (client id, a dash, a UUID).
MEMBER_NAMES = ("C0", "C1", "C2", "consumer-9", "consumer-10", "b", "a1",
                "consumer-1-5c3a0f3e-7d2b-4f8e-9a61-0d2c1b7e4a90",
                "consumer-1-0b9e6a2d-1c4f-4a3b-8e7d-6f5a4c3b2a19")
TOPIC_NAMES = ("t0", "t1", "t9", "t10", "orders", "logs", "T9", "payments.v2")


def _case(rng: random.Random, equal: bool = False) -> tuple[dict[str, list[str]], dict[str, int]]:
    large = rng.random() < 0.3  # 12 or more partitions over several topics
    members = rng.sample(MEMBER_NAMES, rng.randint(1, 6 if large else 5))
    topics = rng.sample(TOPIC_NAMES, rng.randint(2 if large else 1, 5 if large else 4))
    counts = {t: rng.randint(12, 20) if large else rng.randint(0, 7)
              for t in topics if rng.random() < 0.9}
    if equal:
        chosen = rng.sample(topics, rng.randint(1, len(topics)))
        subs = {m: list(chosen) for m in members}
    else:
        subs = {m: rng.sample(topics, rng.randint(1, len(topics))) for m in members}
    return subs, counts


def _shuffled(rng: random.Random, subs: dict[str, list[str]], counts: dict[str, int]) -> Any:
    members = list(subs)
    rng.shuffle(members)
    topics = list(counts)
    rng.shuffle(topics)
    new_subs = {}
    for m in members:
        listed = list(subs[m])
        rng.shuffle(listed)
        new_subs[m] = set(listed) if rng.random() < 0.5 else listed
    return new_subs, {t: counts[t] for t in topics}


def _show(subs: Any, counts: Any) -> str:
    return f"subscriptions={subs!r}, partitions_per_topic={counts!r}"


class Assignments:
    """The live harness: the student's assignor called on the grader's cases, results as data."""

    SHAPES = {"assign": shape.dict_of(shape.list_of(shape.list_of(shape.plain)))}

    def __init__(self, impl: str, kind: str) -> None:
        name = FUNCTIONS[kind]
        self.fn = getattr(load_impl(impl, name), name)
        self.calls = 0

    def assign(self, subs: Any, counts: Any) -> dict[str, list[list[Any]]]:
        """``{member: sorted [[topic, partition]]}``; ValueError for another shape or when the
        function changed its arguments.

        The ``random`` module is seeded before each call, with a seed that differs from call to
        call: an assignor that uses it still gives different results for the same input (which
        the determinism check catches), but the same ones in every grading, so its score does
        not depend on the draw."""
        random.seed(f"assignor call {self.calls}")
        self.calls += 1
        before = (copy.deepcopy(subs), dict(counts))
        result = _normal(self.fn(subs, counts))
        if (subs, counts) != before:
            raise ValueError("it changed its arguments; an assignor must not mutate its input")
        for member in result:
            if not isinstance(member, str):
                raise ValueError(f"returned the key {member!r}, which is not a member id")
        return {m: [list(tp) for tp in owned] for m, owned in result.items()}


def _run(h: Any, kind: str, what: str, cases: int, seed: int) -> dict[str, str] | None:
    rng = random.Random(seed)
    checks = {"examples": _examples, "present": _present, "once": _once, "balanced": _balanced,
              "matches": _matches, "deterministic": _deterministic}
    return checks[what](h, kind, rng, cases)


def _call(h: Any, subs: Any, counts: Any) -> dict[str, list[tuple[str, int]]]:
    """The student's assignment for one case, as the grader reads it back."""
    result = h.assign(subs, counts)
    out = {}
    for member, owned in result.items():
        pairs = []
        for pair in owned:
            topic, partition = pair  # ValueError (not a pair): the observations do not fit
            if not isinstance(topic, str) or not isinstance(partition, int):
                raise ValueError("a (topic, partition) pair of the wrong types")
            pairs.append((topic, partition))
        out[member] = pairs
    return out


def _examples(h: Any, kind: str, rng: random.Random, cases: int) -> dict[str, str] | None:
    for subs, counts, want in EXAMPLES[kind]:
        got = _call(h, subs, counts)
        if got != want:
            return problem(f"Kafka's documented result {want} for {_show(subs, counts)}",
                            repr(got), _HINTS[kind])
    return None


def _present(h: Any, kind: str, rng: random.Random, cases: int) -> dict[str, str] | None:
    # Members left without partitions: too many for t0, subscribed to a topic with no metadata,
    # subscribed to nothing (a pattern subscription that matches no topic yet).
    cases = [({"C0": ["t0"], "C1": ["t0"], "C2": ["t0"], "C3": ["missing"]}, {"t0": 2}),
             ({"C0": ["t0"], "C1": [], "C2": set()}, {"t0": 3})]
    for subs, counts in cases:
        got = _call(h, subs, counts)
        if set(got) != set(subs):
            return problem(f"every member as a key, even with no partitions: {sorted(subs)}",
                            f"keys {sorted(got)} for {_show(subs, counts)}",
                            "start from {member: [] for member in subscriptions}")
    return None


def _once(h: Any, kind: str, rng: random.Random, cases: int) -> dict[str, str] | None:
    for _ in range(cases):
        subs, counts = _case(rng)
        got = _call(h, subs, counts)
        owners = Counter(tp for owned in got.values() for tp in owned)
        wanted = {(t, p) for topics in subs.values() for t in topics if t in counts
                  for p in range(counts[t])}
        unowned = sorted(wanted - set(owners))
        doubled = sorted(tp for tp, n in owners.items() if n > 1)
        foreign = sorted((m, tp) for m, owned in got.items() for tp in owned
                         if m not in subs or tp[0] not in subs[m] or tp not in wanted)
        if unowned or doubled or foreign:
            bits = ([f"unowned {unowned[:4]}"] if unowned else []) + (
                [f"owned twice {doubled[:4]}"] if doubled else []) + (
                [f"assigned to a member not subscribed to it (or nonexistent): {foreign[:3]}"]
                if foreign else [])
            return problem(
                "each partition of each subscribed topic owned by exactly one subscribed member",
                f"{'; '.join(bits)} for {_show(subs, counts)}", _HINTS[kind])
    return None


def _balanced(h: Any, kind: str, rng: random.Random, cases: int) -> dict[str, str] | None:
    # Balance is judged on what was given out: counts that add up to fewer partitions than
    # there are (none at all, or the remainder dropped) are even, and still not a balance.
    for _ in range(cases):
        subs, counts = _case(rng, equal=(kind == "roundrobin"))
        got = _call(h, subs, counts)
        if kind == "roundrobin":
            sizes = {m: len(v) for m, v in got.items()}
            total = sum(n for t, n in counts.items() if any(t in s for s in subs.values()))
            if sizes and (max(sizes.values()) - min(sizes.values()) > 1
                          or sum(sizes.values()) != total):
                return problem(
                    f"with equal subscriptions, all {total} partitions dealt, counts that "
                    "differ by at most one",
                    f"{sizes} for {_show(subs, counts)}", _HINTS[kind])
            continue
        for topic, n in counts.items():
            members = sorted(m for m in subs if topic in subs[m])
            sizes = [sum(1 for t, _ in got.get(m, []) if t == topic) for m in members]
            if members and (sizes != sorted(sizes, reverse=True) or sizes[0] - sizes[-1] > 1
                            or sum(sizes) != n):
                return problem(
                    f"topic {topic!r}: {n} partitions spread over its subscribers in sorted "
                    "order, counts differing by at most one, extras to the first members",
                    f"counts {dict(zip(members, sizes))} for {_show(subs, counts)}",
                    _HINTS[kind])
    return None


def _matches(h: Any, kind: str, rng: random.Random, cases: int) -> dict[str, str] | None:
    reference = _reference(kind)
    for _ in range(cases):
        subs, counts = _case(rng, equal=rng.random() < 0.3)
        want = _normal(reference(subs, counts))
        got = _call(h, subs, counts)
        if got != want:
            return problem(f"Kafka's assignment {want}", f"{got} for {_show(subs, counts)}",
                            _HINTS[kind])
    return None


def _deterministic(h: Any, kind: str, rng: random.Random, cases: int) -> dict[str, str] | None:
    for _ in range(cases):
        subs, counts = _case(rng)
        first = _call(h, subs, counts)
        for _ in range(3):
            again_subs, again_counts = _shuffled(rng, subs, counts)
            again = _call(h, again_subs, again_counts)
            if again != first:
                return problem(
                    "the same assignment for the same group, whatever the order of the "
                    "members, the topics, or a set instead of a list",
                    f"{first} for {_show(subs, counts)} but {again} for "
                    f"{_show(again_subs, again_counts)}",
                    "every member computes the assignment on its own in Kafka: sort members and "
                    "topics, and use no randomness")
    return None


_HINTS = {
    "range": "for each topic: sort its subscribers; each gets n // c consecutive partitions and "
    "the first n % c members one more (member i starts at i * (n // c) + min(i, n % c))",
    "roundrobin": "sort all subscribed (topic, partition) pairs and the members; deal the "
    "partitions in order to the members in a circle that keeps going across topics, skipping "
    "members not subscribed to the partition's topic",
}


def check(impl: str, kind: str, what: str, cases: int = _CASES, seed: int = 11) -> None:
    """Run one property ``what`` of assignor ``kind`` ("range" / "roundrobin") isolated.

    Raises CheckFailed when the property does not hold, or when the student's function raises
    or has not returned within :data:`TIME_LIMIT` seconds (longer for more than 150 cases)."""
    time_limit = TIME_LIMIT * max(1.0, cases / _CASES)
    fail_on(judge(_run, partial(Assignments, impl, kind), kind, what, budget(cases), seed,
                  time_limit=time_limit))
