"""Graded checks for exercise 06: an at-least-once consumer loop on pcmodel's topics.

The student writes ``consume(consumer, process, should_stop)``. The live harness
(:class:`~pcmodel.grading.delivery_harness.Deliveries`) builds a :class:`~pcmodel.topics.Broker`
in the check's child process, fills a topic, and drives the student's loop with real
:class:`~pcmodel.topics.KafkaConsumer` members of one group: to the end, into a crash
(``process`` raising), through a rebalance (a second member joining), into a stop requested in
the middle of a batch, and into a crash right after a refused commit. Each check is a scenario
over it, replayed in the grader on what the child observed
(:func:`pcmodel.grading.replay.judge`): which member processed which record, in which order,
what consume() raised, what the group committed. The grader then reasons as Kafka's own delivery
tests do: committed offsets must never pass an unprocessed record (no loss), and only records
after the last commit may be processed twice.
"""

from __future__ import annotations

from collections import Counter
from functools import partial
from typing import Any

from pcmodel.grading.checks import fail_on, problem
from pcmodel.grading.delivery_harness import BATCH, PARTITIONS, PER_PARTITION, Deliveries
from pcmodel.grading.replay import judge

__all__ = ["check"]

# --- scenarios (run in the child on the student's code, then in the grader on what it saw) ------

ALL = {(p, i) for p in range(PARTITIONS) for i in range(PER_PARTITION)}


def _records(h: Any) -> list[tuple[str, int, int]]:
    processed = h.processed()
    out = []
    for entry in processed:
        member, p, o = entry
        if not (isinstance(member, str) and (p, o) in ALL):
            raise ValueError("a processed record that is not in the topic")
        out.append((member, p, o))
    return out


def _kept_consuming(h: Any, hint: str) -> dict[str, str] | None:
    """The problem if a member's consume() raised during a rebalance (the first by name)."""
    raised = h.raised()
    if not raised:
        return None
    name = sorted(raised)[0]
    return problem("both members to keep consuming through the rebalance",
                   f"{name}'s consume() raised {raised[name]['repr']}", hint)


def _stuck(h: Any, names: list[str]) -> dict[str, str] | None:
    seen = h.settle(names)
    if seen["stuck"]:
        return problem("consume() to return once should_stop() is true",
                        f"{', '.join(seen['stuck'])} still running, {seen['missing']} records "
                        "never processed",
                        "check should_stop() after every poll, and keep polling until it is true")
    if seen["failed"]:
        return problem("consume() to run", seen["failed"][0], "")
    return None


def _everything(h: Any) -> dict[str, str] | None:
    h.run("member A")
    found = _stuck(h, ["member A"])
    if found:
        return found
    raised = h.raised()
    if "member A" in raised:
        return problem("consume() to return normally",
                        f"it raised {raised['member A']['repr']}", "")
    processed = _records(h)
    counts = Counter((p, o) for _, p, o in processed)
    twice = sorted(r for r, n in counts.items() if n > 1)
    if twice or set(counts) != ALL:
        return problem(f"each of the {len(ALL)} records processed once",
                        f"missing {sorted(ALL - set(counts))[:4]}, twice {twice[:4]}",
                        "process every record of every partition in each batch poll() "
                        "returns")
    last: dict[int, int] = {}
    for _, p, o in processed:
        if last.get(p, -1) > o:
            return problem("each partition's records processed in offset order",
                            f"partition {p}: offset {o} after {last[p]}",
                            "process each partition's list in order")
        last[p] = o
    return None


def _commits(h: Any) -> dict[str, str] | None:
    h.run("member A")
    found = _stuck(h, ["member A"])
    if found:
        return found
    committed = h.committed()
    if len(committed) != PARTITIONS:
        raise ValueError("not one committed offset per partition")
    if any(offset != PER_PARTITION for offset in committed):
        return problem(
            f"the group's committed offsets to reach the end ({PER_PARTITION}) of each "
            "partition when consume() returns",
            f"committed {dict(enumerate(committed))}",
            "call consumer.commit() after processing each batch (auto-commit is off)",
        )
    return None


