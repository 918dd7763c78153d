"""The fault campaign's consumer group, driven by hand, and what every run checks of it.

With ``--groups`` three members of the group ``campaign-group`` read the campaign's topic
through one :class:`~pcmodel.cluster.client.ClusterConnection`, in the campaign's ticks (no
threads: a run still replays exactly). Each tick, each live member does what a consumer's poll
loop does: without a generation it joins (``member_id=""`` first, then the id it was given;
a join or sync answered ``pending`` is sent again the next tick) and syncs, the leader
assigning the partitions by range; in a generation it heartbeats, fetches from the leader of
each partition it owns, from its position (the committed offset, or 0), and every few ticks
commits its positions with its member id and generation. It tolerates what a Kafka consumer
tolerates: a rebalance, an illegal generation or an unknown member id make it join again
(dropping its partitions; before a rebalance it commits what it read), no coordinator or the
wrong one makes it try again next tick, as does a failed fetch. One member starts late, and in
most runs another one crashes (stops calling anything) at a seed-chosen tick, so the
coordinator has to expire its session.

Every run checks:

* at no tick do two members believe they own the same partition in the same generation;
* the group's committed offsets, read from the offsets topic, never go backwards (with
  ``--unclean`` that is *reported*: an unclean election may lose a commit);
* after the faults are undone and the cluster settled, within a bounded number of ticks the
  surviving members reach one ``Stable`` generation that assigns every partition exactly once,
  and the group's committed offsets reach the end of every partition's log;
* no member call raises anything but the errors above (anything else is a violation naming
  the call and the error).

Prior art: Jepsen's Kafka analysis (``kafka.clj``: consumers in groups under faults, checked
for duplicate and lost reads across rebalances) and Kafka's ``ConsumerCoordinator`` (what a
member does on each error of JoinGroup, SyncGroup, Heartbeat and OffsetCommit).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from pcmodel.topics.assignors.range import assign as range_assign
from pcmodel.topics.broker_produce_fetch import FetchError
from pcmodel.topics.consumer_protocol import (
    decode_assignment,
    encode_assignment,
    encode_subscription,
)
from pcmodel.topics.errors import (
    CoordinatorNotAvailableError,
    IllegalGenerationError,
    KafkaError,
    NotCoordinatorError,
    RebalanceInProgressError,
    UnknownMemberIdError,
)
from pcmodel.topics.group_answers import GroupState, HeartbeatStatus
from pcmodel.topics.structs import TopicPartition

__all__ = ["GROUP", "GroupMembers"]

GROUP = "campaign-group"
#: Session and rebalance timeouts of the members (virtual milliseconds): short, so that a
#: crashed member is expired within a run.
SESSION_TIMEOUT_MS = 1_000
REBALANCE_TIMEOUT_MS = 1_000
#: A member commits its positions every this many ticks (and before it rejoins).
COMMIT_EVERY = 5
#: How many ticks, after the cluster settled, the survivors get to agree and catch up.
FINISH_TICKS = 400

_REJOIN = (RebalanceInProgressError, IllegalGenerationError)
_RETRY = (CoordinatorNotAvailableError, NotCoordinatorError)


class _Member:
    """One member's state, as a consumer keeps it."""

    def __init__(self, name: str, start: int, crash: int | None) -> None:
        self.name = name
        self.start = start  # the tick it starts at
        self.crash = crash  # the tick it crashes at (stops calling anything), if any
        self.crashed = False
        self.member_id = ""
        self.joined: Any = None  # the answer of a completed join, until the sync completes
        self.generation: int | None = None
        self.owned: tuple[TopicPartition, ...] = ()
        self.positions: dict[TopicPartition, int] = {}
        self.last_commit: dict[TopicPartition, int] = {}

    def lose(self, keep_id: bool) -> None:
        """Out of the generation: its partitions are gone; join again (as a new member unless
        ``keep_id``)."""
        self.joined = None
        self.generation = None
        self.owned = ()
        self.positions = {}
        self.last_commit = {}
        if not keep_id:
            self.member_id = ""


