"""Graded checks for exercise 07: the leader's ISR and high-watermark update.

The student writes ``leader_update(leader, isr, high_watermark, leos, last_caught_up, now,
replica_lag_time_max)`` returning ``(new_isr, new_high_watermark)``. The checks use Kafka's
rules one at a time (laggards leave, the leader never does, caught-up followers rejoin, the
high watermark is the smallest log end offset over the ISR and never goes back, an ISR member
whose offset is unknown holds it), worked examples, and exact agreement with a reference on
seeded random cases. The student's function runs on the cases in the check's child process and
its results come back as data (:class:`Updates`); every rule is checked in the grader on those
results (:func:`pcmodel.grading.replay.judge`). The reference is pcmodel's own rule
(:func:`pcmodel.cluster.isr.leader_update`); the exercise's ``solution.py`` stands in when it
cannot be imported.
"""

from __future__ import annotations

import copy
import os
import random
from collections.abc import Callable
from functools import partial
from typing import Any

from pcmodel.grading.checks import budget, fail_on, problem
from pcmodel.grading.probes import load_impl
from pcmodel.grading.replay import judge, shape

# Imported here, in the grader, once: each check's child is forked from the grader and finds the
# cluster's ISR rules imported, instead of importing the cluster again under the sandbox's audit
# hook.
try:
    from pcmodel.cluster.isr import leader_update
except ImportError:  # no library beside the exercises: the reference solution stands in
    leader_update = None

__all__ = ["EXAMPLES", "check"]

_FUNCTION = "leader_update"

#: (arguments, expected (isr, high watermark)) — the README's worked examples.
EXAMPLES: list[tuple[dict[str, Any], tuple[set[int], int]]] = [
    # Everyone caught up recently: the HW is the slowest ISR member's LEO.
    (dict(leader=0, isr={0, 1, 2}, high_watermark=3, leos={0: 10, 1: 8, 2: 9},
          last_caught_up={1: 99.5, 2: 99.8}, now=100.0, replica_lag_time_max=1.0),
     ({0, 1, 2}, 8)),
    # Broker 1 has not caught up for 5 s: it leaves and stops holding the HW back.
    (dict(leader=0, isr={0, 1, 2}, high_watermark=3, leos={0: 10, 1: 4, 2: 9},
          last_caught_up={1: 95.0, 2: 99.8}, now=100.0, replica_lag_time_max=1.0),
     ({0, 2}, 9)),
    # Broker 2 is outside the ISR, has every committed record and fetched recently: it rejoins.
    # (After step A the HW is min(10, 9) = 9, and broker 2 has 9 records.)
    (dict(leader=0, isr={0, 1}, high_watermark=7, leos={0: 10, 1: 9, 2: 9},
          last_caught_up={1: 99.9, 2: 99.9}, now=100.0, replica_lag_time_max=1.0),
     ({0, 1, 2}, 9)),
]

_HINT = ("A: a follower whose last caught-up time is more than replica_lag_time_max ago "
         "leaves (never the leader); B: a follower outside with LEO >= the HW (after A) that "
         "was caught up within the limit rejoins; C: HW = max(current, min LEO over the new "
         "ISR), held where it is if an ISR member's LEO is unknown")


def _problem(expected: str, got: str, hint: str = _HINT) -> dict[str, str]:
    return problem(expected, got, hint)


def _reference() -> Callable[..., Any]:
    if leader_update is None:
        here = os.path.dirname(os.path.abspath(__file__))
        solution = os.path.join(here, "..", "..", "exercises", "07_high_watermark",
                                "solution.py")
        return getattr(load_impl(solution, _FUNCTION), _FUNCTION)

    def reference(*, leader, isr, high_watermark, leos, last_caught_up, now,
                  replica_lag_time_max):
        out = leader_update(leader=leader, isr=isr, high_watermark_now=high_watermark,
                            leos=leos, last_caught_up=last_caught_up, now=now,
                            replica_lag_time_max=replica_lag_time_max)
        return out.isr, out.high_watermark
    return reference


