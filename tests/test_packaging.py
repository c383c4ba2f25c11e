"""`pip install .` gives what a user expects: the `argus` command (with `--version`), only the top-level
names `pipeline`, `engines`, `stages` and `argus` in site-packages, the version from one place, and the
package data (the editor's page, the built-in models) inside the wheel.

Builds the wheel with uv (as `make setup` installs it) and installs it into a fresh venv outside the
repository, resolving the runtime dependencies from the package index or uv's cache.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from argus import __version__
from tests.conftest import ROOT


def _uv() -> list[str] | None:
    if shutil.which("uv"):
        return ["uv"]
    for python in ("python3", sys.executable):
        found = shutil.which(python) or python
        if subprocess.run([found, "-m", "uv", "--version"], capture_output=True, check=False).returncode == 0:
            return [found, "-m", "uv"]
    return None


UV = _uv()
pytestmark = pytest.mark.skipif(UV is None, reason="uv is not installed (make setup installs it)")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run([*UV, "build", "--wheel", "--out-dir", str(out), str(ROOT)], capture_output=True,
                            text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    (found,) = out.glob("*.whl")
    return found


def test_the_wheel_holds_four_top_level_packages_and_the_package_data(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names if not name.split("/")[0].endswith((".dist-info", ".data"))}
    assert top == {"pipeline", "engines", "stages", "argus"}
    assert "argus/cli/serve/static/editor.bundle.js" in names
    assert "stages/actions/builtin/actions.onnx" in names
    assert not any(name.startswith(("tests/", "configs/")) for name in names)


def test_the_wheel_carries_one_version_and_the_argus_command(wheel: Path) -> None:
    archive = zipfile.ZipFile(wheel)
    info = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
    assert f"\nVersion: {__version__}\n" in archive.read(info).decode()
    entry_points = archive.read(info.replace("METADATA", "entry_points.txt")).decode()
    assert "argus = argus.entry:main" in entry_points
    assert wheel.name.startswith(f"argus_pipeline-{__version__}-")


@pytest.mark.slow
def test_a_fresh_venv_outside_the_repo_gets_a_working_argus_command(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    made = subprocess.run([*UV, "venv", "--quiet", "--python", sys.executable, str(venv)], capture_output=True,
                          text=True, timeout=300, check=False)
    assert made.returncode == 0, made.stderr
    installed = subprocess.run([*UV, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"),
                                str(wheel)], capture_output=True, text=True, timeout=600, check=False)
    assert installed.returncode == 0, installed.stderr[-3000:]
    argus = str(venv / "bin" / "argus")
    version = subprocess.run([argus, "--version"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                             check=False)
    assert version.stdout.strip() == f"argus {__version__}", version.stderr
    config = tmp_path / "cam.yaml"
    config.write_text("sources:\n  - {id: cam, uri: 'rtsp://camera.local/stream1'}\n")
    checked = subprocess.run([argus, "check", str(config)], cwd=tmp_path, capture_output=True, text=True,
                             timeout=300, check=False)
    assert checked.returncode == 0, checked.stderr[-2000:]
    assert "ok (1 source(s)" in checked.stdout
    site = next((venv / "lib").glob("python3*/site-packages"))
    ours = {p.name for p in site.iterdir() if p.name in {"run", "run.py", "cli", "benchmarks", "tools", "tests"}}
    assert not ours, f"top-level names that clash in site-packages: {ours}"
