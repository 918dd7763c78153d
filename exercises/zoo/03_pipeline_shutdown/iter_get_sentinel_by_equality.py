"""Bug: consumers read with ``for item in iter(items.get, _END)``, which compares with ``==``.

The two-argument ``iter()`` stops when a value *equals* the sentinel, not when it *is* the
sentinel. A private ``object()`` equals only itself, but a real item may define ``__eq__`` to
say it equals anything: the consumer that takes it stops as if it were the end-of-stream marker,
the item is never handled and one marker is left over. Compare with ``is``:
``while (item := items.get()) is not _END``.
"""

import queue
import threading

CAUGHT_BY = ("test_everything_handled_once",)

_END = object()


def run_pipeline(sources, handle, consumers, capacity):
    if consumers < 1 or capacity < 1:
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
        for item in iter(items.get, _END):  # BUG: stops at any item that == _END
            try:
                handle(item)
            except Exception as exc:
                with lock:
                    errors.append(exc)

    producers = [threading.Thread(target=produce, args=(s,)) for s in sources]
    workers = [threading.Thread(target=consume) for _ in range(consumers)]
    for thread in workers + producers:
        thread.start()
    for thread in producers:
        thread.join()
    for _ in workers:
        items.put(_END)
    for thread in workers:
        thread.join()
    if errors:
        raise errors[0]
