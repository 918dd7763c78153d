"""``pcmodel cluster``: a replicated cluster in a terminal, for Kafka clients, with faults typed in.

It starts a :class:`~pcmodel.cluster.Cluster` (threads; with ``--processes`` one OS process per
broker, so that ``kill`` is a real SIGKILL), gives every broker its own Kafka
listener (broker ``b`` on ``PORT + b``, or on free ports with ``--kafka 0``), prints the
``bootstrap_servers`` to give kafka-python, confluent-kafka or ``kcat -b``, and then reads
commands on its standard input, one per line, so that a student can kill the leader while a
producer runs in another terminal and watch the clients follow::

    $ pcmodel cluster --kafka 9092
    broker 0: 127.0.0.1:9092
    ...
    > create orders 3 3 2
    > status
    > kill 1
    > restart 1
    > config orders min.insync.replicas=3
    > elect preferred
    > reassign orders 0 2,0,1

Commands: ``create NAME [PARTITIONS [REPLICATION_FACTOR [MIN_ISR]]]`` (or ``create NAME
--replica-assignment 1:2,2:0 [MIN_ISR]``, replicas placed by hand as with Kafka's
``kafka-topics.sh``), ``status``,
``config NAME [KEY=VALUE ...] [-KEY ...]`` (show a topic's configs set, set some, or put some
back to their defaults, as Kafka's ``kafka-configs.sh`` does), ``elect preferred|unclean [TOPIC
[PARTITION]]`` (leader elections, answered in the words of Kafka's
``kafka-leader-election.sh``), ``reassign TOPIC PARTITION BROKERS|cancel`` (move a
partition's replicas, e.g. ``reassign orders 0 1,2,3``, in the words of Kafka's
``kafka-reassign-partitions.sh``; ``status`` shows the moves in progress), ``producers TOPIC
PARTITION [B]`` (the idempotent producers a replica remembers, in the columns of Kafka's
``kafka-transactions.sh describe-producers``), ``logdirs [B]`` (each broker's log directory
and its replicas' sizes, in the JSON of Kafka's ``kafka-log-dirs.sh --describe``), ``kill B``,
``stop B`` (a controlled shutdown, as ``kafka-server-stop.sh``), ``restart B``, ``isolate B``,
``heal [B]``,
``slow B SECONDS``, ``help``. A wrong
command is answered with one line saying what is expected; the cluster goes on. It serves until
Ctrl-C or SIGTERM (an end of input, as with ``< /dev/null``, only stops the commands).

Prior art: ``pcmodel broker`` (serve in the foreground, print where, stop on Ctrl-C) and
Kafka's ``kafka-topics.sh`` / ``kafka-server-stop.sh`` for the words.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import socket
import sys
from typing import Any, TextIO

from pcmodel.cluster.errors import LeaderNotAvailableError
from pcmodel.errors import UsageError
from pcmodel.stop_signals import stop_arrived, stop_signals
from pcmodel.topics.config_resources import AlterConfigOp
from pcmodel.topics.errors import ElectionNotNeededError, KafkaError
from pcmodel.topics.group_offsets import DEFAULT_OFFSETS_RETENTION_MINUTES
from pcmodel.topics.idempotence import DEFAULT_PRODUCER_ID_EXPIRATION_MS
from pcmodel.topics.structs import ElectionType, TopicPartition

__all__ = ["ClusterShell", "make_cluster", "register", "run_cluster"]

HELP = """commands:
  create NAME [PARTITIONS [REPLICATION_FACTOR [MIN_ISR]]]   a replicated topic (1 3 1 by default)
  create NAME --replica-assignment 1:2,2:0 [MIN_ISR]
                         one with its replicas placed by hand (partition 0 on brokers 1 and 2,
                         1 leading; partition 1 on 2 and 0), as kafka-topics.sh places them
  status                 live brokers; each partition's leader, epoch, replicas and ISR
  config NAME [KEY=VALUE ...] [-KEY ...]
                         a topic's configs set; set KEY, or put -KEY back to its default
  elect preferred|unclean [TOPIC [PARTITION]]
                         give partitions back to their preferred replica / bring offline ones
                         back outside the ISR (every partition, or TOPIC's, or one)
  reassign TOPIC PARTITION BROKERS|cancel
                         move a partition's replicas to BROKERS (like 2,0,1: the first leads)
                         / cancel the move in progress
  producers TOPIC PARTITION [B]
                         the idempotent producers the partition's leader (or broker B's
                         replica) remembers: id, epoch, last sequence number, last timestamp
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
    "config": "config NAME [KEY=VALUE ...] [-KEY ...]",
    "elect": "elect preferred|unclean [TOPIC [PARTITION]]",
    "reassign": "reassign TOPIC PARTITION BROKERS|cancel",
    "producers": "producers TOPIC PARTITION [B]",
    "logdirs": "logdirs [B]",
    "kill": "kill B", "stop": "stop B", "restart": "restart B", "isolate": "isolate B",
    "heal": "heal [B]", "slow": "slow B SECONDS", "help": "help",
}


