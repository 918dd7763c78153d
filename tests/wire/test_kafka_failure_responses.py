"""A request whose handler fails is answered as Kafka's ``getErrorResponse`` answers it, for
every API the listener serves, at its lowest and highest version served: the error in every
item the request named (each partition, topic, group...) and in the request-wide error field
where the version has one, with Kafka's sentinels elsewhere (-1 offsets, no node...). Each
expectation is read from the API's Kafka request class
(``clients/src/main/java/org/apache/kafka/common/requests/<Api>Request.java``). The APIs
clients use to produce, consume and join groups are here; the admin and transaction APIs in
test_kafka_failure_responses_admin."""

from __future__ import annotations

import dataclasses
import io
import uuid

import pytest

from pcmodel.topics import Broker
from pcmodel.wire.handlers import load_handlers
from tests.wire.conftest import RawClient, closed_by_listener

UNKNOWN = -1  # UNKNOWN_SERVER_ERROR, what a bug maps to
INVALID_REQUEST = 42  # what a ValueError maps to
KAFKA_UNKNOWN_TEXT = "The server experienced an unexpected error when processing the request."
TOPIC_ID = uuid.UUID("12345678-1234-5678-1234-567812345678")
SERVED = load_handlers()


@pytest.fixture(scope="module", name="failing_listener")
def failing_listener_fixture():
    """One listener for the module; each test makes the handler it needs fail."""
    with Broker() as broker, broker.serve_kafka() as listener:
        yield listener


@pytest.fixture(name="fail_with")
def fail_with_fixture(failing_listener):
    """``fail_with(api_key, exc)``: that API's handler raises ``exc``; restored afterwards."""
    saved = dict(failing_listener.handlers)

    def install(api_key, exc):
        def handle(ctx, request):
            raise exc

        failing_listener.handlers[api_key] = dataclasses.replace(saved[api_key], handle=handle)

    yield install
    failing_listener.handlers.clear()
    failing_listener.handlers.update(saved)


def item(cls, *path):
    """The class of the nested items at ``path`` of a request class."""
    for name in path:
        cls = cls.fields[name].data_class
    return cls


def rows(items, *fields):
    """``items`` as a list of tuples of ``fields`` (for comparing whole answers)."""
    return [tuple(getattr(i, f) for f in fields) for i in items]


def versions(cases):
    """``(api_key, version)`` parameters: the lowest and highest version served of each API."""
    return [pytest.param(key, version, id=f"{SERVED[key].name}-v{version}")
            for key in cases
            for version in sorted({SERVED[key].min_version, SERVED[key].max_version})]


def answer_to_failed(listener, api_key, request):
    """The decoded answer to ``request`` from ``listener`` (whose handler of ``api_key`` fails),
    after checking that the connection stays open and serves the next request."""
    with RawClient(listener.address) as raw:
        response = raw.request(request) if api_key != 18 else api_versions_as_java(raw, request)
        if api_key != 3:  # (the Metadata below would be the failing one)
            assert raw.request(SERVED[3].request_class[12](topics=None)).brokers
    return response


# --- one request naming items, and the answer Kafka gives it, per API ------------------------
# Each ``make(R, v)`` builds the request at version v; each ``check(r, v, code)`` asserts the
# decoded response ``r`` is Kafka's error response with ``code`` (UNKNOWN_SERVER_ERROR).


def make_produce(R, v):
    T = item(R, "topic_data")
    P = item(R, "topic_data", "partition_data")
    return R[v](acks=-1, timeout_ms=1000, topic_data=[
        T(name="t", partition_data=[P(index=0, records=b""), P(index=1, records=b"")]),
        T(name="u", partition_data=[P(index=3, records=b"")])])


def check_produce(r, v, code):
    got = [(t.name, p.index, p.error_code, p.base_offset, p.log_append_time_ms)
           for t in r.responses for p in t.partition_responses]
    assert got == [("t", 0, code, -1, -1), ("t", 1, code, -1, -1), ("u", 3, code, -1, -1)]
    parts = [p for t in r.responses for p in t.partition_responses]
    if v >= 5:
        assert all(p.log_start_offset == -1 for p in parts)
    if v >= 8:
        assert all(p.error_message is None and p.record_errors == [] for p in parts)


