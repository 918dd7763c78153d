"""The bounds of a classic member's session timeout are broker settings, as in Kafka 4.

Kafka's ``group.min.session.timeout.ms`` and ``group.max.session.timeout.ms`` are
``group_min_session_timeout_ms`` (1 ms here, Kafka's 6000 would refuse the short sessions of
pcmodel's own tests) and ``group_max_session_timeout_ms`` (Kafka's 1800000) of a lone
:class:`~pcmodel.topics.broker.Broker` and of a ``Cluster`` (every broker, a restarted one
too), and options of ``pcmodel cluster``. ``GroupCoordinatorService.joinGroup`` answers
INVALID_SESSION_TIMEOUT outside them, before it looks at the group.
"""

from __future__ import annotations

import argparse

import pytest

from pcmodel.cli import main
from pcmodel.cluster import Cluster
from pcmodel.cluster import cli as cluster_cli
from pcmodel.cluster.cli import make_cluster, register
from pcmodel.topics.broker import Broker
from pcmodel.topics.consumer_protocol import encode_subscription
from pcmodel.topics.errors import (
    IllegalArgumentError,
    InvalidSessionTimeoutError,
    MemberIdRequiredError,
)
from tests.topics.conftest import FakeClock

pytestmark = pytest.mark.timeout(60)

PROTOCOLS = [("range", encode_subscription(["orders"]))]


def join(target, session_ms: int, group_id: str = "g"):
    """A new member's JoinGroup at ``target`` (a broker, or a cluster's connection)."""
    return target.join_group(group_id, "", protocols=PROTOCOLS, session_timeout_ms=session_ms,
                             rebalance_timeout_ms=5_000, timeout=0)


@pytest.mark.parametrize("settings, refused, taken", [
    ({}, [0, 1_800_001], [1, 1_800_000]),  # pcmodel's default minimum, Kafka's maximum
    ({"group_min_session_timeout_ms": 6_000}, [5_999], [6_000]),  # Kafka's minimum
    ({"group_max_session_timeout_ms": 3_600_000}, [3_600_001], [3_600_000]),
], ids=["the defaults", "Kafka's minimum", "a longer maximum"])
def test_a_join_is_judged_by_the_brokers_bounds(settings, refused, taken):
    with Broker(clock=FakeClock(), **settings) as broker:
        for session in refused:
            with pytest.raises(InvalidSessionTimeoutError, match=f"session_timeout_ms={session} "
                               "is outside"):
                join(broker, session)
        assert broker.list_groups() == []  # refused before the group was looked at
        for number, session in enumerate(taken):
            assert join(broker, session, f"g{number}").generation == 1


def test_a_classic_member_joining_a_consumer_group_is_judged_by_them_too():
    with Broker(clock=FakeClock(), group_min_session_timeout_ms=6_000) as broker:
        broker.create_topic("orders", 1)
        broker.consumer_group_heartbeat("g", "m1", 0, rebalance_timeout_ms=10_000,
                                        subscribed_topic_names=["orders"], owned_partitions={})
        with pytest.raises(InvalidSessionTimeoutError):
            join(broker, 5_999)
        assert join(broker, 6_000).member_id
        assert (broker.list_groups(), broker.group_states()) == (["g"], {})  # no classic group


@pytest.mark.parametrize("settings, error, message", [
    ({"group_min_session_timeout_ms": 0}, IllegalArgumentError,
     "group_min_session_timeout_ms must be >= 1, got 0"),
    ({"group_max_session_timeout_ms": 2**31}, IllegalArgumentError,
     "group_max_session_timeout_ms must be <= 2147483647, got 2147483648"),
    ({"group_min_session_timeout_ms": 6_000, "group_max_session_timeout_ms": 5_000},
     IllegalArgumentError,
     "group_max_session_timeout_ms must be >= group_min_session_timeout_ms, got 5000 and 6000"),
    ({"group_min_session_timeout_ms": True}, TypeError,
     "group_min_session_timeout_ms must be an int, got True"),
])
def test_bad_bounds_are_one_error_on_the_broker_and_the_cluster(settings, error, message):
    with pytest.raises(error) as by_broker:
        Broker(**settings)
    with pytest.raises(error) as by_cluster:
        Cluster(1, mode="steps", **settings)
    assert str(by_broker.value) == str(by_cluster.value)
    assert message in str(by_broker.value) and "\n" not in str(by_broker.value)


