"""Bug: the number of consumers is checked only after the producers were started.

``run_pipeline(sources, handle, 0, capacity)`` does raise ValueError, but its producers are
already running: one with more items than the queue holds waits in put() forever, a thread
nobody will ever join. Validate every argument before starting anything.
"""

import queue
import threading

CAUGHT_BY = ("test_validation",)

_END = object()


def run_pipeline(sources, handle, consumers, capacity):
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
    for t in producer_threads:
        t.start()
    if consumers < 1:  # BUG: the producers already run, and nobody will ever empty the queue
        raise ValueError("consumers must be at least 1")
    for t in consumer_threads:
        t.start()
    for t in producer_threads:
        t.join()
    for _ in consumer_threads:
        items.put(_END)
    for t in consumer_threads:
        t.join()
    if errors:
        raise errors[0]
