"""Assignors: Kafka's published results as fixed cases, and their invariants as properties."""

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pcmodel.topics.assignors import (
    ASSIGNORS,
    RebalanceProtocol,
    cooperative_plan,
    cooperative_sticky,
    get_assignor,
    roundrobin,
    sticky,
)
from pcmodel.topics.assignors import range as range_assignor
from pcmodel.topics.errors import KafkaConfigurationError
from pcmodel.topics.structs import TopicPartition

pytestmark = pytest.mark.timeout(60)

PROPERTY = settings(max_examples=150, deadline=None)


def tps(spec):
    """'t0p0 t1p2' -> [TopicPartition('t0', 0), TopicPartition('t1', 2)] (Kafka's notation)."""
    result = []
    for item in spec.split():
        topic, partition = item.rsplit("p", 1)
        result.append(TopicPartition(topic, int(partition)))
    return result


def parse(expected):
    return {member: tps(spec) for member, spec in expected.items()}


# --- fixed cases: Kafka's documentation and tests ---------------------------------------------

MIXED_TOPICS_RESULT = {
    "consumer1": "topic1p0",
    "consumer2": "topic1p1 topic2p0 topic2p1",
    "consumer3": "topic1p2",
}

# (subscriptions, partitions_per_topic, expected range result, expected round-robin result).
# Sources: the RangeAssignor and RoundRobinAssignor Javadoc, RangeAssignorTest and
# RoundRobinAssignorTest in apache/kafka (clients/src/test/java/.../consumer/).
KAFKA_CASES = {
    "javadoc: C0,C1 on t0,t1 with 3 partitions each": (
        {"C0": ["t0", "t1"], "C1": ["t0", "t1"]},
        {"t0": 3, "t1": 3},
        {"C0": "t0p0 t0p1 t1p0 t1p1", "C1": "t0p2 t1p2"},
        {"C0": "t0p0 t0p2 t1p1", "C1": "t0p1 t1p0 t1p2"},
    ),
    "javadoc (round robin): unequal subscriptions": (
        {"C0": ["t0"], "C1": ["t0", "t1"], "C2": ["t0", "t1", "t2"]},
        {"t0": 1, "t1": 2, "t2": 3},
        {"C0": "t0p0", "C1": "t1p0", "C2": "t1p1 t2p0 t2p1 t2p2"},
        {"C0": "t0p0", "C1": "t1p0", "C2": "t1p1 t2p0 t2p1 t2p2"},
    ),
    "testOneConsumerNoTopic": ({"consumer1": []}, {}, {"consumer1": ""}, {"consumer1": ""}),
    "testOneConsumerNonexistentTopic": (
        {"consumer1": ["topic1"]},
        {},
        {"consumer1": ""},
        {"consumer1": ""},
    ),
    "testOneConsumerOneTopic": (
        {"consumer1": ["topic1"]},
        {"topic1": 3},
        {"consumer1": "topic1p0 topic1p1 topic1p2"},
        {"consumer1": "topic1p0 topic1p1 topic1p2"},
    ),
    "testOnlyAssignsPartitionsFromSubscribedTopics": (
        {"consumer1": ["topic1"]},
        {"topic1": 3, "other": 3},
        {"consumer1": "topic1p0 topic1p1 topic1p2"},
        {"consumer1": "topic1p0 topic1p1 topic1p2"},
    ),
    "testOneConsumerMultipleTopics": (
        {"consumer1": ["topic1", "topic2"]},
        {"topic1": 1, "topic2": 2},
        {"consumer1": "topic1p0 topic2p0 topic2p1"},
        {"consumer1": "topic1p0 topic2p0 topic2p1"},
    ),
    "testTwoConsumersOneTopicOnePartition": (
        {"consumer1": ["topic1"], "consumer2": ["topic1"]},
        {"topic1": 1},
        {"consumer1": "topic1p0", "consumer2": ""},
        {"consumer1": "topic1p0", "consumer2": ""},
    ),
    "testTwoConsumersOneTopicTwoPartitions": (
        {"consumer1": ["topic1"], "consumer2": ["topic1"]},
        {"topic1": 2},
        {"consumer1": "topic1p0", "consumer2": "topic1p1"},
        {"consumer1": "topic1p0", "consumer2": "topic1p1"},
    ),
    "testMultipleConsumersMixedTopics": (
        {"consumer1": ["topic1"], "consumer2": ["topic1", "topic2"], "consumer3": ["topic1"]},
        {"topic1": 3, "topic2": 2},
        MIXED_TOPICS_RESULT,
        MIXED_TOPICS_RESULT,
    ),
    "testTwoConsumersTwoTopicsSixPartitions": (
        {"consumer1": ["topic1", "topic2"], "consumer2": ["topic1", "topic2"]},
        {"topic1": 3, "topic2": 3},
        {"consumer1": "topic1p0 topic1p1 topic2p0 topic2p1", "consumer2": "topic1p2 topic2p2"},
        {"consumer1": "topic1p0 topic1p2 topic2p1", "consumer2": "topic1p1 topic2p0 topic2p2"},
    ),
    # The *MemberAssignmentPersistent tests with dynamic members only (no group.instance.id).
    "four members, topic1 with 5 and topic2 with 4 partitions (range)": (
        {f"consumer{i}": ["topic1", "topic2"] for i in (1, 2, 3, 4)},
        {"topic1": 5, "topic2": 4},
        {
            "consumer1": "topic1p0 topic1p1 topic2p0",
            "consumer2": "topic1p2 topic2p1",
            "consumer3": "topic1p3 topic2p2",
            "consumer4": "topic1p4 topic2p3",
        },
        None,
    ),
    "four members, two topics of 3 partitions (round robin)": (
        {f"consumer{i}": ["topic1", "topic2"] for i in (1, 2, 3, 4)},
        {"topic1": 3, "topic2": 3},
        None,
        {
            "consumer1": "topic1p0 topic2p1",
            "consumer2": "topic1p1 topic2p2",
            "consumer3": "topic1p2",
            "consumer4": "topic2p0",
        },
    ),
}


