"""Bug: the caller sleeps a while for its producers to finish, instead of joining them.

Half a second is plenty for the items of a small test, so every item is handled and the
markers come after them; with a slower source (a file, a network, a busy machine) the markers
overtake the items still to come, consumers stop early, and those items are never handled. A
``sleep()`` is a guess about timing, never a way to wait for a thread: the schedule search,
where time only passes when every thread waits, shows the caller sleeping on a timer.
"""

import queue
import threading
import time

CAUGHT_BY = ("test_interleavings",)

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
    time.sleep(0.5)  # BUG: a guess at how long the producers take, instead of join()
    for _ in consumer_threads:
        items.put(_END)
    for thread in producer_threads:
        thread.join()
    for thread in consumer_threads:
        thread.join()
    if errors:
        raise errors[0]
