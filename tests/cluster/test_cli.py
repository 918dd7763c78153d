"""``pcmodel cluster``: the command interpreter, and the command in a terminal."""

from __future__ import annotations

import _thread
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from itertools import count
from pathlib import Path

import pytest

from pcmodel.cluster import Cluster
from pcmodel.cluster.cli import ClusterShell, _serve, make_cluster, register
from pcmodel.cluster.transaction_log import TRANSACTION_TOPIC
from pcmodel.stop_signals import stop_signals
from pcmodel.topics.log_records import NewRecord, wall_clock_ms
from pcmodel.topics.structs import ElectionType, TopicPartition
from tests import process_identity
from tests.conftest import wait_until

ONLY_THE_CLUSTER_COMMAND = """
import argparse, sys
from pcmodel.cluster import cli
parser = argparse.ArgumentParser(prog="pcmodel")
cli.register(parser.add_subparsers())
args = parser.parse_args(sys.argv[1:])
sys.exit(args.func(args))
"""


def test_the_shell_creates_reports_and_injects_faults(make_cluster):
    cluster = make_cluster()
    shell = ClusterShell(cluster)
    assert shell.execute("create orders 2 3 2") == "created orders"
    status = shell.execute("status").splitlines()
    assert status[0] == "live brokers: [0, 1, 2]"
    assert "orders-1: leader 1 epoch 0 replicas [1, 2, 0] isr [1, 2, 0]" in status
    assert shell.execute("kill 2") == "killed broker 2" and not cluster.nodes[2].alive
    assert shell.execute("restart 2") == "restarted broker 2" and cluster.nodes[2].alive
    assert shell.execute("isolate 1") == "isolated broker 1"
    assert shell.execute("heal") == "healed"
    assert shell.execute("slow 0 0.5").startswith("broker 0 fetches every 0.5 s")
    assert shell.execute("   ") == ""
    assert "kill B" in shell.execute("help")


def test_the_shell_shows_and_changes_a_topics_configs(make_cluster):
    cluster = make_cluster()
    shell = ClusterShell(cluster)
    shell.execute("create orders 1 3 2")
    assert shell.execute("config orders") == "orders: min.insync.replicas=2"
    assert shell.execute("config orders min.insync.replicas=3 retention.ms=60000") == \
        "orders: min.insync.replicas=3 retention.ms=60000"
    assert cluster.controller.topics["orders"].min_insync_replicas == 3
    assert shell.execute("config orders -min.insync.replicas -retention.ms") == \
        "orders: no configs set (all at their defaults)"
    assert cluster.controller.topics["orders"].min_insync_replicas == 1


def test_the_shell_shows_and_changes_a_groups_configs(make_cluster):
    cluster = make_cluster()
    shell = ClusterShell(cluster)
    assert shell.execute("config --group g") == "g: no configs set (all at their defaults)"
    assert shell.execute("config --group g consumer.session.timeout.ms=50000 "
                         "consumer.heartbeat.interval.ms=6000") == \
        "g: consumer.heartbeat.interval.ms=6000 consumer.session.timeout.ms=50000"
    assert {e.name: e.value for e in cluster.describe_group_configs("g")
            if e.source.is_modified} == {"consumer.heartbeat.interval.ms": "6000",
                                         "consumer.session.timeout.ms": "50000"}
    assert shell.execute("config --group g -consumer.heartbeat.interval.ms") == \
        "g: consumer.session.timeout.ms=50000"


def test_the_shell_elects_leaders_in_the_words_of_kafkas_tool(make_cluster):
    cluster = make_cluster()
    shell = ClusterShell(cluster)
    shell.execute("create orders 3 3 2")
    cluster.settle()
    assert shell.execute("elect preferred") == "No partition needed a leader election (PREFERRED)"
    shell.execute("kill 0")
    cluster.run_for(3)
    shell.execute("restart 0")
    cluster.settle()
    assert shell.execute("elect preferred orders").splitlines() == [
        "Successfully completed leader election (PREFERRED) for partitions orders-0",
        "Valid replica already elected for partitions orders-1, orders-2",
    ]
    assert cluster.leader("orders", 0) == 0
    shell.execute("kill 1")
    cluster.run_for(3)
    assert shell.execute("elect PREFERRED orders 1") == (
        "Error completing leader election (PREFERRED) for partition: orders-1: its preferred "
        "replica, broker 1, is down; broker 2 stays the leader")
    assert shell.execute("elect unclean orders 1") == (
        "Valid replica already elected for partitions orders-1")