@pytest.mark.parametrize("case", [k for k, v in KAFKA_CASES.items() if v[2] is not None])
def test_range_matches_kafka(case):
    subscriptions, counts, expected, _ = KAFKA_CASES[case]
    assert range_assignor.assign(subscriptions, counts) == parse(expected)


@pytest.mark.parametrize("case", [k for k, v in KAFKA_CASES.items() if v[3] is not None])
def test_roundrobin_matches_kafka(case):
    subscriptions, counts, _, expected = KAFKA_CASES[case]
    assert roundrobin.assign(subscriptions, counts) == parse(expected)


def test_member_ids_compare_as_java_strings():
    # Java orders by UTF-16 code unit: 'B' (0x42) < 'a' (0x61), and a character beyond U+FFFF
    # (a surrogate pair starting 0xD83D) sorts before U+FFFF, unlike Python's code point order.
    one = {"t": 1}
    assert roundrobin.assign({"a": ["t"], "B": ["t"]}, one)["B"] == tps("tp0")
    emoji, last_bmp = "\U0001f600", "\uffff"
    assert range_assignor.assign({last_bmp: ["t"], emoji: ["t"]}, one)[emoji] == tps("tp0")
    assert roundrobin.assign({last_bmp: ["t"], emoji: ["t"]}, one)[emoji] == tps("tp0")


# Kafka's StickyAssignor Javadoc examples; this implementation gives the same results.
def test_sticky_javadoc_example_equal_subscriptions():
    topics = ["t0", "t1", "t2", "t3"]
    counts = dict.fromkeys(topics, 2)
    first = sticky.assign({"C0": topics, "C1": topics, "C2": topics}, counts)
    assert first == parse({"C0": "t0p0 t1p1 t3p0", "C1": "t0p1 t2p0 t3p1", "C2": "t1p0 t2p1"})
    after_c1_left = sticky.assign({"C0": topics, "C2": topics}, counts, previous=first)
    assert after_c1_left == parse({"C0": "t0p0 t1p1 t2p0 t3p0", "C2": "t0p1 t1p0 t2p1 t3p1"})


def test_sticky_javadoc_example_unequal_subscriptions():
    subscriptions = {"C0": ["t0"], "C1": ["t0", "t1"], "C2": ["t0", "t1", "t2"]}
    counts = {"t0": 1, "t1": 2, "t2": 3}
    first = sticky.assign(subscriptions, counts)
    assert first == parse({"C0": "t0p0", "C1": "t1p0 t1p1", "C2": "t2p0 t2p1 t2p2"})
    del subscriptions["C0"]
    after_c0_left = sticky.assign(subscriptions, counts, previous=first)
    assert after_c0_left == parse({"C1": "t0p0 t1p0 t1p1", "C2": "t2p0 t2p1 t2p2"})


