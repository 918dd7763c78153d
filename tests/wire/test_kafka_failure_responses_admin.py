"""A failed admin or transaction request is answered as Kafka's ``getErrorResponse`` answers
it, at the lowest and highest version served: the error in every topic, partition, resource,
group or ACL the request named, with ``ApiError``'s message (none for a bug) where Kafka sends
one. See test_kafka_failure_responses for the method and the clients' APIs."""

from __future__ import annotations

import pytest

from tests.wire.conftest import RawClient
from tests.wire.test_kafka_failure_responses import CASES as CLIENT_CASES
from tests.wire.test_kafka_failure_responses import (
    INVALID_REQUEST,
    KAFKA_UNKNOWN_TEXT,
    SERVED,
    TOPIC_ID,
    UNKNOWN,
    answer_to_failed,
    check_error_only,
    check_offset_commit,
    fail_with_fixture,  # noqa: F401 - the fixtures are shared
    failing_listener_fixture,  # noqa: F401
    item,
    make_empty,
    rows,
    versions,
)


def make_create_topics(R, v):
    T = item(R, "topics")
    return R[v](topics=[T(name="t", num_partitions=1, replication_factor=1),
                        T(name="u", num_partitions=1, replication_factor=1)])


def check_create_topics(r, v, code):
    assert rows(r.topics, "name", "error_code") == [("t", code), ("u", code)]
    if v >= 1:
        assert [t.error_message for t in r.topics] == [None, None]  # a bug's text stays home
    if v >= 5:
        assert rows(r.topics, "num_partitions", "replication_factor") == [(-1, -1)] * 2


def make_delete_topics(R, v):
    if v >= 6:
        T = item(R, "topics")
        return R[v](topics=[T(name="t"), T(name=None, topic_id=TOPIC_ID)])
    return R[v](topic_names=["t", "u"])


def check_delete_topics(r, v, code):
    if v >= 6:
        # (kafka-python reads the zero id, "none", as None.)
        assert rows(r.responses, "name", "topic_id", "error_code") == [
            ("t", None, code), (None, TOPIC_ID, code)]
    else:
        assert rows(r.responses, "name", "error_code") == [("t", code), ("u", code)]


def make_delete_records(R, v):
    T = item(R, "topics")
    P = item(R, "topics", "partitions")
    return R[v](timeout_ms=1000, topics=[T(name="t", partitions=[
        P(partition_index=0, offset=3), P(partition_index=1, offset=1)])])


def check_delete_records(r, v, code):
    got = [(t.name, p.partition_index, p.error_code, p.low_watermark)
           for t in r.topics for p in t.partitions]
    assert got == [("t", 0, code, -1), ("t", 1, code, -1)]


def make_add_partitions_to_txn(R, v):
    T = item(R, "v3_and_below_topics")
    return R[v](v3_and_below_transactional_id="x", v3_and_below_producer_id=1,
                v3_and_below_producer_epoch=0,
                v3_and_below_topics=[T(name="t", partitions=[0, 1]), T(name="u", partitions=[2])])


def check_add_partitions_to_txn(r, v, code):
    got = [(t.name, p.partition_index, p.partition_error_code)
           for t in r.results_by_topic_v3_and_below for p in t.results_by_partition]
    assert got == [("t", 0, code), ("t", 1, code), ("u", 2, code)]


def make_add_offsets_to_txn(R, v):
    return R[v](transactional_id="x", producer_id=1, producer_epoch=0, group_id="g")


def make_end_txn(R, v):
    return R[v](transactional_id="x", producer_id=1, producer_epoch=0, committed=True)


def make_write_txn_markers(R, v):
    M = item(R, "markers")
    T = item(R, "markers", "topics")
    return R[v](markers=[
        M(producer_id=5, producer_epoch=0, transaction_result=True, coordinator_epoch=0,
          topics=[T(name="t", partition_indexes=[0, 1])]),
        M(producer_id=6, producer_epoch=0, transaction_result=False, coordinator_epoch=0,
          topics=[T(name="u", partition_indexes=[2])])])


def check_write_txn_markers(r, v, code):
    got = [(m.producer_id, t.name, p.partition_index, p.error_code)
           for m in r.markers for t in m.topics for p in t.partitions]
    assert sorted(got) == [(5, "t", 0, code), (5, "t", 1, code), (6, "u", 2, code)]


def make_txn_offset_commit(R, v):
    T = item(R, "topics")
    P = item(R, "topics", "partitions")
    return R[v](transactional_id="x", group_id="g", producer_id=1, producer_epoch=0,
                topics=[T(name="t", partitions=[P(partition_index=0, committed_offset=1),
                                                P(partition_index=1, committed_offset=1)]),
                        T(name="u", partitions=[P(partition_index=0, committed_offset=1)])])