class Updates:
    """The live harness: the student's ``leader_update`` on the grader's cases, as data."""

    SHAPES = {"update": shape.record(isr=shape.list_of(shape.int), hw=shape.int)}

    def __init__(self, impl: str) -> None:
        self.fn = getattr(load_impl(impl, _FUNCTION), _FUNCTION)

    def update(self, args: dict[str, Any]) -> dict[str, Any]:
        """``{"isr": sorted broker ids, "hw": high watermark}``; ValueError for another shape or
        when the function changed its arguments."""
        before = copy.deepcopy(args)
        result = self.fn(**args)
        if args != before:
            raise ValueError("it changed its arguments; the update must be a pure function")
        try:
            isr, hw = result
            return {"isr": sorted({int(r) for r in isr}), "hw": int(hw)}
        except (TypeError, ValueError, OverflowError):
            raise ValueError(f"returned {result!r}, not (isr, high_watermark)") from None


def _call(h: Any, args: dict[str, Any]) -> tuple[set[int], int]:
    result = h.update(args)
    return set(result["isr"]), result["hw"]


def _show(args: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in args.items())


def _case(rng: random.Random) -> dict[str, Any]:
    """A random state a Kafka leader can be in when it runs its bookkeeping.

    Every LEO is at most the leader's, and the HW at most the leader's LEO. An ISR member
    usually has every committed record, but may be below the HW: a follower that restarted and
    lost the tail of its log (or truncated to its own, older HW) while the leader still counts
    it in sync, as in :func:`_hw_monotonic`. A follower may have no LEO yet (it has not fetched
    since this leader took over; in the ISR it holds the HW), and so may an ISR member that has
    lagged since, which step A drops. A follower behind the leader was caught up at an earlier
    fetch, never at ``now`` itself.
    """
    replicas = list(range(rng.randint(1, 5)))
    leader = rng.choice(replicas)
    now = 100.0
    lag = rng.choice([0.5, 1.0, 2.0])
    leader_leo = rng.randint(0, 30)
    hw = rng.randint(0, leader_leo)
    isr = {leader} | {r for r in replicas if rng.random() < 0.6}
    leos = {leader: leader_leo}
    caught = {}
    for r in replicas:
        if r == leader:
            continue
        if rng.random() < (0.75 if r in isr else 0.9):
            if r in isr and hw > 0 and rng.random() < 0.35:
                leos[r] = rng.randint(0, hw - 1)  # restarted and lost records: below the HW
            elif r in isr:
                leos[r] = rng.randint(hw, leader_leo)
            elif rng.random() < 0.5:
                leos[r] = rng.randint(max(0, hw - 2), min(leader_leo, hw + 2))  # near the HW
            else:
                leos[r] = rng.randint(0, leader_leo)
        ago = [0.2, lag, lag + 0.1, 3.0, 10.0]
        if leos.get(r, leader_leo) >= leader_leo:
            ago.append(0.0)
        caught[r] = round(now - rng.choice(ago), 3)
    return dict(leader=leader, isr=isr, high_watermark=hw, leos=leos, last_caught_up=caught,
                now=now, replica_lag_time_max=lag)


def _examples(h, rng, cases):
    for args, (want_isr, want_hw) in EXAMPLES:
        got = _call(h, copy.deepcopy(args))
        if got != (want_isr, want_hw):
            return _problem(f"(isr={sorted(want_isr)}, hw={want_hw}) for {_show(args)}",
                            f"(isr={sorted(got[0])}, hw={got[1]})")
    return None


def _leader_stays(h, rng, cases):
    args = dict(leader=2, isr={0, 2}, high_watermark=5, leos={0: 6, 2: 6},
                last_caught_up={0: 99.9}, now=100.0, replica_lag_time_max=1.0)
    isr, _ = _call(h, args)
    if 2 not in isr:
        return _problem(f"the leader (2) in the ISR for {_show(args)}",
                        f"isr={sorted(isr)}",
                        "the leader is always in sync with itself: it has no caught-up time")
    return None


def _shrinks(h, rng, cases):
    args = dict(leader=0, isr={0, 1, 2}, high_watermark=5, leos={0: 20, 1: 5, 2: 20},
                last_caught_up={1: 90.0, 2: 99.9}, now=100.0, replica_lag_time_max=1.0)
    isr, hw = _call(h, args)
    if isr != {0, 2}:
        return _problem(f"broker 1 (not caught up for 10 s) out of the ISR: {{0, 2}}, for "
                        f"{_show(args)}", f"isr={sorted(isr)}")
    if hw != 20:
        return _problem("the HW moving on to 20 once the laggard left", f"hw={hw}")
    return None


