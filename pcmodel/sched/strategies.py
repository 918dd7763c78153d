# Strategies: how the scheduler picks among the enabled threads, schedule after schedule.
#
# - RandomWalk: a uniformly random choice at every decision, seeded per schedule (seed + index),
#   so any schedule is replayed from its own seed.
# - PCT: probabilistic concurrency testing (Burckhardt, Kothari, Musuvathi, Nagarakatte, ASPLOS
#   2010): random thread priorities, always run the highest-priority enabled thread, and lower the
#   running thread's priority at d - 1 random change points. A bug of depth d is found with
#   probability at least 1 / (n * k^(d-1)) per schedule (the paper's bound; here the lowered
#   priorities come in random order, see PCT.start).
# - DepthFirst: systematic exploration with iterative context bounding (Musuvathi and Qadeer,
#   PLDI 2007, as in CHESS): all schedules with 0 preemptions, then 1, ... up to the bound. A
#   preemption is a switch away from a thread that could have continued; switches forced by
#   blocking are free. The first failure found therefore has the fewest preemptions.
# - Replay: follows a recorded list of decisions (strictly, or leniently for minimisation).

from __future__ import annotations

import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from pcmodel.sched.arguments import MAX_PCT_DEPTH, check_count, check_decisions, check_seed
from pcmodel.sched.runtime import ChoiceKind, NondeterminismError

__all__ = ["DepthFirst", "PCT", "RandomWalk", "Replay", "Strategy", "default_choice"]


def default_choice(kind: ChoiceKind, candidates: Sequence[int], current: int | None) -> int:
    """The choice that costs no preemption: keep running ``current`` if it can, else the lowest
    thread index (spurious wake-ups, encoded as negative numbers, come last); for notify, FIFO."""
    if kind is ChoiceKind.THREAD and current is not None and current in candidates:
        return current
    for candidate in candidates:
        if candidate >= 0:
            return candidate
    return candidates[0]


class Strategy:
    """Base class. The explorer calls ``start(index)`` before each schedule, ``choose`` at every
    decision with two or more options, and ``finish()`` after it; ``exhausted`` becomes True when
    a systematic strategy has nothing left to try."""

    name = "strategy"
    exhausted = False
    systematic = False

    def start(self, index: int) -> None:
        """Prepare schedule number ``index`` (0-based)."""

    def choose(self, kind: ChoiceKind, candidates: Sequence[int], current: int | None) -> int:
        """Return one of ``candidates``; ``current`` is the thread that ran the last step."""
        raise NotImplementedError

    def finish(self) -> None:
        """Called after each schedule."""

    @property
    def seed(self) -> int | None:
        """Seed that reproduces the current schedule on its own, if the strategy has one."""
        return None


class RandomWalk(Strategy):
    """Uniform random choice at every decision; schedule i uses seed ``seed + i``."""

    name = "random"

    def __init__(self, seed: int = 0) -> None:
        self.base_seed = check_seed(seed)
        self._seed = seed
        self._rng = random.Random(seed)

    def start(self, index: int) -> None:
        """Seed the generator for schedule ``index``."""
        self._seed = self.base_seed + index
        self._rng = random.Random(self._seed)

    def choose(self, kind: ChoiceKind, candidates: Sequence[int], current: int | None) -> int:
        """A uniformly random candidate."""
        return self._rng.choice(list(candidates))

    @property
    def seed(self) -> int:
        """The current schedule's own seed (base seed + schedule index)."""
        return self._seed


class PCT(Strategy):
    """Probabilistic concurrency testing with ``depth`` - 1 priority change points per schedule."""

    name = "pct"

    def __init__(self, seed: int = 0, depth: int = 3) -> None:
        # Each level draws a change point per schedule: a depth of a billion took all memory.
        self.base_seed = check_seed(seed)
        self.depth = check_count("pct_depth", depth, 1, MAX_PCT_DEPTH)
        self._seed = seed
        self._longest = 0  # decisions per schedule, the most seen so far
        self.start(0)

    def start(self, index: int) -> None:
        """Draw fresh priorities and change points for schedule ``index``."""
        self._seed = self.base_seed + index
        self._rng = random.Random(self._seed)
        self._priority: dict[int, float] = {}
        self._count = 0
        span = max(self._longest, self.depth, 4)
        points = self._rng.sample(range(1, span + 1), self.depth - 1)
        # A change point lowers the running thread below every initial priority. The paper gives
        # the i-th change point priority i; drawing the order at random also reaches bugs where
        # a thread is overtaken and must then overtake the one that passed it (if-not-while).
        lows = [float(j) for j in range(self.depth - 1)]
        self._rng.shuffle(lows)
        self._change = dict(zip(sorted(points), lows))

    def _prio(self, thread: int) -> float:
        if thread not in self._priority:
            self._priority[thread] = self.depth + self._rng.random()
        return self._priority[thread]

    def choose(self, kind: ChoiceKind, candidates: Sequence[int], current: int | None) -> int:
        """The highest-priority enabled thread; a random waiter for notify."""
        if kind is ChoiceKind.NOTIFY:
            return self._rng.choice(list(candidates))
        self._count += 1
        normal = [c for c in candidates if c >= 0] or list(candidates)
        best = max(normal, key=lambda c: self._prio(c if c >= 0 else ~c))
        if self._count in self._change:
            self._priority[best if best >= 0 else ~best] = self._change[self._count]
            best = max(normal, key=lambda c: self._prio(c if c >= 0 else ~c))
        return best

    def finish(self) -> None:
        """Learn the schedule length, where change points may fall."""
        self._longest = max(self._longest, self._count)

    @property
    def seed(self) -> int:
        """The current schedule's own seed (base seed + schedule index)."""
        return self._seed


