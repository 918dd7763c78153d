"""A group of three splits a topic's partitions, with each assignor, watched by rebalance
listeners: kafka-python and confluent-kafka against pcmodel's Kafka listener and Tansu.

Members join one after another, so each join is a rebalance the listeners see. What Apache
Kafka does, and what is checked: every partition ends up with exactly one member, two each;
range gives each member a contiguous block and roundrobin deals them out in turn; replaying the
listeners' events gives each member exactly its final partitions; with cooperative-sticky no
partition is ever owned by two members at once and a member only ever gives up partitions that
move (it keeps consuming the rest), while eager members revoke everything before a rebalance.
"""

from __future__ import annotations

import threading

import pytest

from tests.interop.group_members import Member, limit_tansu_cases, produce, wait_for

PARTITIONS = 6
PER_PARTITION = 5
SPLITS = {
    "range": {(0, 1), (2, 3), (4, 5)},
    "roundrobin": {(0, 3), (1, 4), (2, 5)},
}


def _clients():
    clients = ["kafka-python"]
    try:
        import confluent_kafka  # noqa: F401

        clients.append("confluent-kafka")
    except ImportError:
        pass
    return clients


def _replay_checks(log: list, strategy: str) -> None:
    """Ownership never overlaps (cooperative), or eager members revoke all before rejoining."""
    owner: dict[int, str] = {}
    owned: dict[str, set[int]] = {}
    for name, kind, parts in log:
        mine = owned.setdefault(name, set())
        if kind == "assigned":
            if strategy == "cooperative-sticky":
                clash = {p: owner[p] for p in parts if p in owner and owner[p] != name}
                assert not clash, f"{name} was given {clash} while another member owned them"
            for p in parts:
                owner[p] = name
            mine |= set(parts)
        else:
            if strategy != "cooperative-sticky":
                assert set(parts) == mine, f"eager {name} revoked {parts}, not all of {mine}"
            for p in parts:
                if owner.get(p) == name:
                    del owner[p]
            mine -= set(parts)


@pytest.mark.parametrize("client", _clients())
@pytest.mark.parametrize("strategy", ["range", "roundrobin", "cooperative-sticky"])
def test_a_group_of_three_splits_the_partitions(strategy, client, broker_name, bootstrap, topic):
    from tests.interop.lessons_kafka_python import create_topic

    limit_tansu_cases(broker_name, (strategy, client), ("range", "kafka-python"))
    create_topic(bootstrap, topic, PARTITIONS)
    produce(bootstrap, topic, PARTITIONS, PER_PARTITION)
    log: list = []
    lock = threading.Lock()
    members: list[Member] = []
    try:
        for count in (1, 2, 3):
            members.append(Member(client, bootstrap, topic, f"{topic}-g", strategy, log, lock))
            wait_for(lambda count=count: sorted(len(m.owned) for m in members)
                     == sorted([PARTITIONS // count] * count),
                     f"{count} members with {PARTITIONS // count} partitions each")
        wait_for(lambda: {p for m in members for p, _ in m.records} == set(range(PARTITIONS)),
                 "every partition read")
        owned = [tuple(sorted(m.owned)) for m in members]
        assert sorted(p for o in owned for p in o) == list(range(PARTITIONS))
        if strategy in SPLITS:
            assert set(owned) == SPLITS[strategy]
        with lock:
            events = list(log)
        _replay_checks(events, strategy)
        if strategy == "cooperative-sticky":
            # The first member kept consuming: it revoked only what moved, never everything.
            first = members[0].name
            revoked = [p for name, kind, parts in events if name == first and kind == "revoked"
                       for p in parts]
            assert set(revoked).isdisjoint(members[0].owned)
    finally:
        for member in members:
            member.stop()


def test_pcmodel_and_kafka_python_consumers_share_one_group():
    """A pcmodel consumer (in process) and a kafka-python consumer (through the listener) in one
    group: both speak Kafka's consumer protocol, so whichever leads assigns for both."""
    from pcmodel.topics import Broker
    from pcmodel.topics import KafkaConsumer as PcmodelConsumer

    with Broker() as broker, broker.serve_kafka() as listener:
        broker.create_topic("shared", 4)
        ours = PcmodelConsumer("shared", broker=broker, group_id="mixed",
                               heartbeat_interval_ms=100)
        stop = threading.Event()

        def poll_ours() -> None:
            while not stop.is_set():
                ours.poll(timeout_ms=50)

        thread = threading.Thread(target=poll_ours, name="pcmodel-member")
        thread.start()
        theirs = None
        try:
            wait_for(lambda: len(ours.assignment()) == 4, "the pcmodel consumer owns all four")
            theirs = Member("kafka-python", listener.bootstrap_servers, "shared", "mixed",
                            "range", [], threading.Lock())
            wait_for(lambda: len(ours.assignment()) == 2 and len(theirs.owned) == 2,
                     "two partitions each")
            described = broker.describe_group("mixed")
            clients = {m.member_id: m.client_id for m in described.members}
            assert described.protocol == "range"
            assert clients[described.leader] == "pcmodel-consumer"  # the first to join leads
            assert sorted(c.split("-")[0] for c in clients.values()) == ["kafka", "pcmodel"]
            assert {tp.partition for tp in ours.assignment()} | theirs.owned == {0, 1, 2, 3}
        finally:
            if theirs is not None:
                theirs.stop()
            stop.set()
            thread.join(10)
            ours.close()