def test_the_shell_moves_replicas_in_the_words_of_kafkas_tool(make_cluster):
    cluster = make_cluster(4)
    shell = ClusterShell(cluster)
    shell.execute("create orders 1 2")
    cluster.settle()
    shell.execute("kill 3")
    cluster.run_for(3)
    assert shell.execute("reassign orders 0 2,3") == (
        "Successfully started partition reassignment for orders-0 (in progress: adding [2, 3], "
        "removing [0, 1])")
    assert shell.execute("status").splitlines()[1] == (
        "orders-0: leader 0 epoch 0 replicas [2, 3, 0, 1] isr [0, 1] adding [2, 3] "
        "removing [0, 1]")
    assert shell.execute("reassign orders 0 CANCEL") == (
        "Successfully cancelled partition reassignment for orders-0")
    assert shell.execute("reassign orders 0 cancel") == (
        "Error reassigning partition(s):\norders-0: No partition reassignment is in progress.")
    assert shell.execute("reassign orders 0 1,0") == (
        "Successfully started partition reassignment for orders-0 (completed: replicas [1, 0])")
    assert shell.execute("reassign orders 0 1,7").endswith(
        "The manual partition assignment includes broker 7, but no such broker is "
        "registered.")


def test_the_shell_shows_producers_in_the_columns_of_kafkas_tool(make_cluster):
    cluster = make_cluster(4)
    shell = ClusterShell(cluster)
    shell.execute("create orders 2 2")
    headers = ("ProducerId\tProducerEpoch\tLatestCoordinatorEpoch\tLastSequence\t"
               "LastTimestamp\tCurrentTransactionStartOffset")
    assert shell.execute("producers orders 0") == headers
    pid, epoch = cluster.init_producer_id()
    stamp = wall_clock_ms()  # recent: the producer does not expire (a day)
    cluster.produce("orders", 0, [(None, b"v", (), stamp)] * 3, acks="all",
                    producer=(pid, epoch, 0))
    cluster.settle()
    follower, outsider = cluster.metadata()[("orders", 0)].replicas[1], 3
    row = (f"{pid:<10}\t0            \t-1                    \t2           \t"
           f"{stamp}\tNone")
    assert shell.execute("producers orders 0").splitlines() == [headers, row]
    assert shell.execute(f"producers orders 0 {follower}").splitlines() == [headers, row]
    assert shell.execute(f"producers orders 0 {outsider}") == (
        f"Failed to describe producers for partition orders-0 on broker {outsider}: broker "
        f"{outsider} holds no replica of orders-0")
    assert shell.execute("producers orders 5") == (
        "Failed to describe producers for partition orders-5 on leader: no partition orders-5 "
        "in the cluster")


def test_the_shell_shows_transactions_in_the_columns_of_kafkas_tool(make_cluster):
    cluster = make_cluster()
    shell = ClusterShell(cluster)
    shell.execute("create orders 1 3")
    listed = "TransactionalId\tCoordinator\tProducerId\tTransactionState"
    assert shell.execute("transactions") == listed  # asking creates no transaction log
    assert "__transaction_state" not in cluster.controller.topics
    assert shell.execute("transactions tx") == (
        "Failed to describe transaction of tx: no such transactional id")
    conn = cluster.connect()
    pid, epoch = conn.init_producer_id(transactional_id="tx")
    conn.add_partitions_to_txn("tx", pid, epoch, [TopicPartition("orders", 0)])
    conn.append_idempotent("orders", 0, [(None, b"v")], producer_id=pid, producer_epoch=epoch,
                           first_sequence=0, transactional=True)
    coordinator = cluster.leader("__transaction_state", 0)
    assert shell.execute("transactions").splitlines()[1].split() == [
        "tx", str(coordinator), str(pid), "Ongoing"]
    described = shell.execute("transactions tx").splitlines()
    assert described[0].split() == [
        "CoordinatorId", "TransactionalId", "ProducerId", "ProducerEpoch", "TransactionState",
        "TransactionTimeoutMs", "CurrentTransactionStartTimeMs", "TransactionDurationMs",
        "TopicPartitions"]
    row = described[1].split()
    assert row[:6] == [str(coordinator), "tx", str(pid), "0", "Ongoing", "60000"]
    # The start and the duration are both on the cluster's (here virtual) clock.
    assert int(row[7]) == cluster.wall_clock_ms() - int(row[6]) >= 0 and row[8] == "orders-0"
    producers = shell.execute("producers orders 0").splitlines()[1].split()
    assert producers[-1] == "0"  # the transaction's first offset there
    conn.end_txn("tx", pid, epoch, True)
    assert shell.execute("transactions").splitlines()[1].split()[-1] == "CompleteCommit"


