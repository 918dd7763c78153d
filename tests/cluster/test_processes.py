"""The cluster with every broker in its own process: real SIGKILLs, logs recovered from files.

Each scenario is driven by faults and conditions, never by sleeping: ``isolate`` reaches every
broker before it returns, so records produced after it cannot be replicated; elections and
catching up are awaited with ``wait_until``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pcmodel.cluster import Cluster, VirtualClock
from pcmodel.topics.errors import IllegalArgumentError, IllegalStateError, KafkaConnectionError
from pcmodel.topics.log_records import wall_clock_ms
from pcmodel.topics.structs import TopicPartition
from tests import process_identity
from tests.conftest import wait_until

TP = TopicPartition("t", 0)
# Generous for a loaded machine (a live broker starved of the processor for a second must not
# be fenced); an election then takes about two seconds.
SETTINGS = {"broker_session_timeout_ms": 2000, "tick_ms": 20}
#: A compacted topic whose replicas each clean whatever their high watermark lets them, however
#: little: they then hold the same records whenever their high watermarks moved.
EVERY_DIRTY_BYTE = {"cleanup.policy": "compact", "segment.ms": "1000",
                    "min.cleanable.dirty.ratio": "0"}


def values(records):
    return [r.value for r in records]


def batch(*vals):
    return [(None, v) for v in vals]


@pytest.mark.timeout(90)
def test_acks_all_survives_a_sigkill_of_the_leader():
    with Cluster(3, mode="processes", **SETTINGS) as cluster:
        cluster.create_topic("t", replication_factor=3, min_insync_replicas=2)
        acked = [cluster.produce("t", 0, batch(f"r{i}".encode()), acks="all").get(timeout=20)
                 for i in range(10)]
        assert [a.base_offset for a in acked] == list(range(10))
        old = cluster.leader("t", 0)
        cluster.kill(old)
        assert cluster.nodes[old].exitcode == -signal.SIGKILL  # a real SIGKILL, reaped
        with pytest.raises(KafkaConnectionError):
            cluster.fetch(old, {TP: 0})
        wait_until(lambda: cluster.leader("t", 0) not in (None, old), timeout=30)
        new = cluster.leader("t", 0)
        expected = [f"r{i}".encode() for i in range(10)]
        assert values(cluster.log(new, "t", 0)) == expected  # nothing acknowledged was lost
        assert values(cluster.log(old, "t", 0)) == expected  # the dead broker's files
        after = cluster.produce("t", 0, batch(b"after"), acks="all").get(timeout=20)
        assert (after.broker, after.base_offset) == (new, 10)
        cluster.restart(old)  # replays its journal, catches up from the new leader
        wait_until(lambda: cluster.isr("t", 0) == {0, 1, 2}, timeout=30)
        wait_until(lambda: values(cluster.log(old, "t", 0)) == expected + [b"after"],
                   timeout=30)


@pytest.mark.timeout(90)
def test_acks_one_loses_the_suffix_the_followers_never_fetched():
    # A long lag limit keeps the followers in the ISR while the leader is cut off, so the
    # election after the kill is clean — and still loses what only the leader had.
    with Cluster(3, mode="processes", replica_lag_time_max_ms=60_000, **SETTINGS) as cluster:
        cluster.create_topic("t", replication_factor=3, min_insync_replicas=1)
        cluster.produce("t", 0, batch(b"a", b"b"), acks="all").get(timeout=20)
        old = cluster.leader("t", 0)
        cluster.isolate(old)  # from here no follower can fetch from it
        lost = cluster.produce("t", 0, batch(b"c", b"d"), acks=1).get(timeout=20)
        assert (lost.broker, lost.base_offset) == (old, 2)  # acknowledged by the leader
        assert all(s.log_end_offset == 2 for s in cluster.replica_status("t", 0)
                   if s.broker != old)
        cluster.kill(old)
        wait_until(lambda: cluster.leader("t", 0) not in (None, old), timeout=30)
        new = cluster.leader("t", 0)
        assert values(cluster.log(old, "t", 0)) == [b"a", b"b", b"c", b"d"]  # on its disk
        cluster.produce("t", 0, batch(b"e"), acks="all").get(timeout=20)
        cluster.heal(old)
        cluster.restart(old)
        # The restarted broker truncates its suffix (leader epochs, KIP-101) and rejoins.
        wait_until(lambda: cluster.isr("t", 0) == {0, 1, 2}, timeout=30)
        wait_until(lambda: values(cluster.log(old, "t", 0)) == [b"a", b"b", b"e"], timeout=30)
        assert values(cluster.log(new, "t", 0)) == [b"a", b"b", b"e"]
        wait_until(lambda: any(e.kind == "truncated" and e.broker == old
                               for e in cluster.events), timeout=10)
        truncated = [e for e in cluster.events if e.kind == "truncated" and e.broker == old]
        assert [values(e.records) for e in truncated] == [[b"c", b"d"]]
        assert truncated[0].detail == (2, 2)


@pytest.mark.timeout(90)
def test_unclean_election_after_sigkills_loses_what_the_new_leader_lacked():
    # Here a live broker fenced by mistake would lead uncleanly too and change the outcome:
    # a longer session still.
    with Cluster(3, mode="processes", replica_lag_time_max_ms=300,
                 **dict(SETTINGS, broker_session_timeout_ms=3000)) as cluster:
        cluster.create_topic("t", replication_factor=3, min_insync_replicas=1,
                             unclean_leader_election_enable=True)
        cluster.produce("t", 0, batch(b"a"), acks="all").get(timeout=20)
        # Broker 2 holds a before it is cut off: on a busy machine it may lag the short lag
        # limit while the produce waits and a is acknowledged by 0 and 1 alone (then 2 leads
        # without a, and nothing is left to lose).
        wait_until(lambda: values(cluster.log(2, "t", 0)) == [b"a"]
                   and cluster.isr("t", 0) == {0, 1, 2}, timeout=30)
        cluster.isolate(2)  # broker 2 stops replicating...
        cluster.produce("t", 0, batch(b"b"), acks="all").get(timeout=20)  # on 0 and 1 only
        assert cluster.isr("t", 0) == {0, 1}  # ...lacks b too long, and leaves the ISR
        cluster.kill(0)
        cluster.kill(1)
        cluster.heal(2)
        wait_until(lambda: cluster.leader("t", 0) == 2, timeout=30)  # out of sync, yet leads
        assert any(e.kind == "leader" and e.detail[0] == "unclean" for e in cluster.events)
        cluster.produce("t", 0, batch(b"c"), acks="all").get(timeout=20)
        cluster.restart(0)
        cluster.restart(1)
        for b in (0, 1):  # the acknowledged b is truncated away on both: visibly lost
            try:
                wait_until(lambda b=b: values(cluster.log(b, "t", 0)) == [b"a", b"c"],
                           timeout=30)
            except pytest.fail.Exception:
                pytest.fail(f"broker {b} has {values(cluster.log(b, 't', 0))}; "
                            f"{cluster.replica_status('t', 0)}; events {cluster.events}")


@pytest.mark.timeout(90)
def test_a_broker_process_that_dies_on_its_own_is_noticed_and_restarts(caplog):
    with Cluster(3, mode="processes", **SETTINGS) as cluster:
        cluster.create_topic("t", replication_factor=3, min_insync_replicas=2)
        cluster.produce("t", 0, batch(b"a"), acks="all").get(timeout=20)
        victim = cluster.leader("t", 0)
        os.kill(cluster.nodes[victim].pid, signal.SIGKILL)  # not through the cluster
        wait_until(lambda: cluster.leader("t", 0) not in (None, victim), timeout=30)
        wait_until(lambda: "ended on its own" in caplog.text, timeout=10)
        cluster.restart(victim)
        wait_until(lambda: cluster.isr("t", 0) == {0, 1, 2}, timeout=30)
        assert values(cluster.log(victim, "t", 0)) == [b"a"]


@pytest.mark.timeout(90)
def test_topics_are_deleted_and_grown_on_live_and_dead_brokers():
    with Cluster(3, mode="processes", **SETTINGS) as cluster:
        cluster.create_topic("t", 1, replication_factor=3, min_insync_replicas=2)
        cluster.create_topic("gone", 1, replication_factor=3)
        cluster.produce("gone", 0, batch(b"x"), acks="all").get(timeout=20)
        root = Path(cluster._root)
        assert len(list(root.glob("broker-*/gone-0.journal"))) == 3
        cluster.kill(2)
        cluster.delete_topic("gone")  # broker 2's files go too, as Kafka deletes on return
        cluster.add_partitions("t", 2)
        assert not list(root.glob("broker-*/gone-*"))
        cluster.restart(2)  # comes back with the new partition and without the old topic
        t1 = TopicPartition("t", 1)
        wait_until(lambda: cluster.isr("t", 1) == set(cluster.metadata()[t1].replicas),
                   timeout=30)
        assert cluster.produce("t", 1, batch(b"y"), acks="all").get(timeout=20).base_offset == 0
        wait_until(lambda: values(cluster.log(2, "t", 1)) == [b"y"], timeout=30)
        assert "gone" not in cluster.connect().list_topics()


@pytest.mark.timeout(90)
def test_deleted_records_stay_deleted_in_a_sigkilled_brokers_files():
    with Cluster(3, mode="processes", **SETTINGS) as cluster:
        cluster.create_topic("t", replication_factor=3, min_insync_replicas=2)
        cluster.produce("t", 0, batch(b"a", b"b", b"c"), acks="all").get(timeout=20)
        conn = cluster.connect()
        assert conn.delete_records({TP: 2}, timeout=20)[TP].low_watermark == 2
        assert {r.log_start_offset for r in cluster.replica_status("t", 0)} == {2}
        follower = next(b for b in range(3) if b != cluster.leader("t", 0))
        cluster.kill(follower)
        assert values(cluster.log(follower, "t", 0)) == [b"c"]  # read from its journal
        cluster.restart(follower)  # replays it: the deletion holds
        wait_until(lambda: cluster.isr("t", 0) == {0, 1, 2}, timeout=30)
        status = {r.broker: r for r in cluster.replica_status("t", 0)}
        assert (status[follower].log_start_offset, status[follower].log_end_offset) == (2, 3)
        assert values(cluster.log(follower, "t", 0)) == [b"c"]


@pytest.mark.timeout(90)
def test_a_compacted_topic_is_cleaned_in_every_broker_process_and_after_a_replay():
    with Cluster(3, mode="processes", **SETTINGS) as cluster:
        cluster.create_topic("t", replication_factor=3, min_insync_replicas=2,
                             configs=EVERY_DIRTY_BYTE)
        ten_seconds_ago = wall_clock_ms() - 10_000  # segments roll by records' timestamps
        for key, value in ((b"a", b"1"), (b"b", b"1"), (b"a", b"2"), (b"b", b"2")):
            cluster.produce("t", 0, [(key, value, (), ten_seconds_ago)],
                            acks="all").get(timeout=20)
        cluster.produce("t", 0, [(b"a", b"3")], acks="all").get(timeout=20)
        cleaned = [(2, b"a", b"2"), (3, b"b", b"2"), (4, b"a", b"3")]

        def cleaned_on(broker: int) -> bool:
            return [(r.offset, r.key, r.value) for r in cluster.log(broker, "t", 0)] == cleaned

        wait_until(lambda: all(cleaned_on(b) for b in range(3)), timeout=30)
        follower = next(b for b in range(3) if b != cluster.leader("t", 0))
        cluster.kill(follower)
        cluster.restart(follower)  # its journal kept every record: it cleans them again
        wait_until(lambda: cluster.isr("t", 0) == {0, 1, 2}, timeout=30)
        wait_until(lambda: cleaned_on(follower), timeout=30)


@pytest.mark.timeout(60)
def test_bad_input_gets_one_line_errors_and_starts_nothing():
    with pytest.raises(IllegalArgumentError, match="monotonic clock"):
        Cluster(3, mode="processes", clock=VirtualClock())
    with pytest.raises(IllegalArgumentError, match="brokers must be"):
        Cluster(0, mode="processes")
    with pytest.raises(IllegalArgumentError, match="mode must be one of"):
        Cluster(3, mode="process")
    with Cluster(2, mode="processes", **SETTINGS) as cluster:
        cluster.create_topic("t", replication_factor=2)
        with pytest.raises(IllegalStateError, match="real time"):
            cluster.step()
        with pytest.raises(IllegalArgumentError, match="broker must be an id"):
            cluster.kill(5)
        with pytest.raises(IllegalArgumentError, match="acks must be"):
            cluster.produce("t", 0, batch(b"x"), acks=2)
        for seconds in (-1, float("nan"), float("inf")):
            with pytest.raises(IllegalArgumentError, match="finite number of seconds >= 0"):
                cluster.slow(0, seconds)
        root = Path(cluster._root)
        assert root.exists()
    assert not root.exists()  # the journals went with the cluster
    with pytest.raises(IllegalStateError, match="closed"):
        cluster.produce("t", 0, batch(b"x")).get(timeout=1)


_OWNER = textwrap.dedent("""
    import faulthandler, os, select, signal, sys
    from pcmodel.cluster import Cluster
    if __name__ == "__main__":
        faulthandler.register(signal.SIGUSR1)  # the test asks for our stacks if we hang
        # Ctrl-C as from a terminal: a process inherits an ignored SIGINT (the test suite run
        # as a background job, whose shell ignores it), and Python then leaves it ignored.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        # The interpreter writes a signal's number to this pipe the moment it arrives. A
        # Ctrl-C landing after the last line of Python and before a blocking read started
        # would not interrupt the read (sys.stdin.read() would wait for good, the
        # KeyboardInterrupt pending); here it wakes the select() below.
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        with Cluster(3, mode="processes") as cluster:
            cluster.create_topic("t", replication_factor=3)
            cluster.produce("t", 0, [(None, b"x")], acks="all").get(timeout=20)
            print(cluster._root, *[n.pid for n in cluster.nodes], flush=True)
            select.select([sys.stdin, wake_r], [], [])  # until the test kills or interrupts us