def make_fetch(R, v):
    T = item(R, "topics")
    P = item(R, "topics", "partitions")
    return R[v](replica_id=-1, max_wait_ms=0, min_bytes=1, session_id=7, session_epoch=1,
                topics=[T(topic="t", partitions=[P(partition=0, fetch_offset=5),
                                                 P(partition=2, fetch_offset=0)])])


def check_fetch(r, v, code):
    got = [(t.topic, p.partition_index, p.error_code, p.high_watermark)
           for t in r.responses for p in t.partitions]
    assert got == [("t", 0, code, -1), ("t", 2, code, -1)]
    if v >= 7:
        assert (r.error_code, r.session_id) == (code, 7)


def make_list_offsets(R, v):
    T = item(R, "topics")
    P = item(R, "topics", "partitions")
    return R[v](replica_id=-1, topics=[T(name="t", partitions=[
        P(partition_index=0, timestamp=-1), P(partition_index=1, timestamp=-2)])])


def check_list_offsets(r, v, code):
    got = [(t.name, p.partition_index, p.error_code, p.offset, p.timestamp)
           for t in r.topics for p in t.partitions]
    assert got == [("t", 0, code, -1, -1), ("t", 1, code, -1, -1)]


def make_metadata(R, v):
    T = item(R, "topics")
    topics = [T(name="t"), T(name="u")]
    if v >= 10:
        topics.append(T(name=None, topic_id=TOPIC_ID))
    return R[v](topics=topics)


def check_metadata(r, v, code):
    expected = [("t", code, False, []), ("u", code, False, [])]
    if v >= 10:
        expected.append(("", code, False, []))
        assert r.topics[2].topic_id == TOPIC_ID
    assert rows(r.topics, "name", "error_code", "is_internal", "partitions") == expected
    assert r.brokers == []


def make_offset_commit(R, v):
    T = item(R, "topics")
    P = item(R, "topics", "partitions")
    return R[v](group_id="g", topics=[
        T(name="t", partitions=[P(partition_index=0, committed_offset=4),
                                P(partition_index=1, committed_offset=2)]),
        T(name="u", partitions=[P(partition_index=0, committed_offset=1)])])


def check_offset_commit(r, v, code):
    got = [(t.name, p.partition_index, p.error_code) for t in r.topics for p in t.partitions]
    assert got == [("t", 0, code), ("t", 1, code), ("u", 0, code)]


def make_offset_fetch(R, v):
    if v >= 8:
        G = item(R, "groups")
        return R[v](groups=[G(group_id="g", topics=None), G(group_id="h", topics=None)])
    T = item(R, "topics")
    return R[v](group_id="g", topics=[T(name="t", partition_indexes=[0, 1])])


def check_offset_fetch(r, v, code):
    if v >= 8:
        assert rows(r.groups, "group_id", "error_code", "topics") == [
            ("g", code, []), ("h", code, [])]
    elif v >= 2:
        assert (r.error_code, r.topics) == (code, [])
    else:
        got = [(t.name, p.partition_index, p.error_code, p.committed_offset, p.metadata)
               for t in r.topics for p in t.partitions]
        assert got == [("t", 0, code, -1, ""), ("t", 1, code, -1, "")]


def make_find_coordinator(R, v):
    if v >= 4:
        return R[v](key_type=0, coordinator_keys=["g", "h"])
    return R[v](key="g", key_type=0)


def check_find_coordinator(r, v, code):
    if v >= 4:
        assert rows(r.coordinators, "key", "error_code", "error_message", "node_id", "host",
                    "port") == [("g", code, KAFKA_UNKNOWN_TEXT, -1, "", -1),
                                ("h", code, KAFKA_UNKNOWN_TEXT, -1, "", -1)]
    else:
        assert (r.error_code, r.node_id, r.host, r.port) == (code, -1, "", -1)
        if v >= 1:
            assert r.error_message == KAFKA_UNKNOWN_TEXT


