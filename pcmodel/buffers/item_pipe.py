"""A pipe that carries pickles between processes, each written as it is, framed by its length.

The ``queue`` variant on processes (:mod:`pcmodel.buffers.process_queue`) used to ride on
``multiprocessing.Queue``, whose feeder thread pickles what it is given: handed an item's pickle,
it pickled it a second time, and every item waited for that thread to be scheduled. This pipe
takes the pickle (as bytes, or as the pieces of a large one) and writes it as it is, after an
8-byte length (so no size cap):

* **now, in the caller**, when the pipe surely takes the whole frame in one write: a frame of at
  most ``PIPE_BUF`` bytes (which a pipe writes whole or not at all) that finds room, or a larger
  one that finds the pipe empty and at least as large as the frame; and this process's feeder
  thread holds nothing older (the process's items stay in order);
* **else by the feeder thread** (one per process, started on first need), which writes the
  frame in as many pieces as the pipe takes, waiting for room between them.
  ``put()`` never waits for a reader: a full pipe is the feeder's to wait for.

A pipe holds 64 KiB by default, less than a 64 KiB item's frame: written in pieces, such an item
would cost the reader five reads, most of them waiting for the writer's next piece. So on Linux
the pipe grows, the first time a frame does not fit, to hold a few frames of that size (up to
``/proc/sys/fs/pipe-max-size``, 1 MiB by default), and never shrinks. The kernel counts a grown
pipe against its user's quota of pipe memory (``pipe-user-pages-soft``): a pipe carrying only
small items never grows, and where the system refuses, the pipe keeps its size.

Both ends are non-blocking. Writers take a :class:`~pcmodel.buffers.robust.RobustLock` for a
whole frame, so that a large frame's pieces are not interleaved with another writer's; a writer
that dies in the middle of one breaks the buffer (its readers would otherwise wait for the rest
for ever). A caller that finds the lock taken hands its frame to the feeder rather than wait.
Readers take no lock of this module: the buffer's own lock lets one read at a time. A reader
reads the length, then the frame: in one read when it is all there, else straight into one
buffer of the frame's size as its pieces arrive (nothing is joined afterwards).

The dead producer. A frame the feeder thread holds is owed: its process's owed-items cell in the
shared :class:`~pcmodel.buffers.robust.Health` table counts it until it is written, so a reader
that waits in vain can tell that a dead process took items with it
(``ProcessQueue._check_producers``). A frame written by the caller was never owed.
Limit: a producer killed between writing a frame and counting it out (a few bytecodes) is taken
for one that lost an item.

Interrupts. A frame begun is finished: a reader (or a caller writing a large frame itself) that
gets an exception from a signal handler (Ctrl-C's ``KeyboardInterrupt``) while it waits for the
rest of the frame holds the exception and goes on until the frame is whole. Stopped there, it
would leave the rest in the pipe, and the next reader would take those bytes for a frame's
length. The call then returns as usual, and its caller raises the held exception with
:meth:`ItemPipe.raise_held` once its own counts are right (a reader's item is then lost, as one
``queue.Queue.get`` interrupted after taking it loses it). An exception that comes before a
frame is begun leaves the pipe as it was. Limit: one that lands in the instant a read or write
returns (a few bytecodes, no wait) loses what that call moved. For a read that is part of a
frame, the rest stays in the pipe and the next reader takes some of its bytes for a length (a
``MemoryError``, or a wait for bytes that never come): the buffer is lost. Closing that instant
would mean blocking signals around every read: about 1.5 us for a block and an unblock
(``signal.pthread_sigmask``), against about 9 us for a 1 KiB item's whole trip through the queue.
"""

from __future__ import annotations

import collections
import functools
import os
import select
import struct
import threading
import weakref
from multiprocessing import util
from typing import Any

from pcmodel.buffers.identity import current_pid
from pcmodel.buffers.pickling import Pieces
from pcmodel.buffers.robust import SLICE, Health, RobustLock
from pcmodel.errors import BufferBroken

try:  # Linux: a pipe's size can be read and changed, and the bytes in it counted
    from fcntl import F_GETPIPE_SZ, F_SETPIPE_SZ, fcntl, ioctl
    from termios import FIONREAD
except ImportError:  # elsewhere a pipe keeps its size, and only small frames go in at once
    fcntl = None  # type: ignore[assignment]

