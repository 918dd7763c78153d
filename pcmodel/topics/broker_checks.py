"""Argument checks shared by the broker's parts (and by the cluster's and the admin client's
calls that take the same arguments): integers with a minimum, wait timeouts, election types,
lists of names, ids, partitions or objects, which refuse a bare str and a mapping (both
iterables, walked as characters or as keys), and mappings, which refuse anything else (a str
or a list has no ``items()``).

Each raises ``TypeError`` for a value of the wrong type and the given Kafka error (or
``IllegalArgumentError``) for one out of range, with a message that says what was expected, so
a bad request fails before the broker lock is taken and before anything changes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from numbers import Number
from typing import Any, TypeVar

from pcmodel.topics.errors import IllegalArgumentError, InvalidRequestError
from pcmodel.topics.structs import ElectionType, TopicPartition, validate_topic_partition

__all__ = [  # the rest is package-internal
    "DEFAULT_GROUP_MAX_SESSION_TIMEOUT_MS",
    "DEFAULT_GROUP_MIN_SESSION_TIMEOUT_MS",
    "INT16_MAX",
    "INT32_MAX",
    "INT64_MAX",
]

_T = TypeVar("_T")

# The largest values of Kafka's wire types (Java's Short, Integer and Long.MAX_VALUE). A value
# the broker stores or answers must fit the field Kafka carries it in, or a Kafka client could
# not be sent it: an encoder fails on it, or the answer is cut. So each such entry point takes
# one of these as its ``maximum``.
#: int16: producer epochs (Produce, InitProducerId, WriteTxnMarkers) and replication factors.
INT16_MAX = 2**15 - 1
#: int32: partition counts and ids, leader and coordinator epochs, base sequences, generations,
#: session and rebalance timeouts.
INT32_MAX = 2**31 - 1
#: int64: offsets, timestamps (ms), producer ids and retention times.
INT64_MAX = 2**63 - 1

#: The bounds of a classic group member's session timeout: Kafka's
#: ``group.min.session.timeout.ms`` and ``group.max.session.timeout.ms`` broker settings. The
#: maximum is Kafka's default; the minimum is not: Kafka's is 6000, which would refuse the
#: sessions of 0.1 to 3 s that pcmodel's tests and the cluster's fault campaigns give their
#: members, so that a silent one is seen to leave within a run.
DEFAULT_GROUP_MIN_SESSION_TIMEOUT_MS = 1
DEFAULT_GROUP_MAX_SESSION_TIMEOUT_MS = 1_800_000


def _check_flag(name: str, value: object) -> bool:
    """``value`` itself if it is ``True`` or ``False``; ``TypeError`` naming ``name`` for
    anything else (``"no"`` would be taken for yes, ``1`` for True)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def _check_cancel(cancel: object) -> threading.Event | None:
    """A fetch's ``cancel``: ``None`` or a ``threading.Event``; ``TypeError`` for anything
    else (a flag or a callable would never be seen set)."""
    if cancel is not None and not isinstance(cancel, threading.Event):
        raise TypeError(f"cancel must be a threading.Event or None, got {cancel!r}")
    return cancel


