"""The consumer's calls given wrong arguments, or used in the wrong order: a one-line error
that names the argument, raised before anything changes, and no call left half done.

Offsets to commit must be a mapping with int offsets that fit a Java long; a
``commit_async`` callback must be callable, and one that raises leaves the later ones queued
(and does not stop ``close()`` from leaving the group); a subscription pattern must be a
regular expression; ``unsubscribe()`` completes even when the listener raises; ``close()``
checks its arguments before closing; settings that Kafka types as booleans, strings or Java
ints are checked as such.
"""

from __future__ import annotations

import math
import re

import pytest

from pcmodel.topics.consumer import KafkaConsumer
from pcmodel.topics.errors import (
    CommitFailedError,
    IllegalArgumentError,
    IllegalStateError,
    KafkaConfigurationError,
    UnknownTopicOrPartitionError,
)
from pcmodel.topics.structs import ConsumerRebalanceListener, OffsetAndMetadata
from tests.topics.conftest import FAST, fill, tp, wait_until

pytestmark = pytest.mark.timeout(30)

T0 = tp("t", 0)
LONG_MAX = 2**63 - 1


@pytest.fixture
def consumer(broker, make_consumer):
    """A consumer of group ``g`` assigned ``t-0`` (records a, b, c), positioned at 0."""
    broker.create_topic("t", 1)
    fill(broker, "t", 0, [b"a", b"b", b"c"])
    made = make_consumer(group_id="g", enable_auto_commit=False, auto_offset_reset="earliest")
    made.assign([T0])
    assert made.position(T0) == 0
    return made


class Revoking(ConsumerRebalanceListener):
    """A listener whose ``on_partitions_revoked`` raises once it is given partitions."""

    def on_partitions_revoked(self, revoked):
        if revoked:
            raise RuntimeError("listener failed")

    def on_partitions_assigned(self, assigned):
        pass


def joined(consumer):
    wait_until(lambda: consumer.poll(timeout_ms=20) == {} and consumer.assignment() == {T0})


# --- commits ------------------------------------------------------------------------------------

@pytest.mark.parametrize("call", ["commit", "commit_async"])
@pytest.mark.parametrize("offsets", [[T0], "t", 5], ids=["list", "str", "int"])
def test_offsets_that_are_not_a_mapping_are_refused(consumer, call, offsets):
    message = ("offsets must be a mapping of TopicPartition to OffsetAndMetadata or int, not "
               f"the {type(offsets).__name__} {offsets!r}")
    with pytest.raises(TypeError, match="^" + re.escape(message) + "$"):
        getattr(consumer, call)(offsets)
    assert consumer.committed(T0) is None


@pytest.mark.parametrize(("value", "error", "match"), [
    (OffsetAndMetadata("1"), TypeError, "^the offset of t-0 must be an int, got '1'$"),
    (LONG_MAX + 1, IllegalArgumentError, f"offset of t-0 must be <= {LONG_MAX}"),
    (OffsetAndMetadata(LONG_MAX + 1), IllegalArgumentError, f"must be <= {LONG_MAX}"),
    (1.0, TypeError, "^the offset of t-0 must be an int or OffsetAndMetadata, got 1.0$"),
    (OffsetAndMetadata(1, 5), TypeError, "^the metadata of t-0's offset must be a str, got 5$"),
    (OffsetAndMetadata(1, "", 2**31), IllegalArgumentError, "leader epoch of t-0's offset"),
], ids=["str-in-OffsetAndMetadata", "above-long", "above-long-in-OffsetAndMetadata", "float",
        "int-metadata", "epoch-above-int"])
def test_an_offset_out_of_type_or_range_commits_nothing(consumer, broker, value, error, match):
    broker.create_topic("u", 1)
    with pytest.raises(error, match=match):
        # The good entry comes first: it must not be committed either.
        consumer.commit({tp("u", 0): 1, T0: value})
    assert consumer.committed(tp("u", 0)) is None
    consumer.commit({T0: LONG_MAX})  # the largest Java long is a legal offset
    assert consumer.committed(T0) == LONG_MAX


def test_a_callback_that_is_not_callable_is_refused_before_the_commit(consumer):
    with pytest.raises(TypeError, match="^callback must be callable .* not the int 5$"):
        consumer.commit_async({T0: 1}, callback=5)
    assert consumer.committed(T0) is None
    assert consumer.poll(timeout_ms=0) is not None  # nothing queued that would fail later


