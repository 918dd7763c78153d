"""Run one check's workload where a hang, a crash or a forgery can cost only that check.

Student code may deadlock, spin, leak blocked threads, kill its own process, start processes that
hide in a new session, print without end, or try to report success itself. Each check therefore
runs its workload in a forked child process, and everything that decides the grade is the
parent's:

- **Time and death** are observed by the parent: its own monotonic clock, and ``waitpid``.
- **The result is data, not a verdict.** The child sends ``[verdict, value, error]`` as JSON
  (plain data only: the grader never unpickles or imports anything a child sends), at most
  :data:`RESULT_LIMIT` bytes. ``value`` is what the workload observed; the caller judges it
  (:mod:`pcmodel.grading.replay` re-runs the check's scenario on it in the grader), so a child
  that reports "returned" with a made-up value has reported nothing the grader accepts.
- **The channel is sealed** as well: the message carries an HMAC-SHA256 tag under a key that the
  parent draws for this check after the fork and leaves in a pipe that the child reads only once
  its workload has returned. A message that code in the child writes on its own, without that
  key, is reported as TAMPERED, and so is a second message or one that is not JSON data. (Code
  written against this module can read the key pipe itself; that only lets it send data, which
  is judged like any other.)
- **Nothing outlives the check**: the child leads a new session, the parent is a child
  subreaper while the check runs (:mod:`pcmodel.grading.reaper`), and after the result it kills
  the group and every descendant, including ones that called ``setsid()`` or forked twice.
- **Output is capped**: the child's stdout and stderr go to a pipe the parent drains, keeping the
  first :data:`OUTPUT_LIMIT` bytes and counting the rest, so 300 MB of prints cost no memory.
- The child closes every file descriptor it inherited except its own pipes (so it holds none of
  the grader's files or report channels), and applies the grading sandbox
  (:mod:`pcmodel.grading.sandbox`) before the workload runs.

Where ``fork`` does not exist (Windows), the workload runs in a daemon thread joined with the same
time limit: a hang still costs only its check, but none of the guarantees above holds.
"""

from __future__ import annotations

import contextlib
import ctypes
import hmac
import io
import json
import multiprocessing
import os
import secrets
import select
import signal
import struct
import sys
import sysconfig
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from pcmodel.grading import reaper, sandbox

__all__ = ["OUTPUT_LIMIT", "RESULT_LIMIT", "Outcome", "Verdict", "describe_exception",
           "run_isolated", "time_scale"]

OUTPUT_LIMIT = 64 * 1024  # bytes of a check's output kept for its report
_KEY_BYTES = 32
_HEADER = struct.Struct("!I")  # length of the sealed message that follows the tag
_TAG_BYTES = 32
RESULT_LIMIT = 16 * 1024 * 1024  # bytes of a result; a larger one is not read


class Verdict(Enum):
    """How an isolated workload ended."""

    RETURNED = "returned"
    RAISED = "raised"
    TIMED_OUT = "timed out"
    CRASHED = "crashed"
    TAMPERED = "tampered"


@dataclass(frozen=True)
class Outcome:
    """The result of :func:`run_isolated`.

    ``value`` is what the workload returned (RETURNED only); ``error`` describes the exception
    (RAISED), the time limit (TIMED_OUT), the exit status (CRASHED) or the interference
    (TAMPERED). ``output`` is the first :data:`OUTPUT_LIMIT` bytes the workload printed (decoded),
    ``output_dropped`` how many more bytes were discarded.
    """

    verdict: Verdict
    value: Any = None
    error: str = ""
    elapsed: float = 0.0
    output: str = ""
    output_dropped: int = 0


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


# Files that are not the student's: pcmodel itself and the standard library / installed packages.
_LIBRARY_DIRS = tuple(
    os.path.realpath(path) + os.sep
    for path in {
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))),  # the pcmodel package
        *(sysconfig.get_paths().get(key, "") for key in ("stdlib", "platstdlib", "purelib",
                                                         "platlib")),
    }
    if path
)


