"""Bug: run_pipeline() joins its consumers with a timeout, and returns when it runs out.

``t.join(timeout=2)`` returns after two seconds whether the consumer finished or not, and
nothing checks ``is_alive()`` afterwards: with a slow handle() the pipeline returns (or raises
the first error) while a consumer is still handling an item, and that item's error is lost.
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
        t.join()
    for _ in consumer_threads:
        items.put(_END)
    for t in consumer_threads:
        t.join(timeout=2)  # BUG: may return while t still runs
    if errors:
        raise errors[0]
