"""The README's config reference matches the config models; its quick start matches CI."""

from __future__ import annotations

from pipeline.config_reference import BEGIN, END, config_reference
from tests.conftest import ROOT


def test_readme_config_reference_is_current() -> None:
    text = (ROOT / "README.md").read_text()
    embedded = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert embedded == config_reference().strip(), "regenerate: python run.py schema --markdown"


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test" in (ROOT / "README.md").read_text()
    assert "\nmake test\n" in (ROOT / ".ci" / "run").read_text()