def register(subparsers: Any) -> None:
    """Add the ``cluster`` subcommand."""
    parser = subparsers.add_parser(
        "cluster",
        help="run a replicated cluster with a Kafka listener per broker; type faults in",
        description="Serve a replicated pcmodel Cluster to Kafka clients (one listener per "
        "broker) until Ctrl-C; read commands (create, status, config, elect, reassign, kill, "
        "stop, restart, isolate, heal, slow) on standard input.",
    )
    parser.add_argument("--brokers", type=int, default=3, help="number of brokers (default 3)")
    parser.add_argument(
        "--processes", action="store_true",
        help="run each broker in its own OS process (kill is then a real SIGKILL)",
    )
    parser.add_argument(
        "--kafka", metavar="[HOST:]PORT", default="127.0.0.1:0",
        help="broker B listens on PORT+B (default: free ports on 127.0.0.1)",
    )
    parser.add_argument(
        "--broker-session-timeout-ms", type=int, default=1500, metavar="MS",
        help="how long the controller waits before it fences a silent broker (default 1500)",
    )
    parser.add_argument(
        "--group-initial-rebalance-delay-ms", type=int, default=300, metavar="MS",
        help="Kafka's group.initial.rebalance.delay.ms (default 300, what Kafka clients want)",
    )
    parser.add_argument(
        "--offsets-retention-minutes", type=int, default=DEFAULT_OFFSETS_RETENTION_MINUTES,
        metavar="MIN",
        help="Kafka's offsets.retention.minutes: a group's committed offsets expire this long "
        "after it became empty (default 10080, a week)",
    )
    parser.add_argument(
        "--producer-id-expiration-ms", type=int, default=DEFAULT_PRODUCER_ID_EXPIRATION_MS,
        metavar="MS",
        help="Kafka's producer.id.expiration.ms: a partition forgets an idempotent producer "
        "that wrote nothing to it this long (default 86400000, a day)",
    )
    parser.add_argument(
        "--leader-imbalance-check-interval-seconds", type=int, default=300, metavar="S",
        help="Kafka's leader.imbalance.check.interval.seconds: how long after a partition lost "
        "its preferred leader the controller gives it back (default 300)",
    )
    parser.add_argument(
        "--no-auto-leader-rebalance", dest="auto_leader_rebalance", action="store_false",
        help="Kafka's auto.leader.rebalance.enable=false: leaders move back only when asked "
        "(the elect command)",
    )
    parser.set_defaults(func=run_cluster)


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
            self.cluster.create_topic(name, len(placed), min_insync_replicas=int(min_isr),
                                      replica_assignment=placed)
        else:
            self.cluster.create_topic(
                name, int(partitions), min_insync_replicas=int(min_isr),
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
            self.cluster.alter_topic_configs(name, operations)
        modified = [f"{e.name}={e.value}" for e in self.cluster.describe_topic_configs(name)
                    if e.source.is_modified]
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
                    f"on {on}: {exc.args[0] if exc.args else type(exc).__name__}")
        return _table(PRODUCER_HEADERS, [
            [str(p.producer_id), str(p.producer_epoch), str(p.coordinator_epoch),
             str(p.last_sequence), str(p.last_timestamp), "None"] for p in found])

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
        self.cluster.slow(self._broker(broker), float(seconds))
        return f"broker {broker} fetches every {float(seconds)} s"


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


def _table(headers: tuple[str, ...], rows: list[list[str]]) -> str:
    """Columns padded to their widest value and separated by tabs, as Kafka's tools print."""
    widths = [max(len(row[i]) for row in [list(headers), *rows]) for i in range(len(headers))]
    return "\n".join("\t".join(value.ljust(width) for value, width in zip(row, widths)).rstrip()
                     for row in [list(headers), *rows])


