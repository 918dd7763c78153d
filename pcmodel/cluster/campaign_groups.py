"""The fault campaign's classic consumer group, driven by hand, and what every run checks of it.

With ``--groups`` (``--groups classic``) three members of the group ``campaign-group`` read the
campaign's topic through one :class:`~pcmodel.cluster.client.ClusterConnection`, in the
campaign's ticks (no threads: a run still replays exactly). Each tick, each live member does
what a consumer's poll loop does: without a generation it joins (``member_id=""`` first, then
the id it was given; a join or sync answered ``pending`` is sent again the next tick) and
syncs, the leader assigning the partitions by range; in a generation it heartbeats, fetches
from the leader of each partition it owns, from its position (the committed offset, or 0), and
every few ticks commits its positions with its member id and generation. It tolerates what a
Kafka consumer tolerates: a rebalance, an illegal generation or an unknown member id make it
join again (dropping its partitions; before a rebalance it commits what it read), no
coordinator or the wrong one makes it try again next tick, as does a failed fetch. One member
starts late, and in most runs another one crashes (stops calling anything) at a seed-chosen
tick, so the coordinator has to expire its session.

Every run checks:

* at no tick do two members believe they own the same partition in the same generation;
* the group's committed offsets, read from the offsets topic, never go backwards (with
  ``--unclean`` that is *reported*: an unclean election may lose a commit);
* after the faults are undone and the cluster settled, within a bounded number of ticks the
  surviving members reach one ``Stable`` generation that assigns every partition exactly once,
  and the group's committed offsets reach the end of every partition's log;
* no member call raises anything but the errors above (anything else is a violation naming
  the call and the error).

What the classic members share with the consumer protocol's
(:mod:`pcmodel.cluster.campaign_consumer_groups`), their reads, commits and the checks of
committed offsets and of the end, is :mod:`pcmodel.cluster.campaign_members`'.

Prior art: Jepsen's Kafka analysis (``kafka.clj``: consumers in groups under faults, checked
for duplicate and lost reads across rebalances) and Kafka's ``ConsumerCoordinator`` (what a
member does on each error of JoinGroup, SyncGroup, Heartbeat and OffsetCommit).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from pcmodel.cluster.campaign_members import (
    COMMIT_EVERY,
    GROUP,
    CampaignGroup,
    CampaignMember,
)
from pcmodel.topics.assignors.range import assign as range_assign
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

#: Session and rebalance timeouts of the members (virtual milliseconds): short, so that a
#: crashed member is expired within a run.
SESSION_TIMEOUT_MS = 1_000
REBALANCE_TIMEOUT_MS = 1_000

_REJOIN = (RebalanceInProgressError, IllegalGenerationError)
_RETRY = (CoordinatorNotAvailableError, NotCoordinatorError)


class _Member(CampaignMember):
    """One classic member's state, as a consumer keeps it."""

    def __init__(self, name: str, start: int, crash: int | None) -> None:
        super().__init__(name, start, crash)
        self.joined: Any = None  # the answer of a completed join, until the sync completes
        self.generation: int | None = None  # the generation it completed (None: joining)

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


class GroupMembers(CampaignGroup):
    """The campaign's classic consumer group (see the module); findings go to
    ``violations``, and committed offsets going back with unclean elections to
    ``reported``."""

    def __init__(self, cluster: Any, tps: list[TopicPartition], seed: int,
                 violations: list[str], reported: list[str], unclean: bool = False) -> None:
        super().__init__(cluster, tps, violations, reported, unclean)
        rng = random.Random(f"groups-{seed}")
        late = rng.randint(10, 40)
        crash = rng.randint(5, 50) if rng.random() < 0.75 else None
        self.members = [_Member("m0", 0, None), _Member("m1", 0, crash),
                        _Member("m2", late, None)]
        self.subscription = [("range", encode_subscription(sorted({tp.topic for tp in tps})))]

    # --- every tick ---------------------------------------------------------------------------

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

    def _call(self, m: _Member, name: str, call: Callable[..., Any], *args: Any,
              **kwargs: Any) -> Any:
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
            self._unexpected(m, name, exc)
            m.lose(keep_id=False)
        return None

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

    def _group_unfinished(self, coordinator: int, survivors: list[Any]) -> str | None:
        """One ``Stable`` generation of exactly the survivors, at the coordinator."""
        try:
            described = self.cluster.nodes[coordinator].broker.describe_group(GROUP)
        except KafkaError as exc:
            return f"describe_group failed: {exc}"
        if described.state is not GroupState.STABLE:
            return f"group state {described.state.value}"
        if {m.member_id for m in survivors} != {d.member_id for d in described.members}:
            return (f"members {sorted(d.member_id for d in described.members)} at the "
                    f"coordinator, survivors {sorted(m.member_id for m in survivors)}")
        if any(m.generation != described.generation for m in survivors):
            return (f"generation {described.generation} at the coordinator, the survivors' "
                    f"{[m.generation for m in survivors]}")
        return None
