"""Correct, unlike solution.py: names imported from ``queue`` and ``threading``, and a single
end-of-stream marker that each consumer puts back for the next one before it stops."""

from queue import Queue
from threading import Lock, Thread

STOP = object()


def run_pipeline(sources, handle, consumers, capacity):
    if consumers < 1 or capacity < 1:
        raise ValueError("consumers and capacity must be at least 1")
    channel = Queue(maxsize=capacity)
    failures = []
    failures_lock = Lock()

    def note(exc):
        with failures_lock:
            failures.append(exc)

    def producer(iterable):
        try:
            for value in iterable:
                channel.put(value)
        except Exception as exc:
            note(exc)

    def consumer():
        while True:
            value = channel.get()
            if value is STOP:
                channel.put(STOP)  # pass it on: the next consumer stops too
                return
            try:
                handle(value)
            except Exception as exc:
                note(exc)

    workers = [Thread(target=consumer) for _ in range(consumers)]
    feeders = [Thread(target=producer, args=(src,)) for src in sources]
    for t in workers + feeders:
        t.start()
    for t in feeders:
        t.join()
    channel.put(STOP)
    for t in workers:
        t.join()
    if failures:
        raise failures[0]