def _crash(h: Any, in_poll: int | None = None) -> dict[str, str] | None:
    # The crash comes on the first record of a batch's second partition (the 21st record),
    # at the latest on the 23rd: a commit() made after one partition's records, which commits
    # the position after the whole batch, has then passed records never processed. With
    # ``in_poll``, it comes on the third record of that poll instead, and only the records of
    # the batch it came in may be processed again: with the crash above (in poll 3), a crash
    # in poll 4 catches a loop that commits every second batch, whichever batches those are.
    if in_poll is None:
        h.run("member A", 23)
    else:
        h.run("member A", crash_in_poll=in_poll)
    found = _stuck(h, ["member A"])
    if found and h.crashed():
        return problem(
            "the exception raised by process() to propagate out of consume() (a crash)",
            "process() raised, but consume() went on without it: the record was dropped",
            "do not catch exceptions from process()",
        )
    if found:
        return found
    raised = h.raised()
    if not raised.get("member A", {}).get("crash"):
        return problem(
            "the exception raised by process() to propagate out of consume() (a crash)",
            "consume() " + ("returned normally" if "member A" not in raised
                            else f"raised {raised['member A']['repr']}"),
            "do not catch exceptions from process(): a record that failed must not be "
            "committed as done",
        )
    committed = h.committed()
    if len(committed) != PARTITIONS:
        raise ValueError("not one committed offset per partition")
    done = {(p, o) for _, p, o in _records(h)}
    # A commit past the end passes records that were never there: the first one counts.
    skipped = [(p, o) for p in range(PARTITIONS)
               for o in range(min(committed[p], PER_PARTITION + 1)) if (p, o) not in done]
    if skipped:
        return problem(
            "committed offsets never to pass a record that was not processed",
            f"after the crash the group committed {dict(enumerate(committed))}, but records "
            f"{skipped[:4]} were never processed: they are lost",
            "commit() commits the position after everything poll() returned: call it only "
            "after processing the whole batch, never before and never after just one "
            "partition's records (to commit one partition, pass its offset: {tp: last "
            "processed offset + 1})",
        )
    h.close_member("member A")  # the crashed member is gone; its partitions move
    h.run("member B")
    found = _stuck(h, ["member B"])
    if found:
        return found
    processed = _records(h)
    a = Counter((p, o) for m, p, o in processed if m == "member A")
    b = Counter((p, o) for m, p, o in processed if m == "member B")
    lost = sorted(ALL - set(a) - set(b))
    if lost:
        return problem("every record processed by member A or by its successor B",
                        f"lost: {lost[:5]}", "commit after processing, not before")
    again = sorted(set(a) & set(b))
    if len(again) > BATCH:
        return problem(
            f"only the uncommitted batch (at most {BATCH} records) processed twice",
            f"{len(again)} records processed again after the crash, e.g. {again[:4]}",
            "commit after every batch, not only at the end",
        )
    if in_poll is not None:
        batch = {(p, o) for p, o in h.crash_batch()}
        if not batch:
            raise ValueError("a crash in no batch")
        earlier = [r for r in again if r not in batch]
        if earlier:
            return problem(
                f"after a crash in member A's poll number {in_poll}, only records of that "
                "poll's batch processed again",
                f"{len(again)} records processed again, {len(earlier)} of them from earlier "
                f"batches, e.g. {earlier[:4]}: they had been processed but not committed",
                "commit after every batch, not every few batches: a crash repeats everything "
                "processed since the last commit",
            )
    return None


