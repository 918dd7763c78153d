"""Bug: the errors are kept by kind, and handle()'s are raised before the sources'.

Producer errors and handle() errors go to two lists, and run_pipeline() raises the first of
``handle_errors + source_errors``: when a source fails before handle() does, it raises
handle()'s exception, not the first one.
"""

import queue
import threading

CAUGHT_BY = ('test_first_error_wins',)

_END = object()  # end-of-stream marker: no real item is this object


def run_pipeline(sources, handle, consumers, capacity):
    if consumers < 1:
        raise ValueError(f"consumers must be at least 1, got {consumers}")
    if capacity < 1:
        raise ValueError(f"capacity must be at least 1, got {capacity}")
    items = queue.Queue(maxsize=capacity)
    lock = threading.Lock()
    source_errors, handle_errors = [], []

    def produce(source):
        try:
            for item in source:
                items.put(item)
        except Exception as exc:
            with lock:
                source_errors.append(exc)

    def consume():
        while True:
            item = items.get()
            if item is _END:
                return
            try:
                handle(item)
            except Exception as exc:
                with lock:
                    handle_errors.append(exc)

    producers = [threading.Thread(target=produce, args=(s,)) for s in sources]
    workers = [threading.Thread(target=consume) for _ in range(consumers)]
    for t in workers + producers:
        t.start()
    for t in producers:
        t.join()
    for _ in workers:
        items.put(_END)
    for t in workers:
        t.join()
    errors = handle_errors + source_errors   # BUG: not the order they happened in
    if errors:
        raise errors[0]
