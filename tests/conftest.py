"""Suite-wide checks: no test may leave a thread, a child process or a shared-memory file behind,
nor change how the test process handles signals."""

from __future__ import annotations

import _signal
import gc
import multiprocessing
import os
import signal
import threading
import time
from multiprocessing import shared_memory

import pytest

SHM = "/dev/shm"

# Semaphores this test run creates carry its own name prefix, so that the leak check can tell
# them from the entries of other programs (and other test runs) on a shared machine. The prefix
# is inherited by forked children; a spawned child creates its semaphores under the default
# name, but pcmodel's buffers create theirs in the parent and hand them over.
RUN_SEM_PREFIX = f"/mp-pcmtest{os.getpid()}"
multiprocessing.current_process()._config["semprefix"] = RUN_SEM_PREFIX
# Shared-memory blocks this process creates, by name (SharedMemory files under /dev/shm).
_CREATED_SHM: set[str] = set()
_original_shm_init = shared_memory.SharedMemory.__init__


def _recording_shm_init(self, name=None, create=False, size=0, **kwargs):
    _original_shm_init(self, name, create, size, **kwargs)
    if create:
        _CREATED_SHM.add(self._name.lstrip("/"))


shared_memory.SharedMemory.__init__ = _recording_shm_init


def _shm_names() -> set[str]:
    if os.environ.get("PCMODEL_SKIP_SHM_CHECK"):
        return set()
    try:
        return set(os.listdir(SHM))
    except FileNotFoundError:  # not Linux: nothing to compare
        return set()


def _our_processes() -> set[str]:
    """This process and its descendants, as /proc entry names."""
    parents: dict[str, str] = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as stat:
                # The command name may hold spaces and parentheses: split after the last ')'.
                parents[pid] = stat.read().rsplit(")", 1)[1].split()[1]
        except (OSError, IndexError):
            continue
    ours = {str(os.getpid())}
    grew = True
    while grew:
        found = {pid for pid, parent in parents.items() if parent in ours} - ours
        grew = bool(found)
        ours |= found
    return ours


def _mapped_by(names: set[str], pids: set[str] | None) -> set[str]:
    """The entries among ``names`` mapped by the processes ``pids`` (None: by every process).

    Matched by inode, since glibc maps a semaphore under the temporary name it was created with.
    """
    inodes = {}
    for name in names:
        try:
            inodes[os.stat(os.path.join(SHM, name)).st_ino] = name
        except OSError:
            continue
    mapped = set()
    for pid in os.listdir("/proc") if pids is None else pids:
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/maps") as maps:
                for line in maps:
                    fields = line.split()
                    if len(fields) >= 6 and fields[5].startswith(SHM):
                        name = inodes.get(int(fields[4]))
                        if name is not None:
                            mapped.add(name)
        except (OSError, ValueError):
            continue
    return mapped


def ours_in_shm(names: set[str]) -> set[str]:
    """The /dev/shm entries among ``names`` that this test run made: named with its semaphore
    prefix, created by it as shared memory, or mapped by this process or one of its children.
    Entries of other programs and other test runs on the machine are never blamed."""
    prefix = "sem." + RUN_SEM_PREFIX.lstrip("/") + "-"
    named = {n for n in names if n.startswith(prefix) or n in _CREATED_SHM}
    unnamed = names - named
    if not unnamed:  # the usual case after a test: no walk over every process of the machine
        return named
    return named | _mapped_by(unnamed, _our_processes())


class Interrupted(BaseException):
    """Stands for a KeyboardInterrupt that lands just after a waiter was woken."""


def interrupt_the_first_waiter(condition) -> None:
    """Make ``condition.wait()`` raise :class:`Interrupted` in the thread named ``"first"``
    once the real wait has returned (woken, or timed out)."""
    real_wait = condition.wait

    def wait(timeout=None):
        woken = real_wait(timeout)
        if threading.current_thread().name == "first":
            raise Interrupted
        return woken

    condition.wait = wait


class WatchedBell:
    """A sleeper's bell in a ``RunSemaphore`` (a ``threading.Lock``) whose uses can be seen.

    Its first ``acquire`` locks it, as its sleeper queues (it never blocks); a later one is the
    sleep: ``before_sleep()`` runs just before it, ``after_sleep(woken)`` just after it returns
    (and may raise, as a Ctrl-C would). ``on_ring()`` runs as a release wakes the sleeper.
    """

    def __init__(self, before_sleep=None, after_sleep=None, on_ring=None) -> None:
        self._lock = threading.Lock()
        self._locked_once = False
        self._before_sleep = before_sleep
        self._after_sleep = after_sleep
        self._on_ring = on_ring

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        if not self._locked_once:
            self._locked_once = True
            return self._lock.acquire(blocking, timeout)
        if self._before_sleep is not None:
            self._before_sleep()
        woken = self._lock.acquire(blocking, timeout)
        if self._after_sleep is not None:
            self._after_sleep(woken)
        return woken

    def release(self) -> None:
        if self._on_ring is not None:
            self._on_ring()
        self._lock.release()


