"""How items cross processes: pickled in the sender, unpickled in the receiver, errors named.

A large item is pickled in pieces (:func:`dumps_in_pieces`): the pickler hands a large ``bytes``
payload over as the object itself, so the item's bytes are copied once, straight into shared
memory, instead of into a new pickle first (a fresh megabyte costs page faults on every put).

Both failures are the user's to fix and are said so in one line: an item that cannot be pickled
raises ``ItemNotPicklable`` in the caller of ``put`` (the buffer unchanged); one that cannot be
unpickled raises ``ItemNotUnpicklable`` in the getter, carrying whatever else it took.
"""

from __future__ import annotations

import pickle
from typing import Any

from pcmodel.errors import ItemNotPicklable, ItemNotUnpicklable

__all__ = ["Pieces", "copy_pickle", "dumps_in_pieces", "dumps_item", "dumps_run",
           "unpickling_error"]


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


class Pieces:
    """One pickle as a list of byte strings (``parts``) to be written one after another;
    ``len()`` is the pickle's length in bytes."""

    __slots__ = ("parts", "size")

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def write(self, data: Any) -> int:
        """The pickler's ``file.write``. A ``bytes`` payload is kept as it is (immutable: the
        point is not to copy it); anything else (a ``bytearray`` the caller may still change)
        is copied."""
        part = data if type(data) is bytes else bytes(data)
        self.parts.append(part)
        self.size += len(part)
        return len(part)


def copy_pickle(data: bytes | Pieces, view: memoryview, start: int) -> None:
    """Copy a pickle, whole or in pieces, into ``view`` from offset ``start`` on."""
    if type(data) is Pieces:
        for part in data.parts:
            view[start:start + len(part)] = part
            start += len(part)
    else:
        view[start:start + len(data)] = data


def dumps_in_pieces(item: Any) -> Pieces:
    """``item``'s pickle (the bytes ``dumps_item`` would return) in :class:`Pieces`, sharing
    the item's large ``bytes`` payloads; ItemNotPicklable if it has none."""
    pieces = Pieces()
    try:
        pickle.Pickler(pieces, pickle.HIGHEST_PROTOCOL).dump(item)
    except Exception:
        dumps_item(item)  # raises ItemNotPicklable, naming the item's type
        raise
    return pieces


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
