"""Correct, written differently: every producer, when its source is done (or failed), puts one
end-of-stream marker per consumer, and a consumer stops once it has taken as many markers as
there are producers. A consumer may take several markers of one producer and stop while others
still produce: the ones left take the remaining items, and every marker is taken only after
every producer has finished, so nothing is left behind."""

import queue
import threading

_END = object()  # end-of-stream marker: no real item is this object


def run_pipeline(sources, handle, consumers, capacity):
    """Hand every item of every source to ``handle`` in ``consumers`` threads; raise the first
    exception a source or handle() raised, once every thread has finished."""
    if consumers < 1:
        raise ValueError(f"consumers must be at least 1, got {consumers}")
    if capacity < 1:
        raise ValueError(f"capacity must be at least 1, got {capacity}")
    sources = list(sources)
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
        finally:
            for _ in range(consumers):
                items.put(_END)

    def consume():
        markers = 0
        while markers < len(sources):
            item = items.get()
            if item is _END:
                markers += 1
                continue
            try:
                handle(item)
            except Exception as exc:
                remember(exc)  # keep consuming: producers must never block forever

    consumer_threads = [threading.Thread(target=consume, name=f"consumer-{i}")
                        for i in range(consumers)]
    producer_threads = [threading.Thread(target=produce, args=(source,), name=f"producer-{i}")
                        for i, source in enumerate(sources)]
    for thread in consumer_threads + producer_threads:
        thread.start()
    for thread in producer_threads + consumer_threads:
        thread.join()
    if errors:
        raise errors[0]