def watch_bells(semaphore, **hooks) -> None:
    """Make every sleeper of the thread semaphore ``semaphore`` sleep on a :class:`WatchedBell`
    with ``hooks`` (``before_sleep``, ``after_sleep``, ``on_ring``)."""
    semaphore._new_bell = lambda: WatchedBell(**hooks)


def interrupt_the_first_sleeper(semaphore) -> None:
    """Make a sleeper of the thread semaphore ``semaphore`` raise :class:`Interrupted` in the
    thread named ``"first"`` once its sleep is over (woken, or timed out)."""

    def after_sleep(woken: bool) -> None:
        if threading.current_thread().name == "first":
            raise Interrupted

    watch_bells(semaphore, after_sleep=after_sleep)


def count_rings(semaphore) -> list[int]:
    """A list that grows by one each time a sleeper of ``semaphore`` is woken."""
    rung: list[int] = []
    watch_bells(semaphore, on_ring=lambda: rung.append(1))
    return rung


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.001) -> None:
    """Return once ``predicate()`` is true; fail the test after ``timeout`` seconds.

    A synchronisation helper for observing another actor's state (e.g. "a putter is now
    blocked"), not a sleep that lets a thread run: it returns as soon as the state is reached.
    """
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not reached within {timeout} s: {predicate}")
        pause.wait(interval)


@pytest.fixture(autouse=True)
def no_leaks():
    """Fail a test that leaves threads, child processes or /dev/shm entries behind."""
    threads_before = set(threading.enumerate())
    shm_before = _shm_names()
    yield
    deadline = time.monotonic() + 10
    for child in multiprocessing.active_children():
        child.join(max(0.0, deadline - time.monotonic()))
    leftover_children = multiprocessing.active_children()

    def leftovers() -> tuple[list[threading.Thread], set[str]]:
        threads = [t for t in set(threading.enumerate()) - threads_before if t.is_alive()]
        return threads, ours_in_shm(_shm_names() - shm_before)

    leftover_threads, leaked_shm = leftovers()
    if leftover_threads or leaked_shm:
        # Garbage that still owns a thread or a segment gives it up when collected (a
        # multiprocessing.Queue stops its feeder thread, a buffer unlinks its memory). Collected
        # only here: a full collection of a large test process takes a tenth of a second, and
        # most tests leave nothing to collect.
        gc.collect()
        for thread in leftover_threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        leftover_threads, leaked_shm = leftovers()
    for child in leftover_children:
        child.kill()
        child.join(5)
    problems = []
    if leftover_children:
        problems.append(f"child processes still running: {leftover_children}")
    if leftover_threads:
        problems.append(f"threads still running: {leftover_threads}")
    if leaked_shm:
        problems.append(f"new entries in {SHM}: {sorted(leaked_shm)}")
    if problems:
        pytest.fail("test left resources behind: " + "; ".join(problems))


# The signals whose disposition a test (or the library code it calls) may change by mistake. A
# disposition outlives the test: SIG_IGN is even inherited across exec, so a subprocess started
# by a later test would silently ignore its Ctrl-C.
WATCHED_SIGNALS = tuple(
    int(getattr(signal, name))
    for name in ("SIGINT", "SIGTERM", "SIGCHLD", "SIGPIPE", "SIGALRM", "SIGUSR1", "SIGUSR2",
                 "SIGHUP")
    if hasattr(signal, name)
)


def pytest_configure(config: pytest.Config) -> None:
    """Start every test process, the runner's and each xdist worker's, with Python's own Ctrl-C
    handler, as a run from a terminal has it.

    A test run launched in the background by a script (``pytest ... &``, with or without
    ``nohup``, in a shell without job control) inherits SIGINT ignored: POSIX shells ignore SIGINT
    and SIGQUIT for such commands, Python keeps a SIG_IGN it inherits instead of installing its
    KeyboardInterrupt handler, and xdist's workers inherit it from the runner through exec.
    Neither pytest nor xdist changes it. The suite's Ctrl-C tests, and the subprocesses they
    start, need the handler a terminal run has, so an inherited SIG_IGN is replaced once here,
    before any test; a disposition a test changes is still caught by :func:`signals_unchanged`.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook: known only where it is installed
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto``: two workers per core this process may run on.

    Much of the suite's time is spent waiting, not computing: for a broker process to start,
    a Kafka client's retry, a grader's stall window, a notebook's kernel. With one worker per
    core, a core idles while its worker waits; more workers fill those waits. On 2 cores,
    with the suite of 3,972 tests, three workers took 531 s and four 477 s, and no test came
    nearer its timeout than 40% of it. ``PYTEST_XDIST_AUTO_NUM_WORKERS`` still decides when
    it is set.
    """
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # pytest-xdist's own hook reads it
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) * 2)


