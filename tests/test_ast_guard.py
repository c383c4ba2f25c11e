"""The AST-race guard the session installs (tests/ast_guard.py), under forced contention."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

from tests import ast_guard
from tests.conftest import ROOT


def contend(guarded: bool) -> dict[str, int]:
    """`ast_guard.contend` in a process of its own (it changes process-wide settings)."""
    install = "ast_guard.serialize_ast_parse(); " if guarded else ""
    code = f"import json; from tests import ast_guard; {install}print(json.dumps(ast_guard.contend(50)))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=True)
    return json.loads(done.stdout)


def test_affected_versions() -> None:
    assert ast_guard.affected((3, 11, 7)) and ast_guard.affected((3, 11, 0))
    assert not ast_guard.affected((3, 11, 8)) and not ast_guard.affected((3, 12, 0))
    assert not ast_guard.affected((3, 10, 13))


def test_guarded_parse_never_mismatches_where_the_plain_one_does() -> None:
    guarded = contend(guarded=True)
    assert guarded["parses"] == 50 and guarded["other_parses"] > 0
    assert guarded["mismatches"] == 0
    if ast_guard.affected():  # the harness really provokes the race here (about 3 parses in 4)
        assert contend(guarded=False)["mismatches"] > 0


def test_the_session_runs_with_the_guard() -> None:
    import ast

    assert (ast.parse is ast_guard.serialized_parse) == ast_guard.affected()
    if importlib.util.find_spec("anyio") is not None:  # the web extra
        assert "anyio._core._fileio" in sys.modules  # imported now, not by a server thread later