def test_a_transactions_duration_is_measured_on_the_clusters_clock_alone(make_cluster,
                                                                          monkeypatch):
    """Kafka's txnStartTimestamp is the coordinator's time when the transaction began, and the
    duration is now minus that on the same clock: on a stepped cluster the virtual time that
    passed, however the machine's wall clock moves meanwhile (here: a second back at each
    reading, as a clock set back would)."""
    cluster = make_cluster()
    shell = ClusterShell(cluster)
    shell.execute("create orders 1 3")
    conn = cluster.connect()
    pid, epoch = conn.init_producer_id(transactional_id="tx")
    conn.add_partitions_to_txn("tx", pid, epoch, [TopicPartition("orders", 0)])
    cluster.run_for(2)
    machine_ns, readings = time.time_ns, count(1)
    monkeypatch.setattr(time, "time_ns", lambda: machine_ns() - next(readings) * 10**9)

    def start_and_duration() -> tuple[int, int]:
        row = shell.execute("transactions tx").splitlines()[1].split()
        return int(row[6]), int(row[7])

    start, duration = start_and_duration()
    assert 2000 <= duration < 3000
    cluster.run_for(1)
    assert start_and_duration() == (start, duration + 1000)


HANGING = ("Topic\tPartition\tProducerId\tProducerEpoch\tCoordinatorEpoch\tStartOffset\t"
           "LastTimestamp\tDuration(min)")
LONG_AGO = 1_000  # a create time (epoch ms) older than any search horizon


def _lose_a_transaction(make_cluster):
    """A cluster whose transaction log lost, in an unclean election, the transaction of "tx",
    which wrote one record (created LONG_AGO) to t-0 (of t-0 and t-1). Returns (cluster,
    connection, pid)."""
    cluster = make_cluster(3, transaction_settings={"replication_factor": 2,
                                                    "min_insync_replicas": 1})
    cluster.create_topic("t", 2, replication_factor=3)
    conn = cluster.connect()
    pid, epoch = conn.init_producer_id(transactional_id="tx")
    cluster.settle()
    state = TopicPartition(TRANSACTION_TOPIC, cluster.transaction_log().partition_for("tx"))
    leader = cluster.leader(*state)
    (follower,) = set(cluster.metadata()[state].replicas) - {leader}
    cluster.kill(follower)
    cluster.run_for(3)
    conn.add_partitions_to_txn("tx", pid, epoch, [TopicPartition("t", 0)])
    conn.append_idempotent("t", 0, [NewRecord(None, b"a", (), LONG_AGO)], producer_id=pid,
                           producer_epoch=epoch, first_sequence=0, acks="all",
                           transactional=True)
    cluster.kill(leader)  # the only replica that had the transaction's records
    cluster.run_for(3)
    cluster.restart(follower)
    cluster.run_for(3)
    assert cluster.elect_leaders(ElectionType.UNCLEAN, [state]) == {state: None}
    cluster.run_for(3)
    return cluster, conn, pid


def _stable_end(conn) -> int:
    t0 = TopicPartition("t", 0)
    return conn.end_offsets([t0], isolation_level="read_committed")[t0]


