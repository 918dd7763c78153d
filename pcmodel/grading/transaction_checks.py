"""Graded checks for exercise 08: an exactly-once consume-transform-produce loop.

The student writes ``transform(consumer, producer, convert, output_topic, should_stop)``. The
live harness :class:`~pcmodel.grading.transaction_harness.Transactions` builds a
:class:`~pcmodel.topics.Broker` in the check's child process with an input topic and an output
topic (the input written by committed and aborted transactions, so the offsets a consumer is
handed have gaps, as Kafka's transactions leave them: the next offset is never a count), and
drives the student's loop with ``read_committed`` :class:`~pcmodel.topics.KafkaConsumer`
members of one group, each paired with a transactional :class:`~pcmodel.topics.KafkaProducer`:
to the end, into a crash (``convert`` raising), through a rebalance (a second member, with its
own transactional id, takes the partitions of a first one that stalled), and past a takeover (a
new producer with the same transactional id fences the running one, a zombie). Each check is a
scenario over it, replayed in the grader on what the child observed
(:func:`pcmodel.grading.replay.judge`): what a ``read_committed`` reader of the output topic
sees, what the group committed (also right after each ``commit_transaction()``), and what
transform() raised. The grader then holds the loop to the invariant of exactly-once processing:
at every moment no transaction is open, the committed outputs of each partition are the
conversions of exactly the input records before the group's committed offset, once each and in
order.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from pcmodel.grading.checks import fail_on, problem
from pcmodel.grading.replay import judge
from pcmodel.grading.transaction_harness import Transactions
from pcmodel.grading.transaction_verdicts import (
    BATCH,
    PARTITIONS,
    exactly_once,
    in_step,
    stuck_or_failed,
)

__all__ = ["check"]

_KEEP_POLLING = ("keep polling until should_stop() is true: an empty poll() is not the end of "
                 "the input (the group may be rebalancing, or the fetcher has nothing yet)")

# --- scenarios (run in the child on the student's code, then in the grader on what it saw) ------


def _stuck_or_raised(h: Any, name: str, expected: str) -> dict[str, str] | None:
    """What went wrong with member ``name``'s loop, which should have done ``expected``: it
    is stuck, failed, or raised; ``None`` if none of these."""
    found = stuck_or_failed(h, [name])
    if found:
        return found
    raised = h.raised()
    if name in raised:
        return problem(expected, f"it raised {raised[name]['repr']}", "")
    if h.returned().get(name, {}).get("early"):
        return problem(expected, "it returned although should_stop() had never returned True "
                       "to it", _KEEP_POLLING)
    return None


def _alone(h: Any, watch: bool = False) -> dict[str, str] | None:
    h.run("member A", "processor", watch=watch)
    return _stuck_or_raised(h, "member A",
                            "transform() to return normally once should_stop() is true")


def _never_got_there(h: Any, count: int) -> dict[str, str]:
    """Member A did not convert ``count`` records: why."""
    return _stuck_or_raised(h, "member A", "transform() to convert records") or problem(
        "transform() to convert records", f"it converted fewer than {count}", "")


def _everything(h: Any) -> dict[str, str] | None:
    return _alone(h) or exactly_once(h.snapshot(), committed=False)


def _commits(h: Any) -> dict[str, str] | None:
    found = _alone(h, watch=True)
    if found:
        return found
    snapshots = h.commit_snapshots()
    if not snapshots:
        return problem("a commit_transaction() for every batch", "none was called",
                        "begin_transaction(), send the outputs, send the offsets, then "
                        "commit_transaction()")
    for number, snapshot in enumerate(snapshots, 1):
        found = in_step(snapshot, f"right after commit_transaction() number {number}")
        if found:
            return found
    return exactly_once(h.snapshot(), committed=True)


def _crash(h: Any) -> dict[str, str] | None:
    h.run("member A", "processor", crash_at=BATCH + 3)
    found = stuck_or_failed(h, ["member A"])
    if found and h.crashed():
        return problem(
            "the exception raised by convert() to propagate out of transform() (a crash)",
            "convert() raised, but transform() went on without it",
            "do not catch exceptions from convert(): its record must not be committed as done",
        )
    if found:
        return found
    raised = h.raised()
    if "member A" not in raised and not h.crashed():
        return problem(
            "transform() to convert records until convert() raises (a crash)",
            "transform() returned before convert() was called on the record that raises, "
            "although should_stop() had never returned True to it", _KEEP_POLLING)
    if raised.get("member A", {}).get("kind") != "crash":
        return problem(
            "the exception raised by convert() to propagate out of transform() (a crash)",
            "transform() " + ("returned normally" if "member A" not in raised
                              else f"raised {raised['member A']['repr']}"),
            "do not catch exceptions from convert(): its record must not be committed as done",
        )
    late = h.commits_after_crash()
    if late:
        # A crash is the process dying: nothing of it runs after convert() raised. Code that
        # catches the exception to commit "the work done so far" is not a crash, and the
        # offsets it commits are easily one record off (the failed one, or the batch's end).
        return problem(
            "the exception raised by convert() to propagate at once, without committing "
            "anything more (a crash: the process is gone)",
            f"after convert() raised, transform() committed {late} more "
            f"transaction{'s' if late > 1 else ''} before the exception escaped",
            "do not catch exceptions from convert() to commit what was converted so far: "
            "leave the transaction open (the successor's init_transactions() aborts it) or "
            "abort_transaction(), then let the exception propagate",
        )
    found = in_step(h.snapshot(), "after the crash")
    if found:
        return found
    # The crashed member is gone; its successor takes its place.
    return _successor_finishes(h, "a crash and a successor")


def _rebalance(h: Any) -> dict[str, str] | None:
    # A stalls in its second batch, past max_poll_interval_ms: the group gives its partitions
    # to B, which converts and commits everything, the record A holds too; then A goes on.
    h.run("member A", "processor-a", hold_at=BATCH + 2, hold="committed", slow=True)
    if not h.wait_for(BATCH):
        return _never_got_there(h, BATCH)
    h.run("member B", "processor-b")
    # A is watched first: it goes on once B has committed everything, and its loop then ends,
    # or raises. A loop that raised leaves its transaction open, and B can never see every
    # output committed (a read_committed reader stops at the open transaction): its stall
    # would only be waited out, on a loaded machine until the check's time limit. So a raise
    # is the finding at once; otherwise both loops are watched to their end.
    found = stuck_or_failed(h, ["member A"])
    raised = h.raised()
    if not found and not raised:
        found = stuck_or_failed(h, ["member A", "member B"])
        raised = h.raised()
    if raised:  # first: a member that raised leaves its transaction open, and B waits behind it
        name = sorted(raised)[0]
        return problem(
            "both members to keep going through the rebalance",
            f"{name}'s transform() raised {raised[name]['repr']}",
            "when the group rebalanced without this member, send_offsets_to_transaction() or "
            "commit_transaction() raises (UnknownMemberIdError, IllegalGenerationError...): "
            "catch it, abort_transaction(), seek back to the committed offsets, keep polling",
        )
    if found:
        return found
    returned = h.returned()
    early = sorted(name for name, seen in returned.items() if seen["early"])
    if early:
        refused = returned[early[0]]["refused"]
        after = (f" (after {refused} of its offset sends or commits had been refused with a "
                 "rebalance error)" if refused else "")
        return problem(
            "both members to keep going until should_stop() is true",
            f"{early[0]}'s transform() returned although should_stop() had never returned "
            f"True to it{after}",
            "a rebalance error (UnknownMemberIdError, IllegalGenerationError...) is not a "
            "reason to stop: abort_transaction(), seek back to the committed offsets and keep "
            "polling; return only once should_stop() is true",
        )
    return exactly_once(h.snapshot(), committed=True, after="a rebalance")


def _handover(h: Any) -> dict[str, str] | None:
    # Member A, alone, has converted and committed its first three batches (7, 7, then 6 + 1
    # records: two partitions) when member B joins; the range assignor then gives two
    # partitions to B (its member id sorts first) and one to A, so that at least one partition
    # A read from goes to B, whichever partitions the fetcher served first. A holds in
    # convert() until B's join has started the rebalance and A's heartbeat has brought the
    # news, so that A's next poll() rejoins and its later transactions come after the handover.
    hold = 3 * BATCH + 1
    h.run("member A", "processor-a", hold_at=hold, hold="released", client_id="member-2",
          heartbeat_ms=10)
    if not h.wait_held():
        return _never_got_there(h, hold)
    h.run("member B", "processor-b", client_id="member-1")
    h.wait_rebalancing("member A")
    h.release()
    found = stuck_or_failed(h, ["member A", "member B"])
    if found:
        return found
    raised = h.raised()
    if raised:
        name = sorted(raised)[0]
        return problem("both members to keep going through the rebalance",
                        f"{name}'s transform() raised {raised[name]['repr']}",
                        "catch the rebalance errors around send_offsets_to_transaction() and "
                        "commit_transaction(): abort, seek back, keep polling")
    foreign = h.foreign()
    if foreign:
        member, partition = foreign[0]
        if member not in ("member A", "member B") or partition not in range(PARTITIONS):
            raise ValueError("offsets sent by no member, or of no partition")
        return problem(
            "each member to send to its transactions only the offsets of partitions it owns",
            f"after the rebalance, {member} committed a transaction with an offset of "
            f"partition {partition}, which the group had given to the other member: the new "
            "owner's progress there is moved back, and its records are converted again",
            "build the offsets of each transaction from the batch poll() just returned "
            "({tp: OffsetAndMetadata(records[-1].offset + 1) for tp, records in "
            "batch.items()}), not from a dict kept across batches: offsets remembered from "
            "before a rebalance belong to the partition's new owner")
    return exactly_once(h.snapshot(), committed=True, after="a handover")


def _zombie(h: Any) -> dict[str, str] | None:
    h.run("member A", "processor", hold_at=BATCH + 2, hold="takeover")
    if not h.wait_held():
        return _never_got_there(h, BATCH + 2)
    h.take_over("processor")  # a successor's init_transactions(): A is now a zombie
    found = stuck_or_failed(h, ["member A"])
    if found:
        return problem(
            "the zombie's transform() to stop once its producer was fenced",
            found["got"],
            "ProducerFencedError means a newer instance took over: let it propagate (or "
            "return); never catch it and go on",
        )
    if h.commits_in_transaction():
        # Whether the zombie reaches its commit() before it learns of the fence is a race;
        # the commit() inside its transactions is the bug either way.
        return problem(
            "the input offsets to be committed by the transaction, with "
            "send_offsets_to_transaction()",
            "consumer.commit() was called inside a transaction: it commits the offsets at "
            "once, whatever happens to the transaction (a takeover now aborts its outputs "
            "while the group has moved past their inputs)",
            "send the offsets with producer.send_offsets_to_transaction(offsets, "
            "consumer.group_metadata()) and never call consumer.commit()",
        )
    raised = h.raised()
    if raised.get("member A", {}).get("kind") == "other":
        return problem(
            "the zombie's transform() to stop with ProducerFencedError, or to return",
            f"it raised {raised['member A']['repr']}",
            "after ProducerFencedError the producer can do nothing more, not even abort: stop",
        )
    found = in_step(h.snapshot(), "after the zombie stopped")
    if found:
        return found
    return _successor_finishes(h, "a takeover")


def _successor_finishes(h: Any, after: str) -> dict[str, str] | None:
    """Member A is gone: a successor with its transactional id runs to the end, and every
    input then has exactly one committed output."""
    h.close_member("member A")
    h.run("member B", "processor")
    return _stuck_or_raised(h, "member B", "the successor's transform() to run to the end") \
        or exactly_once(h.snapshot(), committed=True, after=after)


_CHECKS = {"everything": _everything, "commits": _commits, "crash": _crash,
           "rebalance": _rebalance, "handover": _handover, "zombie": _zombie}


def check(impl: str, what: str) -> None:
    """Run one exactly-once property ``what`` (everything, commits, crash, rebalance, handover,
    zombie): observed in an isolated child, judged here."""
    fail_on(judge(_CHECKS[what], partial(Transactions, impl), time_limit=40))
