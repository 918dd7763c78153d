# Which source lines deserve a scheduling point under line-level scheduling.
#
# A point before every line makes data races between plain statements reachable, but many lines
# cannot race: a line that only calls a synchronisation method (``self.empty.acquire()``,
# ``with self.mutex:``) already has its own scheduling point, or is a release that may be moved
# earlier without changing any outcome; ``return item`` and ``else:`` touch no shared state.
# Skipping those keeps systematic exploration small without hiding a race: every line that reads
# or writes shared state keeps its point.

from __future__ import annotations

import ast
import functools
import linecache

__all__ = ["needs_point", "source_line"]

# Methods of the controlled primitives (and the controlled sleep / yield_point functions).
_SYNC_CALLS = frozenset(
    {
        "acquire",
        "release",
        "wait",
        "wait_for",
        "notify",
        "notify_all",
        "notifyAll",
        "set",
        "clear",
        "join",
        "start",
        "sleep",
        "yield_point",
    }
)
_HEADERS = ("else:", "try:", "finally:")


def source_line(filename: str, lineno: int) -> str:
    """The stripped text of one source line ('' if unavailable)."""
    return linecache.getline(filename, lineno).strip()


def _plain(node: ast.expr) -> bool:
    """A name or a chain of attributes (``self.mutex``): reads nothing that changes."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return isinstance(node, ast.Name)


def _sync_call(node: ast.expr) -> bool:
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if name not in _SYNC_CALLS or (isinstance(func, ast.Attribute) and not _plain(func.value)):
        return False
    arguments = [*node.args, *(k.value for k in node.keywords)]
    return all(isinstance(a, (ast.Name, ast.Constant)) for a in arguments)


@functools.lru_cache(maxsize=4096)
def needs_point(text: str) -> bool:
    """False for lines that cannot take part in a data race (see the module comment)."""
    if not text or text.startswith("#") or text in _HEADERS:
        return False
    source = text + " pass" if text.endswith(":") else text
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return True  # part of a multi-line statement: keep the point
    if len(tree.body) != 1:
        return True
    stmt = tree.body[0]
    if isinstance(stmt, ast.With):
        return not all(_plain(item.context_expr) for item in stmt.items)
    if isinstance(stmt, ast.Return):
        return not (stmt.value is None or isinstance(stmt.value, (ast.Name, ast.Constant)))
    if isinstance(stmt, ast.Expr):
        return not _sync_call(stmt.value)
    return not isinstance(stmt, ast.Pass)