def test_the_shell_finds_and_aborts_a_hanging_transaction_as_kafkas_tool(make_cluster):
    cluster, conn, pid = _lose_a_transaction(make_cluster)
    shell = ClusterShell(cluster)
    assert _stable_end(conn) == 0  # read_committed readers are stuck before the record
    hanging = shell.execute("hanging").splitlines()
    assert hanging[0].split() == HANGING.split()
    row = hanging[1].split()
    assert row[:7] == ["t", "0", str(pid), "0", "-1", "0", str(LONG_AGO)]
    # Duration(min), by the brokers' clock (a stepped cluster's moves with virtual time)
    assert 0 <= (cluster.wall_clock_ms() - LONG_AGO) // 60_000 - int(row[7]) <= 1
    assert len(hanging) == 2 and shell.execute("hanging 0 t").splitlines() == hanging
    assert shell.execute("hanging 0 t 0").splitlines() == hanging
    assert shell.execute("hanging 0 t 1") == HANGING  # t-1 holds no transaction open
    assert shell.execute(f"hanging {10**9}") == HANGING  # older than 1900 years: none
    assert shell.execute("abort t 0 1") == (
        "Could not find any open transactions starting at offset 1 on partition t-0")
    assert _stable_end(conn) == 0
    assert shell.execute("abort t 0 0") == (
        f"Aborted the transaction of producer {pid} (epoch 0) that started at offset 0 of t-0")
    assert _stable_end(conn) == 2  # past the record and its ABORT marker
    assert shell.execute("hanging") == HANGING
    assert shell.execute("abort t 0 0") == (
        "Could not find any open transactions starting at offset 0 on partition t-0")


def test_the_shell_aborts_a_live_transaction_on_a_cluster_of_threads(make_cluster):
    cluster = make_cluster(3, mode="threads")
    shell = ClusterShell(cluster)
    shell.execute("create t 1 3")
    conn = cluster.connect()
    pid, epoch = conn.init_producer_id(transactional_id="tx")
    conn.add_partitions_to_txn("tx", pid, epoch, [TopicPartition("t", 0)])
    conn.append_idempotent("t", 0, [NewRecord(None, b"a", (), LONG_AGO)], producer_id=pid,
                           producer_epoch=epoch, first_sequence=0, acks="all",
                           transactional=True)
    assert shell.execute("hanging 0") == HANGING  # its coordinator will end it: not hanging
    assert shell.execute("abort t 0 0").startswith(f"Aborted the transaction of producer {pid}")
    assert _stable_end(conn) == 2  # an administrator's abort ends a live transaction too


def test_the_shell_places_replicas_by_hand_as_kafka_topics_does(make_cluster):
    cluster = make_cluster(3)
    shell = ClusterShell(cluster)
    assert shell.execute("create orders --replica-assignment 1:2,2:0 2") == "created orders"
    assert shell.execute("status").splitlines()[1:] == [
        "orders-0: leader 1 epoch 0 replicas [1, 2] isr [1, 2]",
        "orders-1: leader 2 epoch 0 replicas [2, 0] isr [2, 0]"]
    assert shell.execute("config orders") == "orders: min.insync.replicas=2"
    assert shell.execute("create bad --replica-assignment 1:1").endswith(
        "The manual partition assignment includes the broker 1 more than once.")


def test_the_shell_shows_log_dirs_in_the_json_of_kafkas_tool(make_cluster):
    cluster = make_cluster(3)
    shell = ClusterShell(cluster)
    shell.execute("create orders 1 2")
    cluster.produce("orders", 0, [(None, b"abcd")], acks="all")
    cluster.settle()
    replicas = cluster.metadata()[("orders", 0)].replicas
    head, received, answer = shell.execute("logdirs").splitlines()
    assert (head, received) == ("Querying brokers for log directories information",
                                "Received log directory information from brokers 0,1,2")
    described = json.loads(answer)
    assert described["version"] == 1
    assert {b["broker"]: b["logDirs"] for b in described["brokers"]} == {
        b: [{"logDir": "(memory)", "error": None, "partitions": [
            {"partition": "orders-0", "size": 4, "offsetLag": 0, "isFuture": False}]
            if b in replicas else []}] for b in range(3)}
    cluster.kill(2)
    one = shell.execute(f"logdirs {replicas[0]}").splitlines()
    assert one[1] == f"Received log directory information from brokers {replicas[0]}"
    assert shell.execute("logdirs 2") == "error: KafkaConnectionError: broker 2 is down"


