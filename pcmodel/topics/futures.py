"""A produce request's outcome: the batch's (:class:`ProducerBatch`) and each record's
(:class:`FutureRecordMetadata`, what ``KafkaProducer.send()`` returns), resolved by the sender.

One future is made per record, so it is kept small: the outcome (offset or error) lives once in
the record's batch, under the batch's own lock, and each future adds only its offset within the
batch, its timestamp and its sizes.
Callbacks added before the outcome run in the sender thread; added after it, at once in the
caller's thread. Either way each runs exactly once, and an exception it raises is logged, never
lost and never allowed to stop the sender.

:class:`CommitFuture` is what a consumer's ``commit_async()`` returns: the same surface, for a
commit decided before the call returns.

Prior art: kafka-python's ``kafka/producer/future.py`` (``FutureProduceResult`` per batch,
``FutureRecordMetadata`` per record) and ``kafka/future.py`` (callbacks and errbacks).
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable
from enum import Enum
from typing import Any

from pcmodel.topics.errors import KafkaTimeoutError
from pcmodel.topics.producer_config import check_timeout
from pcmodel.topics.structs import RecordMetadata, TopicPartition

__all__ = ["CommitFuture", "FutureRecordMetadata", "FutureState", "ProducerBatch"]

# The producer's logger: callback errors are documented to be logged there.
log = logging.getLogger("pcmodel.topics.producer")


class FutureState(Enum):
    """Outcome of a produce request (of one batch, shared by its records' futures)."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ProducerBatch:
    """Records for one partition that travel to the broker in one ``append`` call.

    ``records``/``futures`` are appended to under the producer's lock while the batch is open;
    after the sender sealed it, only the sender touches them. The outcome fields are written once,
    under ``done`` (a Condition on the batch's own lock), which futures wait on.
    """

    __slots__ = (
        "tp",
        "acks",
        "records",
        "futures",
        "nbytes",
        "created",
        "full",
        "sealed",
        "state",
        "base_offset",
        "log_append_time",
        "error",
        "done",
    )

    def __init__(self, tp: TopicPartition, acks: int, created: float) -> None:
        self.tp = tp
        self.acks = acks
        # Tuples in the field order of pcmodel.topics.log_records.NewRecord, which append() takes.
        self.records: list[tuple] = []
        self.futures: list[FutureRecordMetadata] = []
        self.nbytes = 0
        self.created = created
        # full: no further record will be added (a record did not fit, or batch_size reached).
        self.full = False
        # sealed: the sender took it; send() must open a new batch for this partition.
        self.sealed = False
        self.state = FutureState.PENDING
        self.base_offset = -1
        self.log_append_time = -1  # the broker's, on a topic that stamps records with it
        self.error: BaseException | None = None
        self.done = threading.Condition(threading.Lock())

    def split(self) -> list[ProducerBatch]:
        """Hand this sealed batch's records, in two halves (the first one the larger if they
        are odd), to two new sealed batches.

        Each record's future moves with it, and resolves with its half; this batch keeps no
        future, and is finished by the sender once both halves are. The futures move under
        this batch's lock, so a callback being added meanwhile lands with its half
        (see :meth:`FutureRecordMetadata._add`).
        """
        half = (len(self.records) + 1) // 2
        parts = []
        with self.done:
            for start, end in ((0, half), (half, len(self.records))):
                part = ProducerBatch(self.tp, self.acks, self.created)
                part.records = self.records[start:end]
                part.futures = self.futures[start:end]
                part.full = part.sealed = True
                for relative_offset, future in enumerate(part.futures):
                    future._batch, future._relative_offset = part, relative_offset
                parts.append(part)
            self.futures = []
        return parts

    def wait(self, timeout: float | None) -> bool:
        """Block until the batch succeeded or failed, or ``timeout`` seconds; True if done."""
        with self.done:
            return self.done.wait_for(lambda: self.state is not FutureState.PENDING, timeout)

    def finish(
        self, state: FutureState, result: tuple[int, int, int] | None,
        error: BaseException | None,
    ) -> list[tuple[FutureRecordMetadata, list]]:
        """Record the outcome; return each future with the callbacks it must now run.

        ``result`` is ``(base_offset, log_append_time_ms)`` of a success.

        The callbacks are taken under the lock, so one added concurrently is either in this list
        or (seeing the outcome) run at once by ``add_callback`` itself: never lost, never twice.
        """
        with self.done:
            if result is not None:
                self.base_offset, self.log_append_time = result
            self.error = error
            self.state = state
            self.done.notify_all()
            pending = [(f, f._take_callbacks()) for f in self.futures if f._callbacks]
        return pending


class FutureRecordMetadata:
    """The result of one ``send()``: resolves to a :class:`RecordMetadata` or to an exception.

    As kafka-python's future: ``get(timeout)`` blocks; ``add_callback(f, *args)`` calls
    ``f(*args, metadata)`` and ``add_errback(f, *args)`` calls ``f(*args, exception)`` once the
    record was acknowledged or failed, in the producer's sender thread (at once, in the calling
    thread, if that already happened). Exceptions raised by callbacks are logged on the
    ``pcmodel.topics.producer`` logger and do not stop the sender, ``SystemExit`` included;
    a callback run at once in the calling thread that calls ``sys.exit()`` exits as usual.
    """

    # One of these is made per send(), so it is kept small: the outcome lives in the batch.
    __slots__ = ("_batch", "_relative_offset", "_timestamp_ms", "_sizes", "_callbacks")

    def __init__(
        self,
        batch: ProducerBatch,
        relative_offset: int,
        timestamp_ms: int,
        sizes: tuple[int, int, int],
    ) -> None:
        self._batch = batch
        self._relative_offset = relative_offset
        self._timestamp_ms = timestamp_ms
        # Serialized key, value and header sizes (-1 for an absent key or value).
        self._sizes = sizes
        # (is_errback, function) pairs, in the order they were added; None until the first one
        # (most records never get a callback, and an empty list per record costs GC time).
        self._callbacks: list[tuple[bool, Callable[[Any], Any]]] | None = None

    # --- state ------------------------------------------------------------------------------

    @property
    def is_done(self) -> bool:
        """True once the record was acknowledged or failed (an attribute, as in kafka-python)."""
        return self._batch.state is not FutureState.PENDING

    def succeeded(self) -> bool:
        """True if the record was appended to its partition log."""
        return self._batch.state is FutureState.SUCCEEDED

    def failed(self) -> bool:
        """True if the record could not be appended; ``exception`` says why."""
        return self._batch.state is FutureState.FAILED

    @property
    def exception(self) -> BaseException | None:
        """The error of a failed record, else ``None``."""
        return self._batch.error if self.failed() else None

    @property
    def value(self) -> RecordMetadata | None:
        """The metadata of an acknowledged record, else ``None``."""
        return self._metadata() if self.succeeded() else None

    def _metadata(self) -> RecordMetadata:
        batch = self._batch
        # acks=0 does not wait for an offset: kafka-python reports -1, and so do we.
        offset = -1 if batch.acks == 0 else batch.base_offset + self._relative_offset
        # On a LogAppendTime topic the broker's stamp is the record's timestamp, as the Java
        # client and kafka-python both report; with acks=0 no answer brings it.
        stamped = batch.acks != 0 and batch.log_append_time >= 0
        timestamp = batch.log_append_time if stamped else self._timestamp_ms
        return RecordMetadata(
            batch.tp.topic,
            batch.tp.partition,
            batch.tp,
            offset,
            timestamp,
            None,
            *self._sizes,
        )

    def get(self, timeout: float | None = None) -> RecordMetadata:
        """Block until the record is acknowledged and return its metadata.

        Raises the append's error if it failed, and ``KafkaTimeoutError`` if ``timeout`` seconds
        passed first (the record may still be sent later; a negative timeout: at once).
        ``TypeError`` / ``IllegalArgumentError`` for a timeout that is not a number of seconds
        (NaN, or longer than a lock can wait).
        """
        check_timeout("get()", timeout, negative_ok=True)
        # A batch split by the sender finishes after its halves, so once the batch first
        # waited on is done, so is the one the record now belongs to.
        if not self._batch.wait(timeout):
            raise KafkaTimeoutError(f"Timeout after waiting for {timeout} secs.")
        if self._batch.state is FutureState.FAILED:
            raise self._batch.error  # type: ignore[misc]
        return self._metadata()

    # --- callbacks --------------------------------------------------------------------------

    def add_callback(
        self, f: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> FutureRecordMetadata:
        """Call ``f(*args, metadata, **kwargs)`` when the record is acknowledged; returns self."""
        return self._add(False, f, args, kwargs)

    def add_errback(self, f: Callable[..., Any], *args: Any, **kwargs: Any) -> FutureRecordMetadata:
        """Call ``f(*args, exception, **kwargs)`` if the record fails; returns self."""
        return self._add(True, f, args, kwargs)

    def add_both(self, f: Callable[..., Any], *args: Any, **kwargs: Any) -> FutureRecordMetadata:
        """Add ``f`` as both callback and errback; returns self."""
        self.add_callback(f, *args, **kwargs)
        return self.add_errback(f, *args, **kwargs)

    def _add(self, errback: bool, f: Callable, args: tuple, kwargs: dict) -> FutureRecordMetadata:
        if not callable(f):
            raise TypeError(f"a callback must be callable, got {f!r}")
        if args or kwargs:
            f = functools.partial(f, *args, **kwargs)
        while True:
            batch = self._batch
            with batch.done:
                if self._batch is not batch:
                    continue  # the sender split the batch meanwhile: add it to the record's half
                if batch.state is FutureState.PENDING:
                    if self._callbacks is None:
                        self._callbacks = []
                    self._callbacks.append((errback, f))
                    return self
                break
        # Already resolved: run now, in this thread, outside the lock (as kafka-python does).
        self._run([(errback, f)], in_sender=False)
        return self

    def _take_callbacks(self) -> list:
        callbacks, self._callbacks = self._callbacks or [], None
        return callbacks

    def _run(self, callbacks: list[tuple[bool, Callable[[Any], Any]]], *,
             in_sender: bool = True) -> None:
        """Run the callbacks that match the outcome; log, never raise, their exceptions. A
        ``SystemExit`` is logged too in the sender thread, where it would end the thread in
        silence (threading ignores it) and leave every later record pending for ever; run in
        the thread that added the callback (``in_sender=False``), it goes on, as there."""
        succeeded = self.succeeded()
        argument: Any = self._metadata() if succeeded else self._batch.error
        for errback, f in callbacks:
            if errback == succeeded:
                continue
            try:
                f(argument)
            except (Exception, SystemExit) as exc:
                if isinstance(exc, SystemExit) and not in_sender:
                    raise  # the caller's own sys.exit(), in its own thread
                log.exception(
                    "error in a producer %s for %s",
                    "errback" if errback else "callback",
                    self._batch.tp,
                )

    def __repr__(self) -> str:
        return f"<FutureRecordMetadata {self._batch.tp} {self._batch.state.value}>"


class CommitFuture:
    """The outcome of a consumer's ``commit_async()``, decided by the time it is returned.

    kafka-python's ``kafka.future.Future`` surface, so that a program reading it moves between
    the two: ``is_done``, ``value`` (the offsets committed) and ``exception`` (why the commit
    was refused, else ``None``) are attributes; ``succeeded()``, ``failed()`` and
    ``retriable()`` say how it ended; ``add_callback(f, *args)`` calls ``f(*args, value)`` and
    ``add_errback(f, *args)`` calls ``f(*args, exception)``, at once, in the calling thread
    (the commit is already decided). ``result(timeout)`` (the offsets, or the exception
    raised) is ``concurrent.futures``' way of asking, which kafka-python's future lacks.
    """

    __slots__ = ("exception", "value")

    is_done = True

    def __init__(self, value: Any = None, exception: BaseException | None = None) -> None:
        self.value = value if exception is None else None
        self.exception = exception

    def succeeded(self) -> bool:
        """True if the offsets were committed."""
        return self.exception is None

    def failed(self) -> bool:
        """True if the commit was refused; ``exception`` says why."""
        return self.exception is not None

    def retriable(self) -> bool:
        """True if the commit was refused for a reason that may pass (``RetriableError``)."""
        return bool(getattr(self.exception, "retriable", False))

    def result(self, timeout: float | None = None) -> Any:
        """The offsets committed; raises the commit's error if it was refused."""
        if self.exception is not None:
            raise self.exception
        return self.value

    def add_callback(self, f: Callable[..., Any], *args: Any, **kwargs: Any) -> CommitFuture:
        """Call ``f(*args, value, **kwargs)`` now if the commit succeeded; returns self."""
        return self._run(False, f, args, kwargs)

    def add_errback(self, f: Callable[..., Any], *args: Any, **kwargs: Any) -> CommitFuture:
        """Call ``f(*args, exception, **kwargs)`` now if the commit failed; returns self."""
        return self._run(True, f, args, kwargs)

    def add_both(self, f: Callable[..., Any], *args: Any, **kwargs: Any) -> CommitFuture:
        """Call ``f`` with the value or the exception, whichever there is; returns self."""
        return self._run(self.failed(), f, args, kwargs)

    def _run(self, errback: bool, f: Callable, args: tuple, kwargs: dict) -> CommitFuture:
        if not callable(f):
            raise TypeError(f"a callback must be callable, got {f!r}")
        if errback == self.failed():
            try:
                f(*args, self.exception if errback else self.value, **kwargs)
            except Exception:  # as kafka-python: logged, never raised into the caller
                logging.getLogger("pcmodel.topics.consumer").exception(
                    "error in a commit_async %s", "errback" if errback else "callback")
        return self

    def __repr__(self) -> str:
        state = "failed" if self.failed() else "succeeded"
        return f"<CommitFuture {state}>"