def _signal_state() -> tuple[tuple, frozenset | None, int]:
    """The dispositions of :data:`WATCHED_SIGNALS` (in that order), the calling thread's blocked
    signals and the wakeup fd. Reading the wakeup fd means setting it: it is put straight back.

    Read through ``_signal``, the C module behind ``signal``, whose plain values (0 for SIG_DFL,
    1 for SIG_IGN) cost a microsecond where ``signal``'s enum conversions cost fifty: this
    runs twice for every test of the suite."""
    handlers = tuple(map(_signal.getsignal, WATCHED_SIGNALS))
    mask = (frozenset(_signal.pthread_sigmask(_signal.SIG_BLOCK, []))
            if hasattr(_signal, "pthread_sigmask") else None)
    wakeup_fd = _signal.set_wakeup_fd(-1)
    if wakeup_fd != -1:
        _signal.set_wakeup_fd(wakeup_fd)
    return handlers, mask, wakeup_fd


def _restore_signal_state(handlers: tuple, mask: frozenset | None, wakeup_fd: int) -> None:
    for signum, handler in zip(WATCHED_SIGNALS, handlers):
        if handler is not None:  # None: installed outside Python, cannot be put back from here
            signal.signal(signum, handler)
    if mask is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
    try:
        signal.set_wakeup_fd(wakeup_fd)
    except ValueError:  # the old fd was closed meanwhile: leave none rather than a stale one
        signal.set_wakeup_fd(-1)


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:  # a real-time signal has no name of its own
        return str(signum)


def _describe(handler: object) -> str:
    if isinstance(handler, int):
        return signal.Handlers(handler).name
    return getattr(handler, "__qualname__", None) or repr(handler)


def _timeout_cancelled(signum: int, old: object, new: object) -> bool:
    """Whether pytest-timeout took its own SIGALRM handler away: it does so as soon as a test
    fails (to keep the alarm out of the report and the debugger), before the test's fixtures end."""
    return (signum == getattr(signal, "SIGALRM", None) and new == signal.SIG_DFL
            and getattr(old, "__module__", None) == "pytest_timeout")


def signal_changes(before: tuple, after: tuple) -> list[str]:
    """What differs between two :func:`_signal_state` readings, one line each (the runner's
    own changes left out)."""
    (handlers_before, mask_before, fd_before), (handlers_now, mask_now, fd_now) = before, after
    changes = [
        f"{_signal_name(signum)} handler {_describe(old)} -> {_describe(now)}"
        for signum, old, now in zip(WATCHED_SIGNALS, handlers_before, handlers_now)
        if now != old and not _timeout_cancelled(signum, old, now)
    ]
    if mask_now != mask_before:
        added = sorted(_signal_name(s) for s in (mask_now or set()) - (mask_before or set()))
        removed = sorted(_signal_name(s) for s in (mask_before or set()) - (mask_now or set()))
        changes.append(f"blocked signals: now blocked {added or 'none'}, "
                       f"now unblocked {removed or 'none'}")
    if fd_now != fd_before:
        changes.append(f"wakeup fd {fd_before} -> {fd_now}")
    return changes


@pytest.fixture(autouse=True)
def signals_unchanged():
    """Fail a test that leaves the process's signal handling other than it found it: the
    dispositions of :data:`WATCHED_SIGNALS`, the main thread's blocked signals, the wakeup fd.

    Compared with the state when the test started, not with the defaults: the test runner
    installs handlers of its own (pytest-timeout's SIGALRM handler is set for each test before
    its fixtures and removed after them, or as soon as the test fails). The state is put back
    after a failure, so that one offender does not spoil the tests after it. Only the main
    thread may change dispositions and the wakeup fd, so elsewhere nothing is checked.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = _signal_state()
    yield
    after = _signal_state()
    if after == before:  # the usual case: a few microseconds for the whole check
        return
    changes = signal_changes(before, after)
    if changes:
        (handlers_before, mask, wakeup_fd), handlers_now = before, after[0]
        # What the runner took away stays away; everything else is as the test found it.
        handlers = tuple(
            now if _timeout_cancelled(signum, old, now) else old
            for signum, old, now in zip(WATCHED_SIGNALS, handlers_before, handlers_now)
        )
        _restore_signal_state(handlers, mask, wakeup_fd)
        pytest.fail("test changed the process's signal handling (restored now): "
                    + "; ".join(changes))