@pytest.mark.parametrize("line, expected", [
    ("bogus", "error: unknown command 'bogus'; type help"),
    ("kill", "error: usage: kill B"),
    ("kill 7", "error: broker must be 0..2, got 7; usage: kill B"),
    ("slow 0 fast", "usage: slow B SECONDS"),
    ("slow 0 nan", "error: SECONDS must be a finite number >= 0, got nan; usage: slow"),
    ("slow 0 inf", "error: SECONDS must be a finite number >= 0, got inf; usage: slow"),
    ("slow 0 -1", "error: SECONDS must be a finite number >= 0, got -1; usage: slow"),
    ("create fresh 2 4", "replication_factor must be between 1 and the 3 brokers"),
    ("create orders many", "usage: create NAME"),
    ("config", "error: usage: config NAME"),
    ("config nope", "unknown topic 'nope'"),
    ("config orders retention.ms", "'retention.ms' is neither KEY=VALUE nor -KEY; usage: config"),
    ("config orders retention.ms=soon", "Invalid value soon for configuration retention.ms"),
    ("config orders min.insync.replicas=0", "Value must be at least 1"),
    ("config --group", "config --group needs the group's id; usage: config NAME"),
    ("config --group g session.timeout.ms=1", "Unknown group config name: session.timeout.ms"),
    ("config --group g consumer.session.timeout.ms=1",
     "consumer.session.timeout.ms must be greater than or equal to"),
    ("config --group g consumer.session.timeout.ms", "is neither KEY=VALUE nor -KEY"),
    ("elect", "error: usage: elect preferred|unclean"),
    ("elect sometimes", "preferred or unclean, not 'sometimes'; usage: elect"),
    ("elect preferred nope", "no topic 'nope'; usage: elect"),
    ("elect preferred orders first", "usage: elect"),
    ("reassign orders 0", "error: usage: reassign TOPIC PARTITION BROKERS|cancel"),
    ("reassign orders zero 1", "usage: reassign"),
    ("reassign orders 0 1;2", "broker ids separated by commas (like 2,0,1), or cancel; not "
                              "'1;2'; usage: reassign"),
    ("producers orders", "error: usage: producers TOPIC PARTITION [B]"),
    ("producers orders first", "usage: producers"),
    ("producers orders 0 9", "broker must be 0..2, got 9; usage: producers"),
    ("logdirs 9", "broker must be 0..2, got 9; usage: logdirs [B]"),
    ("create t --replica-assignment", "error: usage: create NAME"),
    ("create t --replica-assignment 1;2", "(like 1:2,2:0); not '1;2'; usage: create NAME"),
    ("logdirs 0 1", "error: usage: logdirs [B]"),
    ("transactions a b", "error: usage: transactions [TRANSACTIONAL_ID]"),
    ("hanging soon", "usage: hanging [MINUTES [TOPIC [PARTITION]]]"),
    ("hanging -1", "MINUTES must be >= 0, got -1; usage: hanging"),
    ("hanging 0 nope", "no topic 'nope'; usage: hanging"),
    ("hanging 0 orders 0 0", "error: usage: hanging [MINUTES [TOPIC [PARTITION]]]"),
    ("hanging 0 orders 3", "topic 'orders' has no partition 3; usage: hanging"),
    ("hanging 0 orders first", "usage: hanging"),
    ("abort", "error: usage: abort TOPIC PARTITION START_OFFSET"),
    ("abort orders 0", "error: usage: abort TOPIC PARTITION START_OFFSET"),
    ("abort orders 0 0 0", "error: usage: abort"),
    ("abort nope 0 0", "no topic 'nope'; usage: abort"),
    ("abort orders 3 0", "topic 'orders' has no partition 3; usage: abort"),
    ("abort orders zero 0", "usage: abort"),
    ("abort orders 0 first", "usage: abort"),
    ("abort orders 0 -1", "START_OFFSET must be >= 0, got -1; usage: abort"),
])
def test_the_shell_answers_mistakes_with_one_line(make_cluster, line, expected):
    cluster = make_cluster()
    cluster.create_topic("orders", 1, replication_factor=3)
    before = cluster.metadata()
    answer = ClusterShell(cluster).execute(line)
    assert answer.startswith("error:") and expected in answer and "\n" not in answer
    assert cluster.metadata() == before  # nothing changed


