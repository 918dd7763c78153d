"""Bug: no producer threads: the caller reads the sources itself, one after the other.

Every item is still handled once and the shutdown is right, so with sources that give their
items at once nothing shows. But a source is read only once the one before it is exhausted:
a slow source holds up all the others, an endless one starves them, and sources that can only
go on together (each waiting for the others, as a network feed may) never finish. The
interface asks for one producer thread per source.
"""

import queue
import threading

CAUGHT_BY = ("test_parallel_consumers",)

_END = object()


def run_pipeline(sources, handle, consumers, capacity):
    if consumers < 1:
        raise ValueError(f"consumers must be at least 1, got {consumers}")
    if capacity < 1:
        raise ValueError(f"capacity must be at least 1, got {capacity}")
    items = queue.Queue(maxsize=capacity)
    errors = []
    errors_lock = threading.Lock()

    def remember(exc):
        with errors_lock:
            errors.append(exc)

    def consume():
        while True:
            item = items.get()
            if item is _END:
                return
            try:
                handle(item)
            except Exception as exc:
                remember(exc)

    consumer_threads = [
        threading.Thread(target=consume, name=f"consumer-{i}") for i in range(consumers)
    ]
    for thread in consumer_threads:
        thread.start()
    for source in sources:  # BUG: one source at a time, in this thread
        try:
            for item in source:
                items.put(item)
        except Exception as exc:
            remember(exc)
    for _ in consumer_threads:
        items.put(_END)
    for thread in consumer_threads:
        thread.join()
    if errors:
        raise errors[0]
