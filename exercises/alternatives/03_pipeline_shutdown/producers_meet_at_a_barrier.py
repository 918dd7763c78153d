"""Correct, unlike solution.py: the producers meet at a ``threading.Barrier`` when they are done,
and the barrier's action (run by the last producer to arrive, once) puts one end-of-stream marker
per consumer. The first exception is kept in one slot guarded by a lock; the caller joins every
thread and raises it."""

import queue
import threading

_END = object()


class _FirstError:
    """The first exception any thread reports; later ones are ignored."""

    def __init__(self):
        self._lock = threading.Lock()
        self.exception = None

    def report(self, exc):
        with self._lock:
            if self.exception is None:
                self.exception = exc


def run_pipeline(sources, handle, consumers, capacity):
    if consumers < 1:
        raise ValueError(f"consumers must be at least 1, got {consumers}")
    if capacity < 1:
        raise ValueError(f"capacity must be at least 1, got {capacity}")
    items = queue.Queue(maxsize=capacity)
    first = _FirstError()

    def end_stream():
        for _ in range(consumers):
            items.put(_END)

    done = threading.Barrier(len(sources), action=end_stream) if sources else None

    def produce(source):
        try:
            for item in source:
                items.put(item)
        except Exception as exc:
            first.report(exc)
        done.wait()  # the last one to arrive runs end_stream(), then all go on

    def consume():
        while (item := items.get()) is not _END:
            try:
                handle(item)
            except Exception as exc:
                first.report(exc)

    threads = [threading.Thread(target=consume) for _ in range(consumers)]
    threads += [threading.Thread(target=produce, args=(source,)) for source in sources]
    for thread in threads:
        thread.start()
    if done is None:
        end_stream()
    for thread in threads:
        thread.join()
    if first.exception is not None:
        raise first.exception
