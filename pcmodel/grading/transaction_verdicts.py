"""The grader's half of exercise 08's checks: verdicts on what the child observed.

A *snapshot* is what the child saw at one moment: the group's committed offset of each input
partition, and the values a ``read_committed`` reader of each output partition is handed.
Exactly-once processing means one invariant, at every moment at which the loop has no
transaction open (:func:`in_step`): the committed outputs of each partition are the conversions
of exactly the input records before the group's committed offset, once each, in offset order.
At the end (:func:`exactly_once`) that covers every input record. These functions use only the
snapshot and the grader's own constants; a snapshot that does not fit raises (the check then
fails as malformed, see :mod:`pcmodel.grading.replay`).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from pcmodel.grading.checks import problem

__all__ = ["BATCH", "GROUP", "OUTPUT", "PARTITIONS", "PER_PARTITION", "TOPIC", "exactly_once",
           "in_step", "receipt", "stuck_or_failed"]

TOPIC, OUTPUT, GROUP = "orders", "receipts", "g"
PARTITIONS = 3
PER_PARTITION = 20
BATCH = 7  # max_poll_records: polls then often return two partitions at once (e.g. 6 + 1)

_RECEIPT = re.compile(r"receipt (\d+)-(\d+)")
_IN_TRANSACTION = ("send the input offsets inside the transaction, with "
                   "producer.send_offsets_to_transaction(offsets, consumer.group_metadata()) "
                   "before commit_transaction(), not with consumer.commit()")
_NEXT_OFFSET = ("an offset sent to the transaction is the next offset to read: "
                "records[-1].offset + 1")
_HINTS = {
    "": _IN_TRANSACTION,
    "a crash and a successor": _IN_TRANSACTION + "; " + _NEXT_OFFSET,
    "a takeover": _IN_TRANSACTION,
    "a rebalance": "pass consumer.group_metadata() to send_offsets_to_transaction(), not the "
                   "group id: then a member the group replaced cannot commit its transaction "
                   "(the call fails; abort it and go on polling)",
}


def receipt(partition: int, offset: int) -> str:
    """What convert() returns for the input record at ``partition``:``offset`` (as text)."""
    return f"receipt {partition}-{offset}"


def stuck_or_failed(h: Any, names: list[str]) -> dict[str, str] | None:
    """Wait for the named members' loops to end; a problem if one is stuck or failed."""
    seen = h.settle(names)
    if seen["stuck"]:
        return problem("transform() to return once should_stop() is true (it becomes true "
                       "when every input record's output is committed)",
                       f"{', '.join(seen['stuck'])} still running, {seen['missing']} input "
                       "records without a committed output",
                       "check should_stop() before every poll, keep polling until it is true, "
                       "and end every batch's transaction with commit_transaction()")
    if seen["failed"]:
        return problem("transform() to run", seen["failed"][0], "")
    return None


def _read(snapshot: dict[str, Any]) -> tuple[list[int], list[list[str]]]:
    committed, outputs = snapshot["committed"], snapshot["outputs"]
    if len(committed) != PARTITIONS or len(outputs) != PARTITIONS:
        raise ValueError("not one committed offset and one output list per partition")
    return committed, outputs


def _offsets(outputs: list[list[str]], when: str) -> tuple[list[list[int]], dict | None]:
    """The input offset of each committed output, per partition; or a problem when an output
    is not convert()'s value of an input record of the same partition."""
    offsets: list[list[int]] = []
    for p, values in enumerate(outputs):
        offsets.append([])
        for value in values:
            match = _RECEIPT.fullmatch(value)
            source = (int(match[1]), int(match[2])) if match else None
            if source is None or source[0] >= PARTITIONS or source[1] >= PER_PARTITION:
                return offsets, problem(
                    f"every committed output to be convert(record) of an input record ({when})",
                    f"output partition {p} holds {value!r}",
                    "send exactly what convert(record) returns as the value")
            if source[0] != p:
                return offsets, problem(
                    f"each output on the partition of its input record ({when})",
                    f"the output of input {source[0]}:{source[1]} is on output partition {p}",
                    "send with partition=record.partition")
            offsets[p].append(source[1])
    return offsets, None


def _twice(offsets: list[int]) -> list[int]:
    return sorted(o for o, n in Counter(offsets).items() if n > 1)


def in_step(snapshot: dict[str, Any], when: str) -> dict[str, str] | None:
    """The invariant at a moment with no transaction open: on each partition, the committed
    outputs are those of the records before the committed offset, once each, in order."""
    committed, outputs = _read(snapshot)
    offsets, found = _offsets(outputs, when)
    if found:
        return found
    for p in range(PARTITIONS):
        done, at = offsets[p], committed[p]
        if done == list(range(at)):
            continue
        expected = (f"the committed outputs to be those of the records before the group's "
                    f"committed offset ({when})")
        twice = _twice(done)
        if twice:
            return problem(expected, f"partition {p}: the outputs of offsets {twice[:4]} are "
                           "committed twice", _IN_TRANSACTION)
        ahead = sorted(o for o in done if o >= at)
        if ahead:
            hint = _NEXT_OFFSET if at == max(done) else _IN_TRANSACTION
            return problem(expected, f"partition {p}: committed offset {at}, but the outputs "
                           f"of offsets {ahead[:4]} are committed too; a successor would "
                           "convert those records again", hint)
        lost = sorted(set(range(at)) - set(done))
        if lost:
            return problem(expected, f"partition {p}: committed offset {at}, but the outputs "
                           f"of offsets {lost[:4]} are not committed: those records are lost",
                           "commit an offset only in the transaction that holds the outputs of "
                           "the records before it; never go on after convert() raised")
        return problem(expected, f"partition {p}: the outputs are in the order of offsets "
                       f"{done[:8]}", "send each partition's records in the order poll() "
                       "returned them")
    return None


def exactly_once(snapshot: dict[str, Any], committed: bool,
                 after: str = "") -> dict[str, str] | None:
    """At the end: every input record's output committed exactly once, in offset order per
    partition; with ``committed``, the group's committed offsets at the end of every input
    partition. ``after`` names the scenario (it picks the hint)."""
    offsets_at, outputs = _read(snapshot)
    when = f"after {after}" if after else "at the end"
    offsets, found = _offsets(outputs, when)
    if found:
        return found
    expected = (f"every input record's output committed exactly once ({when}), for "
                "read_committed readers")
    for p in range(PARTITIONS):
        twice = _twice(offsets[p])
        if twice:
            return problem(expected, f"partition {p}: the outputs of offsets {twice[:4]} are "
                           "committed twice", _HINTS[after])
    for p in range(PARTITIONS):
        lost = sorted(set(range(PER_PARTITION)) - set(offsets[p]))
        if lost:
            return problem(expected, f"partition {p}: no committed output for offsets "
                           f"{lost[:4]}", "convert and send every record of every partition "
                           "that poll() returns; after an abort, seek back to the committed "
                           "offsets so the batch is converted again")
    for p in range(PARTITIONS):
        if offsets[p] != sorted(offsets[p]):
            return problem(f"each partition's outputs in offset order ({when})",
                           f"partition {p}: the order of offsets {offsets[p][:8]}...",
                           "send each partition's records in the order poll() returned them")
    if committed and any(at != PER_PARTITION for at in offsets_at):
        return problem(
            f"the group's committed offsets at the end ({PER_PARTITION}) of every input "
            f"partition ({when})",
            f"committed {dict(enumerate(offsets_at))}",
            _IN_TRANSACTION + "; " + _NEXT_OFFSET)
    return None
