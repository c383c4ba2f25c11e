"""The artefact cache: built once, reused, rebuilt with a warning when the file was damaged; exports cached
under every setting the model adapter names."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from engines.cache import build_cached
from engines.export import cached_export


def test_cache_builds_once_and_rebuilds_corrupt_entry(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    builds: list[Path] = []

    def build(tmp: Path) -> None:
        builds.append(tmp)
        tmp.write_bytes(b"model bytes " * 1000)

    target = tmp_path / "model-abc.onnx"
    assert build_cached(target, build) == target and len(builds) == 1
    assert build_cached(target, build) == target and len(builds) == 1  # reused
    data = bytearray(target.read_bytes())
    data[100] ^= 0xFF  # one flipped byte
    target.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="engines.cache"):
        build_cached(target, build)
    assert len(builds) == 2 and "corrupt" in caplog.text and target.read_bytes() == b"model bytes " * 1000
    target.write_bytes(target.read_bytes()[:500])  # truncated
    build_cached(target, build)
    assert len(builds) == 3 and not list(tmp_path.glob(".*tmp*"))  # no temporary files left behind


def test_cache_adopts_whole_entry_without_checksum(tmp_path: Path) -> None:
    target = tmp_path / "legacy.onnx"
    target.write_bytes(b"built before checksums existed")
    assert build_cached(target, lambda tmp: pytest.fail("must not rebuild")) == target
    assert (tmp_path / "legacy.onnx.sha256").exists()


def test_cached_export_runs_exporter_and_hook_once_per_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARGUS_CACHE", str(tmp_path / "cache"))
    weights = tmp_path / "toy.pt"
    weights.write_bytes(b"weights")
    steps: list[str] = []

    def export(src: Path, out: Path) -> None:
        steps.append(f"export {src.name}")
        out.write_bytes(b"onnx")

    def after(out: Path) -> None:
        steps.append("after")
        out.write_bytes(out.read_bytes() + b"+outputs")

    a = cached_export(weights, export, after=after, imgsz=640)
    assert a.read_bytes() == b"onnx+outputs" and a.name.startswith("toy-") and a.suffix == ".onnx"
    assert cached_export(weights, export, after=after, imgsz=640) == a
    assert steps == ["export toy.pt", "after"]
    b = cached_export(weights, export, imgsz=320)  # another setting: another file, no hook this time
    assert b != a and b.read_bytes() == b"onnx" and len(steps) == 3