def _partitions(tps: list[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}-{tp.partition}" for tp in tps)


def _ports(text: str, brokers: int) -> tuple[str, list[int]]:
    from pcmodel.topics.cli import parse_kafka_address

    try:
        host, port = parse_kafka_address(text)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if port and port + brokers - 1 > 65535:
        raise UsageError(f"--kafka port {port} leaves no room for {brokers} brokers")
    return host, [0 if port == 0 else port + b for b in range(brokers)]


def make_cluster(args: argparse.Namespace, mode: str | None = None) -> Any:
    """The :class:`~pcmodel.cluster.Cluster` the options ask for (``mode``: threads, or
    processes with ``--processes``, unless given)."""
    from pcmodel.cluster.cluster import Cluster

    return Cluster(args.brokers, mode=mode or ("processes" if args.processes else "threads"),
                   broker_session_timeout_ms=args.broker_session_timeout_ms,
                   group_initial_rebalance_delay_ms=args.group_initial_rebalance_delay_ms,
                   offsets_retention_minutes=args.offsets_retention_minutes,
                   producer_id_expiration_ms=args.producer_id_expiration_ms,
                   auto_leader_rebalance_enable=args.auto_leader_rebalance,
                   leader_imbalance_check_interval_seconds=(
                       args.leader_imbalance_check_interval_seconds))


def run_cluster(args: argparse.Namespace) -> int:
    """Serve a cluster until SIGINT or SIGTERM, running typed commands; return the status."""
    if not 1 <= args.brokers <= 32:
        raise UsageError(f"--brokers must be 1..32, got {args.brokers}")
    for option in ("broker_session_timeout_ms", "group_initial_rebalance_delay_ms",
                   "offsets_retention_minutes", "producer_id_expiration_ms",
                   "leader_imbalance_check_interval_seconds"):
        if getattr(args, option) < (0 if option.startswith("group") else 1):
            raise UsageError(f"--{option.replace('_', '-')} is out of range: "
                             f"{getattr(args, option)}")
    host, ports = _ports(args.kafka, args.brokers)
    cluster = make_cluster(args)
    # From here on a stop signal only makes ``wake`` readable, however early it lands (while
    # the listeners start, during the prints), and the wait sees it; during the clean-up
    # another one is ignored, so the clean-up always finishes: every listener and broker
    # process stopped, none reported as having died (see pcmodel.stop_signals).
    with stop_signals() as wake:
        try:
            try:
                listeners = cluster.serve_kafka(host, ports)
            except (OSError, ImportError) as exc:
                print(f"pcmodel cluster: error: cannot serve Kafka clients on {host}: {exc}",
                      file=sys.stderr)
                return 1
            try:
                for broker, (h, p) in sorted(listeners.addresses.items()):
                    print(f"broker {broker}: {h}:{p}")
                print(f"Kafka clients: bootstrap_servers={listeners.bootstrap_servers!r}")
                print("Type help for the commands. Stop with Ctrl-C.", flush=True)
                _serve(ClusterShell(cluster), sys.stdin, sys.stdout, wake)
            finally:
                listeners.stop()
        finally:
            cluster.close()
    print("pcmodel cluster stopped.", flush=True)
    return 0


def _serve(shell: ClusterShell, commands: TextIO, out: TextIO, wake: socket.socket) -> None:
    """Run commands from ``commands`` until SIGINT or SIGTERM (an end of input only stops
    reading). ``wake`` is the socket of the caller's :func:`~pcmodel.stop_signals.stop_signals`
    block: signals wake the wait through it (none is lost, even one that lands just before the
    wait), so no polling is needed; input is read from the descriptor (not line-buffered), so
    no typed line waits in a buffer.
    """
    pending = b""
    with selectors.DefaultSelector() as selector:
        selector.register(wake, selectors.EVENT_READ)
        try:
            fd = commands.fileno()
            selector.register(fd, selectors.EVENT_READ)
        except (ValueError, OSError):
            fd = None  # no readable input: serve until a signal
        while True:
            ready = {key.fileobj for key, _ in selector.select()}
            if wake in ready and stop_arrived(wake):
                return
            if fd is None or fd not in ready:
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                selector.unregister(fd)
                chunk = b"\n"  # the last line, even without its newline
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                answer = shell.execute(line.decode(errors="replace"))
                if answer:
                    print(answer, file=out, flush=True)