# Decisions made so far, newest last, as nested pairs: (((None, d0), d1), d2).
_Path = "tuple[Any, int] | None"


@dataclass
class _Node:
    """A decision on the current path, with the free alternatives still to explore."""

    chosen: int
    candidates: tuple[int, ...]
    untried: list[int] = field(default_factory=list)


class DepthFirst(Strategy):
    """Iterative context bounding: every schedule with at most ``preemption_bound`` preemptions,
    in order of preemption count, each exactly once (stateless: each schedule is re-executed from
    the start, replaying a prefix of decisions)."""

    name = "dfs"
    systematic = True

    def __init__(self, preemption_bound: int = 2) -> None:
        self.bound = check_count("preemption_bound", preemption_bound, 0)
        self.level = 0
        # Prefixes whose subtrees are still to explore, by preemption count. A prefix is stored
        # as (path, alternative) where path is an immutable linked list (parent, choice) of the
        # decisions before it: constant work per deferred alternative, however long the run.
        # A count's deque is made when a prefix first needs it (a run at level L defers only
        # prefixes of L or L + 1 preemptions), so the bound itself costs nothing: under a bound
        # of a billion, only the levels the program reaches take time and memory.
        self._queues: list[deque[tuple[_Path, int]]] = []
        self._path: _Path = None
        self._root: list[int] = []
        self._stack: list[_Node] = []
        self._index = 0
        self._preemptions = 0
        self.pruned = 0  # alternatives left out because they exceed the preemption bound
        self.exhausted = False

    def start(self, index: int) -> None:
        """Begin replaying the current prefix."""
        self._index = 0
        self._preemptions = 0
        self._path = None

    def choose(self, kind: ChoiceKind, candidates: Sequence[int], current: int | None) -> int:
        """Replay the prefix, then take the default choice, remembering the alternatives."""
        options = tuple(candidates)
        i = self._index
        self._index += 1
        depth = i - len(self._root)
        if depth < 0:
            chosen = self._root[i]
            if chosen not in options:
                raise NondeterminismError(
                    f"decision {i}: recorded choice {chosen} is not among {options}"
                )
        elif depth < len(self._stack):
            node = self._stack[depth]
            if node.candidates != options:
                raise NondeterminismError(
                    f"decision {i}: options {options} differ from the recorded {node.candidates}"
                )
            chosen = node.chosen
        else:
            chosen = default_choice(kind, options, current)
            node = _Node(chosen, options)
            for alt in options:
                if alt == chosen:
                    continue
                cost = self._preemptions + self._costs(kind, current, options, alt)
                if cost == self._preemptions:
                    node.untried.append(alt)
                elif cost <= self.bound:
                    while len(self._queues) <= cost:
                        self._queues.append(deque())
                    self._queues[cost].append((self._path, alt))
                else:
                    self.pruned += 1
            self._stack.append(node)
        self._preemptions += self._costs(kind, current, options, chosen)
        self._path = (self._path, chosen)
        return chosen

    @staticmethod
    def _costs(kind: ChoiceKind, current: int | None, options: tuple[int, ...], alt: int) -> int:
        if kind is ChoiceKind.THREAD and current is not None and current in options:
            return int(alt != current)
        return 0

    def finish(self) -> None:
        """Pick the next schedule to run, or set ``exhausted``."""
        # Backtrack: the deepest decision with a free alternative left.
        while self._stack and not self._stack[-1].untried:
            self._stack.pop()
        if self._stack:
            node = self._stack[-1]
            node.chosen = node.untried.pop(0)
            return
        # This subtree is done: continue with the next prefix, fewest preemptions first (no
        # deque beyond the last one made: no prefix was deferred with that many).
        while self.level < len(self._queues):
            queue = self._queues[self.level]
            if queue:
                path, alt = queue.popleft()
                root = [alt]
                while path is not None:
                    path, choice = path
                    root.append(choice)
                root.reverse()
                self._root = root
                return
            self.level += 1
        self.exhausted = True


class Replay(Strategy):
    """Follow ``decisions`` (one int per decision, as recorded in a failure).

    Strict replay raises NondeterminismError when a recorded choice is not offered; lenient replay
    (used by minimisation) takes the default choice instead. Both take the default choice
    wherever an entry is None and after the list runs out (a failing schedule ends at its last
    decision; replayed without the check that stopped it, the run simply continues).
    """

    name = "replay"

    def __init__(self, decisions: Sequence[int | None], *, strict: bool = True) -> None:
        # None entries (take the default choice) are how minimisation drops a preemption.
        self.decisions = list(check_decisions(decisions, none_entries=True))
        self.strict = strict
        self._index = 0

    def start(self, index: int) -> None:
        """Replay from the first decision."""
        self._index = 0

    def choose(self, kind: ChoiceKind, candidates: Sequence[int], current: int | None) -> int:
        """The recorded decision (see the class docstring for the other cases)."""
        i = self._index
        self._index += 1
        wanted = self.decisions[i] if i < len(self.decisions) else None
        if wanted is not None and wanted in candidates:
            return wanted
        if self.strict and wanted is not None:
            raise NondeterminismError(
                f"decision {i}: recorded choice {wanted} is not among {tuple(candidates)}: "
                "the decisions were recorded for another program or other arguments (replay "
                "with the call the failure printed), or the program is not deterministic"
            )
        return default_choice(kind, candidates, current)
