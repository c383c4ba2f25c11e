"""The README stays short and points into the docs; the config reference is generated from the models;
the quick start matches CI; the Python API guide's example runs as printed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from argus.tools.docs_hooks import MARKER, on_page_markdown
from pipeline.config_reference import config_reference
from tests.conftest import ROOT

README = ROOT / "README.md"


def test_the_readme_is_short_and_its_links_resolve() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= 250
    links = re.findall(r"\]\(((?:docs/)[^)#]+)", text)
    assert len(links) >= 10
    missing = [link for link in links if not (ROOT / link).is_file()]
    assert not missing, f"README links to missing files: {missing}"


def test_the_config_reference_page_is_generated_from_the_models() -> None:
    page = (ROOT / "docs" / "reference" / "config.md").read_text()
    assert MARKER in page
    built = on_page_markdown(page)
    assert MARKER not in built and config_reference().strip() in built


def test_the_config_page_shows_the_default_config() -> None:
    """The example on the configuration page is `configs/default.yaml` as it is (comments aside)."""
    page = (ROOT / "docs" / "reference" / "config.md").read_text()
    shown = page.split("```yaml\n", 1)[1].split("```", 1)[0]
    default = [line for line in (ROOT / "configs" / "default.yaml").read_text().splitlines()
               if not line.startswith("#")]
    assert shown.splitlines() == default


def test_ci_runs_the_readme_test_command() -> None:
    assert "\nmake test\n" in README.read_text()
    assert "\nmake test\n" in (ROOT / ".ci" / "run").read_text()


def test_python_api_guide_example_runs(tmp_path: Path) -> None:
    """The first example of the Python API guide runs as printed (real model, demo clip) and prints what
    the guide says it prints."""
    text = (ROOT / "docs" / "guides" / "python.md").read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    code = code.replace("output_dir=out/api", f"output_dir={tmp_path}")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600,
                            check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert "{'version': 2, 'changed': {'runner': ['max_batch', 'progress']}}" in lines
    assert "0 90" in lines  # exit code 0, 60 + 30 frames
    assert [line.split()[:2] for line in lines[-5:]] == [["demo", str(i)] for i in range(5)]