def _start_the_command(*options: str, stdin: int, tmp: Path | None = None) -> subprocess.Popen:
    """``pcmodel cluster`` with ``options``, in its own session (its temporary files in
    ``tmp``, if given). The command alone (``pcmodel`` itself imports every command's module:
    seconds on a loaded machine); main() dispatching to it is checked in-process below."""
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    if tmp is not None:
        env["TMPDIR"] = str(tmp)
    return subprocess.Popen(
        [sys.executable, "-c", ONLY_THE_CLUSTER_COMMAND, "cluster", *options],
        stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True, env=env,
    )


def _ready(process: subprocess.Popen) -> tuple[str, int]:
    """Read the command's start-up lines; return broker 0's listener address."""
    lines = []
    while not lines or not lines[-1].endswith("Stop with Ctrl-C."):
        line = process.stdout.readline()
        assert line, f"the cluster exited before it was ready: {process.stderr.read()}"
        lines.append(line.strip())
    host, port = lines[0].split(": ")[1].rsplit(":", 1)
    return host, int(port)


def test_the_command_serves_kafka_clients_takes_commands_and_stops_on_ctrl_c():
    pytest.importorskip("kafka", reason="the Kafka listeners need kafka-python")
    process = _start_the_command("--brokers", "2", stdin=subprocess.PIPE)
    try:
        host, port = _ready(process)
        socket.create_connection((host, port), timeout=10).close()  # broker 0 serves
        process.stdin.write("kill 0\n")
        process.stdin.flush()
        assert process.stdout.readline().strip() == "killed broker 0"
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((host, port), timeout=10).close()
        os.killpg(process.pid, signal.SIGINT)
        out, err = process.communicate(timeout=30)
        assert (process.returncode, err) == (0, ""), err
        assert out.strip() == "pcmodel cluster stopped."
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate(timeout=10)


@pytest.mark.timeout(90)
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc (Linux)")
def test_a_second_stop_signal_during_the_clean_up_is_ignored_and_nothing_is_left(tmp_path):
    pytest.importorskip("kafka", reason="the Kafka listeners need kafka-python")
    process = _start_the_command("--brokers", "2", "--processes", "--kafka", "0",
                                 stdin=subprocess.DEVNULL, tmp=tmp_path)
    try:
        host, port = _ready(process)
        # Named with their start times: the pid of one that ends may soon name another process.
        descendants = process_identity.descendants(process.pid)
        assert len(descendants) >= 2  # the broker processes (and multiprocessing's helpers)
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C: the clean-up starts with the listeners

        def listener_closed() -> bool:
            try:
                socket.create_connection((host, port), timeout=10).close()
            except ConnectionRefusedError:
                return True
            except ConnectionResetError:
                return False  # accepted as the listener closed: ask again
            return False

        wait_until(listener_closed, timeout=30)
        os.killpg(process.pid, signal.SIGINT)  # a second Ctrl-C, and a SIGTERM, meanwhile
        os.kill(process.pid, signal.SIGTERM)
        out, err = process.communicate(timeout=60)
        # The clean-up finished whatever landed during it: its last line, nothing on stderr.
        # The brokers may stop before the second signals arrive; then the command has let go
        # of them and is exiting, and a signal landing there ends it by its default action.
        assert err == "", err
        assert out.splitlines()[-1] == "pcmodel cluster stopped."
        assert process.returncode in (0, -signal.SIGINT, -signal.SIGTERM)
        # The brokers stop before the command returns; multiprocessing's forkserver and
        # resource tracker notice their parent's exit a moment later.
        wait_until(lambda: not any(map(process_identity.running, descendants)), timeout=30)
        assert not list(tmp_path.glob("pcmodel-cluster-*"))  # the brokers' journals went too
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate(timeout=10)


