"""The controller: places replicas, tracks which brokers are alive, elects partition leaders.

pcmodel's controller is a small component of the cluster, not a role one of the brokers plays.
That is the shape of Kafka's KRaft mode, where the controller is its own quorum and the failure
of any data broker leaves it running; it keeps the lessons about *data* replication apart from
the question of who watches the watchers (the controller itself does not fail here — a
controller quorum is a lesson of its own). Brokers heartbeat to it; one silent for longer than
``broker_session_timeout`` is fenced, exactly as a crashed Kafka broker is noticed only when its
session expires.

The controller owns the authoritative state of every topic (its settings, and its id, KIP-516:
random, drawn at creation, so a topic created again has a new one) and of every partition:
replicas, leader, leader epoch, ISR. Leaders change the ISR only through
:meth:`Controller.alter_isr` (Kafka's AlterPartition), fenced by the leader epoch, so a deposed
leader that has not heard the news cannot shrink it. Every change is returned to the cluster,
which delivers it to the brokers it can reach (LeaderAndIsr).

All methods are called with the cluster lock held; none blocks.

An administrator may also ask for an election (Kafka's ElectLeaders, :meth:`Controller.elect`):
a *preferred* one gives the leadership back to the first replica of the partition, which the
placement spread over the brokers; after a broker returns from a failure, the partitions it led
are led by others until someone asks. An *unclean* one elects a leader for an offline partition
outside the ISR, whatever the topic allows. The controller also asks by itself
(:meth:`Controller.balance_leaders`, Kafka's ``auto.leader.rebalance.enable``): once a partition
is led by another replica than its preferred one, a preferred election for every such partition
runs ``leader.imbalance.check.interval.seconds`` later, and again as long after that while some
preferred replica is not ready. As in Kafka's KRaft controller, the imbalance of a broker
(``leader.imbalance.per.broker.percentage``) plays no part.

Prior art: Kafka ``PartitionStateMachine`` / ``ReplicationControlManager``
(``OfflinePartitionLeaderElectionStrategy``: the first live ISR member in replica order;
unclean: the first live replica; ``electLeader`` for ElectLeaders, with
``PartitionChangeBuilder``'s ``electPreferredLeader`` and ``electAnyLeader``; for the balancing,
``QuorumController.maybeScheduleNextBalancePartitionLeaders`` and
``maybeBalancePartitionLeaders``), ``BrokerHeartbeatManager``.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace

from pcmodel.cluster import reassignment
from pcmodel.cluster.errors import (
    DuplicateBrokerRegistrationError,
    FencedLeaderEpochError,
    NotLeaderForPartitionError,
)
from pcmodel.topics.errors import (
    ElectionNotNeededError,
    EligibleLeadersNotAvailableError,
    InvalidReplicationAssignmentError,
    InvalidReplicationFactorError,
    NoReassignmentInProgressError,
    PreferredLeaderNotAvailableError,
)
from pcmodel.topics.replica_placement import (
    NO_REASSIGNMENT_IN_PROGRESS,
    check_added_assignment,
    check_assignment,
    check_replica_list,
    unknown_elected_partition,
    unknown_reassigned_partition,
)
from pcmodel.topics.structs import ElectionType, TopicPartition

__all__ = ["Controller", "PartitionState", "TopicConfig", "place_replicas"]


@dataclass(frozen=True)
class TopicConfig:
    """The replication settings of one topic (Kafka's topic configs of the same names)."""

    replication_factor: int
    min_insync_replicas: int
    unclean_leader_election_enable: bool


@dataclass(frozen=True)
class PartitionState:
    """What the controller decided for one partition (Kafka's LeaderAndIsr).

    ``leader`` is ``None`` while no eligible replica is alive (the partition is offline);
    ``leader_epoch`` grows by one at every change of leader, and when replicas leave the
    partition; ``isr`` always contains the leader when there is one. ``replicas`` is the
    assignment, preferred leader first. During a reassignment it is the target followed by the
    replicas being removed, and ``adding`` and ``removing`` say which are which
    (:mod:`pcmodel.cluster.reassignment`).
    """

    replicas: tuple[int, ...]
    leader: int | None
    leader_epoch: int
    isr: frozenset[int]
    adding: tuple[int, ...] = ()
    removing: tuple[int, ...] = ()


def place_replicas(brokers: Sequence[int], partitions: int, rf: int, shift: int,
                   fenced: Collection[int] = ()) -> list[tuple]:
    """Replica lists for ``partitions`` partitions: round-robin, leaders spread over brokers.

    Partition ``p`` gets brokers ``shift+p, shift+p+1, ...`` (mod the broker count), so the
    preferred leaders rotate and every broker holds ``rf/n`` of the replicas. ``shift`` (the
    number of topics created before) keeps every topic from starting on broker 0. Kafka
    randomises the start; a fixed one keeps runs replayable.

    The ``fenced`` brokers (down, as the controller last heard) are used only when the
    others are too few for ``rf``, and after them, so that the first replica, the preferred
    leader, is a live broker (Kafka's ``StripedReplicaPlacer``: unfenced brokers first, and
    never a fenced leader). With every broker fenced, the rotation takes them all alike.
    """
    live = [b for b in brokers if b not in fenced]
    down = [b for b in brokers if b in fenced]
    if not live:
        live, down = list(brokers), []
    first = min(rf, len(live))
    return [tuple([live[(shift + p + i) % len(live)] for i in range(first)]
                  + [down[(shift + p + i) % len(down)] for i in range(rf - first)])
            for p in range(partitions)]


class Controller:
    """Broker liveness and partition leadership for one cluster. See the module docstring."""

    def __init__(self, broker_ids: Sequence[int], broker_session_timeout: float,
                 leader_imbalance_check_interval: float | None = None) -> None:
        self.broker_ids = tuple(broker_ids)
        self.session_timeout = broker_session_timeout
        #: Seconds between an imbalance and the balancing; ``None``: no automatic balancing.
        self.imbalance_check_interval = leader_imbalance_check_interval
        self._balance_due: float | None = None
        self.alive: set[int] = set()
        self.last_heartbeat: dict[int, float] = {}
        self.partitions: dict[TopicPartition, PartitionState] = {}
        self.topics: dict[str, TopicConfig] = {}
        self.topic_ids: dict[str, uuid.UUID] = {}

    # --- topics --------------------------------------------------------------------------------

    def create_topic(
        self, name: str, partitions: int, config: TopicConfig,
        assignment: Sequence[Sequence[int]] | None = None,
    ) -> list[TopicPartition]:
        """Place the replicas and elect the first leaders; return the new partitions.

        The replicas go round-robin (:func:`place_replicas`), or where ``assignment`` puts
        them: a replica list per partition, preferred leader first (Kafka's manual
        assignment; ``partitions`` is then its length). Raises
        ``InvalidReplicationAssignmentError`` for an assignment that
        :func:`~pcmodel.topics.replica_placement.check_assignment` refuses or that puts a
        partition on brokers that are all down, before anything changes.
        """
        if assignment is None:
            placed = place_replicas(self.broker_ids, partitions, config.replication_factor,
                                    len(self.topics), self._fenced())
        else:
            placed = check_assignment(assignment, self.broker_ids, live=self.alive)
        self.topics[name] = config
        self.topic_ids[name] = uuid.uuid4()
        return self._new_partitions(name, 0, placed)

    def reconfigure_topic(self, name: str, config: TopicConfig) -> list[TopicPartition]:
        """Give topic ``name`` new settings; return its offline partitions that they let elect
        a leader now (unclean election just allowed), as Kafka's controller does."""
        self.topics[name] = config
        return self._elect_offline(name)

    def delete_topic(self, name: str) -> list[TopicPartition]:
        """Forget topic ``name`` and its partitions; return the partitions it had."""
        del self.topics[name], self.topic_ids[name]
        gone = sorted(tp for tp in self.partitions if tp.topic == name)
        for tp in gone:
            del self.partitions[tp]
        return gone

    def add_partitions(self, name: str, total: int,
                       assignment: Sequence[Sequence[int]] | None = None, *,
                       validate_only: bool = False) -> list[TopicPartition]:
        """Grow topic ``name`` to ``total`` partitions; return the new ones (``validate_only``:
        none, nothing changed, same checks; Kafka's controller leaves the records uncommitted).

        New partitions have as many replicas as partition 0 has now (Kafka's rule) and
        continue the topic's round-robin placement (partition ``p`` starts at the broker after
        partition ``p - 1``'s preferred leader), or go where ``assignment`` puts them (a
        replica list per new partition, as in :meth:`create_topic`, each as long as partition
        0's). They elect their first leaders as :meth:`create_topic`'s do. Raises
        ``InvalidReplicationAssignmentError`` for an assignment of another length than the
        partitions added, or one :meth:`create_topic` would refuse, and, with Kafka's message,
        ``InvalidReplicationFactorError`` for a placement while every broker is fenced."""
        count = sum(1 for tp in self.partitions if tp.topic == name)
        rf = len(self.partitions[TopicPartition(name, 0)].replicas)
        if assignment is None:
            if not self.alive:  # no leader to give the new partitions (StripedReplicaPlacer)
                raise InvalidReplicationFactorError("All brokers are currently fenced.")
            first = self.partitions[TopicPartition(name, 0)].replicas[0]
            placed = place_replicas(self.broker_ids, total, rf,
                                    self.broker_ids.index(first), self._fenced())[count:]
        else:
            placed = check_added_assignment(assignment, self.broker_ids, current=count,
                                            total=total, replication_factor=rf,
                                            live=self.alive)
        return [] if validate_only else self._new_partitions(name, count, placed)

    def _fenced(self) -> set[int]:
        """The brokers the controller counts as down."""
        return set(self.broker_ids) - self.alive

    def _new_partitions(self, name: str, first: int,
                        placed: Sequence[tuple[int, ...]]) -> list[TopicPartition]:
        """New partitions ``first``, ``first + 1``... of topic ``name`` on the replicas
        ``placed``, each led by its first live replica (none if all are down)."""
        created = []
        for p, replicas in enumerate(placed, start=first):
            tp = TopicPartition(name, p)
            live = [r for r in replicas if r in self.alive]
            self.partitions[tp] = PartitionState(
                tuple(replicas), live[0] if live else None, 0,
                frozenset(live) if live else frozenset(replicas[:1]))
            created.append(tp)
        return created

    # --- liveness ------------------------------------------------------------------------------

    def register(self, broker: int, now: float) -> list[TopicPartition]:
        """A new incarnation of ``broker`` registers (a restart; Kafka's ``registerBroker``);
        return the partitions that changed. ``DuplicateBrokerRegistrationError`` while the old
        incarnation's session is valid (unfenced, heard from within the timeout): a restart
        looks like a second broker with that id. Accepted, it is registered *fenced* (the old
        one out of every ISR, its leaderships moved); its next :meth:`heartbeat`, once it has
        caught up, unfences it (``BrokerHeartbeatManager.calculateNextBrokerState``)."""
        if broker in self.alive and now - self.last_heartbeat.get(broker, now) \
                <= self.session_timeout:
            raise DuplicateBrokerRegistrationError(
                f"Another broker is registered with that broker id ({broker}): the session "
                "of its previous incarnation has not expired yet.")
        changed = self.fence(broker)
        self.last_heartbeat[broker] = now
        return changed

    def heartbeat(self, broker: int, now: float) -> list[TopicPartition]:
        """A registered broker says it is alive and has caught up with the partition states;
        a fenced one is unfenced (leaders may add it to ISRs, offline partitions it holds elect
        it). Return changed partitions."""
        self.last_heartbeat[broker] = now
        if broker in self.alive:
            return []
        self.alive.add(broker)
        return self._elect_offline()

    def expire_sessions(self, now: float) -> list[TopicPartition]:
        """Fence every broker silent for longer than the session timeout; re-elect."""
        changed: list[TopicPartition] = []
        for broker in sorted(self.alive):
            if now - self.last_heartbeat.get(broker, now) > self.session_timeout:
                changed += self.fence(broker)
        return changed

    def fence(self, broker: int) -> list[TopicPartition]:
        """Treat ``broker`` as failed: out of every ISR, new leaders where it led."""
        if broker not in self.alive:
            return []
        self.alive.discard(broker)
        changed = []
        for tp, st in self.partitions.items():
            if broker not in st.replicas:
                continue
            if st.leader == broker:
                # Kafka keeps the last ISR member in the ISR when it dies, so that it is
                # electable (cleanly) again when it returns.
                isr = st.isr - {broker} or st.isr
                self.partitions[tp] = self._elected(tp, replace(st, isr=isr))
                changed.append(tp)
            elif broker in st.isr and len(st.isr) > 1:
                self.partitions[tp] = replace(st, isr=st.isr - {broker})
                changed.append(tp)
        return changed

    # --- leadership and ISR --------------------------------------------------------------------

    def alter_isr(
        self, tp: TopicPartition, leader: int, leader_epoch: int, isr: frozenset[int]
    ) -> PartitionState:
        """A leader's ISR change (AlterPartition); returns the state now in force.

        Raises ``NotLeaderForPartitionError`` if ``leader`` no longer leads and
        ``FencedLeaderEpochError`` if it asks with an old epoch: the change is refused, the
        sender learns the current state from the next LeaderAndIsr. A fenced broker, or one
        that holds no replica, is never added (Kafka refuses ineligible replicas too). An ISR
        that has every target replica of a reassignment in sync completes it.
        """
        st = self.partitions[tp]
        if st.leader != leader:
            raise NotLeaderForPartitionError(f"broker {leader} does not lead {tp}")
        if st.leader_epoch != leader_epoch:
            raise FencedLeaderEpochError(
                f"{tp}: ISR change with leader epoch {leader_epoch}, current {st.leader_epoch}"
            )
        new_isr = frozenset(r for r in isr if r in st.replicas
                            and (r in self.alive or r == leader)) | {leader}
        self.partitions[tp] = self._reassigned(st, st.replicas, new_isr, st.adding, st.removing)
        return self.partitions[tp]

    # --- reassignments -------------------------------------------------------------------------

    def reassign(self, tp: TopicPartition, target: Sequence[int] | None, *,
                 allow_replication_factor_change: bool = True) -> PartitionState:
        """Move ``tp``'s replicas to ``target`` (Kafka's AlterPartitionReassignments), or
        cancel the reassignment in progress if ``target`` is ``None``; return the new state.

        The target replaces any reassignment in progress. It completes at once if every
        target replica is in sync already (a reordering, or fewer replicas), else at the ISR
        change that brings the last of them in (:meth:`alter_isr`). Cancelling takes out the
        replicas being added (see :func:`pcmodel.cluster.reassignment.reverted`). A leader that
        leaves the partition hands over to the first target replica in sync, and the leader
        epoch grows whenever a replica leaves, so that the removed one's requests are fenced.

        Raises ``UnknownTopicOrPartitionError`` for a partition the cluster does not have,
        ``InvalidReplicationAssignmentError`` for a target that is not distinct brokers of the
        cluster, or a cancellation that would need an unclean election the topic forbids,
        ``NoReassignmentInProgressError`` to cancel where nothing is in progress, and
        ``InvalidReplicationFactorError`` for a target of another length than the replicas the
        partition is headed for, unless ``allow_replication_factor_change`` (KIP-860). A
        refused request changes nothing.
        """
        st = self.partitions.get(tp)
        if st is None:
            raise unknown_reassigned_partition(tp, self.topics)
        moving = reassignment.Reassigning(st.replicas, st.adding, st.removing)
        if target is not None:
            target = check_replica_list(target, self.broker_ids, what="the target replica list")
            heading = len(st.replicas) - len(st.removing)
            if not allow_replication_factor_change and len(target) != heading:
                raise InvalidReplicationFactorError(
                    f"The replication factor is changed from {heading} to {len(target)}, and "
                    "the request does not allow it.")
            new = reassignment.start(st.replicas, target)
            self.partitions[tp] = self._reassigned(st, new.replicas, st.isr, new.adding,
                                                   new.removing)
            return self.partitions[tp]
        if not st.adding and not st.removing:
            raise NoReassignmentInProgressError(NO_REASSIGNMENT_IN_PROGRESS)
        replicas, isr, unclean = reassignment.reverted(moving, st.isr)
        allowed = self.topics[tp.topic].unclean_leader_election_enable
        if unclean and not allowed:  # only replicas being added are in sync
            raise InvalidReplicationAssignmentError(
                f"Unable to revert partition assignment for {tp.topic}:{tp.partition} "
                "because it would require an unclean leader election.")
        self.partitions[tp] = self._reassigned(st, replicas, isr, (), (), unclean=allowed)
        return self.partitions[tp]

    def _reassigned(self, st: PartitionState, replicas: tuple[int, ...], isr: frozenset[int],
                    adding: tuple[int, ...], removing: tuple[int, ...], *,
                    unclean: bool = False) -> PartitionState:
        """``st`` with new replicas, ISR and reassignment, completed if it can be, with a
        leader elected if the current one cannot stay (Kafka's ``PartitionChangeBuilder``:
        ``completeReassignmentIfNeeded``, then ``electAnyLeader``)."""
        done = reassignment.completed(reassignment.Reassigning(replicas, adding, removing), isr)
        if done is not None:
            (replicas, isr), adding, removing = done, (), ()
        leader = st.leader
        if leader is None or leader not in isr or leader not in self.alive:
            leader, isr = self._choose_leader(replicas, isr, unclean)
        bump = leader != st.leader or not set(replicas) >= set(st.replicas)
        return PartitionState(replicas, leader, st.leader_epoch + bump, isr, adding, removing)

    def elect(self, tp: TopicPartition, election_type: ElectionType) -> PartitionState:
        """An administrator's election for ``tp`` (Kafka's ElectLeaders); return the new state.

        ``PREFERRED``: the preferred replica (the first of ``replicas``) becomes the leader if
        it is alive and in the ISR. It is then a clean election: the ISR stays as it is, and
        the new leader has every committed record. ``UNCLEAN``: a partition without a leader
        gets one, the first live ISR member if there is one, else the first live replica, even
        if the topic does not allow unclean elections (the ISR restarts as just it).

        Raises ``ElectionNotNeededError`` if the preferred replica already leads (preferred) or
        the partition has a leader (unclean), ``PreferredLeaderNotAvailableError`` if the
        preferred replica is down or out of the ISR (the leader stays),
        ``EligibleLeadersNotAvailableError`` if no replica is alive (the partition stays
        offline), ``UnknownTopicOrPartitionError`` for a partition the cluster does not have.
        """
        st = self.partitions.get(tp)
        if st is None:
            raise unknown_elected_partition(tp, self.topics)
        if election_type == ElectionType.PREFERRED:
            preferred = st.replicas[0]
            if st.leader == preferred:
                raise ElectionNotNeededError(
                    f"{tp.topic}-{tp.partition}: its preferred replica, broker {preferred}, leads")
            if preferred not in st.isr or preferred not in self.alive:
                where = "down" if preferred not in self.alive else "not in the ISR"
                stays = "it stays offline" if st.leader is None else \
                    f"broker {st.leader} stays the leader"
                raise PreferredLeaderNotAvailableError(
                    f"{tp.topic}-{tp.partition}: its preferred replica, broker {preferred}, is "
                    f"{where}; {stays}")
            new = replace(st, leader=preferred, leader_epoch=st.leader_epoch + 1)
        else:
            if st.leader is not None:
                raise ElectionNotNeededError(
                    f"{tp.topic}-{tp.partition} has a leader, broker {st.leader}")
            new = self._elected(tp, st, unclean=True)
            if new.leader is None:
                raise EligibleLeadersNotAvailableError(
                    f"{tp.topic}-{tp.partition}: none of its replicas {list(st.replicas)} is alive")
        self.partitions[tp] = new
        return new

    def balance_leaders(self, now: float) -> list[TopicPartition]:
        """Kafka's automatic leader balancing; return the partitions given back.

        Called at every tick. The first tick that finds a partition led by another replica
        than its preferred one (or by none) sets the balancing ``imbalance_check_interval``
        seconds ahead; when it is due, every such partition whose preferred replica is alive
        and in the ISR gets it back, as :meth:`elect` gives it. The others wait for the next
        balancing, set at the next tick that still finds them.
        """
        if self.imbalance_check_interval is None:
            return []
        imbalanced = [tp for tp, st in self.partitions.items() if st.leader != st.replicas[0]]
        if not imbalanced:
            self._balance_due = None
            return []
        if self._balance_due is None:
            self._balance_due = now + self.imbalance_check_interval
        if now < self._balance_due:
            return []
        self._balance_due = None
        balanced = []
        for tp in imbalanced:
            try:
                self.elect(tp, ElectionType.PREFERRED)
            except (PreferredLeaderNotAvailableError, ElectionNotNeededError):
                continue  # not ready yet: the next balancing tries again
            balanced.append(tp)
        return balanced

    def _elect_offline(self, topic: str | None = None) -> list[TopicPartition]:
        """Elect a leader where one can be (of ``topic``'s partitions only, if given); return
        the partitions that got one."""
        changed = []
        for tp, st in self.partitions.items():
            if st.leader is None and (topic is None or tp.topic == topic):
                new = self._elected(tp, st)
                if new.leader is not None:
                    self.partitions[tp] = new
                    changed.append(tp)
        return changed

    def _elected(self, tp: TopicPartition, st: PartitionState, *,
                 unclean: bool | None = None) -> PartitionState:
        """``st`` with a new leader: clean from the live ISR, else unclean if allowed (by
        ``unclean``, or else by the topic's config), else none.

        Clean: the first live ISR member in replica order. It has every committed record (the
        high watermark is the smallest LEO over the ISR), so nothing acknowledged with
        ``acks="all"`` is lost. Unclean: the first live replica; the ISR restarts as just it,
        and every record it lacks is gone once the others truncate to its log. None: the
        partition goes offline, and losing its leader is a change of leader like any other:
        the epoch grows (Kafka's ``PartitionRegistration.merge``), so that clients told of it
        no longer take the old leader's epoch for the current one.
        """
        if unclean is None:
            unclean = self.topics[tp.topic].unclean_leader_election_enable
        leader, isr = self._choose_leader(st.replicas, st.isr, unclean)
        if leader is None:
            return replace(st, leader=None,
                           leader_epoch=st.leader_epoch + (st.leader is not None))
        if leader in st.isr:  # clean: the ISR keeps its live members
            isr = frozenset(r for r in st.isr if r in self.alive)
        return replace(st, leader=leader, leader_epoch=st.leader_epoch + 1, isr=isr)

    def _choose_leader(self, replicas: tuple[int, ...], isr: frozenset[int], unclean: bool
                       ) -> tuple[int | None, frozenset[int]]:
        """The leader an election picks among ``replicas``, and the ISR it leads: the first
        live ISR member in replica order (clean, the ISR unchanged), else if ``unclean`` the
        first live replica (the ISR restarts as just it), else ``None``."""
        clean = [r for r in replicas if r in isr and r in self.alive]
        if clean:
            return clean[0], isr
        live = [r for r in replicas if r in self.alive]
        if unclean and live:
            return live[0], frozenset(live[:1])
        return None, isr

    def is_unclean(self, before: PartitionState, after: PartitionState) -> bool:
        """Whether the change from ``before`` to ``after`` elected a leader outside the ISR."""
        return (after.leader is not None and after.leader != before.leader
                and after.leader not in before.isr)