def make_describe_acls(R, v):
    return R[v](resource_type_filter=1, operation=1, permission_type=1)


def check_with_message(r, v, code):
    """DescribeAcls, DescribeCluster: the error, no message for a bug, nothing listed."""
    assert (r.error_code, r.error_message) == (code, None)
    assert getattr(r, "resources", getattr(r, "brokers", None)) == []


def make_create_acls(R, v):
    C = item(R, "creations")
    acl = dict(resource_type=2, resource_name="t", principal="User:a", host="*",
               operation=3, permission_type=3)
    return R[v](creations=[C(**acl), C(**acl)])


def check_create_acls(r, v, code):
    assert rows(r.results, "error_code", "error_message") == [(code, None), (code, None)]


def make_delete_acls(R, v):
    F = item(R, "filters")
    return R[v](filters=[F(resource_type_filter=1, operation=1, permission_type=1)] * 3)


def check_delete_acls(r, v, code):
    assert rows(r.filter_results, "error_code", "error_message", "matching_acls") == [
        (code, None, [])] * 3


def make_describe_configs(R, v):
    Res = item(R, "resources")
    return R[v](resources=[Res(resource_type=2, resource_name="t", configuration_keys=None),
                           Res(resource_type=4, resource_name="0", configuration_keys=None)])


def check_describe_configs(r, v, code):
    assert rows(r.results, "resource_type", "resource_name", "error_code", "error_message",
                "configs") == [(2, "t", code, KAFKA_UNKNOWN_TEXT, []),
                               (4, "0", code, KAFKA_UNKNOWN_TEXT, [])]


def make_alter_configs(R, v):
    Res = item(R, "resources")
    return R[v](resources=[Res(resource_type=2, resource_name="t", configs=[]),
                           Res(resource_type=4, resource_name="0", configs=[])])


def check_alter_configs(r, v, code):
    assert rows(r.responses, "resource_type", "resource_name", "error_code",
                "error_message") == [(2, "t", code, None), (4, "0", code, None)]


def make_alter_replica_log_dirs(R, v):
    D = item(R, "dirs")
    T = item(R, "dirs", "topics")
    return R[v](dirs=[D(path="/a", topics=[T(name="t", partitions=[0, 1])]),
                      D(path="/b", topics=[T(name="u", partitions=[2])])])


def check_alter_replica_log_dirs(r, v, code):
    got = [(t.topic_name, p.partition_index, p.error_code)
           for t in r.results for p in t.partitions]
    assert got == [("t", 0, code), ("t", 1, code), ("u", 2, code)]


def make_describe_log_dirs(R, v):
    return R[v](topics=None)


def check_describe_log_dirs(r, v, code):
    assert r.results == []  # before v3 there is nothing else to say it with
    if v >= 3:
        assert r.error_code == code


def make_create_partitions(R, v):
    T = item(R, "topics")
    return R[v](timeout_ms=1000, topics=[T(name="t", count=3, assignments=None),
                                         T(name="u", count=2, assignments=None)])


def check_create_partitions(r, v, code):
    assert rows(r.results, "name", "error_code", "error_message") == [
        ("t", code, None), ("u", code, None)]


def make_delete_groups(R, v):
    return R[v](groups_names=["g", "h"])


def check_delete_groups(r, v, code):
    assert rows(r.results, "group_id", "error_code") == [("g", code), ("h", code)]


def make_elect_leaders(R, v):
    T = item(R, "topic_partitions")
    return R[v](topic_partitions=[T(topic="t", partitions=[0, 1])], timeout_ms=1000)


def check_elect_leaders(r, v, code):
    got = [(t.topic, p.partition_id, p.error_code, p.error_message)
           for t in r.replica_election_results for p in t.partition_result]
    assert got == [("t", 0, code, None), ("t", 1, code, None)]
    if v >= 1:
        assert r.error_code == code


def make_alter_partition_reassignments(R, v):
    T = item(R, "topics")
    P = item(R, "topics", "partitions")
    return R[v](timeout_ms=1000, topics=[T(name="t", partitions=[
        P(partition_index=0, replicas=[1, 2]), P(partition_index=1, replicas=None)])])


def check_alter_partition_reassignments(r, v, code):
    assert (r.error_code, r.error_message) == (code, None)
    got = [(t.name, p.partition_index, p.error_code, p.error_message)
           for t in r.responses for p in t.partitions]
    assert got == [("t", 0, code, None), ("t", 1, code, None)]