def _lag_boundary(h, rng, cases):
    args = dict(leader=0, isr={0, 1}, high_watermark=3, leos={0: 4, 1: 3},
                last_caught_up={1: 99.0}, now=100.0, replica_lag_time_max=1.0)
    isr, _ = _call(h, args)
    if isr != {0, 1}:
        return _problem("a follower caught up exactly replica_lag_time_max ago still in sync "
                        f"(out only when *more* than the limit): {{0, 1}} for {_show(args)}",
                        f"isr={sorted(isr)}", "compare now - last_caught_up > limit")
    # The same limit in step B: broker 1 (outside, LEO 7 >= the HW 7 after step A) was caught
    # up exactly 1 s ago, so it rejoins.
    back = dict(leader=0, isr={0, 2}, high_watermark=6, leos={0: 8, 1: 7, 2: 7},
                last_caught_up={1: 99.0, 2: 99.8}, now=100.0, replica_lag_time_max=1.0)
    isr, _ = _call(h, back)
    if isr != {0, 1, 2}:
        return _problem("a follower outside the ISR caught up exactly replica_lag_time_max ago "
                        "(and with every committed record) rejoins: {0, 1, 2} for "
                        f"{_show(back)}", f"isr={sorted(isr)}",
                        "the lag limit is the same in step B as in step A: only *more* than "
                        "the limit is too long ago")
    return None


def _hw_min_isr(h, rng, cases):
    args = dict(leader=0, isr={0, 1}, high_watermark=2, leos={0: 10, 1: 6, 2: 3},
                last_caught_up={1: 99.9, 2: 90.0}, now=100.0, replica_lag_time_max=1.0)
    isr, hw = _call(h, args)
    if hw != 6:
        return _problem(f"hw=6, the smallest LEO over the ISR {{0, 1}} (broker 2 is out of "
                        f"sync and does not count; the leader's own 10 is not committed) for "
                        f"{_show(args)}", f"hw={hw}",
                        "a record is committed when every ISR member has it: the minimum over "
                        "the ISR, never the leader's own LEO, never the out-of-sync replicas")
    return None


def _hw_monotonic(h, rng, cases):
    args = dict(leader=0, isr={0, 1, 2}, high_watermark=8, leos={0: 10, 1: 9, 2: 5},
                last_caught_up={1: 99.9, 2: 99.9}, now=100.0, replica_lag_time_max=1.0)
    _, hw = _call(h, args)
    if hw != 8:
        return _problem(f"hw=8: never below the current high watermark, for {_show(args)}",
                        f"hw={hw}",
                        "a consumer may already have read below the old HW: max(current, ...)")
    return None


def _rejoin(h, rng, cases):
    behind = dict(leader=0, isr={0, 1}, high_watermark=9, leos={0: 10, 1: 10, 2: 8},
                  last_caught_up={1: 99.9, 2: 99.9}, now=100.0, replica_lag_time_max=1.0)
    isr, _ = _call(h, behind)
    if 2 in isr:
        return _problem(f"broker 2 (LEO 8 < HW 10) kept out of the ISR for {_show(behind)}",
                        f"isr={sorted(isr)}",
                        "rejoining with fewer records than the HW would let it be elected "
                        "leader without committed records")
    stale = dict(leader=0, isr={0}, high_watermark=10, leos={0: 10, 1: 10},
                 last_caught_up={1: 80.0}, now=100.0, replica_lag_time_max=1.0)
    isr, _ = _call(h, stale)
    if 1 in isr:
        return _problem(f"broker 1 (not caught up for 20 s) kept out for {_show(stale)}",
                        f"isr={sorted(isr)}", "only a follower caught up within the limit "
                        "rejoins, otherwise it would leave again at once")
    # A young partition: no follower has fetched yet, and broker 1, in the ISR without a LEO,
    # holds the HW at 0. Broker 2 has no LEO either: counted as 0 records, it would reach that
    # HW and rejoin, though nothing says it has a single record.
    unfetched = dict(leader=0, isr={0, 1}, high_watermark=0, leos={0: 5},
                     last_caught_up={1: 99.9, 2: 99.9}, now=100.0, replica_lag_time_max=1.0)
    isr, hw = _call(h, unfetched)
    if isr != {0, 1} or hw != 0:
        return _problem(f"isr=[0, 1], hw=0 (broker 2 has not fetched: no LEO, so it stays out) "
                        f"for {_show(unfetched)}", f"isr={sorted(isr)}, hw={hw}",
                        "only a follower whose LEO is known (a key of leos) can have every "
                        "committed record: a missing LEO is not 0 records")
    # Broker 1 restarted and lost records but is still in the ISR, below the HW: the HW after
    # step A is still 8 (never below the current HW), so broker 2 (LEO 6) does not rejoin.
    below = dict(leader=0, isr={0, 1}, high_watermark=8, leos={0: 10, 1: 5, 2: 6},
                 last_caught_up={1: 99.5, 2: 99.5}, now=100.0, replica_lag_time_max=1.0)
    isr, hw = _call(h, below)
    if isr != {0, 1} or hw != 8:
        return _problem(f"broker 2 (LEO 6 < HW 8) kept out of the ISR and hw=8 for "
                        f"{_show(below)}", f"isr={sorted(isr)}, hw={hw}",
                        "the HW a follower must reach to rejoin is computed as in step C, so it "
                        "is never below the current HW, even when an ISR member (here broker "
                        "1, LEO 5) is behind it; otherwise broker 2 rejoins without committed "
                        "records 6 and 7")
    back = dict(leader=0, isr={0, 1}, high_watermark=10, leos={0: 12, 1: 11, 2: 11},
                last_caught_up={1: 99.9, 2: 99.9}, now=100.0, replica_lag_time_max=1.0)
    isr, hw = _call(h, back)
    if isr != {0, 1, 2} or hw != 11:
        return _problem(f"broker 2 back in the ISR and hw=11 for {_show(back)}",
                        f"isr={sorted(isr)}, hw={hw}")
    return None


