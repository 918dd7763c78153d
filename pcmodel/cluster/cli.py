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
``kafka-transactions.sh describe-producers``), ``transactions [ID]`` (the transactional ids,
their coordinators and states, or one id's transaction, as ``kafka-transactions.sh list`` and
``describe`` print them), ``hanging [MINUTES [TOPIC [PARTITION]]]`` and ``abort TOPIC
PARTITION START_OFFSET`` (find a transaction no coordinator will end, and end it, as
``kafka-transactions.sh find-hanging`` and ``abort``), ``logdirs [B]`` (each broker's log
directory and its replicas' sizes, in the JSON of Kafka's ``kafka-log-dirs.sh --describe``),
``kill B``, ``stop B`` (a controlled shutdown, as ``kafka-server-stop.sh``), ``restart B``,
``isolate B``, ``heal [B]``, ``slow B SECONDS``, ``help``. A wrong
command is answered with one line saying what is expected; the cluster goes on. It serves until
Ctrl-C or SIGTERM (an end of input, as with ``< /dev/null``, only stops the commands). One that
comes while the cluster starts ends the start at its next step: what had started stops, and the
command says ``pcmodel cluster: interrupted`` (status 130), as every command does.

Prior art: ``pcmodel broker`` (serve in the foreground, print where, stop on Ctrl-C) and
Kafka's ``kafka-topics.sh`` / ``kafka-server-stop.sh`` for the words.
"""

from __future__ import annotations

import argparse
import os
import select
import selectors
import socket
import sys
from collections.abc import Callable
from typing import Any, TextIO

from pcmodel.cluster.shell import ClusterShell
from pcmodel.errors import UsageError
from pcmodel.stop_signals import stop_arrived, stop_signals
from pcmodel.topics.broker_checks import (
    DEFAULT_GROUP_MAX_SESSION_TIMEOUT_MS,
    DEFAULT_GROUP_MIN_SESSION_TIMEOUT_MS,
)
from pcmodel.topics.cli import (
    add_transaction_options,
    check_kafka_int,
    check_kafka_listener,
    check_kafka_long,
    check_listen_address,
    transaction_options,
)
from pcmodel.topics.group_migration import DEFAULT_MIGRATION_POLICY, MIGRATION_POLICIES
from pcmodel.topics.group_offsets import DEFAULT_OFFSETS_RETENTION_MINUTES
from pcmodel.topics.idempotence import DEFAULT_PRODUCER_ID_EXPIRATION_MS

__all__ = ["ClusterShell", "make_cluster", "register", "run_cluster"]


def register(subparsers: Any) -> None:
    """Add the ``cluster`` subcommand."""
    parser = subparsers.add_parser(
        "cluster",
        help="run a replicated cluster with a Kafka listener per broker; type faults in",
        description="Serve a replicated pcmodel Cluster to Kafka clients (one listener per "
        "broker) until Ctrl-C; read commands (create, status, config, elect, reassign, "
        "producers, transactions, hanging, abort, logdirs, kill, stop, restart, isolate, "
        "heal, slow) on standard input.",
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
        "--group-consumer-session-timeout-ms", type=int, default=45_000, metavar="MS",
        help="Kafka's group.consumer.session.timeout.ms: a consumer group member silent this "
        "long leaves its group (default 45000)",
    )
    parser.add_argument(
        "--group-consumer-heartbeat-interval-ms", type=int, default=5_000, metavar="MS",
        help="Kafka's group.consumer.heartbeat.interval.ms: how often consumer group members "
        "are told to heartbeat (default 5000)",
    )
    parser.add_argument(
        "--group-consumer-max-size", type=int, default=None, metavar="N",
        help="Kafka's group.consumer.max.size: the most members a consumer group may have "
        "(default: no bound)",
    )
    parser.add_argument(
        "--group-consumer-migration-policy", default=DEFAULT_MIGRATION_POLICY,
        metavar="POLICY",
        help="Kafka's group.consumer.migration.policy: which ways a group may move between "
        f"the classic and the consumer protocols ({', '.join(MIGRATION_POLICIES)}; default "
        f"{DEFAULT_MIGRATION_POLICY})",
    )
    parser.add_argument(
        "--group-max-size", type=int, default=None, metavar="N",
        help="Kafka's group.max.size: the most members a classic group may have, also when "
        "a group moves back to the classic protocol (default: no bound)",
    )
    parser.add_argument(
        "--group-min-session-timeout-ms", type=int, default=DEFAULT_GROUP_MIN_SESSION_TIMEOUT_MS,
        metavar="MS",
        help="Kafka's group.min.session.timeout.ms: the shortest session timeout a classic "
        f"group member may ask for (default {DEFAULT_GROUP_MIN_SESSION_TIMEOUT_MS}; Kafka's is "
        "6000)",
    )
    parser.add_argument(
        "--group-max-session-timeout-ms", type=int, default=DEFAULT_GROUP_MAX_SESSION_TIMEOUT_MS,
        metavar="MS",
        help="Kafka's group.max.session.timeout.ms: the longest session timeout a classic "
        f"group member may ask for (default {DEFAULT_GROUP_MAX_SESSION_TIMEOUT_MS})",
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
    add_transaction_options(parser)
    parser.set_defaults(func=run_cluster)


def _ports(text: str, brokers: int) -> tuple[str, list[int]]:
    from pcmodel.topics.cli import parse_kafka_address

    try:
        host, port = parse_kafka_address(text)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if port and port + brokers - 1 > 65535:
        raise UsageError(f"--kafka port {port} leaves no room for {brokers} brokers")
    return host, [0 if port == 0 else port + b for b in range(brokers)]


def make_cluster(args: argparse.Namespace, mode: str | None = None,
                 start_cancelled: Callable[[], bool] | None = None) -> Any:
    """The :class:`~pcmodel.cluster.Cluster` the options ask for (``mode``: threads, or
    processes with ``--processes``, unless given), started; ``start_cancelled`` as the
    class takes it (``KeyboardInterrupt``, nothing left running, once it says True)."""
    from pcmodel.cluster.cluster import Cluster

    max_timeout_ms, abort_interval_ms = transaction_options(args)
    return Cluster(args.brokers, mode=mode or ("processes" if args.processes else "threads"),
                   start_cancelled=start_cancelled,
                   broker_session_timeout_ms=args.broker_session_timeout_ms,
                   group_initial_rebalance_delay_ms=args.group_initial_rebalance_delay_ms,
                   group_consumer_session_timeout_ms=args.group_consumer_session_timeout_ms,
                   group_consumer_heartbeat_interval_ms=(
                       args.group_consumer_heartbeat_interval_ms),
                   group_consumer_max_size=args.group_consumer_max_size,
                   group_consumer_migration_policy=args.group_consumer_migration_policy,
                   group_classic_max_size=args.group_max_size,
                   group_min_session_timeout_ms=args.group_min_session_timeout_ms,
                   group_max_session_timeout_ms=args.group_max_session_timeout_ms,
                   offsets_retention_minutes=args.offsets_retention_minutes,
                   producer_id_expiration_ms=args.producer_id_expiration_ms,
                   auto_leader_rebalance_enable=args.auto_leader_rebalance,
                   leader_imbalance_check_interval_seconds=(
                       args.leader_imbalance_check_interval_seconds),
                   transaction_settings={"max_timeout_ms": max_timeout_ms,
                                         "timed_out_check_interval_ms": abort_interval_ms})


def run_cluster(args: argparse.Namespace) -> int:
    """Serve a cluster until SIGINT or SIGTERM, running typed commands; return the status."""
    if not 1 <= args.brokers <= 32:
        raise UsageError(f"--brokers must be 1..32, got {args.brokers}")
    # Kafka's types: a Java int each, but leader.imbalance.check.interval.seconds is a long.
    check_kafka_int("--broker-session-timeout-ms", args.broker_session_timeout_ms, 1)
    check_kafka_int("--group-initial-rebalance-delay-ms",
                    args.group_initial_rebalance_delay_ms, 0)
    check_kafka_int("--group-consumer-session-timeout-ms",
                    args.group_consumer_session_timeout_ms, 1)
    check_kafka_int("--group-consumer-heartbeat-interval-ms",
                    args.group_consumer_heartbeat_interval_ms, 1)
    # Kafka's broker refuses to start otherwise (GroupCoordinatorConfig): a member told to
    # heartbeat less often than its session lasts would leave its group between two beats.
    if args.group_consumer_heartbeat_interval_ms >= args.group_consumer_session_timeout_ms:
        raise UsageError(f"--group-consumer-heartbeat-interval-ms must be less than "
                         f"--group-consumer-session-timeout-ms, got "
                         f"{args.group_consumer_heartbeat_interval_ms} and "
                         f"{args.group_consumer_session_timeout_ms}")
    check_kafka_int("--group-min-session-timeout-ms", args.group_min_session_timeout_ms, 1)
    check_kafka_int("--group-max-session-timeout-ms", args.group_max_session_timeout_ms, 1)
    if args.group_max_session_timeout_ms < args.group_min_session_timeout_ms:
        raise UsageError(f"--group-max-session-timeout-ms must be >= "
                         f"--group-min-session-timeout-ms, got "
                         f"{args.group_max_session_timeout_ms} and "
                         f"{args.group_min_session_timeout_ms}")
    for option, size in (("--group-consumer-max-size", args.group_consumer_max_size),
                         ("--group-max-size", args.group_max_size)):
        if size is not None:  # unset: no bound
            check_kafka_int(option, size, 1)
    if args.group_consumer_migration_policy.lower() not in MIGRATION_POLICIES:
        raise UsageError(f"--group-consumer-migration-policy must be one of "
                         f"{', '.join(MIGRATION_POLICIES)}, not "
                         f"{args.group_consumer_migration_policy!r}")
    check_kafka_int("--offsets-retention-minutes", args.offsets_retention_minutes, 1)
    check_kafka_int("--producer-id-expiration-ms", args.producer_id_expiration_ms, 1)
    check_kafka_long("--leader-imbalance-check-interval-seconds",
                     args.leader_imbalance_check_interval_seconds, 1)
    transaction_options(args)  # checked again by make_cluster; here before anything loads
    host, ports = _ports(args.kafka, args.brokers)
    check_kafka_listener()
    for port in sorted(set(ports)):
        check_listen_address(host, port, "--kafka")
    # The listeners' modules load before anything starts (a Ctrl-C meanwhile has nothing to
    # stop): the start that follows is short, and checks for a stop between its steps.
    import pcmodel.wire.cluster_listeners  # noqa: F401
    from pcmodel.wire.handlers import load_handlers

    load_handlers()
    # From here on a stop signal only makes ``wake`` readable, however early it lands (while
    # the brokers and listeners start, during the prints), and the wait sees it; during the
    # clean-up another one is ignored, so the clean-up always finishes: every listener and
    # broker process stopped, none reported as having died (see pcmodel.stop_signals). A stop
    # during the start cancels it at its next step or tick (``start_cancelled``): what had
    # started is stopped, and the command ends as interrupted, its usual one line.
    with stop_signals() as wake:
        stopping = _StopCheck(wake)
        cluster = make_cluster(args, start_cancelled=stopping)
        try:
            try:
                stopping.raise_if_stopped()
                listeners = cluster.serve_kafka(host, ports)
            except (OSError, ImportError) as exc:
                print(f"pcmodel cluster: error: cannot serve Kafka clients on {host}: {exc}",
                      file=sys.stderr)
                return 1
            try:
                stopping.raise_if_stopped()
                for broker, (h, p) in sorted(listeners.addresses.items()):
                    print(f"broker {broker}: {h}:{p}")
                print(f"Kafka clients: bootstrap_servers={listeners.bootstrap_servers!r}")
                print("Type help for the commands. Stop with Ctrl-C.", flush=True)
                _serve(ClusterShell(cluster), sys.stdin, sys.stdout, wake)
            finally:
                listeners.stop()
        finally:
            cluster.close()
        print("pcmodel cluster stopped.", flush=True)  # a second Ctrl-C here changes nothing
    return 0


class _StopCheck:
    """Whether a stop signal arrived in the :func:`~pcmodel.stop_signals.stop_signals` block
    of ``wake``, asked without waiting (the start's ``start_cancelled``). Reads ``wake`` only
    while no stop was seen, so the serving wait still finds a stop that comes later."""

    def __init__(self, wake: socket.socket) -> None:
        self._wake = wake
        self._stopped = False

    def __call__(self) -> bool:
        while not self._stopped and select.select([self._wake], [], [], 0)[0]:
            self._stopped = stop_arrived(self._wake)
        return self._stopped

    def raise_if_stopped(self) -> None:
        """``KeyboardInterrupt`` if a stop arrived: the start ends as interrupted."""
        if self():
            raise KeyboardInterrupt("stopped while the cluster started")


#: The longest command line read (bytes): a longer one (a binary file piped in, say) is answered
#: with one error line and skipped to its end, rather than held in memory while it grows.
MAX_COMMAND_BYTES = 64 * 1024


def _serve(shell: ClusterShell, commands: TextIO, out: TextIO, wake: socket.socket) -> None:
    """Run commands from ``commands`` until SIGINT or SIGTERM (an end of input only stops
    reading). ``wake`` is the socket of the caller's :func:`~pcmodel.stop_signals.stop_signals`
    block: signals wake the wait through it (none is lost, even one that lands just before the
    wait), so no polling is needed; input is read from the descriptor (not line-buffered), so
    no typed line waits in a buffer.
    """
    pending = b""
    skipping = False  # inside a line longer than MAX_COMMAND_BYTES, until its newline
    with selectors.DefaultSelector() as selector:
        selector.register(wake, selectors.EVENT_READ)
        # A regular file (``pcmodel cluster < faults.txt``) is always ready to read, and
        # epoll refuses to watch one: it is read without waiting, a signal still looked for
        # between two reads.
        always_ready = False
        try:
            fd: int | None = commands.fileno()
            selector.register(fd, selectors.EVENT_READ)
        except PermissionError:
            always_ready = True
        except (ValueError, OSError):
            fd = None  # no readable input: serve until a signal
        while True:
            ready = {key.fileobj for key, _ in selector.select(0 if always_ready else None)}
            if wake in ready and stop_arrived(wake):
                return
            if fd is None or not (always_ready or fd in ready):
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                if always_ready:
                    always_ready, fd = False, None
                else:
                    selector.unregister(fd)
                chunk = b"\n"  # the last line, even without its newline
            *lines, pending = (pending + chunk).split(b"\n")
            if skipping:
                if not lines:
                    pending = b""
                    continue
                lines, skipping = lines[1:], False  # the too-long line's end, then new ones
            for line in lines:
                answer = shell.execute(line.decode(errors="replace"))
                if answer:
                    print(answer, file=out, flush=True)
            if len(pending) > MAX_COMMAND_BYTES:
                pending, skipping = b"", True
                print(f"error: a command is at most {MAX_COMMAND_BYTES} bytes; this line is "
                      "skipped", file=out, flush=True)