__all__ = ["ItemPipe"]

_HEADER = struct.Struct("<Q")  # the frame's length in bytes
_SMALL = select.PIPE_BUF - _HEADER.size  # the largest pickle whose frame a pipe writes whole
_FRAMES_HELD = 4  # a grown pipe holds this many frames of the largest size that did not fit
_IOV_MAX = 64  # the most pieces handed to one write (POSIX lets a system take as few as 16)
_SLICE_MS = int(SLICE * 1000)
_STOP = None  # what tells a feeder thread to finish


@functools.lru_cache(maxsize=1)
def _largest_pipe() -> int:
    """The most bytes an unprivileged process may make a pipe hold (Linux), 0 if unknown."""
    try:
        with open("/proc/sys/fs/pipe-max-size", "rb") as file:
            return int(file.read())
    except (OSError, ValueError):
        return 0


def _bytes_in(fd: int) -> int:
    """How many bytes the pipe holds now (Linux)."""
    return struct.unpack("i", ioctl(fd, FIONREAD, b"\0" * 4))[0]


class ItemPipe:
    """One pipe shared by the processes of a buffer: ``send`` bytes in, ``recv_nowait`` them out.

    Each process's frames arrive in the order it sent them; frames are never split or mixed.
    """

    def __init__(self, context: Any, health: Health) -> None:
        self._reader, self._writer = context.Pipe(duplex=False)
        os.set_blocking(self._reader.fileno(), False)  # inherited: one open file each end
        os.set_blocking(self._writer.fileno(), False)
        self._write_lock = RobustLock(context, health)
        self._health = health
        self._pid = 0  # the process the fields below were made for (made again in each one)
        self._read_fd = self._write_fd = -1
        self._poller: Any = None
        self._room: Any = None
        self._feeder: _Feeder | None = None
        self._size = 0  # the bytes the pipe holds, as this process last saw (0: unknown)
        self._largest = 0  # the most it may grow to (0: it cannot grow)
        self._held: dict[int, BaseException] = {}  # per thread: see raise_held()

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.update(_pid=0, _poller=None, _room=None, _feeder=None, _held={})
        return state

    def raise_held(self) -> None:
        """Raise the exception (Ctrl-C, say) that came while this thread's last frame was
        half-way through the pipe and was held until the frame was whole; nothing if none came.
        For the caller to call once its own counts are right (see the module)."""
        if self._held:
            held = self._held.pop(threading.get_ident(), None)
            if held is not None:
                raise held

    def _hold(self, exc: BaseException | None) -> None:
        if exc is not None:
            self._held.setdefault(threading.get_ident(), exc)

    def _here(self) -> _Feeder:
        """This process's feeder (its thread not yet started), fds and pollers, made on first
        use."""
        if self._pid != current_pid():
            self._read_fd, self._write_fd = self._reader.fileno(), self._writer.fileno()
            self._poller = select.poll()  # tells when the pipe has bytes to read
            self._poller.register(self._read_fd, select.POLLIN)
            self._room = select.poll()  # tells when it has room to write
            self._room.register(self._write_fd, select.POLLOUT)
            self._feeder = _Feeder(self)
            if fcntl is not None:
                self._size, self._largest = fcntl(self._write_fd, F_GETPIPE_SZ), _largest_pipe()
            self._pid = current_pid()
        return self._feeder

    def send(self, data: bytes | Pieces, owed: int) -> None:
        """Write ``data`` (a pickle, whole or in pieces) as one frame, now or by this process's
        feeder thread; never waits for a reader. ``owed``: this process's owed-items cell in
        the health table (0: none), which counts the frame while the feeder holds it.
        BufferBroken if the buffer is broken."""
        feeder = self._feeder if self._pid == current_pid() else self._here()
        if type(data) is not bytes and len(data) <= _SMALL:
            data = b"".join(data.parts)  # a small pickle in pieces: one piece, written whole
        if not feeder.unsent and self._write_lock.acquire(False):
            try:
                if len(data) <= _SMALL:
                    os.write(self._write_fd, _HEADER.pack(len(data)) + data)  # all or nothing
                    return
                frame = _frame(data)
                size = _HEADER.size + len(data)
                if len(frame) <= _IOV_MAX and self._takes_whole(size):
                    written = os.writev(self._write_fd, frame)
                    if written < size:  # not seen on Linux, which writes what it has room for
                        self._hold(_write_all(self._write_fd, frame, self._room, written))
                    return
            except BlockingIOError:
                pass  # no room for a small frame: the feeder waits for room
            finally:
                self._write_lock.release()
        feeder.hand_over(_frame(data), owed)

    def _takes_whole(self, size: int) -> bool:
        """True if the pipe takes a write of ``size`` bytes whole now: it is empty and at least
        that large, grown if it may. Write lock held (no other writer can fill it meanwhile;
        readers only empty it)."""
        if fcntl is None:
            return False
        if size > self._size and self._largest > self._size:
            self._grow(size)
        return size <= self._size and _bytes_in(self._write_fd) == 0

    def _grow(self, size: int) -> None:
        """Grow the pipe to hold a few frames of ``size`` bytes, as far as the system lets it.
        Write lock held: two processes growing it at once could shrink it (the smaller request
        made last), and it may have grown in another process already."""
        self._size = fcntl(self._write_fd, F_GETPIPE_SZ)
        wanted = min(_FRAMES_HELD * size, self._largest)
        if wanted > self._size:
            try:
                self._size = fcntl(self._write_fd, F_SETPIPE_SZ, wanted)
            except OSError:  # refused (its user's quota of pipe memory is used up, say)
                self._largest = self._size

    def recv_nowait(self) -> bytes | bytearray | None:
        """The next frame's bytes, or None if none has begun to arrive. Callers take turns (one
        reader at a time); a frame begun is read whole, waiting for the rest if need be."""
        if self._pid != current_pid():
            self._here()
        try:
            header = os.read(self._read_fd, _HEADER.size)
        except BlockingIOError:
            return None
        if len(header) < _HEADER.size:  # a large frame's first piece was shorter than this
            header += self._read_exactly(_HEADER.size - len(header))
        return self._read_exactly(_HEADER.unpack(header)[0])

    def wait_readable(self, ms: int) -> bool:
        """True as soon as the pipe has bytes to read; False after ``ms`` milliseconds."""
        if self._pid != current_pid():
            self._here()
        return bool(self._poller.poll(ms))

    def _read_exactly(self, size: int) -> bytes | bytearray:
        """The next ``size`` bytes, waiting for a writer that is still writing them. A small
        frame goes into the pipe whole, so it is all there: one read. A large one is read
        straight into a buffer of its size, in as many reads as it arrives in."""
        try:
            data = os.read(self._read_fd, size) if size <= _SMALL else b""
        except BlockingIOError:
            data = b""
        if len(data) == size:
            return data
        frame = bytearray(size)
        frame[:len(data)] = data  # the start of a header whose rest is still on its way
        filled = len(data)
        held = None  # an interrupt that came meanwhile: raised once the frame is whole
        with memoryview(frame) as view:
            while filled < size:
                try:
                    got = os.readv(self._read_fd, [view[filled:]])
                except BlockingIOError:
                    try:
                        if not self._poller.poll(_SLICE_MS):
                            self._health.check()  # its writer died holding the write lock?
                    except BufferBroken:
                        raise
                    except BaseException as exc:  # see the module: the frame is finished first
                        held = held or exc
                    continue
                if not got:  # every write end is closed: the rest can never come
                    self._health.mark_broken(
                        "the queue's pipe was closed in the middle of an item")
                filled += got
        self._hold(held)
        return frame

    def close(self) -> None:
        """Let this process's feeder write what it holds, stop it, and close this process's
        ends of the pipe (other processes keep theirs). Idempotent; the pipe is then unusable
        here (OSError)."""
        if self._pid == current_pid() and self._feeder is not None:
            self._feeder.stop()
        self._pid = 0  # its descriptors' numbers may be reused from now on: never write to them
        self._reader.close()
        self._writer.close()