def _asleep_in_select(thread: threading.Thread) -> bool:
    """Whether ``thread`` sleeps in the kernel inside a selector's wait (not merely in its
    Python frame, where it would still look at signals before blocking)."""
    frame = sys._current_frames().get(thread.ident)
    if frame is None or frame.f_code.co_name != "select":
        return False
    wchan = Path(f"/proc/self/task/{thread.native_id}/wchan").read_text()
    return "poll" in wchan or "select" in wchan


@pytest.mark.timeout(90)
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc (Linux)")
def test_a_sigterm_to_the_whole_process_group_stops_the_cluster_as_its_owner_does(tmp_path):
    # A supervisor or `timeout` signals the process group: the broker processes leave it to
    # the command, which stops them; none is reported as having died on its own.
    pytest.importorskip("kafka", reason="the Kafka listeners need kafka-python")
    process = _start_the_command("--brokers", "2", "--processes", "--kafka", "0",
                                 stdin=subprocess.DEVNULL, tmp=tmp_path)
    try:
        _ready(process)
        descendants = process_identity.descendants(process.pid)
        os.killpg(process.pid, signal.SIGTERM)
        out, err = process.communicate(timeout=60)
        # The clean-up finished whatever landed during it: its last line, nothing on stderr.
        # The brokers may stop before the second signals arrive; then the command has let go
        # of them and is exiting, and a signal landing there ends it by its default action.
        assert err == "", err
        assert out.splitlines()[-1] == "pcmodel cluster stopped."
        assert process.returncode in (0, -signal.SIGINT, -signal.SIGTERM)
        wait_until(lambda: not any(map(process_identity.running, descendants)), timeout=30)
        assert not list(tmp_path.glob("pcmodel-cluster-*"))
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate(timeout=10)


def test_a_ctrl_c_that_lands_just_before_the_wait_blocks_still_stops_the_command(make_cluster):
    # interrupt_main() marks SIGINT as arrived, as the signal does, but interrupts no system
    # call: the state of a Ctrl-C that lands after the last line of Python and before
    # select() blocks. A second, real signal ends the wait if the first was lost.
    main = threading.main_thread()
    assert threading.current_thread() is main  # signal handlers belong to the main thread
    served, problems = threading.Event(), []

    def interrupt() -> None:
        try:
            wait_until(lambda: _asleep_in_select(main), timeout=30)
        except pytest.fail.Exception:
            problems.append("the command was never seen asleep in select()")
        _thread.interrupt_main(signal.SIGINT)
        if not served.wait(10):
            problems.append("the Ctrl-C was lost")
            signal.pthread_kill(main.ident, signal.SIGUSR1)

    commands_r, commands_w = os.pipe()
    thread = threading.Thread(target=interrupt)
    # Wakes the wait in the failing case (running every handler of a signal that arrived).
    on_usr1 = signal.signal(signal.SIGUSR1, lambda *_: None)
    try:
        with open(commands_r, closefd=True) as commands:
            thread.start()
            try:
                with stop_signals() as wake:
                    _serve(ClusterShell(make_cluster(1)), commands, io.StringIO(), wake)
            finally:
                served.set()
                thread.join(30)
    finally:
        signal.signal(signal.SIGUSR1, on_usr1)
        os.close(commands_w)
    assert not problems


@pytest.mark.parametrize("options, expected", [
    ([], (True, 300)),
    (["--no-auto-leader-rebalance", "--leader-imbalance-check-interval-seconds", "7"],
     (False, 7)),
])
def test_the_leader_balancing_options_reach_the_cluster(options, expected):
    import argparse

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    with make_cluster(parser.parse_args(["cluster", *options]), mode="steps") as cluster:
        configs = {e.name: e.value for e in cluster.describe_broker_configs(0)}
        assert (configs["auto.leader.rebalance.enable"],
                int(configs["leader.imbalance.check.interval.seconds"])) == (
            "true" if expected[0] else "false", expected[1])


def test_the_producer_expiration_option_reaches_the_cluster():
    import argparse

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["cluster", "--producer-id-expiration-ms", "5000"])
    with make_cluster(args, mode="steps") as cluster:
        assert cluster.producer_id_expiration_ms == 5000
        configs = {e.name: e.value for e in cluster.describe_broker_configs(1)}
        assert configs["producer.id.expiration.ms"] == "5000"


