"""The documentation: the site builds with `mkdocs build --strict`, every YAML snippet in the docs and the
README is a config that `check` accepts, and every Python snippet runs on the demo.

A snippet that is not meant to be checked says so on the line before its fence:
`<!-- snippet: not a config -->` (YAML that is a fragment or another file's format) or
`<!-- snippet: not runnable -->` (Python that needs something the demo lacks, with the reason after it),
`<!-- snippet: checked by tests/... -->` (run by a test that also checks what it prints),
`<!-- snippet: needs ... -->` (a config that needs a file the reader makes first, e.g. a face gallery).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT

FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[a-z]+)\s*$")
SKIP = re.compile(r"<!-- snippet: (not a config|not runnable|checked by|needs)\b")


@dataclass(frozen=True)
class Snippet:
    """One fenced block of a Markdown file."""

    path: Path
    line: int
    lang: str
    code: str
    skipped: bool

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def snippets(path: Path) -> list[Snippet]:
    """The fenced blocks of `path` (indented ones too, as in list items)."""
    found: list[Snippet] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, start = len(match["indent"]), i
        body: list[str] = []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i][indent:])
            i += 1
        skipped = start > 0 and bool(SKIP.search(lines[start - 1]))
        found.append(Snippet(path, start + 1, match["lang"], "\n".join(body) + "\n", skipped))
        i += 1
    return found


def _pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


ALL = [s for page in _pages() for s in snippets(page)]
YAML = [s for s in ALL if s.lang == "yaml" and not s.skipped]
PYTHON = [s for s in ALL if s.lang == "python" and not s.skipped]


def test_the_snippet_reader_finds_blocks_and_skip_marks(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("text\n```yaml\nsources: []\n```\n<!-- snippet: not a config -->\n```yaml\na: 1\n```\n"
                    "- item\n\n  ```python\n  print(1)\n  ```\n")
    found = snippets(page)
    assert [(s.lang, s.line, s.skipped) for s in found] == [("yaml", 2, False), ("yaml", 6, True),
                                                            ("python", 11, False)]
    assert found[2].code == "print(1)\n"


def test_the_docs_have_snippets_to_check() -> None:
    """Guards the two tests below against a reader that silently finds nothing."""
    assert len(YAML) >= 10 and len(PYTHON) >= 1


ENV_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)")


@pytest.mark.parametrize("snippet", YAML, ids=[s.where for s in YAML])
def test_yaml_snippet_is_a_valid_config(snippet: Snippet, monkeypatch: pytest.MonkeyPatch) -> None:
    """What `run.py check` does, in-process: the config loads and validates (the environment variables it
    names are set to a placeholder, as a user would set them)."""
    from pipeline.config import load_config
    from pipeline.errors import ConfigError

    for name in ENV_REF.findall(snippet.code):
        monkeypatch.setenv(name, "example")
    try:
        load_config(text=snippet.code, name=snippet.where)
    except ConfigError as exc:
        pytest.fail(f"{snippet.where}: not a valid config (mark it '<!-- snippet: not a config -->' if it is "
                    f"a fragment):\n{exc}")


@pytest.mark.slow
@pytest.mark.parametrize("snippet", PYTHON, ids=[s.where for s in PYTHON])
def test_python_snippet_runs_on_the_demo(snippet: Snippet, tmp_path: Path) -> None:
    """Runs as printed from the repository root, with `out/` redirected to a temporary folder."""
    code = snippet.code.replace("output_dir=out/", f"output_dir={tmp_path}/")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600,
                            check=False)
    assert result.returncode == 0, f"{snippet.where}:\n{result.stderr[-3000:]}"


@pytest.mark.skipif(shutil.which("mkdocs", path=str(Path(sys.executable).parent)) is None,
                    reason="mkdocs is not installed (pip install -e '.[dev]')")
def test_the_site_builds_strict(tmp_path: Path) -> None:
    """Broken links, missing pages and API objects that do not resolve fail the build."""
    mkdocs = str(Path(sys.executable).parent / "mkdocs")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # Material's notice about its successor, not ours
    result = subprocess.run([mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")], cwd=ROOT,
                            capture_output=True, text=True, timeout=600, check=False, env=env)
    assert result.returncode == 0, result.stderr[-4000:]
    assert (tmp_path / "site" / "reference" / "config" / "index.html").is_file()
