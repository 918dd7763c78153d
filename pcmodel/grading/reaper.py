"""Kill every process a piece of graded code started, whatever it did to hide.

Killing a check's process group is not enough: a grandchild that calls ``setsid()`` (or
``setpgid``) leaves the group, and a double fork hands it to ``init``. On Linux the grading
process therefore becomes a *child subreaper* (``prctl(PR_SET_CHILD_SUBREAPER)``, as systemd and
tini use): every orphan below it is re-parented to it instead of to ``init``, so the whole tree
stays visible in ``/proc`` as its descendants, and :func:`kill_descendants` kills them until none
is left. The grading process also marks itself non-dumpable (``PR_SET_DUMPABLE`` 0), so that code
running as the same user cannot read its memory or its file descriptors through
``/proc/PID/mem`` and ``/proc/PID/fd``.

Graded code always runs in a session of its own (the check's child calls ``setsid()``; the suite's
pytest starts a new session), so the caller's children in the caller's own session are never
taken for graded code's orphans and are spared. A child that another thread of the same process
starts *in a new session* while a grading runs is indistinguishable from one and is killed: run
gradings in a process that starts no such children (``pcmodel grade`` does).

Elsewhere (no ``prctl`` or no ``/proc``) the fallback is the process-group kill, which a session
change escapes; :func:`subreaper_available` says which guarantee holds.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time
from collections.abc import Collection, Iterable, Iterator

__all__ = [
    "children_of",
    "descendants",
    "freeze_descendants",
    "harden",
    "kill_descendants",
    "shm_mapped_by",
    "shm_names",
    "subreaper",
    "subreaper_available",
    "unlink_unmapped_shm",
    "unwatch",
    "wait_for_trackers",
    "watch",
]

_PR_SET_DUMPABLE = 4
_PR_SET_CHILD_SUBREAPER = 36
_PR_GET_CHILD_SUBREAPER = 37
_PROC = "/proc"
_lock = threading.Lock()
_users = 0  # nested subreaper() scopes in this process
_before = 0  # the subreaper flag before the outermost scope
_watched: set[int] = set()  # live roots of gradings in progress: other cleanups spare them
# Held while a root is started and registered, and while a cleanup kills: a cleanup in another
# thread never sees a freshly started root before it is registered.
launching = threading.RLock()


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


_LIBC = _libc()


def subreaper_available() -> bool:
    """True where orphans can be kept as descendants (Linux with ``prctl`` and ``/proc``)."""
    return _LIBC is not None and os.path.isdir(_PROC)


def harden() -> None:
    """Make this process non-dumpable: same-user code cannot open its ``/proc`` memory or fds.

    Safe to call more than once; does nothing where ``prctl`` is unavailable.
    """
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)


@contextlib.contextmanager
def subreaper() -> Iterator[bool]:
    """Within the block, orphaned descendants are re-parented to this process.

    Yields whether that holds (see :func:`subreaper_available`). Nested and concurrent scopes in
    one process share the flag; the outermost one restores what it found.
    """
    global _users, _before
    if not subreaper_available():
        yield False
        return
    with _lock:
        if _users == 0:
            flag = ctypes.c_int(0)
            _LIBC.prctl(_PR_GET_CHILD_SUBREAPER, ctypes.byref(flag), 0, 0, 0)
            _before = flag.value
            _LIBC.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        _users += 1
    try:
        yield True
    finally:
        with _lock:
            _users -= 1
            if _users == 0 and not _before:
                _LIBC.prctl(_PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def watch(pid: int) -> None:
    """From now on, :func:`kill_descendants` spares ``pid``'s tree until :func:`unwatch`.

    Several checks or gradings can run at once in one process (threads); each kills only what is
    not another one's live root. Orphans of an ended root are re-parented to this process and are
    killed by whoever cleans up next. Start the root and watch it while holding
    :data:`launching`, so that no cleanup runs in between.
    """
    with _lock:
        _watched.add(pid)


def unwatch(pid: int) -> None:
    """Stop sparing ``pid``'s tree (call once the root has ended)."""
    with _lock:
        _watched.discard(pid)


def _parents() -> dict[int, int]:
    """{pid: parent pid} for every process visible in /proc (empty without /proc)."""
    found = {}
    try:
        entries = os.listdir(_PROC)
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"{_PROC}/{entry}/stat", "rb") as stat:
                # The command may hold spaces and parentheses; the fields resume after the last ')'.
                fields = stat.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        found[int(entry)] = int(fields[1])
    return found


def children_of(pid: int) -> set[int]:
    """The processes whose parent is ``pid`` right now (empty without /proc)."""
    return _children(_parents(), pid)


def descendants(root: int, spare: frozenset[int] = frozenset()) -> set[int]:
    """Every process below ``root`` in the process tree, except the subtrees rooted in ``spare``."""
    return _below(_parents(), root, spare)


def _children(parents: dict[int, int], pid: int) -> set[int]:
    return {child for child, parent in parents.items() if parent == pid}


def _below(parents: dict[int, int], root: int, spare: frozenset[int]) -> set[int]:
    """The descendants of ``root`` in the tree ``parents``, except the subtrees of ``spare``."""
    by_parent: dict[int, list[int]] = {}
    for child, parent in parents.items():
        by_parent.setdefault(parent, []).append(child)
    found: set[int] = set()
    todo = [child for child in by_parent.get(root, []) if child not in spare]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(by_parent.get(pid, []))
    return found