def test_the_transaction_options_reach_the_coordinators():
    import argparse

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["cluster", "--transaction-max-timeout-ms", "5000",
                              "--transaction-abort-timed-out-transaction-cleanup-interval-ms",
                              "700"])
    with make_cluster(args, mode="steps") as cluster:
        log = cluster.transaction_log()
        assert (log.max_timeout_ms, log.timed_out_check_interval_ms) == (5000, 700)


def test_a_cluster_is_not_started_for_a_wrong_option(capsys):
    from pcmodel.cli import main

    assert main(["cluster", "--brokers", "0"]) == 2
    assert "--brokers must be 1..32" in capsys.readouterr().err
    assert main(["cluster", "--kafka", "65535"]) == 2
    assert "leaves no room" in capsys.readouterr().err
    assert main(["cluster", "--offsets-retention-minutes", "0"]) == 2
    assert "--offsets-retention-minutes must be >= 1, got 0" in capsys.readouterr().err
    assert main(["cluster", "--producer-id-expiration-ms", "0"]) == 2
    assert "--producer-id-expiration-ms must be >= 1, got 0" in capsys.readouterr().err
    assert main(["cluster", "--transaction-abort-timed-out-transaction-cleanup-interval-ms",
                 "0"]) == 2
    assert "--transaction-abort-timed-out-transaction-cleanup-interval-ms must be >= 1, got 0" \
        in capsys.readouterr().err
    assert main(["cluster", "--leader-imbalance-check-interval-seconds", "0"]) == 2
    assert "--leader-imbalance-check-interval-seconds must be >= 1, got 0" in \
        capsys.readouterr().err
    with Cluster(1, mode="steps"):  # nothing else was left running
        pass


@pytest.mark.parametrize(("option", "least"), [
    ("--broker-session-timeout-ms", 1), ("--group-initial-rebalance-delay-ms", 0),
    ("--offsets-retention-minutes", 1), ("--producer-id-expiration-ms", 1),
    ("--transaction-max-timeout-ms", 1),
    ("--transaction-abort-timed-out-transaction-cleanup-interval-ms", 1)])
def test_a_kafka_int_setting_is_refused_outside_a_java_int(capsys, monkeypatch, option, least):
    # As Kafka (and pcmodel broker) refuse it: 2**31 ms silently meant "never" (a group whose
    # first rebalance never came). Nothing starts: a cluster made here is a test failure.
    from pcmodel.cli import main
    from pcmodel.cluster import cli

    def no_cluster(*args, **kwargs):
        raise AssertionError("a cluster was started for a wrong option")

    monkeypatch.setattr(cli, "make_cluster", no_cluster)
    assert main(["cluster", option, str(2**31)]) == 2
    assert capsys.readouterr().err == (f"pcmodel cluster: error: {option} must be <= "
                                       f"2147483647 (a Kafka int), got 2147483648\n")
    assert main(["cluster", option, str(least - 1)]) == 2
    assert f"{option} must be >= {least}, got {least - 1}" in capsys.readouterr().err


def test_the_leader_imbalance_interval_is_a_kafka_long(capsys, monkeypatch):
    import argparse

    from pcmodel.cli import main
    from pcmodel.cluster import cli
    from pcmodel.topics.cli import KAFKA_LONG_MAX

    def no_cluster(*args, **kwargs):
        raise AssertionError("a cluster was started for a wrong option")

    monkeypatch.setattr(cli, "make_cluster", no_cluster)
    assert main(["cluster", "--leader-imbalance-check-interval-seconds", str(2**63)]) == 2
    assert capsys.readouterr().err == (
        "pcmodel cluster: error: --leader-imbalance-check-interval-seconds must be <= "
        "9223372036854775807 (a Kafka long), got 9223372036854775808\n")
    assert KAFKA_LONG_MAX == 2**63 - 1  # beside KAFKA_INT_MAX, where the commands check both
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["cluster", "--leader-imbalance-check-interval-seconds",
                              str(2**31)])  # a long: accepted, as Kafka does
    with make_cluster(args, mode="steps") as cluster:
        assert cluster.leader_imbalance_check_interval_seconds == 2**31