class GroupMembers:
    """The campaign's consumer group (see the module); findings go to ``violations``, and
    committed offsets going back with unclean elections to ``reported``."""

    def __init__(self, cluster: Any, tps: list[TopicPartition], seed: int,
                 violations: list[str], reported: list[str], unclean: bool = False) -> None:
        self.cluster = cluster
        self.tps = sorted(tps)
        self.conn = cluster.connect()
        self.offsets = cluster.offsets_topic()
        self.violations = violations
        self.reported = reported
        self.unclean = unclean
        rng = random.Random(f"groups-{seed}")
        late = rng.randint(10, 40)
        crash = rng.randint(5, 50) if rng.random() < 0.75 else None
        self.members = [_Member("m0", 0, None), _Member("m1", 0, crash),
                        _Member("m2", late, None)]
        self.subscription = [("range", encode_subscription(sorted({tp.topic for tp in tps})))]
        self.tick_count = 0
        self.commits = 0  # successful commits
        self.generations: set[int] = set()  # generations members completed
        self._committed: dict[TopicPartition, int] = {}

    # --- every tick ---------------------------------------------------------------------------

    def tick(self, tick: int) -> None:
        """Each live member's turn, then the per-tick checks."""
        self.tick_count = tick
        for member in self.members:
            if tick == member.crash:
                member.crashed = True
            if member.crashed or tick < member.start:
                continue
            self._turn(member, tick)
        self._check_ownership(tick)
        self._check_committed()

    def _turn(self, m: _Member, tick: int) -> None:
        if not self._coordinator_up():
            return  # FindCoordinator finds none: ask again next tick
        if m.generation is None:
            self._join(m)
            return
        beat = self._call(m, "heartbeat", self.conn.heartbeat, GROUP, m.member_id,
                          m.generation)
        if beat is None:
            return
        if beat.status is HeartbeatStatus.REBALANCE_IN_PROGRESS:
            self._commit(m)  # as a consumer commits before it gives its partitions up
            m.lose(keep_id=True)
            return
        if beat.status is not HeartbeatStatus.OK:
            m.lose(keep_id=beat.status is HeartbeatStatus.ILLEGAL_GENERATION)
            return
        self._consume(m)
        if tick % COMMIT_EVERY == COMMIT_EVERY - 1:
            self._commit(m)

    def _join(self, m: _Member) -> None:
        if m.joined is None:
            joined = self._call(m, "join_group", self.conn.join_group, GROUP, m.member_id,
                                protocols=self.subscription,
                                session_timeout_ms=SESSION_TIMEOUT_MS,
                                rebalance_timeout_ms=REBALANCE_TIMEOUT_MS, client_id=m.name,
                                timeout=0)
            if joined is None:
                return
            m.member_id = joined.member_id
            if joined.pending:
                return  # the round is not complete: join again next tick, with this id
            m.joined = joined
        plan = self._assign(m.joined) if m.joined.leader == m.member_id else None
        synced = self._call(m, "sync_group", self.conn.sync_group, GROUP, m.member_id,
                            m.joined.generation, assignments=plan, timeout=0)
        if synced is None or synced.pending:
            return
        m.generation = m.joined.generation
        m.joined = None
        m.owned = decode_assignment(synced.assignment)
        self.generations.add(m.generation)

    def _assign(self, joined: Any) -> dict[str, bytes]:
        """The leader's assignment: Kafka's range assignor over the members of the round. (A
        member id is the member's client id, then a random UUID: sorted, as the assignor sorts
        them, the order is the names', the same in every replay.)"""
        topics = sorted({tp.topic for tp in self.tps})
        counts = {topic: sum(tp.topic == topic for tp in self.tps) for topic in topics}
        plan = range_assign({member.member_id: topics for member in joined.members}, counts)
        return {member_id: encode_assignment(owned) for member_id, owned in plan.items()}

    def _consume(self, m: _Member) -> None:
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

    def _commit(self, m: _Member) -> None:
        if m.generation is None or not m.positions or m.positions == m.last_commit \
                or not self._coordinator_up():
            return
        positions = dict(m.positions)
        if self._call(m, "commit_offsets", self.conn.commit_offsets, GROUP, m.generation,
                      m.member_id, positions, keep_generation=True) is not None:
            m.last_commit = positions
            self.commits += 1

    def _call(self, m: _Member, name: str, call: Callable[..., Any], *args: Any,
              keep_generation: bool = False, **kwargs: Any) -> Any:
        """``call``, answering its errors as a consumer does (see the module); ``None`` when
        it failed."""
        try:
            result = call(*args, **kwargs)
            return True if result is None else result
        except _REJOIN:
            m.lose(keep_id=True)
        except UnknownMemberIdError:
            m.lose(keep_id=False)
        except _RETRY:
            if m.generation is None:
                m.joined = None  # a failed join or sync: the coordinator undid it; rejoin
        except Exception as exc:  # noqa: BLE001 - any other error is what the check is for
            self.violations.append(f"group member {m.name}: {name} raised "
                                   f"{type(exc).__name__}: {exc}")
            m.lose(keep_id=False)
        return None

    def _coordinator_up(self) -> bool:
        """Whether the group's coordinator (the leader of its offsets partition) is alive and
        has loaded the partition (else FindCoordinator answers COORDINATOR_NOT_AVAILABLE, and
        a request COORDINATOR_LOAD_IN_PROGRESS: the member asks again next tick)."""
        try:
            leader = self.offsets.load(GROUP)
        except KafkaError:
            return False
        return self.cluster.nodes[leader].alive

    # --- checks -------------------------------------------------------------------------------

    def _check_ownership(self, tick: int) -> None:
        owners: dict[tuple[int, TopicPartition], str] = {}
        for m in self.members:
            if m.crashed or m.generation is None:
                continue
            for tp in m.owned:
                other = owners.setdefault((m.generation, tp), m.name)
                if other != m.name:
                    self.violations.append(f"tick {tick}: {other} and {m.name} both own {tp} "
                                           f"in generation {m.generation}")

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
        """After the cluster settled: tick until the survivors agree on one ``Stable``
        generation and have committed every partition's log end, at most ``FINISH_TICKS``."""
        for m in self.members:
            m.start = min(m.start, self.tick_count)
        tick = self.tick_count + 1
        for _ in range(FINISH_TICKS):
            self.tick(tick)
            for m in self.members:
                if not m.crashed and m.generation is not None:
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
        if not self._coordinator_up():
            return "no coordinator"
        try:
            coordinator = self.offsets.load(GROUP)
            described = self.cluster.nodes[coordinator].broker.describe_group(GROUP)
        except KafkaError as exc:
            return f"describe_group failed: {exc}"
        survivors = [m for m in self.members if not m.crashed]
        if described.state is not GroupState.STABLE:
            return f"group state {described.state.value}"
        if {m.member_id for m in survivors} != {d.member_id for d in described.members}:
            return (f"members {sorted(d.member_id for d in described.members)} at the "
                    f"coordinator, survivors {sorted(m.member_id for m in survivors)}")
        if any(m.generation != described.generation for m in survivors):
            return (f"generation {described.generation} at the coordinator, the survivors' "
                    f"{[m.generation for m in survivors]}")
        owned = sorted(tp for m in survivors for tp in m.owned)
        if owned != self.tps:
            return f"the survivors own {owned}"
        try:
            committed = self.offsets.committed(GROUP, self.tps)
        except KafkaError as exc:
            return f"committed offsets unreadable: {exc}"
        for tp in self.tps:
            end = _log_end(self.cluster, tp)
            found = committed[tp]
            if end is None or found is None or found.offset != end:
                return (f"{tp}: committed {None if found is None else found.offset}, "
                        f"log end {end}")
        return None


def _log_end(cluster: Any, tp: TopicPartition) -> int | None:
    """The partition's high watermark at its leader, or ``None`` without one."""
    leader = cluster.leader(tp.topic, tp.partition)
    if leader is None:
        return None
    try:
        return cluster.fetch(leader, {tp: 0}, max_records=1)[tp].high_watermark
    except KafkaError:
        return None