def wait_for_trackers(spare: frozenset[int] = frozenset(), timeout: float = 5.0) -> None:
    """Give multiprocessing resource trackers below this process up to ``timeout`` seconds to end.

    A tracker unlinks the named semaphores and shared memory that the processes it served leaked,
    once the last of them has gone; killing it first would leave them in /dev/shm. Call this
    after the graded processes ended and before :func:`kill_descendants`.
    """
    pause = threading.Event()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        trackers = [pid for pid in _adopted(spare)[0]
                    if not _zombie(pid) and b"resource_tracker" in _cmdline(pid)]
        if not trackers:
            return
        pause.wait(0.01)


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"{_PROC}/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read()
    except OSError:
        return b""


def _session(pid: int) -> int | None:
    try:
        with open(f"{_PROC}/{pid}/stat", "rb") as stat:
            return int(stat.read().rsplit(b")", 1)[1].split()[3])
    except (OSError, IndexError, ValueError):
        return None


def _zombie(pid: int) -> bool:
    try:
        with open(f"{_PROC}/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] in (b"Z", b"X")
    except (OSError, IndexError):
        return True


def kill_descendants(spare: frozenset[int] = frozenset(), rounds: int = 200) -> int:
    """SIGKILL every descendant of this process except the subtrees of ``spare``, of the roots
    registered with :func:`watch` and of its children in its own session (graded code always runs
    in a session of its own: those children were started by other code of this process); reap
    the ones that are its children.

    Repeats until no live descendant is left (a process forking while it is killed is caught by
    the next round), at most ``rounds`` times. Returns how many processes were killed. Without
    /proc this does nothing; callers also kill the process group.
    """
    with launching:
        return _kill_descendants(spare, rounds)


def _adopted(spare: frozenset[int]) -> tuple[set[int], set[int]]:
    """The descendants that graded code may have started (not under ``spare``, a watched root,
    or a child in this process's own session), and which of them are this process's children;
    from one look at /proc."""
    me = os.getpid()
    session = os.getsid(0)
    with _lock:
        spare = frozenset(spare | _watched)
    parents = _parents()
    children = _children(parents, me)
    # Graded code never runs in this process's session (every root starts a new one), so a
    # child in this session was started by other code of this process: spare it.
    own = {pid for pid in children if _session(pid) == session}
    found = _below(parents, me, spare | own)
    return found, found & children


def _kill_descendants(spare: frozenset[int], rounds: int) -> int:
    killed: set[int] = set()
    pause = threading.Event()
    for _ in range(rounds):
        found, children = _adopted(spare)
        alive = {pid for pid in found if not _zombie(pid)}
        for pid in alive:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        killed |= alive
        for pid in children:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
        if not alive:
            break
        pause.wait(0.005)  # the kernel delivers SIGKILL asynchronously; look again
    return len(killed)


SHM = "/dev/shm"


def freeze_descendants(spare: frozenset[int] = frozenset(), rounds: int = 50) -> set[int]:
    """SIGSTOP every descendant that :func:`kill_descendants` would kill, until a look finds no
    new one (a process forking meanwhile is caught by the next round); return them.

    A frozen tree creates nothing more (no named semaphore, no shared memory), so what it has
    mapped can be listed (:func:`shm_mapped_by`) before it is killed.
    """
    frozen: set[int] = set()
    pause = threading.Event()
    with launching:
        for _ in range(rounds):
            found, _children = _adopted(spare)
            new = {pid for pid in found if pid not in frozen and not _zombie(pid)}
            if not new:
                break
            for pid in new:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGSTOP)
            frozen |= new
            pause.wait(0.002)
    return frozen


def _maps_shm(pid: int | str) -> dict[int, str]:
    found: dict[int, str] = {}
    try:
        with open(f"{_PROC}/{pid}/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                fields = line.split(maxsplit=5)
                if len(fields) == 6 and fields[5].startswith(SHM + "/"):
                    with contextlib.suppress(ValueError):
                        found[int(fields[4])] = fields[5].strip()
    except OSError:
        pass
    return found


def shm_mapped_by(pids: Iterable[int | str]) -> dict[int, str]:
    """``{inode: path}`` of the /dev/shm files (named semaphores, shared memory) that the
    processes ``pids`` (``"self"``: this one) have mapped now (empty without /proc)."""
    found: dict[int, str] = {}
    for pid in pids:
        found.update(_maps_shm(pid))
    return found


def shm_names(inodes: Collection[int]) -> list[tuple[int, str]]:
    """``(inode, name)`` of the entries of /dev/shm whose inode is one of ``inodes``, by
    name."""
    if not inodes:
        return []
    try:
        names = os.listdir(SHM)
    except OSError:
        return []
    found = []
    for name in names:
        with contextlib.suppress(OSError):
            inode = os.stat(os.path.join(SHM, name)).st_ino
            if inode in inodes:
                found.append((inode, name))
    return sorted(found, key=lambda entry: entry[1])


def unlink_unmapped_shm(ours: dict[int, str]) -> list[str]:
    """Unlink the names in /dev/shm whose inode is one of ``ours`` and that no live process has
    mapped; return them.

    A grading's processes that are killed (Ctrl-C, a deadline) never reach their finalizers, and
    their multiprocessing resource tracker, killed with them, unlinks nothing: what they created
    in /dev/shm would stay there for good. Call this once they are all dead.
    """
    candidates = dict(shm_names(ours))
    if not candidates:
        return []
    try:
        entries = os.listdir(_PROC)
    except OSError:
        entries = []
    for entry in entries:
        if entry.isdigit() and not _zombie(int(entry)):
            for inode in _maps_shm(entry):
                candidates.pop(inode, None)
        if not candidates:
            return []
    removed = []
    for name in candidates.values():
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(SHM, name))
            removed.append(name)
    return sorted(removed)
