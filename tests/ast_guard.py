"""Keep CPython 3.11.7's AST race out of the test session (installed by tests/conftest.py).

Before 3.11.8, CPython keeps the AST constructor's recursion depth in state that all threads share
(gh-106905). The constructor runs no Python code of its own, but an allocation inside it can start
a garbage collection whose finalizers and callbacks are Python code, and there the thread can hand
the GIL to another. If that thread builds an AST too, it resets the shared depth and the first one
raises `SystemError: AST constructor recursion depth mismatch` for a tree it built correctly.

In this suite the second thread was a uvicorn server thread: anyio registers a pytest plugin, so
pytest's assertion rewriter rewrites (`ast.parse`s) every anyio module imported during the session,
and starlette's FileResponse reaches `anyio.open_file`, whose module anyio imports lazily, in the
server thread while another thread parses (pytest formatting a report, a traceback's caret line).

Two measures (`contend` below forces the contention; tests/test_ast_guard.py runs it):
- `serialize_ast_parse`: `ast.parse` holds a lock and keeps garbage collection off while it runs,
  so no other thread runs inside a constructor that has started. Every AST pytest, `traceback`,
  `inspect` and the libraries build goes through `ast.parse`.
- `import_lazy_modules`: anyio's lazily imported modules are imported now, in the main thread, so
  no server thread rewrites them and anyio's own `compile(..., PyCF_ONLY_AST)` (which bypasses
  `ast.parse`) never runs in a server thread either.

`-p no:anyio` does not help: pytest marks every pytest11 distribution for rewriting whether or not
its plugin is loaded, and without the plugin anyio's backends are first imported (and rewritten) in
the server thread: 14 modules parsed off the main thread in tests/test_serve_api.py instead of 1.
"""

from __future__ import annotations

import ast
import gc
import importlib
import sys
import threading
from typing import Any

#: The first 3.11 release whose AST constructor keeps its recursion depth per call.
FIXED_IN = (3, 11, 8)

#: `ast.parse` as the interpreter defines it.
INTERPRETER_PARSE = ast.parse

_LOCK = threading.RLock()


def affected(version: tuple[int, ...] = tuple(sys.version_info[:3])) -> bool:
    """Whether `version` shares the AST constructor's depth between threads (3.11 before 3.11.8)."""
    return version[:2] == (3, 11) and version[:3] < FIXED_IN


def serialized_parse(*args: Any, **kwargs: Any) -> ast.AST:
    """`ast.parse` under a process-wide lock, with garbage collection off until it returns."""
    with _LOCK:
        collecting = gc.isenabled()
        gc.disable()
        try:
            return INTERPRETER_PARSE(*args, **kwargs)
        finally:
            if collecting:
                gc.enable()


def serialize_ast_parse() -> None:
    """Make `ast.parse` the serialized one, on the interpreters that have the race."""
    if affected() and ast.parse is INTERPRETER_PARSE:
        ast.parse = serialized_parse  # type: ignore[assignment]


def import_lazy_modules() -> None:
    """Import every module anyio would import lazily later (perhaps in a server thread)."""
    try:
        anyio = importlib.import_module("anyio")
        abc = importlib.import_module("anyio.abc")
    except ImportError:
        return
    for module in (anyio, abc):
        for name in dir(module):
            getattr(module, name)
    importlib.import_module("anyio._backends._asyncio")


def install() -> None:
    """Both measures; called once from tests/conftest.py before any test starts a thread."""
    serialize_ast_parse()
    import_lazy_modules()


def contend(parses: int = 200) -> dict[str, int]:
    """Parse a module `parses` times while another thread parses, under forced contention.

    A gc callback makes each collection run Python code (a chance to switch threads inside the
    constructor), a low gc threshold makes collections frequent and a tiny switch interval hands
    the GIL over at every chance. Returns the parses done and the mismatches seen on both threads.
    This changes process-wide settings: run it in a process of its own.
    """
    source = "\n".join(f"value_{i} = [{i}, {{'k': ({i}, {i} + 1)}}]" for i in range(200))
    stop = threading.Event()
    counts = {"parses": 0, "other_parses": 0, "mismatches": 0}

    def parse(text: str, key: str) -> None:
        try:
            ast.parse(text)
        except SystemError as error:
            if "recursion depth mismatch" not in str(error):
                raise
            counts["mismatches"] += 1
        counts[key] += 1

    def elsewhere() -> None:
        while not stop.is_set():
            parse("x = [1, (2, 3)] + y", "other_parses")

    gc.callbacks.append(lambda phase, info: None)
    gc.set_threshold(100, 10, 10)
    sys.setswitchinterval(1e-6)
    thread = threading.Thread(target=elsewhere, daemon=True)
    thread.start()
    try:
        for _ in range(parses):
            parse(source, "parses")
    finally:
        stop.set()
        thread.join()
    return counts
