"""The mutation operators: small mechanical changes to a reference solution's source.

The classic operators of Offutt's Mothra and of mutmut/cosmic-ray, applied to the AST of an
exercise's ``solution.py``: delete a statement, swap two adjacent ones, ``while`` to ``if``,
negate a condition, shift a comparison's boundary or invert it, ``+``/``-``, drop a modulo, a
constant off by one, ``True``/``False``, run a ``with`` body without its lock or a ``try`` body
without its handlers, ``notify``/``notify_all``, the other end of a deque, ``and``/``or``.
Mutants are numbered in source order with stable keys (``operator@line:column``, ``#n`` for the
n-th change at one place), so the same solution gives the same mutants run after run.
:mod:`pcmodel.grading.mutants` grades them.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from pcmodel.grading.engine import Exercise

__all__ = ["INDEPENDENT_SWAP", "Mutant", "independent_swaps", "mutants_of"]

# Relational operator replacement: the boundary shifted by one, and the test inverted.
_COMPARE_SWAPS: dict[type, tuple[type, ...]] = {
    ast.Lt: (ast.LtE,), ast.LtE: (ast.Lt,), ast.Gt: (ast.GtE,), ast.GtE: (ast.Gt,),
    ast.Eq: (ast.NotEq, ast.Gt), ast.NotEq: (ast.Eq,), ast.Is: (ast.IsNot,),
    ast.IsNot: (ast.Is,), ast.In: (ast.NotIn,), ast.NotIn: (ast.In,),
}
_BINOP_SWAPS: dict[type, type] = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.FloorDiv: ast.Mult, ast.Mult: ast.FloorDiv,
}
# Method names a mutant may replace by a sibling: the narrower wake-up, the other end of a deque.
_CALL_SWAPS = {
    "notify_all": "notify", "notify": "notify_all", "popleft": "pop", "append": "appendleft",
    "pop": "popleft",
}


@dataclass(frozen=True)
class Mutant:
    """One changed copy of a solution: ``key`` is stable (operator, line, column, variant)."""

    exercise: str
    key: str
    line: int
    description: str
    source: str


def _statements(tree: ast.AST) -> Iterator[tuple[ast.AST, str, list[ast.stmt]]]:
    """Every statement list inside a function: (owner node, field name, the list)."""
    for func in ast.walk(tree):
        if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(func):
            for field in ("body", "orelse", "finalbody"):
                body = getattr(node, field, None)
                if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
                    yield node, field, body


# Calls that build a fresh object and touch nothing else: statements made of these may be
# reordered freely.
_CONSTRUCTORS = frozenset({
    "deque", "list", "dict", "set", "tuple", "object", "Lock", "RLock", "Condition", "Semaphore",
    "BoundedSemaphore", "Event", "Array", "Value", "RawArray", "RawValue", "Queue", "Thread",
    "len", "sorted", "min", "max", "divmod", "range", "enumerate", "int", "str", "values",
    "items", "keys",
})

INDEPENDENT_SWAP = ("swapping two assignments (or function definitions) that build fresh objects "
                    "and share no name (neither reads or writes what the other writes) cannot "
                    "change what any caller sees")


def _names(node: ast.AST) -> tuple[set[str], set[str], bool]:
    """(written, read, pure) for one statement: dotted names, and whether every call in it is a
    constructor from ``_CONSTRUCTORS``."""
    written: set[str] = set()
    if isinstance(node, ast.FunctionDef):
        # Defining a function binds its name; its body runs later, when it is called.
        if node.decorator_list or node.args.defaults or node.args.kw_defaults:
            return {node.name}, set(), False
        return {node.name}, set(), True
    targets = node.targets if isinstance(node, ast.Assign) else []
    for target in targets:
        written.add(ast.unparse(target))
    read = {ast.unparse(n) for n in ast.walk(getattr(node, "value", node))
            if isinstance(n, (ast.Name, ast.Attribute))}
    pure = all(
        (c.func.attr if isinstance(c.func, ast.Attribute) else getattr(c.func, "id", "")) in
        _CONSTRUCTORS
        for c in ast.walk(node) if isinstance(c, ast.Call)
    )
    return written, read, pure


def _independent(a: ast.stmt, b: ast.stmt) -> bool:
    """Whether two plain assignments (or function definitions) can be swapped without any
    observable difference."""
    if not (isinstance(a, (ast.Assign, ast.FunctionDef))
            and isinstance(b, (ast.Assign, ast.FunctionDef))):
        return False
    wa, ra, pa = _names(a)
    wb, rb, pb = _names(b)

    def clash(writes: set[str], other: set[str]) -> bool:
        return any(o == w or o.startswith(w + ".") or w.startswith(o + ".")
                   for w in writes for o in other)

    return pa and pb and not clash(wa, rb | wb) and not clash(wb, ra)


_DELETABLE = (ast.Expr, ast.Assign, ast.AugAssign, ast.Raise, ast.Return, ast.If, ast.While,
              ast.With, ast.For, ast.Try)


def _is_docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(
        stmt.value.value, str)


def _short(node: ast.AST) -> str:
    text = ast.unparse(node).splitlines()[0]
    return text if len(text) <= 60 else text[:57] + "..."


# Each site names its anchor node by its position in ast.walk order, which a deep copy keeps, and
# a change that edits the copy's nodes found by the same positions.


def _walk_index(tree: ast.AST) -> dict[int, int]:
    return {id(node): i for i, node in enumerate(ast.walk(tree))}


def _sites(tree: ast.AST) -> Iterator[tuple[int, str, str, Callable[[list[ast.AST]], None]]]:
    """(walk index of the anchor node, operator, description, change(nodes of a copy))."""
    index = _walk_index(tree)
    in_function: set[int] = set()
    for func in ast.walk(tree):
        if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            in_function.update(id(n) for n in ast.walk(func) if n is not func)

    for owner, field, body in _statements(tree):
        anchor = index[id(owner)]
        for i, stmt in enumerate(body):
            if _is_docstring(stmt):
                continue
            if isinstance(stmt, _DELETABLE):
                def delete(nodes, anchor=anchor, field=field, i=i):
                    getattr(nodes[anchor], field)[i] = ast.Pass()
                yield index[id(stmt)], "delete", f"delete `{_short(stmt)}`", delete
            if i + 1 < len(body) and not _is_docstring(body[i + 1]) \
                    and not _independent(stmt, body[i + 1]):
                def swap(nodes, anchor=anchor, field=field, i=i):
                    stmts = getattr(nodes[anchor], field)
                    stmts[i], stmts[i + 1] = stmts[i + 1], stmts[i]
                yield (index[id(stmt)], "swap",
                       f"swap `{_short(stmt)}` with `{_short(body[i + 1])}`", swap)
            if isinstance(stmt, ast.With):
                def unwrap(nodes, anchor=anchor, field=field, i=i):
                    stmts = getattr(nodes[anchor], field)
                    stmts[i:i + 1] = stmts[i].body
                yield index[id(stmt)], "drop-with", f"run the body of `{_short(stmt)}` " \
                    "without it", unwrap
            if isinstance(stmt, ast.Try):
                def untry(nodes, anchor=anchor, field=field, i=i):
                    stmts = getattr(nodes[anchor], field)
                    stmts[i:i + 1] = stmts[i].body + stmts[i].finalbody
                yield index[id(stmt)], "drop-try", "run the body of `try:` without its " \
                    "handlers", untry

    for node in ast.walk(tree):
        if id(node) not in in_function:
            continue
        at = index[id(node)]
        if isinstance(node, ast.While):
            def to_if(nodes, at=at):
                loop = nodes[at]
                loop.__class__ = ast.If  # same fields: test, body, orelse
            yield at, "while-if", f"`{_short(node.test)}`: while -> if", to_if
        if isinstance(node, (ast.While, ast.If)):
            def negate(nodes, at=at):
                nodes[at].test = ast.UnaryOp(ast.Not(), nodes[at].test)
            yield at, "negate", f"negate `{_short(node.test)}`", negate
        if isinstance(node, ast.Compare):
            for k, op in enumerate(node.ops):
                for new in _COMPARE_SWAPS.get(type(op), ()):

                    def compare(nodes, at=at, k=k, new=new):
                        nodes[at].ops[k] = new()
                    yield at, "compare", f"`{_short(node)}`: {type(op).__name__} -> " \
                        f"{new.__name__}", compare
        if isinstance(node, ast.BinOp):
            if type(node.op) in _BINOP_SWAPS:
                new = _BINOP_SWAPS[type(node.op)]

                def binop(nodes, at=at, new=new):
                    nodes[at].op = new()
                yield at, "binop", f"`{_short(node)}`: {type(node.op).__name__} -> " \
                    f"{new.__name__}", binop
            if isinstance(node.op, ast.Mod):
                def no_mod(nodes, at=at):
                    parent_replace(nodes, at, nodes[at].left)
                yield at, "no-modulo", f"`{_short(node)}` without the modulo", no_mod
        if isinstance(node, ast.Constant) and type(node.value) is int:
            for delta in (1, -1):
                def const(nodes, at=at, delta=delta):
                    nodes[at].value += delta
                yield at, "constant", f"constant {node.value} -> {node.value + delta} " \
                    f"(line {node.lineno})", const
        if isinstance(node, ast.Constant) and type(node.value) is bool:
            def flip(nodes, at=at):
                nodes[at].value = not nodes[at].value
            yield at, "constant", f"{node.value} -> {not node.value} (line {node.lineno})", flip
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in _CALL_SWAPS:
            new_name = _CALL_SWAPS[node.func.attr]

            def rename(nodes, at=at, new_name=new_name):
                nodes[at].func.attr = new_name
            yield at, "call", f"`{_short(node)}`: .{node.func.attr} -> .{new_name}", rename
        if isinstance(node, ast.BoolOp):
            def boolop(nodes, at=at):
                nodes[at].op = ast.Or() if isinstance(nodes[at].op, ast.And) else ast.And()
            yield at, "boolop", f"`{_short(node)}`: and <-> or", boolop


def parent_replace(nodes: list[ast.AST], at: int, replacement: ast.AST) -> None:
    """Replace ``nodes[at]`` by ``replacement`` wherever its parent refers to it."""
    target = nodes[at]
    for parent in nodes:
        for field, value in ast.iter_fields(parent):
            if value is target:
                setattr(parent, field, replacement)
                return
            if isinstance(value, list):
                for i, item in enumerate(value):
                    if item is target:
                        value[i] = replacement
                        return


def mutants_of(exercise: Exercise) -> list[Mutant]:
    """Every distinct mutant of ``exercise``'s solution.py, in source order.

    Mutants whose code is identical to the original or to an earlier mutant are dropped.
    """
    path = exercise.folder / "solution.py"
    original = path.read_text(encoding="utf-8")
    tree = ast.parse(original)
    baseline = ast.unparse(tree)
    seen = {baseline}
    found = []
    counts: dict[str, int] = {}
    originals = list(ast.walk(tree))
    for at, op, description, change in _sites(tree):
        mutated = copy.deepcopy(tree)
        nodes = list(ast.walk(mutated))
        anchor = originals[at]
        change(nodes)
        ast.fix_missing_locations(mutated)
        try:
            source = ast.unparse(mutated)
            compile(source, str(path), "exec")
        except (SyntaxError, ValueError, TypeError):
            continue  # a change the grammar does not allow (none expected; kept for safety)
        if source in seen:
            continue
        seen.add(source)
        line = getattr(anchor, "lineno", 0)
        base = f"{op}@{line}:{getattr(anchor, 'col_offset', 0)}"
        counts[base] = counts.get(base, 0) + 1
        key = base if counts[base] == 1 else f"{base}#{counts[base]}"
        found.append(Mutant(exercise.name, key, line, f"line {line}: {description}", source))
    return found


def independent_swaps(exercise: Exercise) -> int:
    """How many swaps of ``exercise``'s solution.py are not generated (``INDEPENDENT_SWAP``)."""
    tree = ast.parse((exercise.folder / "solution.py").read_text(encoding="utf-8"))
    return sum(
        1
        for _, _, body in _statements(tree)
        for a, b in zip(body, body[1:])
        if not _is_docstring(a) and not _is_docstring(b) and _independent(a, b)
    )