def make_list_partition_reassignments(R, v):
    T = item(R, "topics")
    return R[v](timeout_ms=1000, topics=[T(name="t", partition_indexes=[0, 1])])


def check_list_partition_reassignments(r, v, code):
    assert (r.error_code, r.error_message) == (code, None)
    got = [(t.name, p.partition_index, p.replicas) for t in r.topics for p in t.partitions]
    assert got == [("t", 0, []), ("t", 1, [])]


def make_describe_producers(R, v):
    T = item(R, "topics")
    return R[v](topics=[T(name="t", partition_indexes=[0, 1])])


def check_describe_producers(r, v, code):
    got = [(t.name, p.partition_index, p.error_code, p.active_producers)
           for t in r.topics for p in t.partitions]
    assert got == [("t", 0, code, []), ("t", 1, code, [])]


def make_describe_transactions(R, v):
    return R[v](transactional_ids=["x", "y"])


def check_describe_transactions(r, v, code):
    assert rows(r.transaction_states, "transactional_id", "error_code") == [
        ("x", code), ("y", code)]


#: API key -> (request maker, answer check).
CASES = {
    19: (make_create_topics, check_create_topics),
    20: (make_delete_topics, check_delete_topics),
    21: (make_delete_records, check_delete_records),
    24: (make_add_partitions_to_txn, check_add_partitions_to_txn),
    25: (make_add_offsets_to_txn, check_error_only),
    26: (make_end_txn, check_error_only),
    27: (make_write_txn_markers, check_write_txn_markers),
    28: (make_txn_offset_commit, check_offset_commit),
    29: (make_describe_acls, check_with_message),
    30: (make_create_acls, check_create_acls),
    31: (make_delete_acls, check_delete_acls),
    32: (make_describe_configs, check_describe_configs),
    33: (make_alter_configs, check_alter_configs),
    34: (make_alter_replica_log_dirs, check_alter_replica_log_dirs),
    35: (make_describe_log_dirs, check_describe_log_dirs),
    37: (make_create_partitions, check_create_partitions),
    42: (make_delete_groups, check_delete_groups),
    43: (make_elect_leaders, check_elect_leaders),
    44: (make_alter_configs, check_alter_configs),
    45: (make_alter_partition_reassignments, check_alter_partition_reassignments),
    46: (make_list_partition_reassignments, check_list_partition_reassignments),
    60: (make_empty, check_with_message),
    61: (make_describe_producers, check_describe_producers),
    65: (make_describe_transactions, check_describe_transactions),
    66: (make_empty, check_error_only),
}


def test_every_served_api_has_a_case():
    assert set(CASES) | set(CLIENT_CASES) == set(SERVED)


@pytest.mark.parametrize(("api_key", "version"), versions(CASES))
def test_a_failed_request_gets_kafkas_error_response(failing_listener, fail_with, api_key,
                                                     version):
    fail_with(api_key, RuntimeError("simulated bug"))
    make, check = CASES[api_key]
    request = make(SERVED[api_key].request_class, version)
    check(answer_to_failed(failing_listener, api_key, request), version, UNKNOWN)


@pytest.mark.parametrize(("api_key", "version", "fields", "listed"), [
    pytest.param(43, 2, dict(topic_partitions=None), "replica_election_results",
                 id="ElectLeaders"),
    pytest.param(46, 0, dict(topics=None), "topics", id="ListPartitionReassignments"),
])
def test_a_failed_request_of_everything_lists_nothing(failing_listener, fail_with, api_key,
                                                      version, fields, listed):
    fail_with(api_key, RuntimeError("simulated bug"))
    with RawClient(failing_listener.address) as raw:
        response = raw.request(SERVED[api_key].request_class[version](**fields))
    assert (getattr(response, listed), response.error_code) == ([], UNKNOWN)


def test_a_refused_request_says_why_where_kafka_sends_the_exceptions_text(
        failing_listener, fail_with):
    # A ValueError is INVALID_REQUEST: ApiError carries its text (unlike a bug's).
    fail_with(19, ValueError("replication factor 7 is larger than the cluster"))
    R = SERVED[19].request_class
    with RawClient(failing_listener.address) as raw:
        response = raw.request(make_create_topics(R, 7))
    assert rows(response.topics, "name", "error_code", "error_message") == [
        ("t", INVALID_REQUEST, "replication factor 7 is larger than the cluster"),
        ("u", INVALID_REQUEST, "replication factor 7 is larger than the cluster")]