def _check_int(name: str, value: Any, minimum: int, error: type[Exception],
               maximum: int | None = None) -> int:
    """``value`` itself if it is an int (not a bool) from ``minimum`` to ``maximum`` (``None``:
    no upper bound); ``TypeError`` for another type, ``error`` for an int out of range."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise error(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise error(f"{name} must be <= {maximum}, got {value}")
    return value


def _check_list(name: str, values: Iterable[_T], of: str = "str") -> list[_T]:
    """``values`` as a list, or ``TypeError`` for a bare ``str``, ``bytes`` or ``bytearray``,
    for a mapping (a ``dict``) and for a value that is not iterable at all (a single object
    given where a list goes): a str is an iterable, so ``describe_transactions("tx-1")`` would
    otherwise ask for the ids ``"t"``, ``"x"``, ``"-"`` and ``"1"`` (and bytes for ints), and
    a mapping is walked as its keys, so ``describe_transactions({"tx-1": 1})`` would ask for
    ``"tx-1"`` and drop what the values meant. A call whose argument may be a mapping says so
    and handles that case before this check. ``of`` names what the list holds, for the
    message."""
    if isinstance(values, (str, bytes, bytearray, Mapping)) or not isinstance(values, Iterable):
        raise TypeError(f"{name} must be a list of {of}, not the {type(values).__name__} "
                        f"{values!r}")
    return list(values)


def _check_entries(name: str, values: Iterable[object], kind: type[_T]) -> list[_T]:
    """``values`` as a list of ``kind``: ``TypeError`` as :func:`_check_list` for a bare str,
    a mapping or a value that is not a list, and for an entry that is not a ``kind``, naming its
    position (``config_resources[1] must be a ConfigResource, not the str 'orders'``), so
    that no entry is used before every one is checked."""
    listed = _check_list(name, values, kind.__name__)
    for position, value in enumerate(listed):
        if not isinstance(value, kind):
            raise TypeError(f"{name}[{position}] must be a {kind.__name__}, not the "
                            f"{type(value).__name__} {value!r}")
    return listed  # type: ignore[return-value] - every entry is a kind


def _check_tuples(name: str, values: Iterable[object], size: int,
                  of: str) -> list[tuple[Any, ...]]:
    """``values`` as a list of tuples of ``size`` entries each: ``TypeError`` as
    :func:`_check_list` for a bare str, a mapping (``{"retention.ms": "1000"}`` where
    ``[("retention.ms", AlterConfigOp.SET, "1000")]`` goes), a value that is not a list and an
    entry that is not a tuple, and for a tuple of another length, naming its position. ``of``
    says what each tuple holds, for the message."""
    listed = _check_list(name, values, f"{of} tuples")
    for position, value in enumerate(listed):
        if not isinstance(value, tuple) or len(value) != size:
            raise TypeError(f"{name}[{position}] must be a tuple {of}, not the "
                            f"{type(value).__name__} {value!r}")
    return listed


def _check_mapping(name: str, value: object, of: str) -> Mapping[Any, Any]:
    """``value`` itself if it is a mapping, else ``TypeError`` (``offsets must be a mapping
    of TopicPartition to int, not the str 'x'``): a str, a list or another object has no
    ``items()``, and would otherwise fail with an ``AttributeError`` from inside the call.
    ``of`` says what maps to what, for the message. Call it before anything changes."""
    if not isinstance(value, Mapping):
        raise TypeError(f"{name} must be a mapping of {of}, not the {type(value).__name__} "
                        f"{value!r}")
    return value


def _check_partitions(name: str, values: Iterable[object]) -> list[TopicPartition]:
    """``values`` as a list of :class:`TopicPartition`: ``TypeError`` for a bare ``str``,
    ``bytes`` or a mapping (as :func:`_check_list`; ``{TopicPartition: offset}`` would be
    taken as its partitions alone) and, from ``validate_topic_partition``, for an entry
    that is not a topic partition. A single ``TopicPartition`` is refused too: it is a
    2-tuple, which would be walked as the entries ``"t"`` and ``0``."""
    if isinstance(values, TopicPartition):
        raise TypeError(f"{name} must be a list of TopicPartition, not the TopicPartition "
                        f"{values!r}: pass [{values!r}]")
    return [validate_topic_partition(tp) for tp in _check_list(name, values, "TopicPartition")]


def _check_timeout(timeout: float | None) -> None:
    if timeout is None:
        return
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds or None, got {timeout!r}")
    # NaN compares false with everything: without this check a wait loop would never end.
    if not 0 <= timeout <= threading.TIMEOUT_MAX:
        raise IllegalArgumentError(
            f"timeout must be a number of seconds from 0 to {threading.TIMEOUT_MAX:g}, "
            f"or None to wait for ever; got {timeout}"
        )


def _check_marker(producer_id: object, producer_epoch: object, commit: object,
                  coordinator_epoch: object) -> None:
    """Raise ``IllegalArgumentError`` (``TypeError`` for ``commit`` and non-ints) unless these
    are the arguments of a transaction marker: the producer's id and epoch ints ``>= 0``, the
    coordinator epoch an int ``>= -1`` (an administrator's abort may send ``-1``, older than
    any coordinator's), each within its field of WriteTxnMarkers (int64, int16, int32),
    ``commit`` a bool."""
    _check_int("producer_id", producer_id, 0, IllegalArgumentError, INT64_MAX)
    _check_int("producer_epoch", producer_epoch, 0, IllegalArgumentError, INT16_MAX)
    _check_int("coordinator_epoch", coordinator_epoch, -1, IllegalArgumentError, INT32_MAX)
    _check_flag("commit", commit)


def _check_producer_batch(producer_id: object, producer_epoch: object,
                          first_sequence: object) -> None:
    """Raise ``IllegalArgumentError`` (``TypeError`` for non-ints) unless these are the
    producer fields of an idempotent batch, each an int within its field of a Produce
    request's record batch: the producer id an int64 from 0, its epoch any int16 (Kafka's
    ``LogValidator`` checks no epoch: -1 is taken, an older one refused by the partition, see
    :mod:`~pcmodel.topics.idempotence`), the base sequence an int32 from 0 (sequences wrap to 0
    past it, as Kafka's do). Checked once per batch."""
    _check_int("producer_id", producer_id, 0, IllegalArgumentError, INT64_MAX)
    _check_int("producer_epoch", producer_epoch, -INT16_MAX - 1, IllegalArgumentError,
               INT16_MAX)
    _check_int("first_sequence", first_sequence, 0, IllegalArgumentError, INT32_MAX)


def _check_init_producer_ids(producer_id: object, producer_epoch: object) -> None:
    """Raise ``IllegalArgumentError`` (``TypeError`` for non-ints) for a ``producer_id`` or
    ``producer_epoch`` of InitProducerId beyond its field (int64, int16; only the upper bounds:
    a negative one is "none", as on the wire), and ``InvalidRequestError`` when exactly one of
    them is -1: an id without its epoch, or the reverse (Kafka's
    ``KafkaApis.handleInitProducerIdRequest``, before anything else)."""
    _check_int("producer_id", producer_id, -INT64_MAX - 1, IllegalArgumentError, INT64_MAX)
    _check_int("producer_epoch", producer_epoch, -INT16_MAX - 1, IllegalArgumentError,
               INT16_MAX)
    if (producer_id == -1) != (producer_epoch == -1):
        raise InvalidRequestError(
            f"producer_id {producer_id} with producer_epoch {producer_epoch}: give both (an "
            "id and its current epoch) or neither (-1 and -1)")


def _check_election_type(value: Any) -> ElectionType:
    """``value`` as an :class:`~pcmodel.topics.structs.ElectionType` (the enum or the int 0 or
    1); ``TypeError`` for a bool or another number that is not an int (``1.0`` equals 1, and
    would otherwise be taken for UNCLEAN), ``InvalidRequestError`` (Kafka's answer to an
    unknown election type) for anything else."""
    if isinstance(value, bool) or (isinstance(value, Number) and not isinstance(value, int)):
        raise TypeError(f"election_type must be an ElectionType or the int 0 or 1, not the "
                        f"{type(value).__name__} {value!r}")
    try:
        return ElectionType(value)
    except ValueError:
        pass
    raise InvalidRequestError(f"unknown election type {value!r}: use ElectionType.PREFERRED "
                              "(0) or ElectionType.UNCLEAN (1)")


def _check_heartbeat_below_session(heartbeat_ms: int, session_ms: int) -> None:
    """Kafka's broker refuses to start unless ``group.consumer.heartbeat.interval.ms`` is less
    than ``group.consumer.session.timeout.ms`` (``GroupCoordinatorConfig``): a member told to
    beat less often than its session lasts would leave its group between two beats."""
    if heartbeat_ms >= session_ms:
        raise IllegalArgumentError(
            f"group_consumer_heartbeat_interval_ms must be less than "
            f"group_consumer_session_timeout_ms, got {heartbeat_ms} and {session_ms}")


def _check_session_timeout_bounds(minimum: object, maximum: object) -> tuple[int, int]:
    """``(group_min_session_timeout_ms, group_max_session_timeout_ms)`` checked:
    ``TypeError`` unless both are ints, ``IllegalArgumentError`` unless ``1 <= minimum <=
    maximum <= INT32_MAX``. Kafka types both INT and checks nothing more; a broker whose
    bounds admit no session timeout, or a session that ends before it starts, would refuse or
    drop every classic member, so these are refused before it starts."""
    low = _check_int("group_min_session_timeout_ms", minimum, 1, IllegalArgumentError,
                     INT32_MAX)
    high = _check_int("group_max_session_timeout_ms", maximum, 1, IllegalArgumentError,
                      INT32_MAX)
    if high < low:
        raise IllegalArgumentError(
            f"group_max_session_timeout_ms must be >= group_min_session_timeout_ms, got "
            f"{high} and {low}")
    return low, high
