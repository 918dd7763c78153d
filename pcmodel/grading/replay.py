"""Observe in the child, judge in the grader: a check's scenario run twice, once on data.

A check's child process has imported the student's module, so nothing it decides can be trusted:
code written against the grader can patch the check's functions there, or write a message of its
own on the result channel. So no verdict is made in the child. A check is a **scenario**, a
function of a *harness* ``h`` and of inputs the grader chose (seeds, sizes, random nonces drawn
per check); it touches the student's code only through ``h``'s methods, each of which returns
plain data (numbers, strings, lists, dictionaries).

1. In the child, ``h`` is a :class:`Recorder` around the live harness: every call runs against the
   student's code and its result is appended to a log. The child returns the log, as data; what
   the scenario concludes there is thrown away.
2. In the grader, the same scenario runs again on a :class:`Replay` of that log: each call
   returns the recorded result, after checking that it is the call the scenario makes next and
   that the result has the declared shape. What the scenario returns there is the verdict.

So the verdict is the grader's own code applied to observations, with the grader's inputs. A
forger gains nothing by sending "passed": it must produce a log that a correct program would
produce for those exact inputs (the items it was given, in an order consistent with every other
observation), which is as much work as writing the program. A log that does not fit (missing or
extra observations, the wrong call, the wrong shape) is a failed check with a clear message,
never a crash of the grader.

What a log cannot prove is how the observations were made: probes that watch threads block
(:mod:`pcmodel.grading.probes`) run inside the student's process, because that is where the
threads are. See ``exercises/README.md`` for what that leaves open.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from pcmodel.grading.checks import CheckFailed, observe

__all__ = ["Malformed", "Recorder", "Replay", "judge", "shape", "verdict"]

Problem = dict[str, str] | None
Shape = Callable[[Any], bool]
_LOG_ENTRIES = 100_000  # more calls than any scenario makes


class Malformed(CheckFailed):
    """The child's observations do not fit the scenario: the check fails, nothing is trusted."""

    def __init__(self, what: str) -> None:
        super().__init__(
            "observations of your code that fit the check's scenario",
            f"the check's process sent observations that do not fit: {what}",
            "graded code must not interfere with the grader (its pipes, its modules); "
            "this check scores 0",
        )


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


