"""The README's config reference matches the config models; its quick start matches CI."""

from __future__ import annotations

from pathlib import Path

from pipeline.config_reference import BEGIN, END, config_reference
from tests.conftest import ROOT


def test_readme_config_reference_is_current() -> None:
    text = (ROOT / "README.md").read_text()
    embedded = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert embedded == config_reference().strip(), "regenerate: python run.py schema --markdown"


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test" in (ROOT / "README.md").read_text()
    assert "\nmake test\n" in (ROOT / ".ci" / "run").read_text()


def test_readme_python_api_example_runs(tmp_path: Path) -> None:
    """The Python API example in the README runs as printed (real model, demo clip)."""
    import subprocess
    import sys

    text = (ROOT / "README.md").read_text()
    section = text.split("## Python API", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    code = code.replace("output_dir=out/api", f"output_dir={tmp_path}")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600,
                            check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    assert "{'version': 2, 'changed': {'runner': ['max_batch', 'progress']}}" in lines
    assert "0 90" in lines  # exit code 0, 60 + 30 frames
    assert [line.split()[:2] for line in lines[-5:]] == [["demo", str(i)] for i in range(5)]
