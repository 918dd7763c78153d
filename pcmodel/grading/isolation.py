"""Run one check's workload where a hang or a crash can cost only that check.

Student code may deadlock, spin, leak blocked threads or kill its own process. Each check therefore
runs its workload in a forked child process that is the leader of its own process group: the parent
waits on a pipe with a time limit, and whatever happens it kills the whole group (the child and any
processes the student started), so nothing outlives the check. The child leaves with ``os._exit``,
which does not wait for leaked non-daemon threads. This is the isolation that CPython's own
``test.support`` uses for crashers and that autograders such as nbgrader's executors rely on.

Where ``fork`` does not exist (Windows), the workload runs in a daemon thread joined with the same
time limit: a hang still costs only its check, but a spinning thread keeps using a core until the
grader exits.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

__all__ = ["Outcome", "Verdict", "describe_exception", "run_isolated", "time_scale"]


class Verdict(Enum):
    """How an isolated workload ended."""

    RETURNED = "returned"
    RAISED = "raised"
    TIMED_OUT = "timed out"
    CRASHED = "crashed"


@dataclass(frozen=True)
class Outcome:
    """The result of :func:`run_isolated`.

    ``value`` is what the workload returned (RETURNED only); ``error`` describes the exception
    (RAISED), the time limit (TIMED_OUT) or the exit status (CRASHED).
    """

    verdict: Verdict
    value: Any = None
    error: str = ""
    elapsed: float = 0.0


def time_scale() -> float:
    """Factor applied to every grading time limit (``PCMODEL_GRADE_TIME_SCALE``, default 1).

    Slow or heavily shared machines can raise it; it never changes what a check asserts.
    """
    raw = os.environ.get("PCMODEL_GRADE_TIME_SCALE", "1")
    try:
        scale = float(raw)
    except ValueError:
        raise ValueError(f"PCMODEL_GRADE_TIME_SCALE must be a number, got {raw!r}") from None
    if scale <= 0:
        raise ValueError(f"PCMODEL_GRADE_TIME_SCALE must be positive, got {scale}")
    return scale


def describe_exception(exc: BaseException, source: str | None = None) -> str:
    """One line naming the exception and, when known, the line of ``source`` that raised it."""
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    if source is not None:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == source]
        if frames:
            last = frames[-1]
            text += f" (at {os.path.basename(source)} line {last.lineno}: {last.line})"
    return text


def run_isolated(fn: Callable[..., Any], *args: Any, time_limit: float) -> Outcome:
    """Run ``fn(*args)`` in a child process and return how it ended; never hangs.

    The child and every process in its group are killed when ``time_limit`` seconds pass without a
    result, and also after a result arrives (so leaked grandchildren die too). ``fn`` need not be
    picklable (the child is forked); its return value must be.
    """
    if time_limit <= 0:
        raise ValueError(f"time_limit must be positive, got {time_limit}")
    if "fork" not in multiprocessing.get_all_start_methods():
        return _run_in_thread(fn, args, time_limit)
    ctx = multiprocessing.get_context("fork")
    reader, writer = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child_main, args=(writer, fn, args), name="pcmodel-check")
    started = time.monotonic()
    with warnings.catch_warnings():
        # Python 3.12+ warns about fork() in a process with threads; the child runs only our
        # workload and leaves with os._exit, so the usual fork-after-threads hazards do not apply.
        warnings.simplefilter("ignore", DeprecationWarning)
        proc.start()
    writer.close()
    try:
        os.setpgid(proc.pid, proc.pid)  # also done by the child; whichever runs first wins
    except OSError:
        pass
    try:
        if reader.poll(time_limit):
            try:
                verdict, value, error = reader.recv()
                outcome = Outcome(Verdict(verdict), value, error)
            except (EOFError, OSError):
                outcome = None
        else:
            outcome = Outcome(
                Verdict.TIMED_OUT, error=f"still running after {time_limit:.1f} s; stopped"
            )
    finally:
        _kill_group(proc)
        reader.close()
    elapsed = time.monotonic() - started
    if outcome is None:
        code = proc.exitcode
        reason = f"signal {-code}" if code is not None and code < 0 else f"exit status {code}"
        outcome = Outcome(Verdict.CRASHED, error=f"the process ended without a result ({reason})")
    return Outcome(outcome.verdict, outcome.value, outcome.error, elapsed)


def _child_main(conn: Any, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    try:
        os.setpgid(0, 0)
    except OSError:
        pass
    try:
        message = (Verdict.RETURNED.value, fn(*args), "")
    except BaseException as exc:  # noqa: BLE001 - everything is reported to the parent
        message = (Verdict.RAISED.value, None, describe_exception(exc))
    try:
        conn.send(message)
    except Exception as exc:  # the result could not be pickled
        conn.send((Verdict.RAISED.value, None, f"result could not be returned: {exc!r}"))
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    # Leaked student threads may be blocked forever; do not wait for them.
    os._exit(0)


def _kill_group(proc: Any) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.kill()
    except (ProcessLookupError, AttributeError):
        pass
    proc.join(timeout=10)


def _run_in_thread(fn: Callable[..., Any], args: tuple[Any, ...], time_limit: float) -> Outcome:
    box: dict[str, Outcome] = {}

    def target() -> None:
        try:
            box["outcome"] = Outcome(Verdict.RETURNED, fn(*args))
        except BaseException as exc:  # noqa: BLE001 - reported to the caller
            box["outcome"] = Outcome(Verdict.RAISED, error=describe_exception(exc))

    started = time.monotonic()
    worker = threading.Thread(target=target, name="pcmodel-check", daemon=True)
    worker.start()
    worker.join(time_limit)
    elapsed = time.monotonic() - started
    if worker.is_alive():
        error = f"still running after {time_limit:.1f} s"
        return Outcome(Verdict.TIMED_OUT, error=error, elapsed=elapsed)
    found = box["outcome"]
    return Outcome(found.verdict, found.value, found.error, elapsed)
