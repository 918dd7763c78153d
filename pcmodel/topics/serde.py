"""Serializers and deserializers: plain functions, or objects as Kafka's clients define them.

Kafka's Java client and kafka-python 3 take serializer *objects*: a ``Serializer`` has
``serialize(topic, headers, data) -> bytes``, a ``Deserializer`` has
``deserialize(topic, headers, data)``, and the client calls their ``close()`` when it closes.
kafka-python 2 took plain functions, ``f(data) -> bytes`` and ``f(bytes) -> data``, which
kafka-python 3 still accepts with a ``DeprecationWarning``. pcmodel takes both, without a
warning: a function is the shortest way to say it in a lesson, an object what a program written
for today's clients passes (``kafka.serializer.Serializer`` subclasses included).

* An object's method may take ``(topic, headers, data)`` or ``(topic, data)``, the two forms
  of the Java interface (kafka-python 3 retries with two arguments when the three-argument call
  raises ``TypeError``; here the method's signature decides, once, so a ``TypeError`` raised
  inside a serializer is reported as its failure rather than hidden by a second call).
* ``headers`` is the record's list of ``(str, bytes)`` pairs. A serializer may append to it,
  as the Java client's may add to its ``Headers``: what it appends is sent with the record.
* A ``None`` key or value is never passed to either form: it stays ``None`` (no key, or a
  tombstone). The Java client passes ``null`` to the serializer, and its own serializers give
  ``null`` back, so for them the outcome is the same; kafka-python 3 passes ``None`` on too.
* ``close()`` is called on objects, not on functions, once, when the producer or consumer
  closes; every one is closed even if one raises, and then the first error is raised again
  (the Java client's ``closeQuietly`` then ``KafkaException``).

The base classes and the two ready-made ones carry kafka-python 3's names (``Serializer``,
``Deserializer``, ``DefaultSerializer``, ``JsonSerializer``), so a program that imports them
from ``kafka`` runs here after changing that import; any object with the method will do.
"""

from __future__ import annotations

import inspect
import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from pcmodel.topics.errors import KafkaConfigurationError, KafkaError

__all__ = ["Conversion", "DefaultSerializer", "Deserializer", "JsonSerializer", "Serializer",
           "close_all", "converter", "object_form"]

Conversion = tuple[Callable[..., Any] | None, bool]
"""A key or value conversion as the client calls it, and whether it takes the headers: a function
``f(data)`` (False), or ``f(topic, headers, data)`` (True); ``(None, False)`` for none."""


class Serializer(ABC):
    """Turns a key or value into bytes for a producer (kafka-python 3's and Java's interface)."""

    @abstractmethod
    def serialize(self, topic: str, headers: list[tuple[str, bytes]], data: Any) -> bytes | None:
        """``data`` as bytes; may append ``(str, bytes)`` pairs to ``headers``."""

    def close(self) -> None:  # noqa: B027 - optional, as in kafka-python and Java
        """Called once when the producer closes; nothing to release by default."""


class Deserializer(ABC):
    """Turns a record's key or value bytes back into an object for a consumer."""

    @abstractmethod
    def deserialize(self, topic: str, headers: list[tuple[str, bytes]], data: bytes) -> Any:
        """The object ``data`` encodes."""

    def close(self) -> None:  # noqa: B027 - optional, as in kafka-python and Java
        """Called once when the consumer closes; nothing to release by default."""


class DefaultSerializer(Serializer, Deserializer):
    """Text to bytes and back in ``encoding``; bytes-like values pass through unchanged."""

    def __init__(self, encoding: str = "utf-8") -> None:
        self.encoding = encoding

    def serialize(self, topic: str, headers: list[tuple[str, bytes]], data: Any) -> Any:
        if data is None or isinstance(data, (bytes, bytearray, memoryview)):
            return data
        return data.encode(self.encoding)

    def deserialize(self, topic: str, headers: list[tuple[str, bytes]], data: bytes) -> Any:
        return None if data is None else data.decode(self.encoding)


class JsonSerializer(DefaultSerializer):
    """Any JSON-able object to its JSON text in bytes, and back."""

    def serialize(self, topic: str, headers: list[tuple[str, bytes]], data: Any) -> Any:
        return None if data is None else super().serialize(topic, headers, json.dumps(data))

    def deserialize(self, topic: str, headers: list[tuple[str, bytes]], data: bytes) -> Any:
        return None if data is None else json.loads(super().deserialize(topic, headers, data))


def converter(name: str, given: Any, method: str) -> Conversion:
    """``given`` (a function, an object with ``method``, or None) as a :data:`Conversion`.

    ``name`` is the setting (``value_serializer``), ``method`` ``"serialize"`` or
    ``"deserialize"``. Raises ``KafkaConfigurationError`` for anything else, and for a class
    passed where an instance was meant.
    """
    if given is None:
        return None, False
    if isinstance(given, type):
        raise KafkaConfigurationError(
            f"{name} must be a function or an object, got the class {given.__name__}; "
            f"pass an instance: {name}={given.__name__}()")
    bound = getattr(given, method, None)
    if callable(bound):
        if _takes_two(bound):
            return (lambda topic, headers, data: bound(topic, data)), True
        return bound, True
    if callable(given):
        return given, False  # called as it is: no wrapper on the hot path of send() and poll()
    raise KafkaConfigurationError(
        f"{name} must be a function f(data) or an object with {method}(topic, headers, data), "
        f"got {given!r}")


def object_form(given: dict[str, Any], method: str) -> dict[str, Any]:
    """Those values of ``given`` (setting name to what was configured) that are objects with
    ``method``: the ones a client closes."""
    return {name: obj for name, obj in given.items()
            if obj is not None and not isinstance(obj, type)
            and callable(getattr(obj, method, None))}


def close_all(objects: dict[str, Any]) -> None:
    """Call ``close()`` on each of ``objects`` (setting name to object) that has one; all of
    them, then raise ``KafkaError`` naming the first that failed."""
    first: tuple[str, Exception] | None = None
    for name, obj in objects.items():
        close = getattr(obj, "close", None)
        if not callable(close):
            continue
        try:
            close()
        except Exception as exc:  # noqa: BLE001 - every one is closed before reporting
            if first is None:
                first = (name, exc)
    if first is not None:
        name, exc = first
        raise KafkaError(f"closing the {name} failed: {exc!r}") from exc


def _takes_two(method: Callable[..., Any]) -> bool:
    """True if ``method`` takes exactly two positional arguments, ``(topic, data)``."""
    try:
        parameters = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):  # no signature to read (some builtins): the usual three
        return False
    positional = [p for p in parameters
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    variadic = any(p.kind is p.VAR_POSITIONAL for p in parameters)
    return not variadic and len(positional) == 2