class shape:  # noqa: N801 - used like a type: shape.int, shape.list_of(shape.str)
    """Predicates for the results a harness method declares (plain JSON data only)."""

    @staticmethod
    def any(value: Any) -> bool:
        return True  # the transport admits JSON data only

    @staticmethod
    def none(value: Any) -> bool:
        return value is None

    @staticmethod
    def bool(value: Any) -> bool:
        return isinstance(value, bool)

    @staticmethod
    def int(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    @staticmethod
    def number(value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool)

    @staticmethod
    def str(value: Any) -> bool:
        return isinstance(value, str)

    @staticmethod
    def plain(value: Any) -> bool:
        return _plain(value)

    @staticmethod
    def list_of(item: Shape) -> Shape:
        return lambda value: isinstance(value, list) and all(item(v) for v in value)

    @staticmethod
    def dict_of(value_shape: Shape) -> Shape:
        return lambda value: isinstance(value, dict) and all(
            isinstance(k, str) and value_shape(v) for k, v in value.items())

    @staticmethod
    def record(**fields: Shape) -> Shape:
        """A dictionary with exactly these keys, each of its shape."""
        return lambda value: (isinstance(value, dict) and set(value) == set(fields)
                              and all(fields[k](v) for k, v in value.items()))

    @staticmethod
    def either(*shapes: Shape) -> Shape:
        return lambda value: any(s(value) for s in shapes)


class Recorder:
    """The child's harness: forwards each call to the live harness and logs its result.

    Only the methods the live harness declares in its ``SHAPES`` (name -> result shape) can be
    called; the log is ``[[name, result], ...]``.
    """

    in_grader = False  # a scenario looks at the grader's own probes only when replayed

    def __init__(self, live: Any) -> None:
        self._live = live
        self.log: list[list[Any]] = []

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_") or name not in type(self._live).SHAPES:
            raise AttributeError(f"a scenario may only call declared harness methods: {name}")
        method = getattr(self._live, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            self.log.append([name, result])
            return result

        return call


class Replay:
    """The grader's harness: returns the child's logged results in order, checked.

    ``shapes`` maps each method name to the shape of its result; a call that is not the next
    logged one, or a result of another shape, raises :class:`Malformed`.
    """

    in_grader = True

    def __init__(self, log: Any, shapes: dict[str, Shape]) -> None:
        if not isinstance(log, list) or len(log) > _LOG_ENTRIES:
            raise Malformed("no list of observations" if not isinstance(log, list)
                            else "more observations than the scenario makes")
        self._log = log
        self._shapes = shapes
        self._next = 0

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_") or name not in self._shapes:
            raise AttributeError(name)

        def call(*args: Any, **kwargs: Any) -> Any:
            if self._next >= len(self._log):
                raise Malformed(f"the observations end before {name}()")
            entry = self._log[self._next]
            self._next += 1
            if not (isinstance(entry, list) and len(entry) == 2 and entry[0] == name):
                raise Malformed(f"observation {self._next} is not the result of {name}()")
            if not self._shapes[name](entry[1]):
                raise Malformed(f"the result of {name}() (observation {self._next}) "
                                "has the wrong shape")
            return entry[1]

        return call

    def finished(self) -> None:
        """Raise Malformed when observations remain that the scenario never asked for."""
        if self._next != len(self._log):
            raise Malformed(f"{len(self._log) - self._next} observations more than the "
                            "scenario made")


def judge(scenario: Callable[..., Problem], make_live: Callable[[], Any], *args: Any,
          time_limit: float | None = None) -> Problem:
    """Run ``scenario(h, *args)`` on the student's code in a child, then judge it here.

    ``make_live()`` builds the live harness in the child (it loads the student's module); its
    class's ``SHAPES`` declare the methods a scenario may call. Returns the problem the grader's
    replay of the scenario finds (``{"expected", "got", "hint"}``) or None; raises CheckFailed
    when the child hangs, crashes or raises, and :class:`Malformed` when its observations do not
    fit. ``args`` reach the child by fork, unchanged; only the log comes back, as data.
    """

    def child() -> list[list[Any]]:
        live = make_live()
        recorder = Recorder(live)
        try:
            scenario(recorder, *args)
        finally:
            close = getattr(live, "close", None)
            if close is not None:
                close()
        return recorder.log

    kwargs = {} if time_limit is None else {"time_limit": time_limit}
    log = observe(child, **kwargs)
    return verdict(scenario, log, _shapes_of(make_live), *args)


def verdict(scenario: Callable[..., Problem], log: Any, shapes: dict[str, Shape],
            *args: Any) -> Problem:
    """The grader's verdict: ``scenario(h, *args)`` replayed on ``log`` (results of the calls
    declared in ``shapes``). Raises :class:`Malformed` for a log that does not fit, whatever
    it holds; never anything else for bad data."""
    replay = Replay(log, shapes)
    try:
        problem = scenario(replay, *args)
    except CheckFailed:
        raise
    except Exception as exc:  # noqa: BLE001 - the grader's scenario could not use the data
        # Data of the declared shapes can still be inconsistent (an index out of range, an
        # item where a number belongs...): whatever the scenario trips on, the check fails.
        raise Malformed(f"they contradict each other ({type(exc).__name__})") from None
    replay.finished()
    return problem


def _shapes_of(make_live: Callable[[], Any]) -> dict[str, Shape]:
    while isinstance(make_live, functools.partial):
        make_live = make_live.func
    shapes = getattr(make_live, "SHAPES", None)
    if shapes is None:
        raise TypeError("make_live must be a harness class (or carry SHAPES)")
    return shapes