def _is_library(filename: str) -> bool:
    if filename.startswith("<"):
        return True
    return os.path.realpath(filename).startswith(_LIBRARY_DIRS)


def describe_exception(exc: BaseException, source: str | None = None) -> str:
    """One line naming the exception and where the student's code raised it.

    The place is the innermost frame of ``source`` when given, else the innermost frame that is
    neither pcmodel's nor the standard library's: ``ValueError: bad (at my_buffer.py:27:
    self.items.pop())``. Nothing is added when no such frame exists.
    """
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip().splitlines()[-1]
    frames = traceback.extract_tb(exc.__traceback__)
    if source is not None:
        mine = [f for f in frames if f.filename == source]
    else:
        mine = [f for f in frames if not _is_library(f.filename)]
    if mine:
        last = mine[-1]
        text += f" (at {os.path.basename(last.filename)}:{last.lineno}: {last.line})"
    return text


def run_isolated(fn: Callable[..., Any], *args: Any, time_limit: float) -> Outcome:
    """Run ``fn(*args)`` in a child process and return how it ended; never hangs.

    Returns after at most ``time_limit`` seconds plus the time to kill: the child and every process
    it started are killed when the limit passes without a result, and also after a result arrives.
    ``fn`` need not be picklable (the child is forked); its return value must be JSON data
    (dicts with string keys, lists, strings, finite numbers, booleans, None; tuples arrive as
    lists), else the outcome is RAISED.
    """
    if time_limit <= 0:
        raise ValueError(f"time_limit must be positive, got {time_limit}")
    if "fork" not in multiprocessing.get_all_start_methods():
        return _run_in_thread(fn, args, time_limit)
    result_r, result_w = os.pipe()
    key_r, key_w = os.pipe()
    out_r, out_w = os.pipe()
    tracker = _tracker_fd()
    started = time.monotonic()
    with reaper.subreaper():
        before = frozenset(reaper.children_of(os.getpid()))
        with reaper.launching:
            pid = _fork(result_w, key_r, out_w, tracker, fn, args)
            reaper.watch(pid)
        # Drawn after the fork: the child's copy of this frame (on its call stack) holds no key.
        key = secrets.token_bytes(_KEY_BYTES)
        for fd in (result_w, key_r, out_w):
            os.close(fd)
        try:
            try:
                watch = _Watch(pid, result_r, out_r, key, key_w)
                outcome = watch.run(started + time_limit, time_limit)
            finally:
                _kill_tree(pid)
                reaper.unwatch(pid)
        finally:
            reaper.kill_descendants(before)
    elapsed = time.monotonic() - started
    return Outcome(outcome.verdict, outcome.value, outcome.error, elapsed, *watch.output())


def _fork(result_w: int, key_r: int, out_w: int, tracker: int | None,
          fn: Callable[..., Any], args: tuple[Any, ...]) -> int:
    with _quiet_fork_warning():
        pid = os.fork()
    if pid:
        return pid
    # The child: never return from here.
    try:
        _child_main(result_w, key_r, out_w, tracker, fn, args)
    finally:
        os._exit(70)