def test_a_raising_commit_callback_leaves_the_later_ones_queued(consumer):
    ran = []

    def failing(offsets, exception):
        raise RuntimeError("callback failed")

    consumer.commit_async({T0: 1}, callback=failing)
    consumer.commit_async({T0: 2}, callback=lambda offsets, exception: ran.append(offsets))
    with pytest.raises(RuntimeError, match="callback failed"):
        consumer.poll(timeout_ms=0)
    assert ran == []
    consumer.poll(timeout_ms=0)
    assert ran == [{T0: OffsetAndMetadata(2, "", -1)}]


def test_close_runs_every_callback_and_leaves_the_group_when_one_raises(broker, make_consumer):
    broker.create_topic("t", 1)
    member = make_consumer(group_id="g", enable_auto_commit=False)
    member.subscribe(["t"])
    joined(member)
    ran = []

    def failing(offsets, exception):
        raise RuntimeError("callback failed")

    member.commit_async({T0: 1}, callback=failing)
    member.commit_async({T0: 2}, callback=lambda offsets, exception: ran.append(offsets))
    with pytest.raises(RuntimeError, match="callback failed"):
        member.close()
    assert ran == [{T0: OffsetAndMetadata(2, "", -1)}]
    assert broker.describe_group("g").members == ()
    with pytest.raises(IllegalStateError, match="closed"):
        member.poll()


def test_commit_async_hands_a_missing_partition_to_the_callback(consumer):
    """As the Java client's OffsetCommitResponseHandler (and kafka-python): the broker's
    refusal is the future's and the callback's, not raised by ``commit_async()``."""
    seen = []
    future = consumer.commit_async({tp("missing", 0): 1},
                                   callback=lambda offsets, exception: seen.append(exception))
    assert isinstance(future.exception, UnknownTopicOrPartitionError)
    consumer.poll(timeout_ms=0)
    assert seen == [future.exception]


def test_a_subscribed_consumer_commits_nothing_before_it_joins(broker, make_consumer):
    """The Java client and kafka-python fail the commit of a subscribed consumer without a
    generation (``CommitFailedException``) instead of sending it outside the group."""
    broker.create_topic("t", 1)
    member = make_consumer(group_id="g", enable_auto_commit=False)
    member.subscribe(["t"])
    with pytest.raises(CommitFailedError, match="not a member of group 'g'.*poll\\(\\) joins"):
        member.commit({T0: 5})
    assert isinstance(member.commit_async({T0: 6}).exception, CommitFailedError)
    assert member.committed(T0) is None
    joined(member)
    member.commit({T0: 5})
    assert member.committed(T0) == 5


def test_committed_refuses_a_metadata_switch_that_is_not_a_bool(consumer):
    consumer.commit({T0: 2})
    with pytest.raises(TypeError, match="^metadata must be True or False, got 'no'$"):
        consumer.committed(T0, metadata="no")
    assert consumer.committed(T0, metadata=False) == 2


# --- positions and lookups ----------------------------------------------------------------------

def test_seek_beyond_a_java_long_is_refused(consumer):
    with pytest.raises(IllegalArgumentError, match=f"seek offset must be <= {LONG_MAX}, got"):
        consumer.seek(T0, LONG_MAX + 1)
    assert consumer.position(T0) == 0
    consumer.seek(T0, LONG_MAX)
    assert consumer.position(T0) == LONG_MAX


@pytest.mark.parametrize("timestamps", [[T0], "t"], ids=["list", "str"])
def test_offsets_for_times_refuses_what_is_not_a_mapping(consumer, timestamps):
    message = (f"timestamps must be a mapping of TopicPartition to int, not the "
               f"{type(timestamps).__name__} {timestamps!r}")
    with pytest.raises(TypeError, match="^" + re.escape(message) + "$"):
        consumer.offsets_for_times(timestamps)


# --- subscriptions ------------------------------------------------------------------------------

