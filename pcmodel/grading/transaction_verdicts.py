"""The grader's half of exercise 08's checks: verdicts on what the child observed.

A *snapshot* is what the child saw at one moment: the group's committed offset of each input
partition, and the values a ``read_committed`` reader of each output partition is handed.
Exactly-once processing means one invariant, at every moment at which the loop has no
transaction open (:func:`in_step`): the committed outputs of each partition are the conversions
of exactly the input records before the group's committed offset, once each, in offset order.
At the end (:func:`exactly_once`) that covers every input record.

The input topic was written by transactions, as a stream processor's input usually is, so its
offsets have gaps (:data:`INPUT_TRANSACTIONS`): the records before an offset are the records of
:data:`INPUT_OFFSETS` before it, not as many records as the offset says. These functions use
only the snapshot and the grader's own constants; a snapshot that does not fit raises (the check
then fails as malformed, see :mod:`pcmodel.grading.replay`).
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from pcmodel.grading.checks import problem

# Offset sends refused in a row, with no commit between them, after which the harness ends the
# scenario (should_stop() returns True to every member) and the loop is reported as refused. A
# correct loop rejoins after a refusal, and its next offsets carry the new generation; one that
# keeps stale group metadata converts the same batch and is refused for ever, a livelock that
# the stall watch never ends (it converts: that is progress), up to the check's time limit.
REFUSED_IN_A_ROW = 50

__all__ = ["BATCH", "GROUP", "INPUT_END", "INPUT_OFFSETS", "INPUT_TRANSACTIONS", "OUTPUT",
           "PARTITIONS", "PER_PARTITION", "REFUSED_IN_A_ROW", "TOPIC", "exactly_once",
           "in_step", "receipt", "stuck_or_failed"]

TOPIC, OUTPUT, GROUP = "orders", "receipts", "g"
PARTITIONS = 3
BATCH = 7  # max_poll_records: polls then often return two partitions at once (e.g. 6 + 1)

# How the input topic was written: one transactional producer's transactions in order, each
# writing this many records to every input partition, then committed (True) or aborted (False).
# Ending a transaction writes a marker (a control record) to each of its partitions: it takes an
# offset, and poll() never returns it; a read_committed consumer skips the aborted records too.
# So the offsets a consumer is handed have gaps, as in any topic Kafka's transactions wrote: the
# offset after a batch is records[-1].offset + 1, never the first offset plus a count.
INPUT_TRANSACTIONS = ((3, True), (2, False), (4, True), (2, True), (5, True), (3, True),
                      (3, True))


def _input_layout() -> tuple[tuple[int, ...], int]:
    """The offsets of an input partition's committed records, and its log end offset."""
    offsets: list[int] = []
    at = 0
    for count, committed in INPUT_TRANSACTIONS:
        if committed:
            offsets.extend(range(at, at + count))
        at += count + 1  # the records, then the transaction's marker
    return tuple(offsets), at


# Of every input partition: the offsets of the records a read_committed consumer is handed, in
# order (0, 1, 2, 7, 8...), and the offset after the last marker, where the partition ends.
INPUT_OFFSETS, INPUT_END = _input_layout()
PER_PARTITION = len(INPUT_OFFSETS)  # records a read_committed consumer sees in each partition
_KNOWN = frozenset(INPUT_OFFSETS)

_RECEIPT = re.compile(r"receipt (\d+)-(\d+)")
_IN_TRANSACTION = ("send the input offsets inside the transaction, with "
                   "producer.send_offsets_to_transaction(offsets, consumer.group_metadata()) "
                   "before commit_transaction(), not with consumer.commit()")
_NEXT_OFFSET = ("an offset sent to the transaction is the next offset to read, "
                "records[-1].offset + 1 (or consumer.position(tp)): not the last offset read, "
                "nor the first plus the number of records (offsets have gaps: each "
                "transaction's marker takes one, and read_committed skips aborted records)")
# The committed offset stops inside the committed outputs: offsets sent for only some of the
# batch's partitions, outside the transaction, or counted.
_BEHIND = ("with each batch's outputs, send in the same transaction the offsets of every "
           "partition of the batch; " + _NEXT_OFFSET)