def _rebalance(h: Any) -> dict[str, str] | None:
    # B's member id sorts first, so the range assignor gives it two of the three partitions,
    # and A keeps one: offsets A kept from before its refused commit name B's partitions.
    h.run("member A", None, BATCH + 2, True, client_id="member-2")
    if not h.wait_for(BATCH):
        return _stuck(h, ["member A"]) or problem(
            "member A to process records", f"it processed fewer than {BATCH}", "")
    h.run("member B", client_id="member-1")
    # B reads everything while A stalls; once B is done it leaves, so that A, whose commit is
    # refused, rejoins alone at its next poll and what it commits then is accepted.
    found = _stuck(h, ["member B"])
    h.close_member("member B")
    found = found or _stuck(h, ["member A"])
    if found:
        return found
    found = _kept_consuming(
        h, "a commit after the group rebalanced without this member (it was too slow, past "
           "max_poll_interval_ms) raises CommitFailedError: catch it and keep polling; the "
           "partition's new owner re-reads from the last commit")
    if found:
        return found
    returned = h.returned()
    early = sorted(name for name, seen in returned.items() if seen["early"])
    if early:
        refused = returned[early[0]]["refused"]
        after = (f" (after {refused} of its commits had failed with CommitFailedError)"
                 if refused else "")
        return problem(
            "both members to keep consuming until should_stop() is true",
            f"{early[0]}'s consume() returned although should_stop() had never returned True "
            f"to it{after}",
            "a CommitFailedError after a rebalance is not a reason to stop: catch it and keep "
            "polling (the next poll() rejoins the group); return only once should_stop() is "
            "true",
        )
    # A's commit was refused: offsets it kept from then on are partitions B may own now, or
    # behind what B committed.
    found = _foreign(h)
    if found:
        return found
    committed = h.committed()
    behind = [p for p, offset in enumerate(committed) if offset < PER_PARTITION]
    if behind:
        return problem(
            f"the group's committed offsets at the end of every partition ({PER_PARTITION})",
            f"{committed}: partition {behind[0]} was moved back after member A's commit was "
            "refused and it rejoined; its records there are delivered again after the next "
            "failure",
            "after a refused commit, forget the offsets of that batch: the partitions' owner "
            "re-reads from the last commit; commit only what you processed since the last poll")
    lost = sorted(ALL - {(p, o) for _, p, o in _records(h)})
    if lost:
        return problem("every record processed by one member or the other",
                        f"lost: {lost[:5]}", "commit after processing, not before")
    return None


def _handover(h: Any) -> dict[str, str] | None:
    # Member A, alone, has processed and committed its first three polls (7, 7, then 6 + 1
    # records: two partitions) when member B joins; the range assignor then gives two
    # partitions to B (its member id sorts first) and one to A, so that at least one partition
    # A read from goes to B, whichever partitions the fetcher served first.
    # A holds in process() until B's join has started the rebalance and A's heartbeat has
    # brought the news, so that A's next poll() rejoins and its later commits come after the
    # handover, in every run.
    hold = 3 * BATCH + 1
    h.run("member A", hold_at=hold, client_id="member-2", heartbeat_ms=10)
    if not h.wait_held():
        return _stuck(h, ["member A"]) or problem(
            "member A to process records", f"it processed fewer than {hold}", "")
    h.run("member B", client_id="member-1")
    h.wait_rebalancing("member A")
    h.release()
    found = _stuck(h, ["member A", "member B"])
    if found:
        return found
    found = _kept_consuming(h, "catch CommitFailedError around the commit and keep polling")
    if found:
        return found
    found = _foreign(h)
    if found:
        return found
    lost = sorted(ALL - {(p, o) for _, p, o in _records(h)})
    if lost:
        return problem("every record processed by one member or the other",
                        f"lost: {lost[:5]}", "commit after processing, not before")
    return None


def _foreign(h: Any) -> dict[str, str] | None:
    """The problem if a member committed a partition it did not own (the first noted)."""
    foreign = h.foreign()
    if not foreign:
        return None
    member, partition = foreign[0]
    if member not in ("member A", "member B") or partition not in range(PARTITIONS):
        raise ValueError("a commit by no member, or of no partition")
    return problem(
        "each member to commit only the partitions it owns",
        f"after the rebalance, {member} committed an offset of partition {partition}, "
        "which the group had given to the other member: the new owner's progress there "
        "is moved back, and its records are delivered again after the next failure",
        "commit only what you processed since the last poll (consumer.commit() without "
        "arguments commits the positions of the partitions you own): offsets remembered "
        "from before a rebalance, or kept after a refused commit, belong to the partition's "
        "new owner")