@pytest.mark.parametrize(("arguments", "error", "match"), [
    ({"pattern": 5}, TypeError, "^pattern must be a regular expression .* not the int 5$"),
    ({"pattern": b"t.*"}, TypeError, "not the bytes b't.\\*'$"),
    ({"pattern": re.compile(b"t")}, TypeError, "^pattern must be a regular expression"),
    ({"pattern": ["t"]}, TypeError, "not the list"),
    ({"pattern": "["}, IllegalArgumentError, "pattern '\\[' is not a regular expression: "),
    ({"topics": ["t"], "pattern": Revoking()}, TypeError,
     "second argument is the pattern, not the listener: .*listener=\\.\\.\\."),
    ({"topics": ["t"], "listener": Revoking}, TypeError, "pass an instance, Revoking\\(\\)$"),
], ids=["int", "bytes", "bytes-pattern", "list", "bad-regex", "listener-second", "listener-class"])
def test_a_pattern_or_listener_of_the_wrong_kind_is_refused(broker, make_consumer, arguments,
                                                            error, match):
    broker.create_topic("t", 1)
    member = make_consumer(group_id="g")
    with pytest.raises(error, match=match):
        member.subscribe(**arguments)
    assert member.subscription() is None
    member.subscribe(pattern=re.compile("t"))  # a compiled pattern is taken as it is
    assert member.subscription() == {"t"}


def test_unsubscribe_completes_when_the_listener_raises(broker, make_consumer):
    broker.create_topic("t", 1)
    member = make_consumer(group_id="g")
    member.subscribe(["t"], listener=Revoking())
    joined(member)
    with pytest.raises(RuntimeError, match="listener failed"):
        member.unsubscribe()
    # It left the group and dropped the subscription: not a member that never joins again.
    assert broker.describe_group("g").members == ()
    assert member.subscription() is None and member.assignment() == set()
    with pytest.raises(IllegalStateError, match="call subscribe\\(\\) or assign\\(\\)"):
        member.poll(timeout_ms=0)
    member.assign([T0])
    assert member.assignment() == {T0}


def test_assigning_no_partition_is_unsubscribe_also_for_a_subscribed_member(broker,
                                                                            make_consumer):
    """The Java client's and kafka-python's ``assign(empty)`` is ``unsubscribe()``."""
    broker.create_topic("t", 1)
    member = make_consumer(group_id="g")
    member.subscribe(["t"])
    joined(member)
    member.assign([])
    assert broker.describe_group("g").members == ()
    assert member.subscription() is None and member.assignment() == set()
    member.assign([T0])
    assert member.assignment() == {T0}
    member.assign([])
    with pytest.raises(IllegalStateError, match="call subscribe\\(\\) or assign\\(\\)"):
        member.poll(timeout_ms=0)


# --- close --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("arguments", "error", "match"), [
    ({"timeout_ms": "5"}, TypeError, "^timeout_ms must be a number of milliseconds, got '5'$"),
    ({"timeout_ms": -1}, IllegalArgumentError, "timeout_ms must be from 0 to .* got -1$"),
    ({"timeout_ms": math.nan}, IllegalArgumentError, "got nan$"),
    ({"timeout_ms": 10**30}, IllegalArgumentError, "got 10{30}$"),
    ({"autocommit": "no"}, TypeError, "^autocommit must be True or False, got 'no'$"),
], ids=["str", "negative", "nan", "huge", "autocommit-str"])
def test_close_checks_its_arguments_before_closing(consumer, arguments, error, match):
    with pytest.raises(error, match=match):
        consumer.close(**arguments)
    assert consumer.position(T0) == 0  # still open
    consumer.close()
    with pytest.raises(error, match=match):  # even once closed, as the Java client's close()
        consumer.close(**arguments)


# --- settings -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("config", "match"), [
    ({"auto_offset_reset": ["earliest"]}, "auto_offset_reset must be one of "),
    ({"enable_auto_commit": "false"}, "enable_auto_commit must be True or False, got 'false'$"),
    ({"client_id": None}, "client_id must be a str, got None$"),
    ({"request_timeout_ms": 2**31}, "request_timeout_ms must be at most 2147483647 "),
    ({"fetch_max_wait_ms": 2**31, "request_timeout_ms": 2**31 - 1},
     "fetch_max_wait_ms must be at most 2147483647 "),
    ({"max_poll_interval_ms": 10**30}, "max_poll_interval_ms must be at most 2147483647 "),
    ({"auto_commit_interval_ms": 2**31}, "auto_commit_interval_ms must be at most "),
], ids=["reset-list", "auto-commit-str", "client-id-none", "request-timeout", "fetch-wait",
        "max-poll-interval", "auto-commit-interval"])
def test_settings_of_the_wrong_type_or_beyond_a_java_int_name_the_key(broker, config, match):
    with pytest.raises(KafkaConfigurationError, match=match):
        KafkaConsumer(broker=broker, **{**FAST, **config})
