"""Reference solution: a pipeline of producer and consumer threads that always shuts down cleanly.

The protocol: producers put their items; when every producer has finished (joined), the caller
puts one end-of-stream marker per consumer, so each consumer stops after the real items; then it
joins the consumers. Exceptions in any thread are caught, remembered and re-raised by the caller
after the shutdown, so nothing is lost and nothing hangs. A consumer whose handle() fails keeps
consuming, so producers never block forever on a full queue.
"""

import queue
import threading

_END = object()  # end-of-stream marker: no real item is this object


def run_pipeline(sources, handle, consumers, capacity):
    """Pass every item of every iterable in ``sources`` to ``handle`` in ``consumers`` threads.

    Items flow through one ``queue.Queue(maxsize=capacity)``. Returns when every item was handled
    and every thread has finished; then raises the first exception a source or handle() raised.
    Raises ValueError (before starting anything) when consumers or capacity is below 1.
    """
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
                remember(exc)  # keep consuming: producers must never block forever

    producer_threads = [
        threading.Thread(target=produce, args=(source,), name=f"producer-{i}")
        for i, source in enumerate(sources)
    ]
    consumer_threads = [
        threading.Thread(target=consume, name=f"consumer-{i}") for i in range(consumers)
    ]
    for thread in consumer_threads + producer_threads:
        thread.start()
    for thread in producer_threads:
        thread.join()
    for _ in consumer_threads:
        items.put(_END)
    for thread in consumer_threads:
        thread.join()
    if errors:
        raise errors[0]