def test_cooperative_plan_docstring_example():
    previous = parse({"C0": "t0p0 t0p1 t0p2 t0p3"})
    target = cooperative_sticky.assign({"C0": ["t0"], "C1": ["t0"]}, {"t0": 4}, previous)
    assert target == parse({"C0": "t0p0 t0p1", "C1": "t0p2 t0p3"})
    revoke, assign_now = cooperative_plan(previous, target)
    assert revoke == parse({"C0": "t0p2 t0p3", "C1": ""})
    assert assign_now == parse({"C0": "t0p0 t0p1", "C1": ""})
    round2 = cooperative_sticky.assign({"C0": ["t0"], "C1": ["t0"]}, {"t0": 4}, assign_now)
    assert round2 == target
    assert cooperative_plan(assign_now, round2) == (parse({"C0": "", "C1": ""}), round2)


# --- registry and input validation --------------------------------------------------------------


def test_registry():
    assert list(ASSIGNORS) == ["range", "roundrobin", "sticky", "cooperative-sticky"]
    modules = [range_assignor, roundrobin, sticky, cooperative_sticky]
    for module, (name, entry) in zip(modules, ASSIGNORS.items()):
        assert entry.name == module.name == name
        assert entry.assign is module.assign
        assert entry.protocol is module.protocol
    assert ASSIGNORS["cooperative-sticky"].protocol == "cooperative"
    assert {ASSIGNORS[n].protocol for n in ("range", "roundrobin", "sticky")} == {
        RebalanceProtocol.EAGER
    }
    assert get_assignor("sticky") is ASSIGNORS["sticky"]
    with pytest.raises(KafkaConfigurationError, match="'cooperative-sticky'"):
        get_assignor("CooperativeStickyAssignor")


ASSIGN_FUNCTIONS = [entry.assign for entry in ASSIGNORS.values()]
NAMES = list(ASSIGNORS)


@pytest.mark.parametrize("assign", ASSIGN_FUNCTIONS, ids=NAMES)
@pytest.mark.parametrize(
    "subscriptions, counts, exc, match",
    [
        ({"c0": ["t"]}, {"t": -1}, ValueError, ">= 0"),
        ({"c0": ["t"]}, {"t": 2.0}, TypeError, "int"),
        ({"c0": ["t"]}, {"t": True}, TypeError, "int"),
        ({"c0": "t"}, {"t": 1}, TypeError, r"\['t'\]"),
        ({0: ["t"]}, {"t": 1}, TypeError, "member ids"),
        ({"c0": [0]}, {"t": 1}, TypeError, "not a str"),
        ({"c0": ["t"]}, {0: 1}, TypeError, "topic names"),
    ],
)
def test_bad_input_is_rejected(assign, subscriptions, counts, exc, match):
    with pytest.raises(exc, match=match):
        assign(subscriptions, counts)


@pytest.mark.parametrize("assign", ASSIGN_FUNCTIONS, ids=NAMES)
def test_malformed_previous_is_rejected(assign):
    with pytest.raises(TypeError):
        assign({"c0": ["t"]}, {"t": 1}, {"c0": ["t0"]})
    with pytest.raises(ValueError):
        assign({"c0": ["t"]}, {"t": 1}, {"c0": [("t", -1)]})


@pytest.mark.parametrize("assign", ASSIGN_FUNCTIONS, ids=NAMES)
def test_empty_group_and_topics_without_metadata(assign):
    assert assign({}, {"t": 3}) == {}
    # Kafka skips a subscribed topic that has no metadata; a topic with zero partitions is empty.
    assert assign({"c0": ["t", "missing", "empty"]}, {"t": 2, "empty": 0}) == {"c0": tps("tp0 tp1")}


def test_cooperative_plan_rejects_a_partition_given_twice():
    with pytest.raises(ValueError, match="both"):
        cooperative_plan({}, {"a": tps("tp0"), "b": tps("tp0")})


# --- properties ---------------------------------------------------------------------------------

TOPICS = ["t0", "t1", "t2", "t3"]
member_ids = st.lists(
    st.text(alphabet="abAB01-", min_size=1, max_size=3), min_size=1, max_size=6, unique=True
)
partition_counts = st.fixed_dictionaries({t: st.integers(min_value=0, max_value=7) for t in TOPICS})


