"""The fault campaign's Kafka 4 consumer group (KIP-848), driven by hand, and what every run
checks of it.

With ``--groups consumer`` three members of the group ``campaign-group`` speak Kafka 4's
consumer protocol (ConsumerGroupHeartbeat) through one
:class:`~pcmodel.cluster.client.ClusterConnection`, in the campaign's ticks (no threads: a run
still replays exactly). Each tick, each live member does what Kafka's
``ConsumerMembershipManager`` and heartbeat manager do:

* **join**: a heartbeat with member epoch 0, the member's own id (a Kafka 4 client makes it
  once, a UUID, and keeps it when it rejoins), its subscription and rebalance timeout, and no
  owned partitions; the answer gives its epoch, its assignment and how often to heartbeat;
* **stay**: a heartbeat every ``heartbeat_interval_ms`` with its epoch, naming the partitions
  it owns only when they changed since the last heartbeat it sent (a full heartbeat, with
  every field, after a failed one);
* **reconcile** an assignment an answer carries: commit its positions, drop the partitions it
  lost (*revoke*), take the new ones (their position is the committed offset, or 0), and
  acknowledge at once with a heartbeat naming what it owns now. So a partition is revoked
  before the new assignment is acknowledged;
* **fenced**: FENCED_MEMBER_EPOCH or UNKNOWN_MEMBER_ID drop every partition without
  committing (they may be another's already: Kafka's ``onPartitionsLost``) and the member
  rejoins with epoch 0 and the same id; COORDINATOR_NOT_AVAILABLE or NOT_COORDINATOR (or no
  coordinator to find) make it send a full heartbeat next tick. A member in the group keeps
  fetching its partitions meanwhile;
* **commit** every few ticks, with its member epoch as the generation; a commit refused
  (STALE_MEMBER_EPOCH, UNKNOWN_MEMBER_ID, no coordinator) is only a failed commit: the
  heartbeat tells the member where it stands;
* **leave**: commit, revoke everything, and one heartbeat with epoch -1, whatever it answers
  (the session expires otherwise).

One member starts late; in most runs another crashes (stops calling anything) at a
seed-chosen tick, so the coordinator has to expire its session, and in some it leaves instead.

Every run checks, besides what :mod:`pcmodel.cluster.campaign_members` checks for both
protocols (committed offsets never go back; after the faults the survivors reach a stable group
owning every partition once and commit every log's end; no unexpected error):

* **no partition is given to a new owner until its old owner has revoked it** (KIP-848's
  rule). A consumer group has no shared generation: each member has its own epoch, and the
  coordinator grants a partition only once no member holds it, assigned or still to revoke.
  So at every tick, *at the coordinator* no partition is held by two members; and when two
  live members both hold one, at most one of them may still be a member the coordinator
  counts at the epoch it holds: the other was removed from the group (its session or its
  revocation ran out) and learns it, fenced, at its next heartbeat; its commits are refused
  meanwhile. A stable group at the end is one whose coordinator says ``Stable``, has exactly
  the survivors as members, each at the epoch and with the assignment it holds.

Prior art: Kafka's ``AbstractMembershipManager``, ``ConsumerMembershipManager``,
``AbstractHeartbeatRequestManager`` and ``CommitRequestManager`` (what a member does on each
answer and error), and KIP-848's reconciliation rules.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from typing import Any

from pcmodel.cluster.campaign_members import (
    COMMIT_EVERY,
    GROUP,
    CampaignGroup,
    CampaignMember,
)
from pcmodel.topics.consumer_group import LEAVE_GROUP_MEMBER_EPOCH
from pcmodel.topics.consumer_group_errors import (
    CoordinatorLoadInProgressError,
    FencedMemberEpochError,
    StaleMemberEpochError,
)
from pcmodel.topics.errors import (
    CoordinatorNotAvailableError,
    KafkaError,
    NotCoordinatorError,
    UnknownMemberIdError,
)
from pcmodel.topics.structs import TopicPartition

__all__ = ["CLUSTER_SETTINGS", "ConsumerGroupMembers"]

#: The brokers' ``group.consumer.session.timeout.ms`` and ``heartbeat.interval.ms`` (virtual
#: milliseconds): short, so that a crashed member is expired within a run.
SESSION_TIMEOUT_MS = 1_000
HEARTBEAT_INTERVAL_MS = 200
#: The members' rebalance timeout (``max.poll.interval.ms``): how long they may take to revoke.
REBALANCE_TIMEOUT_MS = 1_000
#: What the campaign's cluster is made with for these members (``Cluster(**...)``).
CLUSTER_SETTINGS = {"group_consumer_session_timeout_ms": SESSION_TIMEOUT_MS,
                    "group_consumer_heartbeat_interval_ms": HEARTBEAT_INTERVAL_MS}

_FENCED = (FencedMemberEpochError, UnknownMemberIdError)
_RETRY = (CoordinatorNotAvailableError, NotCoordinatorError, CoordinatorLoadInProgressError)
#: What makes a commit fail without changing the membership (Kafka's CommitFailedException
#: and the retriable errors).
_COMMIT_FAILED = (StaleMemberEpochError, UnknownMemberIdError) + _RETRY


class _Member(CampaignMember):
    """One consumer-protocol member's state, as Kafka's membership manager keeps it."""

    def __init__(self, name: str, start: int, crash: int | None, leave: int | None,
                 member_id: str) -> None:
        super().__init__(name, start, crash)
        self.member_id = member_id  # the client's own, kept when it rejoins
        self.leave = leave  # the tick it closes at (leaves the group), if any
        self.left = False
        self.epoch = 0  # 0: joining
        #: The partitions its last successful heartbeat named (``None``: send every field).
        self.sent_owned: tuple[TopicPartition, ...] | None = None
        self.next_heartbeat = 0.0  # on the cluster's clock

    @property
    def generation(self) -> int | None:  # type: ignore[override]
        """Its member epoch while it is in the group, which its commits carry."""
        return self.epoch if self.epoch > 0 else None

    @property
    def gone(self) -> bool:
        """Whether it calls nothing any more (crashed, or closed)."""
        return self.crashed or self.left

    def fenced(self) -> None:
        """FENCED_MEMBER_EPOCH or UNKNOWN_MEMBER_ID: its partitions are lost (not committed),
        and it rejoins with epoch 0 and the same id."""
        self.epoch = 0
        self.owned = ()
        self.positions = {}
        self.last_commit = {}
        self.sent_owned = None


class ConsumerGroupMembers(CampaignGroup):
    """The campaign's Kafka 4 consumer group (see the module); findings go to
    ``violations``, and committed offsets going back with unclean elections to
    ``reported``. The cluster must be made with :data:`CLUSTER_SETTINGS`."""

    def __init__(self, cluster: Any, tps: list[TopicPartition], seed: int,
                 violations: list[str], reported: list[str], unclean: bool = False) -> None:
        super().__init__(cluster, tps, violations, reported, unclean)
        rng = random.Random(f"consumer-groups-{seed}")
        late = rng.randint(10, 40)
        fate = rng.random()
        crash = rng.randint(5, 50) if fate < 0.65 else None
        leave = rng.randint(5, 50) if 0.65 <= fate < 0.85 else None
        ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(3)]
        self.members = [_Member("m0", 0, None, None, ids[0]),
                        _Member("m1", 0, crash, leave, ids[1]),
                        _Member("m2", late, None, None, ids[2])]
        self.topics = sorted({tp.topic for tp in tps})
        self._seen: set[str] = set()  # violations of ownership already reported

    # --- every tick ---------------------------------------------------------------------------

    def _turn(self, m: _Member, tick: int) -> None:
        if tick == m.leave:
            self._close(m)
            return
        # Due: joining, acknowledging a new assignment (or resending a failed heartbeat), or
        # its interval is up.
        due = m.epoch == 0 or m.owned != m.sent_owned or \
            self.cluster.clock() >= m.next_heartbeat
        if due and self._coordinator_up():
            self._heartbeat(m)
        if m.epoch > 0:
            self._consume(m)
            if tick % COMMIT_EVERY == COMMIT_EVERY - 1:
                self._commit(m)

    def _heartbeat(self, m: _Member) -> None:
        joining = m.epoch == 0
        full = joining or m.sent_owned is None
        owned = () if joining else m.owned
        fields: dict[str, Any] = {}
        if full:
            fields.update(rebalance_timeout_ms=REBALANCE_TIMEOUT_MS,
                          subscribed_topic_names=self.topics)
        if full or owned != m.sent_owned:
            fields["owned_partitions"] = _by_topic(owned)
        answer = self._call(m, "consumer_group_heartbeat", self.conn.consumer_group_heartbeat,
                            GROUP, m.member_id, m.epoch, client_id=m.name, **fields)
        if answer is None:
            return
        m.member_id = answer.member_id
        m.epoch = answer.member_epoch
        m.sent_owned = owned
        m.next_heartbeat = self.cluster.clock() + answer.heartbeat_interval_ms / 1000
        self.generations.add(m.epoch)
        if answer.assignment is not None:
            self._reconcile(m, answer.assignment)

    def _reconcile(self, m: _Member, assignment: dict[str, frozenset[int]]) -> None:
        """Revoke what the assignment no longer has (after a commit), then take the rest;
        the next tick's heartbeat acknowledges it."""
        target = tuple(sorted(TopicPartition(topic, p) for topic, partitions
                              in assignment.items() for p in partitions))
        revoked = [tp for tp in m.owned if tp not in target]
        if revoked:
            self._commit(m)  # as auto-commit does before the revocation
            for tp in revoked:
                m.positions.pop(tp, None)
                m.last_commit.pop(tp, None)
        m.owned = target

    def _close(self, m: _Member) -> None:
        """The consumer closes: commit, revoke everything, leave with epoch -1 (sent once,
        whatever it answers)."""
        m.left = True
        if m.epoch <= 0:
            return  # not in the group: nothing to leave
        self._commit(m)
        m.owned, m.positions, m.last_commit = (), {}, {}
        if self._coordinator_up():
            self._call(m, "consumer_group_heartbeat (leave)",
                       self.conn.consumer_group_heartbeat, GROUP, m.member_id,
                       LEAVE_GROUP_MEMBER_EPOCH)

    def _call(self, m: _Member, name: str, call: Callable[..., Any], *args: Any,
              **kwargs: Any) -> Any:
        """``call``, answering its errors as Kafka's membership manager does (see the module);
        ``None`` when it failed."""
        try:
            result = call(*args, **kwargs)
            return True if result is None else result
        except _FENCED:
            m.fenced()
        except _RETRY:
            m.sent_owned = None  # the next heartbeat is a full one
        except Exception as exc:  # noqa: BLE001 - any other error is what the check is for
            self._unexpected(m, name, exc)
            m.fenced()
        return None

    def _commit_call(self, m: _Member, generation: int,
                     positions: dict[TopicPartition, int]) -> bool:
        try:
            self.conn.commit_offsets(GROUP, generation, m.member_id, positions)
            return True
        except _COMMIT_FAILED:
            return False  # the heartbeat tells the member where it stands
        except Exception as exc:  # noqa: BLE001 - any other error is what the check is for
            self._unexpected(m, "commit_offsets", exc)
            return False

    # --- checks -------------------------------------------------------------------------------

    def _check_ownership(self, tick: int) -> None:
        """KIP-848's rule, at the coordinator and at the members (see the module). Judged
        when the coordinator answers: a tick without one leaves it to the next."""
        coordinator = self._coordinator()
        if coordinator is None:
            return
        try:
            snapshot = self.cluster.nodes[coordinator].broker.consumer_group_snapshot(GROUP)
        except KafkaError:
            return
        at_coordinator = {} if snapshot is None else {x.member_id: x for x in snapshot.members}
        holder: dict[TopicPartition, Any] = {}
        for x in at_coordinator.values():
            for topic, partitions in sorted(x.owns().items()):
                for p in sorted(partitions):
                    other = holder.setdefault(TopicPartition(topic, p), x)
                    if other is not x:
                        self._violation(
                            tick, f"the coordinator has {topic}-{p} held by two members at "
                                  f"once: {other.member_id} (epoch {other.member_epoch}) and "
                                  f"{x.member_id} (epoch {x.member_epoch})")
        holders: dict[TopicPartition, list[_Member]] = {}
        for m in self.members:
            if not m.gone and m.epoch > 0:
                for tp in m.owned:
                    holders.setdefault(tp, []).append(m)
        for tp, ms in sorted(holders.items()):
            counted = [m for m in ms if (x := at_coordinator.get(m.member_id)) is not None
                       and x.member_epoch == m.epoch]
            if len(counted) > 1:
                names = " and ".join(f"{m.name} (epoch {m.epoch})" for m in counted)
                self._violation(
                    tick, f"{names} {'both' if len(counted) == 2 else 'all'} hold {tp} and the "
                          "coordinator counts each at its epoch: it was given to a new owner "
                          "before the old one revoked it")

    def _violation(self, tick: int, text: str) -> None:
        if text not in self._seen:  # once per run, not once per tick
            self._seen.add(text)
            self.violations.append(f"tick {tick}: {text}")

    def _group_unfinished(self, coordinator: int, survivors: list[Any]) -> str | None:
        """``Stable`` at the coordinator, with exactly the survivors, each at its epoch and
        holding what the coordinator assigned it."""
        try:
            described = self.cluster.nodes[coordinator].broker.describe_consumer_group(GROUP)
        except KafkaError as exc:
            return f"describe_consumer_group failed: {exc}"
        if described.state != "Stable":
            return f"group state {described.state}"
        members = {d.member_id: d for d in described.members}
        if {m.member_id for m in survivors} != set(members):
            return (f"members {sorted(members)} at the coordinator, survivors "
                    f"{sorted(m.member_id for m in survivors)}")
        for m in survivors:
            d = members[m.member_id]
            if d.member_epoch != m.epoch or _by_topic(m.owned) != {
                    topic: sorted(ps) for topic, ps in d.assignment.items() if ps}:
                return (f"{m.name} holds {list(m.owned)} at epoch {m.epoch}, the coordinator "
                        f"says {dict(d.assignment)} at epoch {d.member_epoch}")
        return None


def _by_topic(tps: tuple[TopicPartition, ...]) -> dict[str, list[int]]:
    """Partitions as a heartbeat names them: ``{topic: [partition, ...]}``."""
    out: dict[str, list[int]] = {}
    for tp in sorted(tps):
        out.setdefault(tp.topic, []).append(tp.partition)
    return out
