"""A pipe that carries pickles between processes, each written as it is, framed by its length.

The ``queue`` variant on processes (:mod:`pcmodel.buffers.process_queue`) used to ride on
``multiprocessing.Queue``, whose feeder thread pickles what it is given: handed an item's pickle,
it pickled it a second time, and every item waited for that thread to be scheduled. This pipe
takes the pickle as bytes and writes it as it is, after an 8-byte length (so no size cap):

* **now, in the caller**, when the frame fits in ``PIPE_BUF`` bytes (the most a pipe writes
  whole: never split, never interleaved with another writer's bytes), the pipe has room for it
  and this process's feeder thread holds nothing older (the process's items stay in order);
* **else by the feeder thread** (one per process, started on first need), which waits for room.
  ``put()`` never waits for a reader: a full pipe, or a large item, is the feeder's to wait for.

Both ends are non-blocking. Writers take a :class:`~pcmodel.buffers.robust.RobustLock` for a
whole frame, so that a large frame's pieces are not interleaved with another writer's; a writer
that dies in the middle of one breaks the buffer (its readers would otherwise wait for the rest
for ever). A caller that finds the lock taken hands its frame to the feeder rather than wait.
Readers take no lock of this module: the buffer's own lock lets one read at a time.

The dead producer. A frame the feeder thread holds is owed: its process's owed-items cell in the
shared :class:`~pcmodel.buffers.robust.Health` table counts it until it is written, so a reader
that waits in vain can tell that a dead process took items with it
(``ProcessQueue._check_producers``). A frame written by the caller was never owed.
Limit: a producer killed between writing a frame and counting it out (a few bytecodes) is taken
for one that lost an item.
"""

from __future__ import annotations

import collections
import os
import select
import struct
import threading
import weakref
from multiprocessing import util
from typing import Any

from pcmodel.buffers.robust import SLICE, Health, RobustLock, current_pid
from pcmodel.errors import BufferBroken

__all__ = ["ItemPipe"]

_HEADER = struct.Struct("<Q")  # the frame's length in bytes
_SMALL = select.PIPE_BUF - _HEADER.size  # the largest item whose frame is written whole
_SLICE_MS = int(SLICE * 1000)
_STOP = None  # what tells a feeder thread to finish


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
        self._feeder: _Feeder | None = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.update(_pid=0, _poller=None, _feeder=None)
        return state

    def _here(self) -> _Feeder:
        """This process's feeder (its thread not yet started), fds and poller, made on first use."""
        if self._pid != current_pid():
            self._read_fd, self._write_fd = self._reader.fileno(), self._writer.fileno()
            self._poller = select.poll()
            self._poller.register(self._read_fd, select.POLLIN)
            self._feeder = _Feeder(self)
            self._pid = current_pid()
        return self._feeder

    def send(self, data: bytes, owed: int) -> None:
        """Write ``data`` as one frame, now or by this process's feeder thread; never waits for
        a reader. ``owed``: this process's owed-items cell in the health table (0: none), which
        counts the frame while the feeder holds it. BufferBroken if the buffer is broken."""
        feeder = self._feeder if self._pid == current_pid() else self._here()
        if not feeder.unsent and len(data) <= _SMALL and self._write_lock.acquire(False):
            try:
                os.write(self._write_fd, _HEADER.pack(len(data)) + data)  # all or nothing
                return
            except BlockingIOError:
                pass  # the pipe is full: the feeder waits for room
            finally:
                self._write_lock.release()
        feeder.hand_over(data, owed)

    def recv_nowait(self) -> bytes | None:
        """The next frame's bytes, or None if none has begun to arrive. Callers take turns (one
        reader at a time); a frame begun is read whole, waiting for the rest if need be."""
        if self._pid != current_pid():
            self._here()
        try:
            header = os.read(self._read_fd, _HEADER.size)
        except BlockingIOError:
            return None
        if len(header) < _HEADER.size:
            header += self._read_fully(_HEADER.size - len(header))
        return self._read_fully(_HEADER.unpack(header)[0])

    def wait_readable(self, ms: int) -> bool:
        """True as soon as the pipe has bytes to read; False after ``ms`` milliseconds."""
        if self._pid != current_pid():
            self._here()
        return bool(self._poller.poll(ms))

    def _read_fully(self, size: int) -> bytes:
        """The next ``size`` bytes, waiting for a writer that is still writing them."""
        parts, missing = [], size
        while missing:
            try:
                part = os.read(self._read_fd, missing)
            except BlockingIOError:
                if not self._poller.poll(_SLICE_MS):
                    self._health.check()  # its writer died holding the write lock?
                continue
            if not part:  # every write end is closed: the rest can never come
                self._health.mark_broken("the queue's pipe was closed in the middle of an item")
            parts.append(part)
            missing -= len(part)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def close(self) -> None:
        """Let this process's feeder write what it holds, stop it, and close this process's
        ends of the pipe (other processes keep theirs). Idempotent; the pipe is then unusable
        here (OSError)."""
        if self._pid == current_pid() and self._feeder is not None:
            self._feeder.stop()
        self._pid = 0  # its descriptors' numbers may be reused from now on: never write to them
        self._reader.close()
        self._writer.close()


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

    def hand_over(self, data: bytes | None, owed: int) -> None:
        with self._ready:
            if self._thread is None:
                self._start()
            self._frames.append((data, owed))
            self.unsent += 1
            if owed:
                self._table[owed] += 1
            self._ready.notify()

    def _start(self) -> None:
        self._thread = thread = threading.Thread(target=self._run, name="ItemPipeFeeder",
                                                 daemon=True)
        thread.start()
        # At exit, as multiprocessing.Queue does: ask the feeder to finish early (priority 10),
        # wait for it to write what it holds once children are dealt with (priority -5).
        util.Finalize(self._pipe_ref(), _Feeder._post_stop, [self._frames, self._ready],
                      exitpriority=10)
        util.Finalize(thread, _Feeder._join, [weakref.ref(thread)], exitpriority=-5)

    @staticmethod
    def _post_stop(frames: collections.deque, ready: threading.Condition) -> None:
        with ready:
            frames.append((_STOP, 0))
            ready.notify()

    @staticmethod
    def _join(thread_ref: Any) -> None:
        thread = thread_ref()
        if thread is not None:
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
                data, owed = frames[0]  # still counted as unsent and owed while it is written
            if data is _STOP:
                with ready:
                    frames.popleft()
                return
            try:
                self._write_frame(data, room)
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

    def _write_frame(self, data: bytes, room: Any) -> None:
        """Write ``data`` as one frame, waiting (on the poller ``room``) for room as long as it
        takes."""
        frame = [_HEADER.pack(len(data)) + data] if len(data) <= _SMALL else [
            _HEADER.pack(len(data)), data]
        with self._write_lock:  # a large frame's pieces must not mix with another writer's
            for part in frame:
                view = memoryview(part)
                while view:
                    try:
                        view = view[os.write(self._write_fd, view):]
                    except BlockingIOError:
                        room.poll(_SLICE_MS)