def _unprocessed_below(h: Any, committed: list[int]) -> list[tuple[int, int]]:
    """The records below the group's committed offsets that no member processed (lost); one
    past the end counts too (a commit past the end passes records that were never there)."""
    done = {(p, o) for _, p, o in _records(h)}
    return [(p, o) for p in range(len(committed))
            for o in range(min(committed[p], PER_PARTITION + 1)) if (p, o) not in done]


def _already(h: Any) -> dict[str, str] | None:
    """The problem if consume() polls although should_stop() is true from the start (a loop
    that asks should_stop() only after each batch, not before each poll)."""
    h.run("member 0", stop="already")
    found = _stuck(h, ["member 0"])
    if found:
        return found
    raised = h.raised()
    if "member 0" in raised:
        return problem("consume() to return normally once should_stop() is true",
                        f"it raised {raised['member 0']['repr']}", "")
    done = h.processed()
    if done:
        return problem(
            "consume() to return at once, without polling, when should_stop() is true from "
            "the start",
            f"it polled and processed {len(done)} records first, e.g. {done[0][1:]}",
            "ask should_stop() before every poll (while not should_stop(): ...), not only "
            "after each batch")
    return None


def _stop(h: Any, when: str = "requested") -> dict[str, str] | None:
    # should_stop() turns true in the middle of a batch: after member A processed a few
    # records, while records of the batch its last poll() returned are still unprocessed;
    # or ("partition_end") after the last record of one partition in a batch that holds
    # another partition's records after it, so a loop that stops there must commit both.
    # Asked in one of the two stop checks only, so that a loop that stops only after an
    # empty poll keeps the "requested" check's own verdict.
    if when == "partition_end":
        found = _already(h)
        if found:
            return found
    h.run("member A", stop=when)
    found = _stuck(h, ["member A"])
    if found:
        return found
    raised = h.raised()
    if "member A" in raised:
        return problem("consume() to return normally once should_stop() is true",
                        f"it raised {raised['member A']['repr']}", "")
    left = [tuple(r) for r in h.left_in_batch()]
    committed = h.committed()
    if len(committed) != PARTITIONS:
        raise ValueError("not one committed offset per partition")
    skipped = _unprocessed_below(h, committed)
    if skipped:
        when = (f"while records {left[:4]} of the batch member A was processing were still "
                "unprocessed" if left else "once every record was processed")
        return problem(
            "committed offsets never to pass a record that was not processed, also when "
            "should_stop() turns true in the middle of a batch",
            f"should_stop() turned true {when}; when consume() returned, the group had "
            f"committed {dict(enumerate(committed))}, past records {skipped[:4]} that were "
            "never processed: they are lost",
            "commit() commits the position after everything poll() returned, processed or "
            "not: check should_stop() only before poll() and process the whole batch before "
            "committing; or, if you stop in the middle of a batch, commit only what you "
            "processed ({tp: OffsetAndMetadata(last processed offset + 1)})",
        )
    uncommitted = sorted((p, o) for _, p, o in _records(h) if o >= committed[p])
    if uncommitted:
        return problem(
            "consume() to commit what it processed before it returns on should_stop()",
            f"when consume() returned, the group had committed {dict(enumerate(committed))}: "
            f"records {uncommitted[:4]} were processed but not committed, so whoever takes "
            "the partitions over processes them again",
            "after the last record you process, commit: consumer.commit() once the batch is "
            "done; or, if you stop in the middle of a batch, commit only what you processed "
            "({tp: OffsetAndMetadata(last processed offset + 1)})",
        )
    since = h.stop_index()
    if since >= 0:
        mine = {(p, o) for p, o in left}
        later = [(p, o) for m, p, o in _records(h)[since:] if m == "member A"
                 and (p, o) not in mine]
        if later:
            return problem(
                "consume() to return as soon as should_stop() is true: to finish at most the "
                "batch it was processing, and not to poll again",
                f"should_stop() turned true while records {left[:4]} of the batch member A "
                f"was processing were still unprocessed; then A went on to process "
                f"{len(later)} records of later polls, e.g. {later[:4]}",
                "check should_stop() before every poll (while not should_stop(): ...), not "
                "only when a poll comes back empty: on a busy topic polls never come back "
                "empty, and such a loop never stops",
            )
    return None


