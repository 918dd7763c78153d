"""What graded code may not do: read the reference solutions, start other programs, call C.

A check runs the student's file in a child process (:mod:`pcmodel.grading.isolation`). Before the
student's code is loaded there, :func:`enter` installs a PEP 578 audit hook, which code in the
process cannot remove, that refuses:

- opening any file of the protected folders (the exercises' ``solution.py`` files, the zoo, other
  reference implementations and their ``__pycache__``) other than the file being graded. Files are
  matched by device and inode, so a symbolic or hard link to a protected file is refused as well;
- creating, changing, renaming or removing anything in the read-only folders (the exercises, the
  copy of the suite being run, the grader's own package), so no grading can change a later one;
- starting a program other than this Python running :mod:`multiprocessing`'s own entry points (a
  shell could ``cat`` a solution; the checks never need one);
- removing the variables that carry this policy from the environment, and looking up C functions
  through :mod:`ctypes` (which could call ``execve`` or ``open`` without an audit event).

Python processes that the student's code starts with ``multiprocessing``'s *spawn* method install
the same hook at start-up: the child's environment puts ``sitecustomize`` from ``_sandbox_site``
first on ``PYTHONPATH`` and carries the policy in ``PCMODEL_SANDBOX``.

An audit hook is a tripwire, not an operating-system boundary: code running as the teacher's user
can still signal the teacher's other processes. Grade untrusted classes under a dedicated account
or in a container; the grader's own guarantees (verdicts, killing, deadlines) do not rely on it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from typing import Any

__all__ = ["Policy", "SandboxViolation", "configure", "enter", "install_from_environment"]

ENV = "PCMODEL_SANDBOX"
# os.path rather than pathlib: every Python process graded code spawns imports this module at
# start-up (see the module docstring), and pathlib would be one more import in each of them.
_HERE = os.path.dirname(os.path.realpath(__file__))
_SITE = os.path.join(_HERE, "_sandbox_site")
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(_HERE))
_MP_ENTRIES = (
    "from multiprocessing.spawn import spawn_main",
    "from multiprocessing.resource_tracker import main",
    "from multiprocessing.forkserver import main",
)


class SandboxViolation(PermissionError):
    """Graded code tried something a check never needs (see the module docstring)."""


_MUTATING = {"os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown",
             "os.truncate", "os.utime", "os.link", "os.symlink", "shutil.rmtree", "shutil.move",
             "shutil.copyfile", "shutil.copymode", "shutil.copystat", "os.chflags", "os.setxattr",
             "os.removexattr"}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


class Policy:
    """The files graded code may not open, the file it may (the one being graded), and the
    folders in which it may change nothing."""

    def __init__(self, protected: Iterable[tuple[int, int]], allowed: tuple[int, int] | None,
                 python: str, readonly: Iterable[str] = ()) -> None:
        self.protected = frozenset(tuple(pair) for pair in protected)
        self.allowed = allowed
        self.python = python
        self.readonly = tuple(os.path.join(os.path.realpath(f), "") for f in readonly)

    @classmethod
    def for_folders(cls, folders: Iterable[str | os.PathLike[str]],
                    allowed: str | os.PathLike[str] | None,
                    readonly: Iterable[str | os.PathLike[str]] = ()) -> Policy:
        """Protect every regular file under ``folders``, except the file ``allowed``; nothing
        may change in ``folders`` nor in ``readonly``."""
        folders = [os.fspath(f) for f in folders]
        protected = set()
        for folder in folders:
            for dirpath, _, names in os.walk(folder):
                for name in names:
                    try:
                        info = os.stat(os.path.join(dirpath, name))
                    except OSError:
                        continue
                    protected.add((info.st_dev, info.st_ino))
        allowed_id = None
        if allowed is not None:
            info = os.stat(allowed)
            allowed_id = (info.st_dev, info.st_ino)
        return cls(protected, allowed_id, sys.executable,
                   folders + [os.fspath(f) for f in readonly])

    def to_json(self) -> str:
        return json.dumps({"protected": sorted(self.protected), "allowed": self.allowed,
                           "python": self.python, "readonly": self.readonly})

    @classmethod
    def from_json(cls, text: str) -> Policy:
        data = json.loads(text)
        allowed = tuple(data["allowed"]) if data["allowed"] else None
        return cls((tuple(p) for p in data["protected"]), allowed, data["python"],
                   data["readonly"])

    def is_readonly(self, path: Any) -> bool:
        """True when ``path`` (or the folder it would be created in) lies in a read-only folder."""
        try:
            real = os.path.realpath(os.fsdecode(path))
        except (TypeError, ValueError):
            return False
        return any(os.path.join(real, "").startswith(folder) for folder in self.readonly)


_configured: Policy | None = None
_installed = False


def configure(policy: Policy | None) -> None:
    """Set the policy that :func:`enter` applies in every later check child (None: none)."""
    global _configured
    _configured = policy


def enter() -> None:
    """In a check child, before any student code: apply the configured policy, if any.

    Also exports it to the environment so spawned Python children apply it too.
    """
    if _configured is None:
        return
    os.environ[ENV] = _configured.to_json()
    paths = [_SITE, _PACKAGE_ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(
        os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    _install(_configured)


def install_from_environment() -> None:
    """Apply the policy in ``PCMODEL_SANDBOX``, if set (called by the sandbox's sitecustomize)."""
    text = os.environ.get(ENV)
    if text:
        _install(Policy.from_json(text))


def _install(policy: Policy) -> None:
    global _installed
    if _installed:
        return
    _installed = True
    hook = _Hook(policy)
    sys.addaudithook(hook)


class _Hook:
    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.stat = os.stat  # bound now: later rebinding of os.stat changes nothing here

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if event == "open":
            self._open(args[0])
            if len(args) > 2 and isinstance(args[2], int) and args[2] & _WRITE_FLAGS:
                self._change(args[0])
        elif event in _MUTATING:
            for path in args[:2]:
                if isinstance(path, (str, bytes, os.PathLike)):
                    self._change(path)
        elif event in ("subprocess.Popen", "os.exec", "os.posix_spawn"):
            self._program(args[0], args[1])
        elif event in ("os.system", "os.spawn", "pty.spawn", "os.startfile"):
            raise SandboxViolation("graded code may not start other programs")
        elif event in ("os.unsetenv", "os.putenv") and args[0] in (ENV.encode(), b"PYTHONPATH"):
            raise SandboxViolation("graded code may not change the grader's environment")
        elif event == "ctypes.dlsym" or (event == "ctypes.dlopen" and args[0] is not None):
            raise SandboxViolation("graded code may not call C functions through ctypes")

    def _open(self, path: Any) -> None:
        if isinstance(path, int) or path is None:
            return
        try:
            info = self.stat(path)
        except (OSError, TypeError, ValueError):
            return  # creating a file, or not a path: nothing protected to read
        key = (info.st_dev, info.st_ino)
        if key in self.policy.protected and key != self.policy.allowed:
            raise SandboxViolation(
                f"graded code may not read {os.fsdecode(path)}: the reference solutions and "
                "the grader's files are not available while grading")

    def _change(self, path: Any) -> None:
        if isinstance(path, int):
            return
        if self.policy.is_readonly(path):
            raise SandboxViolation(
                f"graded code may not change {os.fsdecode(path)}: the exercises and the grader "
                "are read-only while grading")

    def _program(self, executable: Any, argv: Any) -> None:
        argv = [os.fsdecode(a) for a in (argv or [])]
        program = os.fsdecode(executable) if executable is not None else (argv or [""])[0]
        is_python = os.path.realpath(program) == os.path.realpath(self.policy.python)
        code = argv[argv.index("-c") + 1] if "-c" in argv[:-1] else ""
        if is_python and code.startswith(_MP_ENTRIES):
            return
        raise SandboxViolation(
            f"graded code may not start other programs ({program}); use threads or "
            "multiprocessing as the exercise asks")
