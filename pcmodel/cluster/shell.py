"""The commands ``pcmodel cluster`` reads on its standard input, one per line.

:class:`ClusterShell` runs them on a :class:`~pcmodel.cluster.Cluster` and answers each with the
text to print, in the words and columns of Kafka's own tools where Kafka has one
(``kafka-topics.sh``, ``kafka-configs.sh``, ``kafka-leader-election.sh``,
``kafka-reassign-partitions.sh``, ``kafka-transactions.sh``, ``kafka-log-dirs.sh``). A mistake
is answered with one line starting ``error:``; the cluster goes on. The terminal around it
(arguments, listeners, Ctrl-C) is :mod:`pcmodel.cluster.cli`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from pcmodel.cluster.errors import LeaderNotAvailableError
from pcmodel.topics.admin import KafkaAdminClient
from pcmodel.topics.admin_transactions import AbortTransactionSpec
from pcmodel.topics.config_resources import AlterConfigOp
from pcmodel.topics.errors import ElectionNotNeededError, KafkaError
from pcmodel.topics.errors.base import error_detail
from pcmodel.topics.structs import ElectionType, TopicPartition

__all__ = ["HELP", "MAX_PARTITIONS", "USAGES", "ClusterShell"]

HELP = """commands:
  create NAME [PARTITIONS [REPLICATION_FACTOR [MIN_ISR]]]   a replicated topic (1 3 1 by default)
  create NAME --replica-assignment 1:2,2:0 [MIN_ISR]
                         one with its replicas placed by hand (partition 0 on brokers 1 and 2,
                         1 leading; partition 1 on 2 and 0), as kafka-topics.sh places them
  status                 live brokers; each partition's leader, epoch, replicas and ISR
  config NAME [KEY=VALUE ...] [-KEY ...]
                         a topic's configs set; set KEY, or put -KEY back to its default
  config --group GROUP [KEY=VALUE ...] [-KEY ...]
                         a group's, as kafka-configs.sh --entity-type groups (Kafka 4's
                         consumer.session.timeout.ms, consumer.heartbeat.interval.ms)
  elect preferred|unclean [TOPIC [PARTITION]]
                         give partitions back to their preferred replica / bring offline ones
                         back outside the ISR (every partition, or TOPIC's, or one)
  reassign TOPIC PARTITION BROKERS|cancel
                         move a partition's replicas to BROKERS (like 2,0,1: the first leads)
                         / cancel the move in progress
  transactions [ID]      the transactional ids and their coordinators, producers and states, as
                         kafka-transactions.sh list; with ID, its transaction, as describe
  producers TOPIC PARTITION [B]
                         the idempotent producers the partition's leader (or broker B's
                         replica) remembers: id, epoch, last sequence number, last timestamp
  hanging [MINUTES [TOPIC [PARTITION]]]
                         the transactions partitions hold open that no coordinator will end,
                         silent for over MINUTES (15 by default), in every topic, in TOPIC or
                         in one of its partitions, as kafka-transactions.sh find-hanging
  abort TOPIC PARTITION START_OFFSET
                         write the ABORT marker of the transaction open in the partition since
                         START_OFFSET, as kafka-transactions.sh abort
  logdirs [B]            where every live broker (or B) keeps its replicas' logs, and their
                         sizes in bytes
  kill B | restart B     crash broker B (its listener closes) / start it again on its port
  stop B                 stop broker B cleanly, as kafka-server-stop.sh: a controlled
                         shutdown moves its leaderships first
  isolate B | heal [B]   cut B off from replication traffic / end that (every broker's)
  slow B SECONDS         each replica fetch of B takes SECONDS (0 restores it)
  help"""

USAGES = {
    "create": "create NAME [PARTITIONS [REPLICATION_FACTOR [MIN_ISR]]] or create NAME "
              "--replica-assignment 1:2,2:0 [MIN_ISR]", "status": "status",
    "config": "config NAME [KEY=VALUE ...] [-KEY ...] or config --group GROUP [KEY=VALUE ...] "
              "[-KEY ...]",
    "elect": "elect preferred|unclean [TOPIC [PARTITION]]",
    "reassign": "reassign TOPIC PARTITION BROKERS|cancel",
    "producers": "producers TOPIC PARTITION [B]",
    "hanging": "hanging [MINUTES [TOPIC [PARTITION]]]",
    "abort": "abort TOPIC PARTITION START_OFFSET",
    "transactions": "transactions [TRANSACTIONAL_ID]",
    "logdirs": "logdirs [B]",
    "kill": "kill B", "stop": "stop B", "restart": "restart B", "isolate": "isolate B",
    "heal": "heal [B]", "slow": "slow B SECONDS", "help": "help",
}

#: The most partitions ``create`` makes in one topic. Every partition has a replica on each of
#: its brokers, all kept in this process (or its broker processes) and stepped by the cluster's
#: threads: 1,000 partitions of 3 replicas take a few seconds to create and as long to stop,
#: 10,000 take a minute, and a number typed by mistake (an extra zero or ten) would take the
#: memory of the machine. A command runs to its end before the shell sees Ctrl-C, so each one
#: must stay short.
MAX_PARTITIONS = 1000


class ClusterShell:
    """The command interpreter of ``pcmodel cluster``, apart from its terminal (for tests).

    :meth:`execute` runs one command line and returns what to print; a mistake is answered
    with a line starting ``error:``, never an exception.
    """

    def __init__(self, cluster: Any) -> None:
        self.cluster = cluster

    def execute(self, line: str) -> str:
        """Run one command; return its answer (``""`` for an empty line)."""
        words = line.split()
        if not words:
            return ""
        name, args = words[0].lower(), words[1:]
        command = getattr(self, f"_do_{name}", None)
        if command is None:
            return f"error: unknown command {name!r}; type help"
        try:
            return command(*args)
        except TypeError:
            return f"error: usage: {USAGES[name]}"
        except ValueError as exc:  # a word that is not the number it should be, or out of range
            return f"error: {exc}; usage: {USAGES[name]}"
        except Exception as exc:  # the cluster's own errors: a clear line, the shell goes on
            return f"error: {exc}"

    def _broker(self, text: str) -> int:
        broker = int(text)
        if not 0 <= broker < len(self.cluster.nodes):
            raise ValueError(f"broker must be 0..{len(self.cluster.nodes) - 1}, got {broker}")
        return broker

    def _do_help(self) -> str:
        return HELP

    def _do_create(self, name: str, partitions: str = "1", rf: str | None = None,
                   min_isr: str = "1") -> str:
        if partitions == "--replica-assignment":
            if rf is None:
                raise TypeError("the assignment is missing")
            placed = _replica_assignment(rf)
            _check_partition_count(len(placed))
            self.cluster.create_topic(name, len(placed), min_insync_replicas=int(min_isr),
                                      replica_assignment=placed)
        else:
            count = int(partitions)
            _check_partition_count(count)
            self.cluster.create_topic(
                name, count, min_insync_replicas=int(min_isr),
                replication_factor=None if rf is None else int(rf))
        return f"created {name}"

    def _do_status(self) -> str:
        live = sorted(self.cluster.live_brokers())
        lines = [f"live brokers: {live}"]
        for tp, st in sorted(self.cluster.metadata().items()):
            leader = "none" if st.leader is None else st.leader
            isr = [r for r in st.replicas if r in st.isr]
            moving = f" adding {list(st.adding)} removing {list(st.removing)}" \
                if st.adding or st.removing else ""
            lines.append(f"{tp.topic}-{tp.partition}: leader {leader} epoch {st.leader_epoch} "
                         f"replicas {list(st.replicas)} isr {isr}{moving}")
        return "\n".join(lines)

    def _do_config(self, name: str, *changes: str) -> str:
        if name == "--group":
            if not changes:
                raise ValueError("config --group needs the group's id")
            return self._configure(changes[0], changes[1:], self.cluster.describe_group_configs,
                                   self.cluster.alter_group_configs)
        return self._configure(name, changes, self.cluster.describe_topic_configs,
                               self.cluster.alter_topic_configs)

    @staticmethod
    def _configure(name: str, changes: tuple[str, ...], describe: Callable[[str], list],
                   alter: Callable[[str, list], None]) -> str:
        """Apply ``changes`` (KEY=VALUE sets, -KEY deletes) to resource ``name`` with
        ``alter``, then list the configs set on it, read with ``describe``."""
        operations = []
        for change in changes:
            key, equals, value = change.partition("=")
            if equals and key:
                operations.append((key, AlterConfigOp.SET, value))
            elif change.startswith("-") and len(change) > 1 and not equals:
                operations.append((change[1:], AlterConfigOp.DELETE, None))
            else:
                raise ValueError(f"{change!r} is neither KEY=VALUE nor -KEY")
        if operations:
            alter(name, operations)
        modified = [f"{e.name}={e.value}" for e in describe(name) if e.source.is_modified]
        return f"{name}: {' '.join(modified) or 'no configs set (all at their defaults)'}"

    def _do_elect(self, kind: str, topic: str | None = None,
                  partition: str | None = None) -> str:
        try:
            election = ElectionType[kind.upper()]
        except KeyError:
            raise ValueError(f"the election is preferred or unclean, not {kind!r}") from None
        asked = None
        if topic is not None:
            known = self.cluster.metadata()
            asked = sorted(tp for tp in known if tp.topic == topic) if partition is None \
                else [TopicPartition(topic, int(partition))]
            if not asked:
                raise ValueError(f"no topic {topic!r}")
        answers = self.cluster.elect_leaders(election, asked)
        name = election.name
        elected, needless, failed = [], [], []
        for tp, error in answers.items():
            if error is None:
                elected.append(tp)
            elif isinstance(error, ElectionNotNeededError):
                needless.append(tp)
            else:
                failed.append(error)
        lines = []
        if elected:
            lines.append(f"Successfully completed leader election ({name}) for partitions "
                         f"{_partitions(elected)}")
        if needless:
            lines.append(f"Valid replica already elected for partitions {_partitions(needless)}")
        lines += [f"Error completing leader election ({name}) for partition: {error.args[0]}"
                  for error in failed]
        return "\n".join(lines) or f"No partition needed a leader election ({name})"

    def _do_reassign(self, topic: str, partition: str, target: str) -> str:
        tp = TopicPartition(topic, int(partition))
        if target.lower() == "cancel":
            replicas = None
        else:
            try:
                replicas = [int(b) for b in target.split(",")]
            except ValueError:
                raise ValueError(f"BROKERS are broker ids separated by commas (like 2,0,1), or "
                                 f"cancel; not {target!r}") from None
        error = self.cluster.alter_partition_reassignments({tp: replicas})[tp]
        name = f"{tp.topic}-{tp.partition}"
        if error is not None:
            return f"Error reassigning partition(s):\n{name}: {error.args[0]}"
        if replicas is None:
            return f"Successfully cancelled partition reassignment for {name}"
        st = self.cluster.metadata()[tp]
        state = (f"in progress: adding {list(st.adding)}, removing {list(st.removing)}"
                 if st.adding or st.removing else f"completed: replicas {list(st.replicas)}")
        return f"Successfully started partition reassignment for {name} ({state})"

    def _do_producers(self, topic: str, partition: str, broker: str | None = None) -> str:
        tp = TopicPartition(topic, int(partition))
        asked = None if broker is None else self._broker(broker)
        try:
            target = self.cluster.leader(tp.topic, tp.partition) if asked is None else asked
            if target is None:
                raise LeaderNotAvailableError("the partition has no leader")
            found = self.cluster.describe_producers(target, tp.topic, tp.partition)
        except KafkaError as exc:
            on = "leader" if asked is None else f"broker {asked}"
            return (f"Failed to describe producers for partition {tp.topic}-{tp.partition} "
                    f"on {on}: {error_detail(exc)}")
        return _table(PRODUCER_HEADERS, [
            [str(p.producer_id), str(p.producer_epoch), str(p.coordinator_epoch),
             str(p.last_sequence), str(p.last_timestamp),
             "None" if p.current_transaction_start_offset < 0
             else str(p.current_transaction_start_offset)] for p in found])

    def _do_hanging(self, minutes: str = "15", topic: str | None = None,
                    partition: str | None = None) -> str:
        horizon = int(minutes)
        if horizon < 0:
            raise ValueError(f"MINUTES must be >= 0, got {horizon}")
        known = self.cluster.metadata()
        if topic is not None and not any(tp.topic == topic for tp in known):
            raise ValueError(f"no topic {topic!r}")
        search: dict[str, Any] = {"topics": None if topic is None else [topic]}
        if partition is not None:
            tp = TopicPartition(topic, int(partition))
            if tp not in known:
                raise ValueError(f"topic {topic!r} has no partition {tp.partition}")
            search = {"partitions": [tp]}
        with KafkaAdminClient(broker=self.cluster) as admin:
            found = admin.find_hanging_transactions(
                max_transaction_timeout_ms=horizon * 60_000, **search)
        return _table(HANGING_HEADERS, [
            [h["topic_partition"].topic, str(h["topic_partition"].partition),
             str(h["producer_id"]), str(h["producer_epoch"]), str(h["coordinator_epoch"]),
             str(h["start_offset"]), str(h["last_timestamp"]), str(h["age_ms"] // 60_000)]
            for h in found])

    def _do_abort(self, topic: str, partition: str, start_offset: str) -> str:
        tp, offset = TopicPartition(topic, int(partition)), int(start_offset)
        name, known = f"{tp.topic}-{tp.partition}", self.cluster.metadata()
        if tp not in known:
            raise ValueError(f"topic {topic!r} has no partition {tp.partition}"
                             if any(k.topic == topic for k in known) else f"no topic {topic!r}")
        if offset < 0:
            raise ValueError(f"START_OFFSET must be >= 0, got {offset}")
        with KafkaAdminClient(broker=self.cluster) as admin:
            try:
                producers = admin.describe_producers([tp])[tp].active_producers
            except KafkaError as exc:
                return (f"Failed to validate producer state for partition {name}: "
                        f"{error_detail(exc)}")
            found = [p for p in producers if p.current_transaction_start_offset == offset]
            if not found:
                return (f"Could not find any open transactions starting at offset {offset} on "
                        f"partition {name}")
            pid, epoch = found[0].producer_id, found[0].producer_epoch
            # A coordinator epoch of -1: no coordinator wrote a marker there yet; 0 is at most
            # any coordinator's epoch (kafka-transactions.sh sends 0 then).
            try:
                admin.abort_transaction(AbortTransactionSpec(
                    tp, pid, epoch, max(0, found[0].coordinator_epoch)))
            except KafkaError as exc:
                return (f"Failed to abort the transaction of producer {pid} (epoch {epoch}) in "
                        f"{name}: {error_detail(exc)}")
        return (f"Aborted the transaction of producer {pid} (epoch {epoch}) that started at "
                f"offset {offset} of {name}")

    def _do_transactions(self, transactional_id: str | None = None) -> str:
        # Asking creates no transaction log: a cluster without one has no transactional id.
        log = self.cluster.transaction_log(create=False)
        if transactional_id is None:
            return _table(LIST_HEADERS, [
                [t.transactional_id, str(log.coordinator(t.transactional_id)),
                 str(t.producer_id), t.state] for t in ([] if log is None else log.listing())])
        found = None if log is None else log.describe(transactional_id)
        if found is None or found.error is not None:
            return (f"Failed to describe transaction of {transactional_id}: no such "
                    "transactional id")
        start = "None" if found.start_time_ms < 0 else str(found.start_time_ms)
        duration = "None" if found.start_time_ms < 0 \
            else str(self.cluster.wall_clock_ms() - found.start_time_ms)
        return _table(DESCRIBE_HEADERS, [[
            str(log.coordinator(transactional_id)), transactional_id, str(found.producer_id),
            str(found.producer_epoch), found.state, str(found.timeout_ms), start, duration,
            _partitions(list(found.partitions)) or "None"]])

    def _do_logdirs(self, broker: str | None = None) -> str:
        brokers = sorted(self.cluster.live_brokers()) if broker is None \
            else [self._broker(broker)]
        described = [{"broker": b, "logDirs": [
            {"logDir": d.path, "error": None if d.error is None else type(d.error).__name__,
             "partitions": [{"partition": str(tp), "size": info.size,
                             "offsetLag": info.offset_lag, "isFuture": info.is_future}
                            for tp, info in d.replicas.items()]}
            for d in self.cluster.describe_log_dirs(b)]} for b in brokers]
        return "\n".join([
            "Querying brokers for log directories information",
            f"Received log directory information from brokers {','.join(map(str, brokers))}",
            json.dumps({"version": 1, "brokers": described}, separators=(",", ":"))])

    def _do_kill(self, broker: str) -> str:
        self.cluster.kill(self._broker(broker))
        return f"killed broker {broker}"

    def _do_stop(self, broker: str) -> str:
        self.cluster.stop(self._broker(broker))
        return f"stopped broker {broker} (controlled shutdown)"

    def _do_restart(self, broker: str) -> str:
        self.cluster.restart(self._broker(broker))
        return f"restarted broker {broker}"

    def _do_isolate(self, broker: str) -> str:
        self.cluster.isolate(self._broker(broker))
        return f"isolated broker {broker}"

    def _do_heal(self, broker: str | None = None) -> str:
        self.cluster.heal(None if broker is None else self._broker(broker))
        return "healed"

    def _do_slow(self, broker: str, seconds: str) -> str:
        every = float(seconds)
        if not math.isfinite(every) or every < 0:
            raise ValueError(f"SECONDS must be a finite number >= 0, got {seconds}")
        self.cluster.slow(self._broker(broker), every)
        return f"broker {broker} fetches every {every} s"


def _check_partition_count(count: int) -> None:
    """``ValueError`` for more partitions than :data:`MAX_PARTITIONS` (fewer than 1 is the
    cluster's own ``InvalidPartitionsError``, in Kafka's words)."""
    if count > MAX_PARTITIONS:
        raise ValueError(f"PARTITIONS must be at most {MAX_PARTITIONS} here, got {count}: "
                         f"every replica lives in this process, and a bigger topic takes "
                         f"minutes to create and to stop")


def _replica_assignment(text: str) -> list[list[int]]:
    """Kafka's ``--replica-assignment`` form: partitions separated by commas, each partition's
    brokers (preferred leader first) by colons, like ``1:2,2:0``."""
    try:
        return [[int(b) for b in partition.split(":")] for partition in text.split(",")]
    except ValueError:
        raise ValueError(f"the replica assignment lists broker ids, colons between a "
                         f"partition's and commas between partitions (like 1:2,2:0); not "
                         f"{text!r}") from None


#: The columns of Kafka's ``kafka-transactions.sh describe-producers``.
PRODUCER_HEADERS = ("ProducerId", "ProducerEpoch", "LatestCoordinatorEpoch", "LastSequence",
                    "LastTimestamp", "CurrentTransactionStartOffset")


#: The columns of Kafka's ``kafka-transactions.sh find-hanging``.
HANGING_HEADERS = ("Topic", "Partition", "ProducerId", "ProducerEpoch", "CoordinatorEpoch",
                   "StartOffset", "LastTimestamp", "Duration(min)")


#: The columns of Kafka's ``kafka-transactions.sh list`` and ``describe``.
LIST_HEADERS = ("TransactionalId", "Coordinator", "ProducerId", "TransactionState")
DESCRIBE_HEADERS = ("CoordinatorId", "TransactionalId", "ProducerId", "ProducerEpoch",
                    "TransactionState", "TransactionTimeoutMs", "CurrentTransactionStartTimeMs",
                    "TransactionDurationMs", "TopicPartitions")


def _table(headers: tuple[str, ...], rows: list[list[str]]) -> str:
    """Columns padded to their widest value and separated by tabs, as Kafka's tools print."""
    widths = [max(len(row[i]) for row in [list(headers), *rows]) for i in range(len(headers))]
    return "\n".join("\t".join(value.ljust(width) for value, width in zip(row, widths)).rstrip()
                     for row in [list(headers), *rows])


def _partitions(tps: list[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}-{tp.partition}" for tp in tps)