def _frame(data: bytes | Pieces) -> list:
    """The byte strings of ``data``'s frame, to be written one after another: its length, then
    the pickle (a small one joined to its length: one piece)."""
    header = _HEADER.pack(len(data))
    if type(data) is bytes:
        return [header + data] if len(data) <= _SMALL else [header, data]
    return [header, *data.parts]


def _write_all(fd: int, frame: list, room: Any, written: int = 0) -> BaseException | None:
    """Write the byte strings of ``frame`` one after another, but for the first ``written``
    bytes: in as many writes as the pipe takes, waiting on the poller ``room`` for room
    between them. Write lock held. An exception raised while it waits (Ctrl-C) is held until
    the frame is whole, and returned (see the module); None if none came."""
    held = None
    parts = frame[:]
    while True:
        while written:  # drop what is written
            if written >= len(parts[0]):
                written -= len(parts.pop(0))
            else:
                parts[0], written = memoryview(parts[0])[written:], 0
        if not parts:
            return held
        try:
            if len(parts) == 1:  # a small frame, or a large one's end: one piece
                written = os.write(fd, parts[0])
            else:
                written = os.writev(fd, parts[:_IOV_MAX])
        except BlockingIOError:
            try:
                room.poll(_SLICE_MS)
            except BaseException as exc:  # the frame is finished first (see the module)
                held = held or exc