def _unknown_leo(h, rng, cases):
    args = dict(leader=0, isr={0, 1, 2}, high_watermark=4, leos={0: 10, 1: 9},
                last_caught_up={1: 99.9, 2: 99.9}, now=100.0, replica_lag_time_max=1.0)
    isr, hw = _call(h, args)
    if hw != 4:
        return _problem(f"hw=4: broker 2 is in the ISR but has not fetched yet (no LEO), so "
                        f"nothing new is known to be on it, for {_show(args)}", f"hw={hw}",
                        "a new leader does not know its followers' LEOs until they fetch: "
                        "hold the HW where it is")
    # Broker 2 has not fetched since this leader took over 5 s ago: step A drops it, and from
    # then on its unknown LEO holds nothing. The HW after A is min(10, 9) = 9, so broker 3
    # (LEO 5) does not rejoin, and the HW moves to 9.
    dropped = dict(leader=0, isr={0, 1, 2}, high_watermark=3, leos={0: 10, 1: 9, 3: 5},
                   last_caught_up={1: 99.5, 2: 95.0, 3: 99.5}, now=100.0,
                   replica_lag_time_max=1.0)
    isr, hw = _call(h, dropped)
    if isr != {0, 1} or hw != 9:
        return _problem(f"(isr=[0, 1], hw=9): broker 2 (no LEO) has not been caught up for "
                        f"5 s, so it leaves and no longer holds the HW; broker 3 (LEO 5 < 9) "
                        f"stays out, for {_show(dropped)}",
                        f"isr={sorted(isr)}, hw={hw}",
                        "only a member of the ISR *after step A* holds the HW with an unknown "
                        "LEO: broker 2 lagged and left, so steps B and C compute the HW over "
                        "{0, 1} (9), and broker 3 with 5 records must stay out")
    return None


def _matches(h, rng, cases):
    reference = _reference()
    for _ in range(cases):
        args = _case(rng)
        want_isr, want_hw = reference(**copy.deepcopy(args))
        got = _call(h, args)
        if got != (set(want_isr), want_hw):
            return _problem(f"(isr={sorted(want_isr)}, hw={want_hw}) for {_show(args)}",
                            f"(isr={sorted(got[0])}, hw={got[1]})")
    return None


_CHECKS = {"examples": _examples, "leader_stays": _leader_stays, "shrinks": _shrinks,
           "lag_boundary": _lag_boundary, "hw_min_isr": _hw_min_isr,
           "hw_monotonic": _hw_monotonic, "rejoin": _rejoin, "unknown_leo": _unknown_leo,
           "matches": _matches}


def _run(h: Any, what: str, cases: int, seed: int) -> dict[str, str] | None:
    return _CHECKS[what](h, random.Random(seed), cases)


def check(impl: str, what: str, cases: int = 300, seed: int = 7) -> None:
    """Run one property ``what`` of the student's ``leader_update``, isolated."""
    fail_on(judge(_run, partial(Updates, impl), what, budget(cases), seed))