_HINTS = {
    "": _IN_TRANSACTION,
    "a crash and a successor": _IN_TRANSACTION + "; " + _NEXT_OFFSET,
    "a takeover": _IN_TRANSACTION,
    "a rebalance": "pass consumer.group_metadata() to send_offsets_to_transaction(), not the "
                   "group id: then a member the group replaced cannot commit its transaction "
                   "(the call fails; abort it and go on polling); the new owner resumes from "
                   "the committed offset, so send the next offset to read, records[-1].offset "
                   "+ 1, never a count of records (offsets have gaps)",
    # Duplicates after a handover, from a loop that sends only offsets of partitions it owns:
    # typically a transaction that spans several polls, one of which rebalanced the group.
    "a handover": "build each transaction from one poll(): begin_transaction() once poll() "
                  "returned a batch, send that batch's outputs and its offsets "
                  "(records[-1].offset + 1 of each partition), commit, and only then poll "
                  "again; a poll() can rebalance the group, and a transaction holding records "
                  "polled before it commits outputs of partitions their new owner converts "
                  "again",
}


def receipt(partition: int, offset: int) -> str:
    """What convert() returns for the input record at ``partition``:``offset`` (as text)."""
    return f"receipt {partition}-{offset}"


def stuck_or_failed(h: Any, names: list[str]) -> dict[str, str] | None:
    """Wait for the named members' loops to end; a problem if one is stuck or failed."""
    seen = h.settle(names)
    in_a_row = seen.get("refused", {})  # a stand-in harness may leave it out
    refused = sorted(name for name, count in in_a_row.items() if count >= REFUSED_IN_A_ROW)
    if refused:
        return problem("each member's offsets to be accepted once it polled again after a "
                       "rebalance",
                       f"{refused[0]}'s offsets were refused {in_a_row[refused[0]]} "
                       "times in a row: it converted the same records again and again, and "
                       "never committed them",
                       "pass consumer.group_metadata(), called anew for every "
                       "send_offsets_to_transaction(): it names the member's generation, which "
                       "changes with every rebalance, and offsets sent with an old one are "
                       "refused")
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
            if source is None or source[0] >= PARTITIONS or source[1] not in _KNOWN:
                return offsets, problem(
                    "every committed output to be convert(record) of an input record that a "
                    f"read_committed consumer is handed ({when})",
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
    outputs are those of the records before the committed offset, once each, in order (the
    records: :data:`INPUT_OFFSETS` has gaps)."""
    committed, outputs = _read(snapshot)
    offsets, found = _offsets(outputs, when)
    if found:
        return found
    for p in range(PARTITIONS):
        done, at = offsets[p], committed[p]
        before = [o for o in INPUT_OFFSETS if o < at]
        if done == before:
            continue
        expected = (f"the committed outputs to be those of the records before the group's "
                    f"committed offset ({when})")
        twice = _twice(done)
        if twice:
            return problem(expected, f"partition {p}: the outputs of offsets {twice[:4]} are "
                           "committed twice", _IN_TRANSACTION)
        ahead = sorted(o for o in done if o >= at)
        if ahead:
            # At the last record: not the next offset. At 0: the offsets never went into a
            # transaction. Elsewhere inside the outputs: offsets missing, late, or counted.
            hint = _NEXT_OFFSET if at == max(done) else _IN_TRANSACTION if at == 0 \
                else _BEHIND
            return problem(expected, f"partition {p}: committed offset {at}, but the outputs "
                           f"of offsets {ahead[:4]} are committed too; a successor would "
                           "convert those records again", hint)
        lost = sorted(set(before) - set(done))
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
        lost = sorted(_KNOWN - set(offsets[p]))
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
    # Past the last record, the offset after it and the end past the last marker are both the
    # end: a consumer's position moves past a marker it has read (records[-1].offset + 1 and
    # consumer.position(tp) may differ by it).
    last = INPUT_OFFSETS[-1]
    if committed and any(not last < at <= INPUT_END for at in offsets_at):
        return problem(
            f"the group's committed offsets at the end of every input partition, {last + 1} "
            f"(after its last record) or {INPUT_END} (after the last transaction's marker) "
            f"({when})",
            f"committed {dict(enumerate(offsets_at))}",
            _IN_TRANSACTION + "; " + _NEXT_OFFSET)
    return None
