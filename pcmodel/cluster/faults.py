"""Seeded fault schedules: random kills, stops, restarts, partitions and slow brokers that replay.

A :class:`FaultPlan` is a list of :class:`Fault` at virtual times. :func:`random_plan` draws one
from a seed (the same seed gives the same plan, so a failing run is replayed by its seed alone);
:meth:`FaultPlan.apply_due` applies the faults whose time has come to a stepped cluster; and
:meth:`FaultPlan.script` prints the plan as Python lines a student can paste to watch the run
again step by step.

Every fault is undone later in the plan (a killed or stopped broker restarts, an isolation
heals, a slow broker recovers), and at most ``brokers - 1`` brokers are faulty at once, so a run
ends with a whole cluster and its final logs can be compared.

Prior art: Jepsen's nemeses (kill, partition, pause) with generators driven by a seed.
"""

from __future__ import annotations

import random
from typing import NamedTuple

from pcmodel.cluster.clock import check_seconds
from pcmodel.cluster.cluster import Cluster
from pcmodel.topics.broker_checks import _check_int, _check_list
from pcmodel.topics.errors import IllegalArgumentError

__all__ = ["FAULT_KINDS", "Fault", "FaultPlan", "random_plan"]

#: What a plan may do to a broker; each kind has its undo (restart, heal, slow(b, 0)). A
#: ``stop`` is Kafka's controlled shutdown (:meth:`Cluster.stop
#: <pcmodel.cluster.injection.FaultInjection.stop>`), a ``kill`` a crash.
FAULT_KINDS = ("kill", "stop", "isolate", "partition", "slow")


class Fault(NamedTuple):
    """At virtual time ``at`` seconds, do ``action`` to ``broker``.

    Actions: ``kill``, ``stop``, ``restart``, ``isolate`` (replication traffic only), ``partition``
    (isolated from the controller too), ``heal``, ``slow`` (``seconds`` per fetch).
    """

    at: float
    action: str
    broker: int
    seconds: float = 0.0

    def apply(self, cluster: Cluster) -> None:
        """Do it to ``cluster``."""
        if self.action == "kill":
            cluster.kill(self.broker)
        elif self.action == "stop":
            cluster.stop(self.broker)
        elif self.action == "restart":
            cluster.restart(self.broker)
        elif self.action == "isolate":
            cluster.isolate(self.broker)
        elif self.action == "partition":
            cluster.isolate(self.broker, controller=True)
        elif self.action == "heal":
            cluster.heal(self.broker)
        elif self.action == "slow":
            cluster.slow(self.broker, self.seconds)
        else:
            raise ValueError(f"unknown fault action {self.action!r}")

    def line(self) -> str:
        """The fault as one line of Python against a cluster named ``cluster``."""
        calls = {
            "kill": f"cluster.kill({self.broker})",
            "stop": f"cluster.stop({self.broker})",
            "restart": f"cluster.restart({self.broker})",
            "isolate": f"cluster.isolate({self.broker})",
            "partition": f"cluster.isolate({self.broker}, controller=True)",
            "heal": f"cluster.heal({self.broker})",
            "slow": f"cluster.slow({self.broker}, {self.seconds})",
        }
        if self.action not in calls:  # as apply() says it, not a KeyError
            raise ValueError(f"unknown fault action {self.action!r}")
        return f"at t={self.at:.2f}s: {calls[self.action]}"


class FaultPlan:
    """Faults in time order, applied as a stepped cluster's virtual clock reaches them."""

    def __init__(self, faults: list[Fault], seed: int | None = None) -> None:
        self.faults = sorted(faults, key=lambda f: f.at)
        self.seed = seed
        self._next = 0

    def apply_due(self, cluster: Cluster, now: float) -> list[Fault]:
        """Apply every fault not yet applied whose time is ``<= now``; return them."""
        done = []
        while self._next < len(self.faults) and self.faults[self._next].at <= now + 1e-9:
            fault = self.faults[self._next]
            fault.apply(cluster)
            done.append(fault)
            self._next += 1
        return done

    def script(self) -> str:
        """The plan as readable, replayable lines."""
        head = f"# fault plan (seed {self.seed})" if self.seed is not None else "# fault plan"
        return "\n".join([head] + [f.line() for f in self.faults])

    def __repr__(self) -> str:
        return f"<FaultPlan seed={self.seed} faults={len(self.faults)}>"


def random_plan(
    seed: int,
    *,
    brokers: int,
    duration: float,
    faults: int = 3,
    kinds: tuple[str, ...] = FAULT_KINDS,
    min_length: float = 0.3,
    max_length: float = 2.0,
) -> FaultPlan:
    """Draw ``faults`` faults within ``[0, duration)`` from ``seed``; each is undone later.

    A fault lasts between ``min_length`` and ``max_length`` seconds; a broker gets a new fault
    only once its previous one was undone, and fewer than ``brokers`` are faulty at any time.
    Deterministic: the same arguments give the same plan. ``ValueError`` for an unknown kind
    or none at all, ``IllegalArgumentError`` for ``brokers`` below 1, ``faults`` below 0,
    times that are not finite numbers >= 0, and ``min_length`` above ``max_length`` (a fault
    must end after it starts, or its undo would come first and the broker stay faulty),
    ``TypeError`` for a count that is not an int or ``kinds`` that are not a list.
    """
    _check_int("brokers", brokers, 1, IllegalArgumentError)
    _check_int("faults", faults, 0, IllegalArgumentError)
    duration = check_seconds("random_plan() duration", duration)
    min_length = check_seconds("random_plan() min_length", min_length)
    max_length = check_seconds("random_plan() max_length", max_length)
    if min_length > max_length:
        raise IllegalArgumentError(f"min_length {min_length} is above max_length {max_length}")
    kinds = tuple(_check_list("kinds", kinds, "fault kinds"))
    unknown = set(kinds) - set(FAULT_KINDS)
    if unknown or not kinds:
        raise ValueError(f"unknown fault kinds {sorted(unknown, key=repr)}; choose one or more "
                         f"from {FAULT_KINDS}")
    rng = random.Random(seed)
    busy_until = [0.0] * brokers
    out: list[Fault] = []
    for _ in range(faults):
        start = round(rng.uniform(0, duration), 2)
        length = round(rng.uniform(min_length, max_length), 2)
        free = [b for b in range(brokers) if busy_until[b] <= start]
        faulty_then = sum(1 for b in range(brokers) if busy_until[b] > start)
        if not free or faulty_then >= brokers - 1:
            continue
        broker = rng.choice(free)
        kind = rng.choice(kinds)
        end = round(start + length, 2)
        busy_until[broker] = end
        if kind in ("kill", "stop"):
            out += [Fault(start, kind, broker), Fault(end, "restart", broker)]
        elif kind in ("isolate", "partition"):
            out += [Fault(start, kind, broker), Fault(end, "heal", broker)]
        else:
            out += [Fault(start, "slow", broker, round(rng.uniform(0.2, 1.5), 2)),
                    Fault(end, "slow", broker, 0.0)]
    return FaultPlan(out, seed)