class _Feeder:
    """A process's thread that writes the frames its callers could not write at once, in order.

    ``unsent`` counts the frames handed over and not yet written (callers read it unlocked: a
    caller sees its own hand-over counted, which is all that keeps its frames in order).
    """

    def __init__(self, pipe: ItemPipe) -> None:
        self.unsent = 0
        self._frames: collections.deque = collections.deque()
        self._ready = threading.Condition(threading.Lock())
        # Not the pipe itself: a pipe dropped without close() is collected, and its finalizer
        # (see _start) stops the thread.
        self._pipe_ref = weakref.ref(pipe)
        self._write_fd, self._write_lock = pipe._write_fd, pipe._write_lock
        self._health = pipe._health
        self._table = pipe._health.table
        self._thread: threading.Thread | None = None

    def hand_over(self, frame: list, owed: int) -> None:
        """Have the thread write ``frame`` (its byte strings, one after another) after the
        frames handed over before it; counted in cell ``owed`` (0: none) until it is written."""
        with self._ready:
            if self._thread is None:
                self._start()
            self._frames.append((frame, owed))
            self.unsent += 1
            if owed:
                self._table[owed] += 1
            self._ready.notify()

    def _start(self) -> None:
        self._thread = thread = threading.Thread(target=self._run, name="ItemPipeFeeder",
                                                 daemon=True)
        # At exit, as multiprocessing.Queue does: ask the feeder to finish early (priority 10),
        # wait for it to write what it holds once children are dealt with (priority -5).
        # Arranged before the thread starts: start() waits for it, and an interrupt there
        # would leave a running feeder that nobody waits for at exit.
        util.Finalize(self._pipe_ref(), _Feeder._post_stop, [self._frames, self._ready],
                      exitpriority=10)
        util.Finalize(thread, _Feeder._join, [weakref.ref(thread)], exitpriority=-5)
        thread.start()

    @staticmethod
    def _post_stop(frames: collections.deque, ready: threading.Condition) -> None:
        with ready:
            frames.append((_STOP, 0))
            ready.notify()

    @staticmethod
    def _join(thread_ref: Any) -> None:
        thread = thread_ref()
        if thread is not None and thread.ident is not None:  # None: its start was cut short
            thread.join()

    def stop(self) -> None:
        """Write what was handed over, then end the thread (if it was started)."""
        thread = self._thread
        if thread is not None and thread.is_alive():
            self._post_stop(self._frames, self._ready)
            thread.join()

    def _run(self) -> None:
        frames, ready, table = self._frames, self._ready, self._table
        room = select.poll()  # tells when the pipe has room again
        room.register(self._write_fd, select.POLLOUT)
        while True:
            with ready:
                while not frames:
                    ready.wait()
                frame, owed = frames[0]  # still counted as unsent and owed while it is written
            if frame is _STOP:
                with ready:
                    frames.popleft()
                return
            try:
                with self._write_lock:  # a large frame's pieces must not mix with another's
                    _write_all(self._write_fd, frame, room)
            except BufferBroken:
                return  # readers see the buffer broken; nothing more can be delivered
            except OSError as exc:  # the pipe itself failed: readers must not wait for ever
                try:
                    self._health.mark_broken(f"writing to the queue's pipe failed ({exc})")
                except BufferBroken:
                    return
            with ready:
                frames.popleft()
                self.unsent -= 1
                if owed:
                    table[owed] -= 1