def make_join_group(R, v):
    P = item(R, "protocols")
    return R[v](group_id="g", session_timeout_ms=10_000, rebalance_timeout_ms=10_000,
                member_id="", protocol_type="consumer", protocols=[P(name="range", metadata=b"")])


def check_join_group(r, v, code):
    assert (r.error_code, r.generation_id, r.leader, r.member_id, r.members) == (
        code, -1, "", "", [])
    assert r.protocol_name == ("" if v < 7 else None)


def make_heartbeat(R, v):
    return R[v](group_id="g", generation_id=1, member_id="m")


def make_leave_group(R, v):
    if v >= 3:
        return R[v](group_id="g", members=[item(R, "members")(member_id="m")])
    return R[v](group_id="g", member_id="m")


def make_sync_group(R, v):
    return R[v](group_id="g", generation_id=1, member_id="m", assignments=[])


def check_sync_group(r, v, code):
    assert (r.error_code, r.assignment) == (code, b"")


def check_leave_group(r, v, code):
    assert r.error_code == code
    if v >= 3:
        assert r.members == []


def make_describe_groups(R, v):
    return R[v](groups=["g", "h"])


def check_describe_groups(r, v, code):
    assert rows(r.groups, "group_id", "error_code", "group_state", "protocol_type",
                "protocol_data", "members") == [("g", code, "", "", "", []),
                                                ("h", code, "", "", "", [])]
    if v >= 3:  # "not asked for" (Integer.MIN_VALUE), which kafka-python reads as None
        assert [g.authorized_operations for g in r.groups] == [None, None]


def make_empty(R, v):
    return R[v]()


def check_error_only(r, v, code):
    """A response whose error is request-wide only, and which says nothing else."""
    assert r.error_code == code
    for name in ("groups", "transaction_states", "results", "topics", "api_keys"):
        if name in type(r).fields and type(r).fields[name].for_version_q(v):
            assert getattr(r, name) == []


def api_versions_as_java(raw, request):
    """Send an ApiVersions request and decode its answer as Kafka's Java client does: at the
    request's version (kafka-python 3 reads any ApiVersions answer with an error as v0, which
    is what a broker sends only for a version it does not serve)."""
    from kafka.protocol.api_message import ApiMessage

    raw.send(request)
    data = io.BytesIO(raw.recv_frame())
    cls = type(request).header.fget(request).get_response_class()
    cls.parse_header(data)
    return ApiMessage.decode.__func__(cls, data, version=request.API_VERSION)


def make_init_producer_id(R, v):
    return R[v](transactional_id=None, transaction_timeout_ms=1000)


def check_init_producer_id(r, v, code):
    assert (r.error_code, r.producer_id, r.producer_epoch) == (code, -1, -1)


def make_offset_for_leader_epoch(R, v):
    T = item(R, "topics")
    P = item(R, "topics", "partitions")
    return R[v](topics=[T(topic="t", partitions=[P(partition=0, leader_epoch=3),
                                                 P(partition=1, leader_epoch=0)])])


def check_offset_for_leader_epoch(r, v, code):
    got = [(t.topic, p.partition, p.error_code, p.end_offset)
           for t in r.topics for p in t.partitions]
    assert got == [("t", 0, code, -1), ("t", 1, code, -1)]
    if v >= 1:
        assert [p.leader_epoch for t in r.topics for p in t.partitions] == [-1, -1]


def make_offset_delete(R, v):
    T = item(R, "topics")
    P = item(R, "topics", "partitions")
    return R[v](group_id="g", topics=[T(name="t", partitions=[P(partition_index=0)])])


def make_consumer_group_heartbeat(R, v):
    return R[v](group_id="g", member_id="m", member_epoch=0, subscribed_topic_names=["t"])


def make_consumer_group_describe(R, v):
    return R[v](group_ids=["g", "h"])


def check_consumer_group_describe(r, v, code):
    assert rows(r.groups, "group_id", "error_code", "members") == [
        ("g", code, []), ("h", code, [])]


def make_describe_topic_partitions(R, v):
    T = item(R, "topics")
    return R[v](topics=[T(name="t"), T(name="u")], response_partition_limit=10)