@contextlib.contextmanager
def _quiet_fork_warning() -> Any:
    import warnings

    with warnings.catch_warnings():
        # Python 3.12+ warns about fork() in a process with threads; the child runs only our
        # workload and leaves with os._exit, so the usual fork-after-threads hazards do not apply.
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def _child_main(result_w: int, key_r: int, out_w: int, tracker: int | None,
                fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    # A session of its own: the child leads its process group (killed as one), and the
    # reaper tells its orphans from the parent's other children by session.
    with contextlib.suppress(OSError):
        os.setsid()
    # The suite's pytest ignores SIGINT (see pcmodel.grading.supervise); graded code meets the
    # usual KeyboardInterrupt on its own SIGINT.
    with contextlib.suppress(ValueError, OSError):
        signal.signal(signal.SIGINT, signal.default_int_handler)
    _become_dumpable()
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(out_w, 1)
    os.dup2(out_w, 2)
    keep = sorted({0, 1, 2, result_w, key_r} | ({tracker} if tracker is not None else set()))
    low = 3
    for fd in keep[3:]:
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, _max_fd())
    _forget_inherited_helpers()
    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False))
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), line_buffering=True,
                                  errors="backslashreplace")
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), line_buffering=True,
                                  errors="backslashreplace")
    try:
        sandbox.enter()
        message = (Verdict.RETURNED.value, fn(*args), "")
    except BaseException as exc:  # noqa: BLE001 - everything is reported to the parent
        message = (Verdict.RAISED.value, None, describe_exception(exc))
    payload = _encode(message)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    key = _read_exactly(key_r, _KEY_BYTES)
    tag = hmac.digest(key, payload, "sha256")
    with contextlib.suppress(OSError):
        _write_all(result_w, tag + _HEADER.pack(len(payload)) + payload)
    # Leaked student threads may be blocked forever; do not wait for them.
    os._exit(0)


def _encode(message: tuple[str, Any, str]) -> bytes:
    try:
        payload = json.dumps(message, allow_nan=False, separators=(",", ":")).encode()
    except (TypeError, ValueError, RecursionError) as exc:  # not JSON data
        error = f"result could not be returned: {exc}"
        return json.dumps([Verdict.RAISED.value, None, error]).encode()
    if len(payload) > RESULT_LIMIT:
        error = f"result could not be returned: {len(payload)} bytes, more than {RESULT_LIMIT}"
        return json.dumps([Verdict.RAISED.value, None, error]).encode()
    return payload


def _decode(payload: bytes) -> Outcome:
    """The outcome a sealed payload describes; TAMPERED for anything but the expected data."""

    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not plain data")

    try:
        message = json.loads(payload.decode("utf-8"), parse_constant=refuse)
    except (ValueError, RecursionError, UnicodeDecodeError):
        return _tampered("a result that is not JSON data")
    if not (isinstance(message, list) and len(message) == 3 and isinstance(message[2], str)
            and message[0] in {v.value for v in Verdict}):
        return _tampered("a result that is not a [verdict, value, error] triple")
    return Outcome(Verdict(message[0]), message[1], message[2])


def _tracker_fd() -> int | None:
    """Start the parent's multiprocessing resource tracker; return its descriptor.

    Check children share it (as forked multiprocessing children do), so the named semaphores and
    shared memory that student code leaks are unlinked when the grading process ends, even though
    every process of the check is killed.
    """
    try:
        from multiprocessing import resource_tracker
    except ImportError:
        return None
    resource_tracker.ensure_running()
    return resource_tracker.getfd()


def _forget_inherited_helpers() -> None:
    # A forkserver of the parent was reached through descriptors just closed; the child starts
    # its own if it needs one.
    module = sys.modules.get("multiprocessing.forkserver")
    helper = getattr(module, "_forkserver", None)
    for field in ("_forkserver_address", "_forkserver_alive_fd", "_forkserver_pid"):
        if helper is not None and hasattr(helper, field):
            setattr(helper, field, None)


def _become_dumpable() -> None:
    # The grading process is non-dumpable (see reaper.harden); the child is the student's own
    # process and gets the usual behaviour back.
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)


def _max_fd() -> int:
    try:
        return min(os.sysconf("SC_OPEN_MAX"), 1 << 16)
    except (ValueError, OSError):
        return 4096


