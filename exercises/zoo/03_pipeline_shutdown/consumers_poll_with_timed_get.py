"""Bug: the consumers poll with a timed get() in a loop, although the markers end them.

The shutdown is right (one marker per consumer, after every producer finished), but a consumer
that finds the queue empty waits with ``get(timeout=0.05)`` and, when the timeout runs out,
simply asks again: while the producers are slow, every idle consumer wakes twenty times a
second for nothing (the README's "no polling": wait in get() without a timeout).
"""

import queue
import threading

CAUGHT_BY = ("test_interleavings",)

_END = object()


def run_pipeline(sources, handle, consumers, capacity):
    if consumers < 1:
        raise ValueError("consumers must be at least 1")
    if capacity < 1:
        raise ValueError("capacity must be at least 1")
    items = queue.Queue(maxsize=capacity)
    errors = []
    errors_lock = threading.Lock()

    def remember(exc):
        with errors_lock:
            errors.append(exc)

    def produce(source):
        try:
            for item in source:
                items.put(item)
        except Exception as exc:
            remember(exc)

    def consume():
        while True:
            try:
                item = items.get(timeout=0.05)  # BUG: wakes to ask again
            except queue.Empty:
                continue
            if item is _END:
                return
            try:
                handle(item)
            except Exception as exc:
                remember(exc)

    producer_threads = [threading.Thread(target=produce, args=(s,)) for s in sources]
    consumer_threads = [threading.Thread(target=consume) for _ in range(consumers)]
    for t in consumer_threads + producer_threads:
        t.start()
    for t in producer_threads:
        t.join()
    for _ in consumer_threads:
        items.put(_END)
    for t in consumer_threads:
        t.join()
    if errors:
        raise errors[0]
