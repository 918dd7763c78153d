"""What the fault campaign's consumer groups share, whichever protocol their members speak.

The campaign drives a group of three members by hand, in its ticks (no threads: a run
replays exactly): with the classic protocol (:mod:`pcmodel.cluster.campaign_groups`) or with
Kafka 4's consumer protocol (:mod:`pcmodel.cluster.campaign_consumer_groups`). Both read the
campaign's topic the same way and are checked the same way, and that part is here:

* a member in the group fetches each partition it owns from the partition's leader, from its
  position: the group's committed offset, or 0 (``auto.offset.reset=earliest``);
* it commits its positions every :data:`COMMIT_EVERY` ticks, with its member id and its
  generation (the classic protocol's generation, or the consumer protocol's member epoch);
* every tick the group's committed offsets, read from the offsets topic, must not go back
  (with ``--unclean`` that is *reported*: an unclean election may lose a commit);
* after the faults are undone and the cluster settled, within :data:`FINISH_TICKS` ticks the
  surviving members must agree with the coordinator on one stable group (the protocol's own
  test), own every partition exactly once between them, and have committed every partition's
  log end.

A subclass says how a member joins and stays in the group (``_turn``), which errors it
tolerates (``_call``), what "two owners" means in its protocol (``_check_ownership``) and
what a stable group is (``_group_unfinished``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pcmodel.topics.broker_results import FetchError
from pcmodel.topics.errors import KafkaError
from pcmodel.topics.structs import TopicPartition

__all__ = ["COMMIT_EVERY", "FINISH_TICKS", "GROUP", "CampaignGroup", "CampaignMember", "log_end"]

GROUP = "campaign-group"
#: A member commits its positions every this many ticks (and before it gives partitions up).
COMMIT_EVERY = 5
#: How many ticks, after the cluster settled, the survivors get to agree and catch up.
FINISH_TICKS = 400


class CampaignMember:
    """One member's state, as a consumer keeps it, whatever its protocol."""

    def __init__(self, name: str, start: int, crash: int | None) -> None:
        self.name = name
        self.start = start  # the tick it starts at
        self.crash = crash  # the tick it crashes at (stops calling anything), if any
        self.crashed = False
        self.member_id = ""
        self.owned: tuple[TopicPartition, ...] = ()
        self.positions: dict[TopicPartition, int] = {}
        self.last_commit: dict[TopicPartition, int] = {}

    #: What it commits with, or ``None`` while it is not in the group: the classic
    #: protocol's generation, the consumer protocol's member epoch (a subclass's).
    generation: int | None

    @property
    def gone(self) -> bool:
        """Whether it calls nothing any more (crashed, or closed)."""
        return self.crashed