@pytest.mark.parametrize("mode", ["steps", "processes"])
def test_every_cluster_broker_has_the_bounds_a_restarted_one_too(mode):
    with Cluster(1, mode=mode, group_min_session_timeout_ms=6_000,
                 group_max_session_timeout_ms=7_000) as cluster:
        conn = cluster.connect()
        for restarted in (False, True):
            if restarted:
                cluster.stop(0)
                cluster.restart(0)
                assert cluster.wait_for(lambda: 0 in cluster.live_brokers(), 30)
            for session in (5_999, 7_001):
                with pytest.raises(InvalidSessionTimeoutError, match="outside"):
                    join(conn, session, f"g-{restarted}")
            assert join(conn, 6_500, f"g-{restarted}").generation == 1


def test_the_kafka_listener_answers_invalid_session_timeout_by_the_bounds():
    pytest.importorskip("kafka", reason="the Kafka listener needs kafka-python")
    from kafka.protocol.consumer.group import JoinGroupRequest

    from tests.wire.conftest import RawClient

    protocol = JoinGroupRequest.JoinGroupRequestProtocol(name="range", metadata=PROTOCOLS[0][1])
    with Broker(group_min_session_timeout_ms=6_000) as broker, broker.serve_kafka() as listener, \
            RawClient(listener.address) as raw:
        answers = [raw.request(JoinGroupRequest[5](
            group_id="g", session_timeout_ms=session, rebalance_timeout_ms=5_000, member_id="",
            group_instance_id=None, protocol_type="consumer", protocols=[protocol])).error_code
            for session in (5_000, 6_000)]
    # Within them the join goes on to the group: MEMBER_ID_REQUIRED, JoinGroup v4+'s handshake.
    assert answers == [InvalidSessionTimeoutError.errno, MemberIdRequiredError.errno]


# --- pcmodel cluster ---------------------------------------------------------------------------

def test_the_options_reach_every_broker_and_the_help_names_them(capsys):
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["cluster", "--group-min-session-timeout-ms", "6000",
                              "--group-max-session-timeout-ms", "7000"])
    with make_cluster(args, mode="steps") as cluster:
        assert cluster.group_session_timeout_bounds == (6_000, 7_000)
        assert {(n.broker.group_min_session_timeout_ms, n.broker.group_max_session_timeout_ms)
                for n in cluster.nodes} == {(6_000, 7_000)}
    with make_cluster(parser.parse_args(["cluster"]), mode="steps") as cluster:
        assert cluster.group_session_timeout_bounds == (1, 1_800_000)
    with pytest.raises(SystemExit):
        main(["cluster", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for option, kafka_name in (("--group-min-session-timeout-ms", "group.min.session.timeout.ms"),
                               ("--group-max-session-timeout-ms", "group.max.session.timeout.ms")):
        assert option in out and f"Kafka's {kafka_name}" in out, option


@pytest.mark.parametrize("options, message", [
    (["--group-min-session-timeout-ms", "0"], "--group-min-session-timeout-ms must be >= 1, got 0"),
    (["--group-max-session-timeout-ms", str(2**31)],
     "--group-max-session-timeout-ms must be <= 2147483647 (a Kafka int), got 2147483648"),
    (["--group-min-session-timeout-ms", "6000", "--group-max-session-timeout-ms", "5000"],
     "--group-max-session-timeout-ms must be >= --group-min-session-timeout-ms, got 5000 and "
     "6000"),
])
def test_a_bad_option_is_one_line_and_starts_nothing(capsys, monkeypatch, options, message):
    def no_cluster(*args, **kwargs):
        raise AssertionError("a cluster was started for a wrong option")

    monkeypatch.setattr(cluster_cli, "make_cluster", no_cluster)
    assert main(["cluster", *options]) == 2
    captured = capsys.readouterr()
    assert (captured.err, captured.out) == (f"pcmodel cluster: error: {message}\n", "")


def test_describe_configs_lists_the_bounds_under_kafkas_names():
    names = ("group.min.session.timeout.ms", "group.max.session.timeout.ms")
    with Broker(group_min_session_timeout_ms=6_000, group_max_session_timeout_ms=7_000) as b:
        broker = {e.name: e.value for e in b.describe_broker_configs(0) if e.name in names}
    with Cluster(brokers=1, mode="steps", group_min_session_timeout_ms=6_000,
                 group_max_session_timeout_ms=7_000) as c:
        cluster = {e.name: e.value for e in c.describe_broker_configs(0) if e.name in names}
    assert broker == cluster == dict(zip(names, ("6000", "7000")))