def _read_exactly(fd: int, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class _Watch:
    """The parent's side of one check: drain output, collect the sealed result, judge."""

    def __init__(self, pid: int, result_r: int, out_r: int, key: bytes, key_w: int) -> None:
        self.pid = pid
        self.result_r = result_r
        self.out_r = out_r
        self.key = key
        self.key_w = key_w
        self.result = bytearray()
        self.kept = bytearray()
        self.dropped = 0
        self.status: int | None = None
        for fd in (result_r, out_r):
            os.set_blocking(fd, False)

    def run(self, deadline: float, time_limit: float) -> Outcome:
        try:
            # The key waits in the pipe; the child reads it only after its workload returned.
            # A child that is already gone (it ended itself at once) needs no key: its end is
            # observed below.
            with contextlib.suppress(BrokenPipeError):
                os.write(self.key_w, self.key)
            while True:
                sealed = self._sealed()
                if sealed is not None:
                    return sealed
                if self.status is not None:
                    self._drain(final=True)
                    return self._sealed() or self._ended()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return Outcome(Verdict.TIMED_OUT,
                                   error=f"still running after {time_limit:.1f} s; stopped")
                ready, _, _ = select.select([self.result_r, self.out_r], [], [],
                                            min(remaining, 0.02))
                self._drain(final=False, ready=ready)
                self._poll_child()
        finally:
            self._drain(final=True)
            for fd in (self.result_r, self.out_r, self.key_w):
                with contextlib.suppress(OSError):
                    os.close(fd)

    def output(self) -> tuple[str, int]:
        return self.kept.decode("utf-8", "replace"), self.dropped

    def _poll_child(self) -> None:
        if self.status is None:
            with contextlib.suppress(ChildProcessError):
                done, status = os.waitpid(self.pid, os.WNOHANG)
                if done:
                    self.status = status

    def _drain(self, final: bool, ready: list[int] | None = None) -> None:
        for fd in (self.result_r, self.out_r):
            if ready is not None and fd not in ready:
                continue
            # A bounded number of reads per call: a writer that never stops cannot hold us here.
            for _ in range(256 if final else 64):
                try:
                    chunk = os.read(fd, 1 << 16)
                except (BlockingIOError, OSError):
                    break
                if not chunk:
                    break
                if fd == self.out_r:
                    room = OUTPUT_LIMIT - len(self.kept)
                    self.kept += chunk[:room]
                    self.dropped += max(0, len(chunk) - room)
                elif len(self.result) < RESULT_LIMIT:
                    self.result += chunk

    def _sealed(self) -> Outcome | None:
        """The verdict of a complete sealed message; None while it is incomplete."""
        head = _TAG_BYTES + _HEADER.size
        if len(self.result) < head:
            return None
        tag = bytes(self.result[:_TAG_BYTES])
        (size,) = _HEADER.unpack(self.result[_TAG_BYTES:head])
        if size > RESULT_LIMIT:
            return _tampered("a result larger than any check returns")
        if len(self.result) < head + size:
            return None
        payload = bytes(self.result[head:head + size])
        if not hmac.compare_digest(tag, hmac.digest(self.key, payload, "sha256")):
            return _tampered("a message on the grader's result channel that the grader "
                             "did not send")
        if len(self.result) > head + size:
            return _tampered("more than one message on the grader's result channel")
        return _decode(payload)

    def _ended(self) -> Outcome:
        if self.result:
            return _tampered("an incomplete message on the grader's result channel")
        status = self.status or 0
        if os.WIFSIGNALED(status):
            reason = f"signal {os.WTERMSIG(status)}"
        else:
            reason = f"exit status {os.WEXITSTATUS(status)}"
        return Outcome(Verdict.CRASHED, error=f"the process ended without a result ({reason})")


def _tampered(what: str) -> Outcome:
    return Outcome(Verdict.TAMPERED, error=f"the grader received {what}")


def _kill_tree(pid: int) -> None:
    """Kill the check's child, its process group and reap the child."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    pause = threading.Event()
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if done:
            return
        pause.wait(0.002)


def _run_in_thread(fn: Callable[..., Any], args: tuple[Any, ...], time_limit: float) -> Outcome:
    box: dict[str, Outcome] = {}

    def target() -> None:
        try:
            box["outcome"] = _decode(_encode((Verdict.RETURNED.value, fn(*args), "")))
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