@st.composite
def groups(draw, equal=False):
    """(subscriptions, partitions_per_topic): any subscriptions, or one shared by every member."""
    members = draw(member_ids)
    counts = draw(partition_counts)
    topic_sets = st.lists(st.sampled_from(TOPICS + ["unknown"]), unique=True, max_size=5)
    if equal:
        shared = draw(topic_sets)
        subscriptions = {member: list(shared) for member in members}
    else:
        subscriptions = {member: draw(topic_sets) for member in members}
    return subscriptions, counts


def reordered(subscriptions, counts, previous=None):
    """The same inputs with every mapping and collection in reverse order."""
    subs = {m: list(reversed(t)) for m, t in reversed(list(subscriptions.items()))}
    cnts = dict(reversed(list(counts.items())))
    prev = None
    if previous is not None:
        prev = {m: list(reversed(p)) for m, p in reversed(list(previous.items()))}
    return subs, cnts, prev


def check_valid(subscriptions, counts, result):
    """Every member present, lists sorted, each subscribed partition owned once by a subscriber."""
    assert set(result) == set(subscriptions)
    owners = {}
    for member, owned in result.items():
        assert owned == sorted(owned)
        for tp in owned:
            assert tp.topic in subscriptions[member], f"{member} owns {tp} without subscribing"
            assert tp not in owners, f"{tp} owned by {owners[tp]} and {member}"
            owners[tp] = member
    expected = {
        TopicPartition(t, p)
        for topics in subscriptions.values()
        for t in topics
        if t in counts
        for p in range(counts[t])
    }
    assert set(owners) == expected


def check_balanced_per_subscription(subscriptions, result):
    by_subscription = {}
    for member, topics in subscriptions.items():
        by_subscription.setdefault(frozenset(topics), []).append(len(result[member]))
    for sizes in by_subscription.values():
        assert max(sizes) - min(sizes) <= 1, f"unbalanced: {result}"


@pytest.mark.parametrize("assign", ASSIGN_FUNCTIONS, ids=NAMES)
@PROPERTY
@given(group=groups())
def test_property_valid_and_deterministic(assign, group):
    subscriptions, counts = group
    result = assign(subscriptions, counts)
    check_valid(subscriptions, counts, result)
    assert assign(*reordered(subscriptions, counts)) == result


@pytest.mark.parametrize(
    "assign", [roundrobin.assign, sticky.assign, cooperative_sticky.assign],
    ids=["roundrobin", "sticky", "cooperative-sticky"],
)
@PROPERTY
@given(group=groups(equal=True))
def test_property_balanced_for_equal_subscriptions(assign, group):
    subscriptions, counts = group
    check_balanced_per_subscription(subscriptions, assign(subscriptions, counts))


@PROPERTY
@given(group=groups(equal=True))
def test_property_range_is_balanced_per_topic(group):
    subscriptions, counts = group
    result = range_assignor.assign(subscriptions, counts)
    for topic in counts:
        sizes = [sum(tp.topic == topic for tp in owned) for owned in result.values()]
        if any(topic in topics for topics in subscriptions.values()):
            assert max(sizes) - min(sizes) <= 1


@PROPERTY
@given(group=groups())
def test_property_sticky_balanced_in_kafkas_sense(group):
    # No partition could move to a member subscribed to its topic that has two fewer.
    subscriptions, counts = group
    result = sticky.assign(subscriptions, counts)
    check_balanced_per_subscription(subscriptions, result)
    for owned in result.values():
        for receiver, topics in subscriptions.items():
            if len(owned) - len(result[receiver]) >= 2:
                assert not any(tp.topic in topics for tp in owned), result


@PROPERTY
@given(group=groups(equal=True))
def test_property_sticky_starts_like_round_robin(group):
    subscriptions, counts = group
    assert sticky.assign(subscriptions, counts) == roundrobin.assign(subscriptions, counts)


@pytest.mark.parametrize("assign", [range_assignor.assign, roundrobin.assign], ids=["range", "rr"])
@PROPERTY
@given(group=groups())
def test_property_eager_assignors_ignore_previous(assign, group):
    subscriptions, counts = group
    fresh = assign(subscriptions, counts)
    members = list(fresh)
    rotated = {m: fresh[members[(i + 1) % len(members)]] for i, m in enumerate(members)}
    assert assign(subscriptions, counts, rotated) == fresh


@PROPERTY
@given(group=groups())
def test_property_sticky_keeps_its_own_result(group):
    subscriptions, counts = group
    first = sticky.assign(subscriptions, counts)
    assert sticky.assign(subscriptions, counts, first) == first
    assert sticky.assign(*reordered(subscriptions, counts, first)) == first


