"""Bug: a producer that finds the queue full polls: a timed put() in a loop.

Each producer tries ``put(item, timeout=0.05)`` again and again until there is room. Every item
is handled once and every thread finishes, because the consumers keep making room; but a
waiting producer wakes twenty times a second to try again instead of sleeping until a get()
frees a slot (the README's "no polling": wait in put() without a timeout).
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
                while True:
                    try:
                        items.put(item, timeout=0.05)  # BUG: wakes to try again
                        break
                    except queue.Full:
                        continue
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
        t.join()
    if errors:
        raise errors[0]
