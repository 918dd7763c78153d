"""The topic part of :class:`~pcmodel.topics.admin.KafkaAdminClient`: creating and deleting
topics.

``create_topics`` (Kafka's CreateTopics) and ``delete_topics`` (DeleteTopics), with kafka-python
3's arguments (a list of :class:`NewTopic`, a list of names, or kafka-python 3's dict), results
and errors. Everything a topic asks for is checked before anything is created: its configs
(:mod:`pcmodel.topics.topic_configs`), its replication factor against the live brokers, its
hand-placed replicas (:mod:`pcmodel.topics.replica_placement`).

Prior art: kafka-python's ``kafka/admin/_topics.py`` (``create_topics``, ``delete_topics``) and
the Java ``Admin`` interface (``createTopics``, ``deleteTopics``).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping
from typing import Any, TypeVar

from pcmodel.topics.admin_partitions import error_fields
from pcmodel.topics.broker_checks import _check_list
from pcmodel.topics.errors import (
    BrokerResponseError,
    InvalidConfigurationError,
    InvalidRequestError,
    UnknownTopicIdError,
)
from pcmodel.topics.replica_placement import new_topic_assignment, replication_factor_on
from pcmodel.topics.topic_configs import (
    check_topic_configs,
    describe_topic_configs,
    topic_options,
)
from pcmodel.topics.topic_settings import (
    METADATA_TOPIC,
    check_new_topic_name,
    check_new_topic_size,
    check_topic_name,
)

__all__ = ["NewTopic", "TopicsAdminMixin"]

_K = TypeVar("_K", bound=Hashable)


class NewTopic:
    """A topic to create: kafka-python's ``NewTopic`` (name, partitions, replication, configs).

    ``num_partitions=-1`` takes the broker's ``num_partitions``; ``replication_factor=-1``
    (the default) the broker's default factor. A lone ``Broker`` takes 1 only; a ``Cluster``
    up to its live brokers. ``replica_assignments`` (``{partition: [broker ids]}``, partitions
    0, 1, 2..., preferred leader first) places the replicas by hand instead; both counts must
    then be ``-1`` (Kafka's rule). A lone broker is broker 0. ``topic_configs`` are Kafka's
    names, honoured or refused as :mod:`pcmodel.topics.topic_configs` says (``retention.ms``,
    ``cleanup.policy=delete``, and on a cluster ``min.insync.replicas`` and
    ``unclean.leader.election.enable``).
    """

    def __init__(
        self,
        name: str,
        num_partitions: int = -1,
        replication_factor: int = -1,
        replica_assignments: Mapping[int, list[int]] | None = None,
        topic_configs: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.num_partitions = num_partitions
        self.replication_factor = replication_factor
        self.replica_assignments = dict(replica_assignments or {})
        self.topic_configs = dict(topic_configs or {})

    def __repr__(self) -> str:
        return f"NewTopic(name={self.name!r}, num_partitions={self.num_partitions})"


def _named_once(names: list[_K]) -> tuple[set[_K], list[_K]]:
    """The names (or topic ids) that appear once, and those that appear more often (each
    once, in order): Kafka's controller acts on neither kind of entry of the second."""
    counts = Counter(names)
    return {name for name, n in counts.items() if n == 1}, [n for n, c in counts.items() if c > 1]


def _duplicate() -> InvalidRequestError:
    """Kafka's answer to a topic named twice in one request."""
    return InvalidRequestError("Duplicate topic name.")


def _prohibited() -> InvalidRequestError:
    """Kafka's answer to a request to create a KRaft cluster's metadata log (``ControllerApis``
    answers it after the other topics, whether or not it exists, with ``validate_only`` too)."""
    return InvalidRequestError(f"Creation of internal topic {METADATA_TOPIC} is prohibited.")


def _check_config_values(configs: Mapping[str, Any]) -> None:
    """Refuse configs given without a value, all named at once, as Kafka's controller does
    before it checks any config (``ReplicationControlManager.computeConfigChanges``):
    ``InvalidConfigurationError`` "Null value not supported for topic configs: a,b"."""
    unset = [name for name, value in configs.items() if value is None]
    if unset:
        raise InvalidConfigurationError(
            f"Null value not supported for topic configs: {','.join(unset)}")


def _id_text(topic_id: uuid.UUID | None) -> str | None:
    """A topic id as kafka-python's admin client gives it in these answers: as text."""
    return None if topic_id is None else str(topic_id)


class TopicsAdminMixin:
    """Creating and deleting topics (KafkaAdminClient part: the client provides ``_conn``,
    ``_given``, ``_check_open()``, ``_replicated()`` and ``_topic_ids()``)."""

    def create_topics(
        self,
        new_topics: Iterable[NewTopic | str] | Mapping[str, Mapping[str, Any]],
        timeout_ms: float | None = None,
        validate_only: bool = False,
        raise_errors: bool = True,
        wait_for_metadata: bool = False,
    ) -> dict[str, Any]:
        """Create topics; return ``{"topics": [{"name", "topic_id", "error_code",
        "error_message", "topic_config_error_code", "num_partitions", "replication_factor"}]}``
        as kafka-python 3 does: the partitions and replication factor each topic got (the
        broker's defaults resolved), ``-1`` for a topic that was not created, ``topic_id``
        the new topic's id as text (``None`` for a topic not created, or only validated), and
        for a topic created (or validated) its every
        config, ``{"configs": {name: {"value", "read_only", "config_source",
        "is_sensitive"}}}``.

        ``new_topics`` is a list of :class:`NewTopic`, a list of names, or kafka-python 3's dict
        ``{name: {"num_partitions": n, "replication_factor": r, "configs": {...}}}``. Each topic
        is created on its own; with ``raise_errors`` the first failure (``TopicAlreadyExistsError``,
        ``InvalidTopicError``, ``InvalidPartitionsError``, ...) is raised after the others were
        tried, as kafka-python raises from the response. A name given twice is created for
        neither entry: it is answered once, after the others, ``InvalidRequestError``
        "Duplicate topic name.", as Kafka answers. Two names that differ only by ``.`` against
        ``_`` are both created, as Kafka's controller checks collisions only against the
        topics that existed before the request; ``"__cluster_metadata"`` (a KRaft
        cluster's own log) is never created: it is answered last, ``InvalidRequestError``
        "Creation of internal topic __cluster_metadata is prohibited.". A config given as
        ``None`` is ``InvalidConfigurationError`` "Null value not supported for topic configs:
        ...", naming every such config, before any other config is checked (Kafka's order).
        ``validate_only`` checks and creates nothing. A created topic is visible at once
        (``wait_for_metadata`` changes nothing). Raises, as kafka-python does, before anything
        is created: ``ValueError`` for ``validate_only`` with ``wait_for_metadata``, and
        ``ValueError`` "No valid topics found" for no topic (an empty list or dict) or a list
        that mixes names and :class:`NewTopic`.
        """
        self._check_open()
        if validate_only and wait_for_metadata:  # as kafka-python refuses them, first
            raise ValueError("validate_only and wait_for_metadata are mutually exclusive")
        specs = _topic_specs(new_topics)
        once, twice = _named_once([spec.name for spec in specs])
        results, first_error = [], None
        to_create = [spec for spec in specs if spec.name in once and spec.name != METADATA_TOPIC]
        made: list[str] = []  # may be collided with, as in Kafka: check_new_topic_name
        for spec in to_create:
            error = None
            partitions, replication = spec.num_partitions, 1
            try:  # in the order of Kafka's checks: name and clashes first, then the rest
                check_topic_name(spec.name)
                # Every topic, internal ones included (Kafka checks against them all).
                check_new_topic_name(spec.name, self._conn.topic_ids(), made)
                partitions, kwargs = self._create_arguments(spec)
                if "replica_assignment" in kwargs:
                    replication = len(kwargs["replica_assignment"][0])
                elif self._replicated():
                    replication = (kwargs["replication_factor"]
                                   or self._conn.default_replication_factor)
                check_new_topic_size(partitions, spec.topic_configs or {})  # validate_only too
                if not validate_only:
                    if made:
                        kwargs["created_with"] = tuple(made)
                    self._conn.create_topic(spec.name, partitions, **kwargs)
                    made.append(spec.name)
            except BrokerResponseError as exc:
                error = exc
            created = error is None and not validate_only
            result = {
                "name": spec.name,
                "topic_id": _id_text(self._topic_ids().get(spec.name)) if created else None,
                **error_fields(error),
                "topic_config_error_code": 0,
                # As Kafka answers: what the topic got, or -1 when it was not created.
                "num_partitions": partitions if error is None else -1,
                "replication_factor": replication if error is None else -1,
            }
            if error is None:  # and its every config, as CreateTopics v5+ answers
                result["configs"] = {
                    entry.name: {"value": entry.value, "read_only": entry.read_only,
                                 "config_source": entry.source.name,
                                 "is_sensitive": entry.sensitive}
                    for entry in describe_topic_configs(check_topic_configs(spec.topic_configs))}
            results.append(result)
            first_error = first_error or error
        for name in twice:  # answered after the others, as Kafka's ControllerApis does
            results.append({"name": name, "topic_id": None, **error_fields(_duplicate()),
                            "topic_config_error_code": 0, "num_partitions": -1,
                            "replication_factor": -1})
            first_error = first_error or _duplicate()
        if METADATA_TOPIC in once:  # answered last, as Kafka's ControllerApis does
            results.append({"name": METADATA_TOPIC, "topic_id": None,
                            **error_fields(_prohibited()), "topic_config_error_code": 0,
                            "num_partitions": -1, "replication_factor": -1})
            first_error = first_error or _prohibited()
        if raise_errors and first_error is not None:
            raise first_error
        return {"topics": results}

    def delete_topics(
        self, topics: Iterable[str | uuid.UUID], timeout_ms: float | None = None,
        raise_errors: bool = True,
    ) -> dict[str, Any]:
        """Delete topics with their records and committed offsets.

        Returns ``{"topics": [{"name", "topic_id", "error_code", "error_message"}]}``, as
        kafka-python 3 does (``topic_id``: the deleted topic's id as text, ``None`` for a
        topic that did not exist). Each topic is deleted by name in one step, as Kafka's
        controller deletes it: the id answered is the one of the topic deleted, even if
        another client deleted and created it again just before (on a cluster the id is read
        just before the deletion). A name given twice deletes nothing and is answered once,
        after the others, ``InvalidRequestError`` "Duplicate topic name.", as Kafka answers;
        with ``raise_errors`` the first failure (``UnknownTopicOrPartitionError``, ...) is
        raised. Raises ``TypeError`` for a bare str (pass ``["orders"]``), before any topic
        is deleted.

        A ``uuid.UUID`` in ``topics`` is a topic id, as kafka-python sends it (DeleteTopics
        v6): that topic is deleted by its id in one step, so a topic deleted and created again
        under the same name meanwhile is not deleted, and answered with its name. As Kafka's
        ``ControllerApis.deleteTopics`` answers: an id no topic has is
        ``UnknownTopicIdError`` (UNKNOWN_TOPIC_ID) with ``name`` ``None``; the zero id is
        ``InvalidRequestError`` "Neither topic name nor id were specified."; an id given
        twice deletes nothing and is answered once, after the duplicate names, "Duplicate
        topic id."; a name whose topic's id is given too deletes neither, the name answered
        "The provided topic name maps to an ID that was already supplied." and the id not at
        all.
        """
        self._check_open()
        given = _check_list("topics", topics)
        names = [entry for entry in given if not isinstance(entry, uuid.UUID)]
        ids = [entry for entry in given if isinstance(entry, uuid.UUID) and entry.int != 0]
        names_once, names_twice = _named_once(names)
        ids_once, ids_twice = _named_once(ids)
        known = self._topic_ids() if ids else {}
        # Kafka deletes neither a name whose topic's id is given too, nor that id.
        given_ids = set(ids)
        clashing = {name: known[name] for name in names_once if known.get(name) in given_ids}
        results, first_error = [], None
        for entry in given:
            error = None
            if not isinstance(entry, uuid.UUID):
                if entry not in names_once:
                    continue  # a duplicate, answered below
                name, topic_id = entry, clashing.get(entry)
                if topic_id is not None:
                    error = InvalidRequestError("The provided topic name maps to an ID that "
                                                "was already supplied.")
                else:
                    try:
                        topic_id = self._delete_topic(entry)
                    except BrokerResponseError as exc:
                        error = exc
            elif entry.int == 0:  # the id the wire sends for "no id": Kafka answers each
                name, topic_id = None, None
                error = InvalidRequestError("Neither topic name nor id were specified.")
            elif entry in ids_once and entry not in clashing.values():
                name, topic_id, error = self._delete_topic_by_id(entry, known)
            else:
                continue  # a duplicate (answered below) or the id of a clashing name
            results.append({"name": name, "topic_id": _id_text(topic_id), **error_fields(error)})
            first_error = first_error or error
        # Answered after the others, as Kafka's ControllerApis does.
        refused = [(name, None, _duplicate()) for name in names_twice] + [
            (None, topic_id, InvalidRequestError("Duplicate topic id."))
            for topic_id in ids_twice]
        for name, topic_id, error in refused:
            results.append({"name": name, "topic_id": _id_text(topic_id), **error_fields(error)})
            first_error = first_error or error
        if raise_errors and first_error is not None:
            raise first_error
        return {"topics": results}

    def _delete_topic_by_id(
        self, topic_id: uuid.UUID, known: Mapping[str, uuid.UUID],
    ) -> tuple[str | None, uuid.UUID, BrokerResponseError | None]:
        """Delete the topic whose id is ``topic_id`` in one step (the broker looks the id up
        under the same lock as it deletes); return the name, the id and the error to answer,
        the name being the one ``known`` gave the id when the deletion failed."""
        try:
            name = self._conn.delete_topic_by_id(topic_id)
        except BrokerResponseError as exc:
            return next((n for n, i in known.items() if i == topic_id), None), topic_id, exc
        if name is None:
            return None, topic_id, UnknownTopicIdError(UnknownTopicIdError.description)
        return name, topic_id, None

    def _delete_topic(self, name: str) -> uuid.UUID | None:
        """Delete topic ``name`` by name in one step, as Kafka's controller does; return the
        id of the topic deleted, which the broker reads under the same lock as it deletes: a
        topic another client deletes and creates again meanwhile can never lend its id."""
        return self._conn.delete_topic(name)

    def _create_arguments(self, spec: NewTopic) -> tuple[int, dict[str, Any]]:
        """The partition count and broker ``create_topic`` keyword arguments for a NewTopic;
        refuse what cannot be done (Kafka's errors) before anything changes."""
        _check_config_values(spec.topic_configs)
        topic_options(spec.topic_configs, replicates=self._replicated())  # checks them
        kwargs: dict[str, Any] = {"configs": spec.topic_configs}
        if spec.replica_assignments:
            placed = new_topic_assignment(  # a lone broker is broker 0
                self._conn, spec.num_partitions, spec.replication_factor,
                spec.replica_assignments.items(), node_id=0)
            if self._replicated():
                kwargs["replica_assignment"] = placed
            return len(placed), kwargs
        # Kafka checks the partition count between the factor's own value and its placement.
        rf = replication_factor_on(self._conn, spec.replication_factor,
                                   partitions=spec.num_partitions)
        if self._replicated():
            kwargs["replication_factor"] = rf
        partitions = spec.num_partitions
        if partitions == -1:  # Kafka's num.partitions: the broker's setting
            partitions = self._broker_num_partitions()
        return partitions, kwargs

    def _broker_num_partitions(self) -> int:
        """The broker's ``num.partitions``, read from its configs, which a broker in another
        process serves too (its attribute of that name does not cross the process boundary);
        a cluster's own setting."""
        if self._replicated():
            return getattr(self._given, "num_partitions", 1)
        entries = self._conn.describe_broker_configs()
        return next(int(e.value) for e in entries if e.name == "num.partitions")


def _topic_specs(
    new_topics: Iterable[NewTopic | str] | Mapping[str, Mapping[str, Any]],
) -> list[NewTopic]:
    """The :class:`NewTopic` of each topic, from any of the shapes ``create_topics`` takes."""
    if isinstance(new_topics, (str, bytes, NewTopic)):
        raise TypeError("new_topics must be a list of NewTopic or names, or a dict of them, "
                        f"not the {type(new_topics).__name__} {new_topics!r}")
    if isinstance(new_topics, Mapping):
        specs = [
            NewTopic(name, opts.get("num_partitions", -1), opts.get("replication_factor", -1),
                     opts.get("assignments"), opts.get("configs"))
            for name, opts in new_topics.items()
        ]
    else:
        given = list(new_topics)
        if all(isinstance(t, str) for t in given):
            specs = [NewTopic(t) for t in given]
        elif all(isinstance(t, NewTopic) for t in given):
            specs = given
        else:  # kafka-python finds no topic in a list that mixes names and NewTopic
            specs = []
    if not specs:
        raise ValueError(f"No valid topics found in new_topics: {new_topics!r}")
    return specs