class CampaignGroup:
    """The campaign's group of members (see the module); findings go to ``violations``, and
    committed offsets going back with unclean elections to ``reported``. A subclass sets
    ``members`` and implements the protocol's parts."""

    members: list[Any]

    def __init__(self, cluster: Any, tps: list[TopicPartition], violations: list[str],
                 reported: list[str], unclean: bool = False) -> None:
        self.cluster = cluster
        self.tps = sorted(tps)
        self.conn = cluster.connect()
        self.offsets = cluster.offsets_topic()
        self.violations = violations
        self.reported = reported
        self.unclean = unclean
        self.tick_count = 0
        self.commits = 0  # successful commits
        self.generations: set[int] = set()  # generations (member epochs) members reached
        self._committed: dict[TopicPartition, int] = {}

    # --- the protocol's parts -----------------------------------------------------------------

    def _turn(self, m: Any, tick: int) -> None:
        """One live member's turn in ``tick``."""
        raise NotImplementedError

    def _call(self, m: Any, name: str, call: Callable[..., Any], *args: Any,
              **kwargs: Any) -> Any:
        """``call``, answering its errors as the protocol's consumer does; ``None`` when it
        failed (``True`` when it returned ``None``)."""
        raise NotImplementedError

    def _commit_call(self, m: Any, generation: int,
                     positions: dict[TopicPartition, int]) -> bool:
        """Commit ``positions``; whether it succeeded."""
        return self._call(m, "commit_offsets", self.conn.commit_offsets, GROUP, generation,
                          m.member_id, positions) is not None

    def _unexpected(self, m: Any, name: str, exc: Exception) -> None:
        """Record as a violation an error that no consumer of the protocol expects from the
        call ``name``: finding those is what the campaign is for."""
        self.violations.append(f"group member {m.name}: {name} raised "
                               f"{type(exc).__name__}: {exc}")

    def _check_ownership(self, tick: int) -> None:
        """After every member's turn: no partition has two owners (the protocol's sense)."""
        raise NotImplementedError

    def _group_unfinished(self, coordinator: int, survivors: list[Any]) -> str | None:
        """Why the coordinator's group is not the survivors' stable group yet, or ``None``."""
        raise NotImplementedError

    # --- every tick ---------------------------------------------------------------------------

    def tick(self, tick: int) -> None:
        """Each live member's turn, then the per-tick checks."""
        self.tick_count = tick
        for member in self.members:
            if tick == member.crash:
                member.crashed = True
            if member.gone or tick < member.start:
                continue
            self._turn(member, tick)
        self._check_ownership(tick)
        self._check_committed()

    def _consume(self, m: Any) -> None:
        missing = [tp for tp in m.owned if tp not in m.positions]
        if missing:
            found = self._call(m, "committed", self.conn.committed, GROUP, missing)
            if found is None:
                return
            for tp, offset in found.items():
                if offset is None:
                    # auto.offset.reset=earliest; the next commit stores it, as a consumer
                    # commits every position it holds (even of a partition it read nothing of)
                    m.positions[tp] = 0
                else:
                    m.positions[tp] = m.last_commit[tp] = offset.offset
        for tp in m.owned:
            leader = self.cluster.leader(tp.topic, tp.partition)
            if leader is None:
                continue
            try:
                result = self.cluster.fetch(leader, {tp: m.positions[tp]})[tp]
            except KafkaError:
                continue  # not the leader any more, or dead: next tick
            if result.error is FetchError.OFFSET_OUT_OF_RANGE:
                # Only an unclean election truncates below a committed offset:
                # auto.offset.reset=earliest.
                m.positions[tp] = 0
                continue
            for record in result.records:
                m.positions[tp] = record.offset + 1

    def _commit(self, m: Any) -> None:
        if m.generation is None or not m.positions or m.positions == m.last_commit \
                or not self._coordinator_up():
            return
        positions = dict(m.positions)
        if self._commit_call(m, m.generation, positions):
            m.last_commit = positions
            self.commits += 1

    def _coordinator(self) -> int | None:
        """The group's coordinator (the leader of its offsets partition) if it is alive and
        has loaded the partition, else ``None`` (FindCoordinator answers
        COORDINATOR_NOT_AVAILABLE, a request COORDINATOR_LOAD_IN_PROGRESS: the member asks
        again next tick)."""
        try:
            leader = self.offsets.load(GROUP)
        except KafkaError:
            return None
        return leader if self.cluster.nodes[leader].alive else None

    def _coordinator_up(self) -> bool:
        return self._coordinator() is not None

    # --- checks -------------------------------------------------------------------------------

    def _check_committed(self) -> None:
        try:
            now = self.offsets.committed(GROUP, self.tps)
        except KafkaError:
            return  # no coordinator right now
        for tp, found in now.items():
            offset = None if found is None else found.offset
            before = self._committed.get(tp)
            if before is not None and (offset is None or offset < before):
                (self.reported if self.unclean else self.violations).append(
                    f"group {GROUP}: committed offset of {tp} went back from {before} to "
                    f"{offset}")
            if offset is not None:
                self._committed[tp] = offset

    def finish(self) -> None:
        """After the cluster settled: tick until the survivors agree on one stable group and
        have committed every partition's log end, at most ``FINISH_TICKS`` ticks."""
        for m in self.members:
            m.start = min(m.start, self.tick_count)
        tick = self.tick_count + 1
        for _ in range(FINISH_TICKS):
            self.tick(tick)
            for m in self.members:
                if not m.gone and m.generation is not None:
                    self._commit(m)
            problem = self._unfinished()
            if problem is None:
                return
            tick += 1
            if self.cluster.mode == "steps":
                self.cluster.advance()
            else:  # real time: one tick's pause
                time.sleep(self.cluster.tick)
        self.violations.append(f"group {GROUP} did not settle within {FINISH_TICKS} ticks "
                               f"after the faults: {problem}")

    def _unfinished(self) -> str | None:
        """Why the group is not done yet, or ``None``."""
        coordinator = self._coordinator()
        if coordinator is None:
            return "no coordinator"
        survivors = [m for m in self.members if not m.gone]
        problem = self._group_unfinished(coordinator, survivors)
        if problem is not None:
            return problem
        owned = sorted(tp for m in survivors for tp in m.owned)
        if owned != self.tps:
            return f"the survivors own {owned}"
        try:
            committed = self.offsets.committed(GROUP, self.tps)
        except KafkaError as exc:
            return f"committed offsets unreadable: {exc}"
        for tp in self.tps:
            end = log_end(self.cluster, tp)
            found = committed[tp]
            if end is None or found is None or found.offset != end:
                return (f"{tp}: committed {None if found is None else found.offset}, "
                        f"log end {end}")
        return None


def log_end(cluster: Any, tp: TopicPartition) -> int | None:
    """The partition's high watermark at its leader, or ``None`` without one."""
    leader = cluster.leader(tp.topic, tp.partition)
    if leader is None:
        return None
    try:
        return cluster.fetch(leader, {tp: 0}, max_records=1)[tp].high_watermark
    except KafkaError:
        return None
