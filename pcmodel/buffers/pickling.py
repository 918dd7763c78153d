"""How items cross processes: pickled in the sender, unpickled in the receiver, errors named.

Both failures are the user's to fix and are said so in one line: an item that cannot be pickled
raises ``ItemNotPicklable`` in the caller of ``put`` (the buffer unchanged); one that cannot be
unpickled raises ``ItemNotUnpicklable`` in the getter, carrying whatever else it took.
"""

from __future__ import annotations

import pickle
from typing import Any

from pcmodel.errors import ItemNotPicklable, ItemNotUnpicklable

__all__ = ["dumps_item", "dumps_run", "unpickling_error"]


def dumps_item(item: Any) -> bytes:
    """``item``'s pickle; ItemNotPicklable (a TypeError) if it has none."""
    try:
        return pickle.dumps(item, pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        raise ItemNotPicklable(
            f"cannot send a {type(item).__name__} to another process: it cannot be pickled "
            f"({exc}). Send plain data instead (numbers, strings, tuples, dicts, or instances "
            "of classes defined at module level); the buffer was not changed"
        ) from exc


def dumps_run(run: Any) -> bytes:
    """The pickle of a run of items (a list) or of one item; names the item that fails."""
    try:
        return pickle.dumps(run, pickle.HIGHEST_PROTOCOL)
    except Exception:
        for item in run if isinstance(run, list) else [run]:
            dumps_item(item)
        raise


def unpickling_error(exc: Exception, items: list, failed: int, total: int) -> ItemNotUnpicklable:
    """The error for ``failed`` of ``total`` items that ``exc`` kept from being unpickled."""
    what = "an item" if total == 1 else f"{failed} of {total} items"
    rest = f"; the other {len(items)} are in this error's .items" if items else ""
    return ItemNotUnpicklable(
        f"{what} taken from the buffer could not be unpickled in this process "
        f"({type(exc).__name__}: {exc}){rest}. Make the items' classes importable here "
        "(define them at module level in a module both processes import)", items, failed)
