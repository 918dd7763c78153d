"""A seeded fault campaign: faults while a producer writes and a consumer group reads.

Each run builds a stepped cluster (virtual time), draws a :class:`~pcmodel.cluster.faults.
FaultPlan` from its seed, and for ``duration`` virtual seconds produces one record per
partition per tick (values ``p:n``, ``n`` counting up) while a consumer reads committed records
from the leaders and commits its positions to the replicated offsets topic. Then it undoes
every fault, lets the cluster settle and checks, on every run:

* the replicas of each partition hold identical logs;
* every record the consumer read is still at the same offset (committed data is never lost);
* per-partition order: each partition's values appear in the order produced;
* committed offsets, read back from the offsets topic, never went backwards;
* with an idempotent producer, no record is stored twice;
* with ``--transactional`` (a transactional producer committing and aborting under the
  faults): no transaction hangs, and a ``read_committed`` reader sees every committed
  transaction whole, no aborted one, and a transaction whose commit call failed whole or not
  at all (:mod:`pcmodel.cluster.campaign_transactions`; with ``--unclean`` what the elections
  broke is reported instead, after hanging transactions are found and aborted);
* with ``--groups`` (a consumer group of three members driven in the same ticks, one joining
  late, in most runs one crashing): no partition has two owners in one generation, the
  group's committed offsets never go back, and once the faults are undone the survivors reach
  one ``Stable`` generation owning every partition once and commit every log's end
  (:mod:`pcmodel.cluster.campaign_groups`; with ``--unclean`` offsets going back are reported);
* with ``--groups consumer`` (the same three members speaking Kafka 4's consumer protocol,
  KIP-848, instead: ``--groups`` alone is ``--groups classic``): no partition is given to a new
  owner before its old owner revoked it, the same checks of commits and of the end
  (:mod:`pcmodel.cluster.campaign_consumer_groups`);
* with ``acks="all"``, ``min_insync_replicas >= 2`` and clean elections: no acknowledged
  record is lost. With other settings lost acknowledged records are *reported*, not violations:
  that is what ``acks=1`` costs, and the run that shows it is printed as a replayable scenario.
  With ``--unclean`` even committed records a consumer read may vanish (and committed offsets
  go back): reported as well, since that is what unclean leader election costs.

Run it: ``python -m pcmodel.cluster.campaign --runs 300 --acks all`` (``--help`` for more).

With ``--mode processes`` every broker is an OS process (``Cluster(mode="processes")``) and a
kill is a real SIGKILL; the run is paced in real time (one record per partition per 50 ms
tick), so a seed replays its *fault plan*, while the interleaving is the operating system's.
Runs take seconds each instead of a fraction of one: ``--mode processes --runs 20``.
Prior art: Jepsen's Kafka analyses (faults plus invariants checked on every run, failing runs
kept as replayable histories).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from pcmodel.cli import INTERRUPTED, signals_interrupt
from pcmodel.cluster.campaign_consumer_groups import CLUSTER_SETTINGS, ConsumerGroupMembers
from pcmodel.cluster.campaign_groups import GroupMembers
from pcmodel.cluster.campaign_transactions import (
    TransactionalWriter,
    abort_hanging,
    check_transactions,
)
from pcmodel.cluster.cluster import Cluster
from pcmodel.cluster.faults import FAULT_KINDS, random_plan
from pcmodel.cluster.offsets import OffsetsTopic
from pcmodel.cluster.purgatory import ProduceFuture
from pcmodel.topics.broker_checks import _check_flag
from pcmodel.topics.errors import KafkaError
from pcmodel.topics.log_transactions import ControlRecord
from pcmodel.topics.structs import TopicPartition

__all__ = ["CampaignSettings", "RunReport", "run_campaign", "run_once"]

_TOPIC = "data"
_GROUP = "readers"


@dataclass(frozen=True)
class CampaignSettings:
    """What every run of a campaign uses (the seed varies)."""

    acks: int | str = "all"
    min_insync_replicas: int = 2
    unclean_leader_election_enable: bool = False
    brokers: int = 3
    partitions: int = 2
    duration: float = 3.0
    faults: int = 4
    kinds: tuple[str, ...] = FAULT_KINDS
    #: Resend a record whose produce failed with a retriable error (one in flight per
    #: partition, as ``max_in_flight_requests_per_connection=1``).
    retries: bool = False
    #: An idempotent producer (implies ``retries``): a resent record is never stored twice.
    idempotent: bool = False
    #: ``"steps"`` (virtual time, replays exactly) or ``"processes"`` (real SIGKILLs).
    mode: str = "steps"
    #: A transactional producer instead (see :mod:`pcmodel.cluster.campaign_transactions`).
    transactional: bool = False
    #: A consumer group driven in the same ticks (see :mod:`pcmodel.cluster.campaign_groups`).
    groups: bool = False
    #: The protocol its members speak (Kafka's ``group.protocol``): ``"classic"`` or
    #: ``"consumer"`` (Kafka 4's, :mod:`pcmodel.cluster.campaign_consumer_groups`).
    group_protocol: str = "classic"

    def __post_init__(self) -> None:
        for flag in ("unclean_leader_election_enable", "retries", "idempotent",
                     "transactional", "groups"):
            _check_flag(flag, getattr(self, flag))  # "no" would be taken for yes
        if self.group_protocol not in ("classic", "consumer"):
            raise ValueError(f"group_protocol must be 'classic' or 'consumer', not "
                             f"{self.group_protocol!r}")

    @property
    def must_not_lose(self) -> bool:
        """Whether losing an acknowledged record is a violation under these settings."""
        return (self.acks == "all" and self.min_insync_replicas >= 2
                and not self.unclean_leader_election_enable)


@dataclass
class RunReport:
    """The outcome of one run: what was acknowledged, what was lost, what was violated."""

    seed: int
    settings: CampaignSettings
    plan: str
    acknowledged: int = 0
    lost: list[tuple[TopicPartition, int, bytes]] = field(default_factory=list)
    duplicates: list[tuple[TopicPartition, bytes]] = field(default_factory=list)
    #: Records a consumer read (committed ones) that are gone: only unclean elections do that.
    vanished: list[tuple[TopicPartition, int, bytes]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    #: With ``--transactional --unclean``: the hanging transactions an administrator's abort
    #: ended, and the guarantees the unclean elections broke (with ``--groups`` too).
    hanging: list[str] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)
    consumed: int = 0
    #: Brokers the plan killed (real SIGKILLs in process mode).
    kills: int = 0
    #: Brokers the plan stopped (controlled shutdowns).
    stops: int = 0
    #: With ``--groups``: the members' successful commits, and the generations they joined
    #: (with ``--groups consumer``: the member epochs they reached).
    group_commits: int = 0
    group_generations: int = 0

    @property
    def ok(self) -> bool:
        """No invariant was violated."""
        return not self.violations

    def scenario(self) -> str:
        """A replayable description: the command, the fault plan, what was lost or violated."""
        s = self.settings
        lines = [
            f"# replay: python -m pcmodel.cluster.campaign --seed {self.seed} --acks {s.acks} "
            f"--min-insync-replicas {s.min_insync_replicas}"
            + (" --unclean" if s.unclean_leader_election_enable else "")
            + (" --idempotent" if s.idempotent else " --retries" if s.retries else "")
            + (" --transactional" if s.transactional else "")
            + ((" --groups" + (" consumer" if s.group_protocol == "consumer" else ""))
               if s.groups else "")
            + (f" --mode {s.mode}" if s.mode != "steps" else "")
            + (f" --duration {s.duration:g}" if s.duration != 3.0 else ""),
            self.plan,
            f"# acknowledged {self.acknowledged} records, consumer read {self.consumed}",
        ]
        lines += [f"# LOST acknowledged record {tp.topic}-{tp.partition}@{off}: {val!r}"
                  for tp, off, val in self.lost[:5]]
        if len(self.lost) > 5:
            lines.append(f"# ... and {len(self.lost) - 5} more acknowledged records lost")
        lines += [f"# DUPLICATE in the log of {tp.topic}-{tp.partition}: {val!r}"
                  for tp, val in self.duplicates[:5]]
        lines += [f"# CONSUMED record vanished (unclean election) {tp.topic}-{tp.partition}"
                  f"@{off}: {val!r}" for tp, off, val in self.vanished[:5]]
        lines += [f"# HANGING (an unclean election lost its marker): {h}" for h in self.hanging]
        lines += [f"# BROKEN by an unclean election: {b}" for b in self.broken]
        lines += [f"# VIOLATION: {v}" for v in self.violations]
        return "\n".join(lines)


def run_once(seed: int, settings: CampaignSettings = CampaignSettings()) -> RunReport:
    """One run from ``seed``; deterministic (same seed and settings, same report)."""
    plan = random_plan(seed, brokers=settings.brokers, duration=settings.duration,
                       faults=settings.faults, kinds=settings.kinds)
    report = RunReport(seed, settings, plan.script(),
                       kills=sum(f.action == "kill" for f in plan.faults),
                       stops=sum(f.action == "stop" for f in plan.faults))
    stepped = settings.mode == "steps"
    consumer_protocol = settings.groups and settings.group_protocol == "consumer"
    with Cluster(settings.brokers, mode=settings.mode,
                 **(CLUSTER_SETTINGS if consumer_protocol else {})) as cluster:
        offsets = cluster.offsets_topic()
        cluster.create_topic(_TOPIC, settings.partitions,
                             min_insync_replicas=settings.min_insync_replicas,
                             unclean_leader_election_enable=settings
                             .unclean_leader_election_enable)
        tps = [TopicPartition(_TOPIC, p) for p in range(settings.partitions)]
        sent: list[tuple[ProduceFuture, TopicPartition, bytes]] = []
        consumed: dict[TopicPartition, dict[int, bytes]] = {tp: {} for tp in tps}
        positions = {tp: 0 for tp in tps}
        read_back: dict[TopicPartition, int] = {}
        writer = _RetryingWriter(cluster, tps, settings) if settings.retries or \
            settings.idempotent else None
        transactional = TransactionalWriter(cluster, tps) if settings.transactional else None
        members = ConsumerGroupMembers if consumer_protocol else GroupMembers
        group = members(cluster, tps, seed, report.violations, report.broken,
                        settings.unclean_leader_election_enable) if settings.groups else None
        tick = 0
        start = cluster.clock()
        while cluster.clock() - start < settings.duration:
            plan.apply_due(cluster, cluster.clock() - start)
            if transactional is not None:
                transactional.tick(tick)
            elif writer is not None:
                writer.tick(tick)
            else:
                for tp in tps:
                    value = f"{tp.partition}:{tick}".encode()
                    sent.append((cluster.produce(_TOPIC, tp.partition, [(None, value)],
                                                 acks=settings.acks, timeout=1.0), tp, value))
            _consume(cluster, tps, positions, consumed, report)
            if group is not None:
                group.tick(tick)
            if tick % 5 == 4:
                offsets.commit(_GROUP, dict(positions), timeout=1.0)
                _check_committed(offsets, tps, read_back, report)
            tick += 1
            if stepped:
                cluster.advance()
            else:  # the workload's pace: one record per partition per tick
                time.sleep(max(0.0, start + tick * cluster.tick - cluster.clock()))
        for fault in plan.faults[plan._next:]:  # undo what the plan had not undone yet
            if fault.action in ("restart", "heal") or (fault.action == "slow"
                                                       and fault.seconds == 0):
                fault.apply(cluster)
        cluster.settle(max_seconds=60)
        if writer is not None:
            sent = writer.finish()
            # What it resent is answered at acks=1 before the followers have it: let them
            # copy it before the replicas' logs are compared.
            cluster.settle(max_seconds=60)
        if transactional is not None:
            transactional.finish()
            report.acknowledged = sum(len(records) for fate, records in transactional.outcomes
                                      if fate == "committed")
            if settings.unclean_leader_election_enable:
                # An administrator mends what hangs; what else broke is the elections' cost.
                report.hanging = abort_hanging(cluster, tps)
                check_transactions(cluster, tps, transactional, report.broken)
            else:
                check_transactions(cluster, tps, transactional, report.violations)
        final = {tp: _leader_log(cluster, tp) for tp in tps}
        for future, tp, value in sent:
            try:
                result = future.get(timeout=5)
            except (KafkaError, TimeoutError):
                continue
            if settings.acks != 0:
                report.acknowledged += 1
                _check_acknowledged(final[tp], tp, result.base_offset, value, report)
        _check_logs(cluster, tps, consumed, report)
        _consume(cluster, tps, positions, consumed, report)
        _check_committed(offsets, tps, read_back, report)
        report.consumed = sum(len(c) for c in consumed.values())
        if group is not None:
            group.finish()
            report.group_commits, report.group_generations = group.commits, len(group.generations)
    return report


def _consume(cluster: Cluster, tps: list[TopicPartition], positions: dict,
             consumed: dict, report: RunReport) -> None:
    for tp in tps:
        leader = cluster.leader(tp.topic, tp.partition)
        if leader is None:
            continue
        try:
            result = cluster.fetch(leader, {tp: positions[tp]})[tp]
        except KafkaError:
            continue  # not the leader any more, or dead: try again next tick
        for record in result.records:
            if record.offset != positions[tp]:
                report.violations.append(f"{tp}: read offset {record.offset}, expected "
                                         f"{positions[tp]}")
            if not isinstance(record, ControlRecord):  # a marker is no application record
                consumed[tp][record.offset] = record.value
            positions[tp] = record.offset + 1


def _check_committed(offsets: OffsetsTopic, tps: list[TopicPartition],
                     read_back: dict, report: RunReport) -> None:
    try:
        now = offsets.committed(_GROUP, tps)
    except KafkaError:
        return  # no coordinator right now
    for tp, offset in now.items():
        before = read_back.get(tp)
        if before is not None and (offset is None or offset < before) and \
                not report.settings.unclean_leader_election_enable:
            report.violations.append(f"{tp}: committed offset went back from {before} to "
                                     f"{offset}")
        if offset is not None:
            read_back[tp] = offset


def _leader_log(cluster: Cluster, tp: TopicPartition) -> dict[int, bytes]:
    leader = cluster.leader(tp.topic, tp.partition)
    return {} if leader is None else {r.offset: r.value for r in
                                      cluster.log(leader, tp.topic, tp.partition)}


def _check_acknowledged(log: dict[int, bytes], tp: TopicPartition, offset: int, value: bytes,
                        report: RunReport) -> None:
    if log.get(offset) != value:
        report.lost.append((tp, offset, value))
        if report.settings.must_not_lose:
            report.violations.append(f"{tp}: acknowledged record {value!r} at {offset} lost")


def _check_logs(cluster: Cluster, tps: Iterable[TopicPartition], consumed: dict,
                report: RunReport) -> None:
    for tp in tps:
        logs = {b: [(r.offset, r.value) for r in cluster.log(b, tp.topic, tp.partition)
                    if not isinstance(r, ControlRecord)]
                for b in cluster.metadata()[tp].replicas}
        first = next(iter(logs.values()))
        if any(log != first for log in logs.values()):
            report.violations.append(f"{tp}: replicas diverge: "
                                     f"{ {b: len(log) for b, log in logs.items()} }")
        final = dict(first)
        for offset, value in consumed[tp].items():
            if final.get(offset) != value:
                report.vanished.append((tp, offset, value))
                if not report.settings.unclean_leader_election_enable:
                    report.violations.append(f"{tp}: consumed record {value!r} at {offset} "
                                             "vanished")
        sequence = [int(v.split(b":")[1]) for _, v in first]
        if any(b < a for a, b in zip(sequence, sequence[1:])):
            report.violations.append(f"{tp}: order broken: {sequence}")
        for (_, value), (_, after) in zip(first, first[1:]):
            if value == after:
                report.duplicates.append((tp, value))
                if report.settings.idempotent:
                    report.violations.append(f"{tp}: {value!r} is in the log twice "
                                             "despite idempotence")


class _RetryingWriter:
    """One record in flight per partition, resent after a retriable failure.

    With ``idempotent`` every resend carries the record's producer id and sequence number.
    """

    def __init__(self, cluster: Cluster, tps: list[TopicPartition],
                 settings: CampaignSettings) -> None:
        self.cluster = cluster
        self.settings = settings
        self.producer_id, self.epoch = cluster.init_producer_id()
        self.next_seq = {tp: 0 for tp in tps}
        self.in_flight: dict[TopicPartition, tuple[ProduceFuture, bytes, int]] = {}
        self.done: list[tuple[ProduceFuture, TopicPartition, bytes]] = []

    def tick(self, tick: int, new: bool = True) -> None:
        for tp in self.next_seq:
            flight = self.in_flight.get(tp)
            if flight is not None:
                future, value, seq = flight
                if not future.done():
                    continue
                if future.succeeded() or not getattr(future.exception(), "retriable", True):
                    self.done.append((future, tp, value))
                    del self.in_flight[tp]
                    if not future.succeeded():
                        continue
                else:
                    self._send(tp, value, seq)  # resend the same record
                    continue
            if new:
                value = f"{tp.partition}:{tick}".encode()
                self._send(tp, value, self.next_seq[tp])
                self.next_seq[tp] += 1

    def _send(self, tp: TopicPartition, value: bytes, seq: int) -> None:
        producer = (self.producer_id, self.epoch, seq) if self.settings.idempotent else None
        future = self.cluster.produce(tp.topic, tp.partition, [(None, value)],
                                      acks=self.settings.acks, timeout=1.0, producer=producer)
        self.in_flight[tp] = (future, value, seq)

    def finish(self) -> list[tuple[ProduceFuture, TopicPartition, bytes]]:
        """Resend what is still unanswered until it succeeds (bounded), then return all."""
        for _ in range(50):
            if not self.in_flight:
                break
            for future, _value, _seq in list(self.in_flight.values()):
                try:
                    future.get(timeout=5)
                except (KafkaError, TimeoutError):
                    pass
            self.tick(0, new=False)
        self.done += [(f, tp, v) for tp, (f, v, _) in self.in_flight.items()]
        return self.done


def run_campaign(seeds: Iterable[int], settings: CampaignSettings) -> list[RunReport]:
    """Run every seed; return the reports (in seed order)."""
    return [run_once(seed, settings) for seed in seeds]


def main(argv: list[str] | None = None) -> int:
    """Command line: run a campaign, print failing and lossy runs as scenarios."""
    parser = argparse.ArgumentParser(prog="python -m pcmodel.cluster.campaign",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int,
                        help="number of runs (seeds 0..N-1, or from --first-seed); 300 by "
                             "default, 20 with --mode processes")
    parser.add_argument("--seed", type=int, help="replay this one seed, printing its scenario")
    parser.add_argument("--first-seed", type=int, default=0,
                        help="the runs' first seed (seeds FIRST_SEED..FIRST_SEED+RUNS-1): new "
                             "plans, far from the seeds the tests replay")
    parser.add_argument("--acks", default="all", choices=["0", "1", "all"])
    parser.add_argument("--min-insync-replicas", type=int, default=2)
    parser.add_argument("--unclean", action="store_true",
                        help="allow unclean leader election")
    parser.add_argument("--retries", action="store_true",
                        help="resend records whose produce failed (may duplicate them)")
    parser.add_argument("--idempotent", action="store_true",
                        help="an idempotent producer that resends (never duplicates)")
    parser.add_argument("--transactional", action="store_true",
                        help="a transactional producer: commits two transactions in three, "
                             "aborts the third; checks what read_committed sees")
    parser.add_argument("--groups", nargs="?", const="classic", choices=["classic", "consumer"],
                        help="a consumer group of three members, driven in the same ticks: "
                             "checks ownership, commits and that it recovers; its members "
                             "speak the classic protocol (--groups alone) or Kafka 4's "
                             "consumer protocol (--groups consumer)")
    parser.add_argument("--mode", default="steps", choices=["steps", "processes"],
                        help="steps: virtual time, replays exactly; processes: each broker "
                             "an OS process, kills are SIGKILLs, real time")
    parser.add_argument("--duration", type=float, default=3.0,
                        help="seconds of producing (and faults) per run")
    args = parser.parse_args(argv)
    if not 0 < args.duration <= 600:
        parser.error(f"--duration must be between 0 and 600 seconds, got {args.duration}")
    if args.runs is not None and args.runs < 1:
        parser.error(f"--runs must be at least 1, got {args.runs}")
    if not 1 <= args.min_insync_replicas <= CampaignSettings.brokers:
        parser.error(f"--min-insync-replicas must be between 1 and the topic's "
                     f"{CampaignSettings.brokers} replicas, got {args.min_insync_replicas}")
    runs = args.runs or (20 if args.mode == "processes" else 300)
    acks = args.acks if args.acks == "all" else int(args.acks)
    settings = CampaignSettings(acks=acks, min_insync_replicas=args.min_insync_replicas,
                                unclean_leader_election_enable=args.unclean,
                                retries=args.retries, idempotent=args.idempotent,
                                mode=args.mode, duration=args.duration,
                                transactional=args.transactional,
                                groups=args.groups is not None,
                                group_protocol=args.groups or "classic")
    seeds = [args.seed] if args.seed is not None else range(args.first_seed,
                                                             args.first_seed + runs)
    start = time.monotonic()
    try:
        with signals_interrupt():  # SIGTERM too, as the pcmodel commands
            reports = run_campaign(seeds, settings)
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return INTERRUPTED
    elapsed = time.monotonic() - start
    lossy = [r for r in reports if r.lost or r.duplicates or r.broken or r.hanging]
    consumer = settings.group_protocol == "consumer"
    bad = [r for r in reports if not r.ok]
    for r in (reports if args.seed is not None else bad + lossy[:1]):
        print(r.scenario(), end="\n\n")
    print(f"{len(reports)} runs in {elapsed:.1f} s: {len(bad)} violated an invariant, "
          f"{sum(1 for r in reports if r.lost)} lost acknowledged records "
          f"({sum(len(r.lost) for r in reports)} in all, of "
          f"{sum(r.acknowledged for r in reports)} acknowledged), "
          f"{sum(1 for r in reports if r.duplicates)} stored a record twice"
          + (f"; unclean elections: {sum(len(r.hanging) for r in reports)} hanging "
             f"transactions found and aborted, transactions broken in "
             f"{sum(1 for r in reports if r.broken)} runs" if settings.transactional
             and settings.unclean_leader_election_enable else "")
          + (f"; group: {sum(r.group_commits for r in reports)} commits, "
             f"{sum(r.group_generations for r in reports)} "
             + ("member epochs reached" if consumer else "generations joined")
             if settings.groups else "")
          + (f"; {sum(r.kills for r in reports)} SIGKILLs" if settings.mode == "processes"
             else "") + f"; {sum(r.stops for r in reports)} controlled shutdowns")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
