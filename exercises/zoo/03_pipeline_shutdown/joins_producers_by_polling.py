"""Bug: run_pipeline() waits for its producers by polling: a timed join() in a loop.

``while t.is_alive(): t.join(0.05)`` ends when the producer ends, so every item is handled
once and every thread finishes; but the caller wakes twenty times a second for nothing while
the producers work, instead of sleeping in one join() until the producer is done (the
README's "no polling": wait in join() without a timeout).
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
            item = items.get()
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
        while t.is_alive():
            t.join(0.05)  # BUG: wakes twenty times a second to look
    for _ in consumer_threads:
        items.put(_END)
    for t in consumer_threads:
        t.join()
    if errors:
        raise errors[0]