def check_describe_topic_partitions(r, v, code):
    assert rows(r.topics, "name", "error_code", "is_internal", "partitions") == [
        ("t", code, False, []), ("u", code, False, [])]


#: API key -> (request maker, answer check).
CASES = {
    0: (make_produce, check_produce),
    1: (make_fetch, check_fetch),
    2: (make_list_offsets, check_list_offsets),
    3: (make_metadata, check_metadata),
    8: (make_offset_commit, check_offset_commit),
    9: (make_offset_fetch, check_offset_fetch),
    10: (make_find_coordinator, check_find_coordinator),
    11: (make_join_group, check_join_group),
    12: (make_heartbeat, check_error_only),
    13: (make_leave_group, check_leave_group),
    14: (make_sync_group, check_sync_group),
    15: (make_describe_groups, check_describe_groups),
    16: (make_empty, check_error_only),
    18: (make_empty, check_error_only),
    22: (make_init_producer_id, check_init_producer_id),
    23: (make_offset_for_leader_epoch, check_offset_for_leader_epoch),
    47: (make_offset_delete, check_error_only),
    68: (make_consumer_group_heartbeat, check_error_only),
    69: (make_consumer_group_describe, check_consumer_group_describe),
    75: (make_describe_topic_partitions, check_describe_topic_partitions),
}


@pytest.mark.parametrize(("api_key", "version"), versions(CASES))
def test_a_failed_request_gets_kafkas_error_response(failing_listener, fail_with, api_key,
                                                     version):
    fail_with(api_key, RuntimeError("simulated bug"))
    make, check = CASES[api_key]
    request = make(SERVED[api_key].request_class, version)
    check(answer_to_failed(failing_listener, api_key, request), version, UNKNOWN)


def test_a_failed_metadata_of_every_topic_lists_nothing(failing_listener, fail_with):
    fail_with(3, RuntimeError("simulated bug"))
    with RawClient(failing_listener.address) as raw:
        response = raw.request(SERVED[3].request_class[12](topics=None))
    assert (response.topics, response.brokers) == ([], [])  # no error field: Kafka's is empty


def test_generic_texts_are_kafkas_for_invalid_request(failing_listener, fail_with):
    fail_with(10, ValueError("no such key type"))
    R = SERVED[10].request_class
    with RawClient(failing_listener.address) as raw:
        response = raw.request(make_find_coordinator(R, 3))
    assert response.error_code == INVALID_REQUEST
    assert response.error_message.startswith("This most likely occurs because of a request "
                                             "being malformed by the client library")


def test_a_failed_produce_with_acks_0_closes_the_connection(failing_listener, fail_with):
    fail_with(0, RuntimeError("simulated bug"))
    request = make_produce(SERVED[0].request_class, 9)
    request.acks = 0
    with RawClient(failing_listener.address) as raw:
        raw.send(request)
        assert closed_by_listener(raw.sock)


def test_an_unsupported_version_error_lists_api_versions_own_versions(failing_listener,
                                                                      fail_with):
    from pcmodel.topics.errors import UnsupportedVersionError

    fail_with(18, UnsupportedVersionError("no such version"))
    with RawClient(failing_listener.address) as raw:
        response = api_versions_as_java(raw, make_empty(SERVED[18].request_class, 3))
    served = SERVED[18]
    assert response.error_code == 35
    assert rows(response.api_keys, "api_key", "min_version", "max_version") == [
        (18, served.min_version, served.max_version)]


def test_an_error_response_that_cannot_be_built_closes_the_connection(
        failing_listener, fail_with, monkeypatch, caplog):
    import pcmodel.wire.listener as listener_module

    def broken(ctx, request, exc):
        raise RuntimeError("no builder")

    monkeypatch.setattr(listener_module, "error_response", broken)
    fail_with(12, RuntimeError("simulated bug"))
    with RawClient(failing_listener.address) as raw:
        raw.send(make_heartbeat(SERVED[12].request_class, 4))
        assert closed_by_listener(raw.sock)
    assert "the error response to Heartbeat v4 failed" in caplog.text