""")


def _state(pid: int) -> str:
    """What ``pid`` is doing, from /proc: its state and where in the kernel it sleeps."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return f"{pid} {state} in {Path(f'/proc/{pid}/wchan').read_text() or '-'}"
    except OSError:
        return f"{pid} gone"


def _signals(pid: int) -> str:
    """Which signals ``pid`` and each of its threads block, ignore, catch and have pending."""
    lines = []
    for status in [Path(f"/proc/{pid}/status"), *Path(f"/proc/{pid}/task").glob("*/status")]:
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines()
                          if ":\t" in line)
        except OSError:
            continue
        lines.append(" ".join(f"{key}={fields.get(key, '?').strip()}" for key in
                              ("Pid", "SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt")))
    return "; ".join(lines) or "gone"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("how", ["SIGKILL", "Ctrl-C"])
def test_no_broker_process_or_file_outlives_its_owner(tmp_path, how):
    script = tmp_path / "owner.py"
    script.write_text(_OWNER)
    errors = tmp_path / "owner.err"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    with errors.open("w") as stderr:
        owner = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=stderr, text=True, env=env,
                                 start_new_session=True)
    try:
        line = owner.stdout.readline()
        assert line, f"the owner exited before its cluster was up: {errors.read_text()}"
        root, *pids = line.split()
        assert len(pids) == 3 and Path(root).exists()
        # Named with their start times while they run: once one ends, its pid may soon be
        # given to another process. (None: gone already, or no /proc to look in.)
        brokers = [b for b in map(process_identity.identity, map(int, pids)) if b is not None]
        if how == "SIGKILL":
            owner.kill()  # no clean-up code runs in the owner: the brokers notice alone
        else:
            os.killpg(owner.pid, signal.SIGINT)  # the terminal signals the whole group
        try:
            owner.wait(30)
        except subprocess.TimeoutExpired:
            # Leave the evidence: the owner's threads, and what each broker is doing.
            os.kill(owner.pid, signal.SIGUSR1)
            try:
                wait_until(lambda: "most recent call first" in errors.read_text(), timeout=10)
            except pytest.fail.Exception:
                pass  # no stacks came: say what there is
            pytest.fail(f"the owner did not exit within 30 s of {how}; brokers: "
                        f"{', '.join(_state(int(p)) for p in pids)}; the owner's signals: "
                        f"{_signals(owner.pid)}; its stderr and threads:\n{errors.read_text()}")
        wait_until(lambda: not any(map(process_identity.running, brokers)), timeout=30)
        wait_until(lambda: not Path(root).exists(), timeout=30)
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait(10)
        owner.stdout.close()
        owner.stdin.close()


@pytest.mark.timeout(90)
def test_a_broker_process_answers_the_epoch_that_wrote_a_record():
    with Cluster(3, mode="processes", **SETTINGS) as cluster:
        cluster.create_topic("t", replication_factor=2)
        cluster.produce("t", 0, batch(b"a"), acks="all").get(timeout=20)
        old = cluster.leader("t", 0)
        cluster.kill(old)
        wait_until(lambda: cluster.leader("t", 0) not in (None, old), timeout=30)
        new = cluster.leader("t", 0)
        cluster.produce("t", 0, batch(b"b"), acks="all").get(timeout=20)
        assert [cluster.epoch_of_offset(new, "t", 0, offset) for offset in (0, 1)] == [0, 1]