@PROPERTY
@given(group=groups(equal=True), data=st.data())
def test_property_sticky_moves_only_the_partitions_of_a_member_that_left(group, data):
    subscriptions, counts = group
    assume(len(subscriptions) >= 2)
    before = sticky.assign(subscriptions, counts)
    leaving = data.draw(st.sampled_from(sorted(subscriptions)))
    remaining = {m: t for m, t in subscriptions.items() if m != leaving}
    after = sticky.assign(remaining, counts, before)
    check_valid(remaining, counts, after)
    check_balanced_per_subscription(remaining, after)
    for member in remaining:
        assert set(before[member]) <= set(after[member]), f"{member} lost a partition"


@PROPERTY
@given(group=groups(equal=True))
def test_property_sticky_new_member_only_takes(group):
    subscriptions, counts = group
    before = sticky.assign(subscriptions, counts)
    newcomer = "~new"  # sorts after every generated id
    joined = dict(subscriptions, **{newcomer: next(iter(subscriptions.values()))})
    after = sticky.assign(joined, counts, before)
    check_valid(joined, counts, after)
    check_balanced_per_subscription(joined, after)
    for member in subscriptions:
        assert set(after[member]) <= set(before[member]), f"{member} gained during a join"


@st.composite
def previous_assignments(draw, subscriptions):
    """Arbitrary, even invalid, ownership: unknown members, stale topics, double claims."""
    candidates = [TopicPartition(t, p) for t in TOPICS + ["gone"] for p in range(9)]
    owners = list(subscriptions) + ["departed"]
    return {m: draw(st.lists(st.sampled_from(candidates), max_size=8)) for m in owners}


@PROPERTY
@given(group=groups(), data=st.data())
def test_property_sticky_tolerates_any_previous(group, data):
    subscriptions, counts = group
    previous = data.draw(previous_assignments(subscriptions))
    result = sticky.assign(subscriptions, counts, previous)
    check_valid(subscriptions, counts, result)
    check_balanced_per_subscription(subscriptions, result)
    assert sticky.assign(*reordered(subscriptions, counts, previous)) == result


def check_plan(previous, target, revoke, assign_now):
    assert set(revoke) == set(assign_now) == set(target)
    owners_after_round1 = {}
    for member in target:
        had, want = set(previous.get(member, ())), set(target[member])
        assert set(revoke[member]) == had - want
        assert set(assign_now[member]) <= want
        # What a member keeps it keeps consuming through round 1.
        assert had & want <= set(assign_now[member])
        for tp in assign_now[member]:
            assert tp not in owners_after_round1
            owners_after_round1[tp] = member
    # Withheld exactly: partitions another current member owned before.
    for member in target:
        for tp in set(target[member]) - set(assign_now[member]):
            assert any(tp in previous.get(other, ()) for other in target if other != member)


@PROPERTY
@given(group=groups(), data=st.data())
def test_property_cooperative_plan_first_round(group, data):
    subscriptions, counts = group
    before = cooperative_sticky.assign(subscriptions, counts)
    # Some members leave, one joins, with whatever subscriptions.
    survivors = data.draw(st.lists(st.sampled_from(sorted(subscriptions)), unique=True))
    now = {m: subscriptions[m] for m in survivors}
    now["~new"] = data.draw(st.lists(st.sampled_from(TOPICS), unique=True))
    target = cooperative_sticky.assign(now, counts, before)
    revoke, assign_now = cooperative_plan(before, target)
    check_plan(before, target, revoke, assign_now)


@PROPERTY
@given(group=groups(equal=True), data=st.data())
def test_property_cooperative_rebalance_converges_in_two_rounds(group, data):
    subscriptions, counts = group
    before = cooperative_sticky.assign(subscriptions, counts)
    survivors = data.draw(st.lists(st.sampled_from(sorted(subscriptions)), unique=True))
    shared = next(iter(subscriptions.values()))
    now = {m: shared for m in survivors + ["~new"]}
    target = cooperative_sticky.assign(now, counts, before)
    _, round1 = cooperative_plan(before, target)
    round2 = cooperative_sticky.assign(now, counts, round1)
    check_valid(now, counts, round2)
    revoke2, assign_now2 = cooperative_plan(round1, round2)
    assert all(not revoked for revoked in revoke2.values())
    assert assign_now2 == round2