def _refused_then_crash(h: Any) -> dict[str, str] | None:
    # One partition. Member A (max_poll_interval_ms 300) is held in process() in its second
    # batch until member B, which took the partition meanwhile, committed a batch and left.
    # Then A goes on: its commit is refused (CommitFailedError), and A crashes on the first
    # record it processes after that, in the batch its next poll() returns.
    h.run("member A", slow=True, hold_at=BATCH + 2, crash_after_refused=True)
    if not h.wait_held():
        found = _stuck(h, ["member A"])
        if found:
            return found
        raised = h.raised()
        return problem("member A to process records",
                        (f"it raised {raised['member A']['repr']}" if "member A" in raised
                         else f"it returned after fewer than {BATCH + 2}"), "")
    h.run("member B", stop="first")
    found = _stuck(h, ["member B"])
    h.close_member("member B")
    h.release()
    if found:
        return found
    found = _stuck(h, ["member A"])
    crashed = h.crashed()
    raised = h.raised()
    crash = raised.get("member A", {}).get("crash", False)
    if crashed and not crash:
        return problem(
            "the exception raised by process() to propagate out of consume() (a crash)",
            "process() raised on the first record member A processed after its commit was "
            "refused, but consume() " + (f"raised {raised['member A']['repr']}"
                                         if "member A" in raised else "went on without it"),
            "do not catch exceptions from process()",
        )
    if found:
        return found
    if "member B" in raised:
        return problem("consume() to return normally once should_stop() is true",
                        f"member B's consume() raised {raised['member B']['repr']}", "")
    if "member A" in raised and not crash:
        return problem(
            "member A to keep polling after its commit was refused",
            f"its consume() raised {raised['member A']['repr']}",
            "a commit after the group rebalanced without this member raises "
            "CommitFailedError: catch it and keep polling",
        )
    committed = h.committed()
    if len(committed) != 1:
        raise ValueError("not one committed offset")
    skipped = _unprocessed_below(h, committed)
    if skipped:
        how = "then crashed on the first record it processed after that" if crash else \
            "then went on"
        return problem(
            "committed offsets never to pass a record that was not processed, also after a "
            "refused commit",
            f"member A's commit was refused (CommitFailedError: member B had taken its "
            f"partition meanwhile); A {how}, and the group had committed offset "
            f"{committed[0]}, past records {skipped[:4]} that were never processed: they are "
            "lost",
            "after a refused commit, just poll again: commit() commits the position after "
            "everything poll() returned, processed or not, so never commit a batch before "
            "processing it, not even to retry a refused commit",
        )
    return None


_CHECKS = {"everything": _everything, "commits": _commits, "crash": _crash,
           "crash_in_poll_4": partial(_crash, in_poll=4),
           "rebalance": _rebalance, "handover": _handover, "stop": _stop,
           "stop_between_partitions": partial(_stop, when="partition_end"),
           "refused_then_crash": _refused_then_crash}
_PARTITIONS = {"refused_then_crash": 1}  # one partition: which batch comes next is certain


def check(impl: str, what: str) -> None:
    """Run one delivery property ``what`` (one of :data:`_CHECKS`'s names: everything,
    commits, crash, crash_in_poll_4, rebalance, handover, stop,
    stop_between_partitions, refused_then_crash): observed in an isolated child, judged
    here."""
    live = partial(Deliveries, impl, _PARTITIONS.get(what, PARTITIONS))
    fail_on(judge(_CHECKS[what], live, time_limit=40))
