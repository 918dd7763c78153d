"""Bug: the arguments are checked against zero only, so a negative count slips through.

``consumers == 0 or capacity == 0`` rejects 0 but accepts -1: ``run_pipeline(sources, handle,
-1, 2)`` starts no consumer at all (``range(-1)`` is empty), and ``capacity=-1`` makes
``queue.Queue(maxsize=-1)``, a queue without a bound. Compare with ``< 1``.
"""

import queue
import threading

CAUGHT_BY = ("test_validation",)

_END = object()


def run_pipeline(sources, handle, consumers, capacity):
    if consumers == 0 or capacity == 0:  # BUG: -1 is not 0
        raise ValueError("consumers and capacity must be at least 1")
    items = queue.Queue(maxsize=capacity)
    errors = []
    lock = threading.Lock()

    def produce(source):
        try:
            for item in source:
                items.put(item)
        except Exception as exc:
            with lock:
                errors.append(exc)

    def consume():
        while True:
            item = items.get()
            if item is _END:
                return
            try:
                handle(item)
            except Exception as exc:
                with lock:
                    errors.append(exc)

    ps = [threading.Thread(target=produce, args=(s,)) for s in sources]
    cs = [threading.Thread(target=consume) for _ in range(consumers)]
    for t in cs + ps:
        t.start()
    for t in ps:
        t.join()
    for _ in cs:
        items.put(_END)
    for t in cs:
        t.join()
    if errors:
        raise errors[0]
