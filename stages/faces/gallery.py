"""The face gallery: a SQLite file (WAL) of enrolled people and their face embeddings.

Every embedding records the embedder's name and version; a gallery is only matched by that
embedder (`GalleryError` otherwise). Writers bump `meta.revision`, so a running pipeline sees new
enrolments by reading one row (`changed()`), without a restart; WAL lets an enrolment and a reading
pipeline work at the same time.

Matching is per person: a face's distance to a person is its smallest Euclidean distance (unit
vectors) to that person's embeddings; the answer names the best person and the runner-up.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.errors import ArgusError

FORMAT = "argus-face-gallery"
SCHEMA = 1


class GalleryError(ArgusError):
    """Not an Argus gallery, another embedder's gallery, or a bad request (one line, exit 2)."""

    exit_code = 2


@dataclass(frozen=True, slots=True)
class Match:
    name: str | None  # best enrolled person (None: empty gallery)
    distance: float
    runner_up: str | None
    runner_up_distance: float


@dataclass(frozen=True, slots=True)
class Entry:
    id: int
    name: str
    source: str
    face_px: int


class Gallery:
    """Open (or with `create=True` make) the gallery at `path` for `model` / `version`."""

    def __init__(self, path: str | Path, model: str, version: str, *, create: bool = False) -> None:
        self.path = Path(path)
        self.model, self.version = model, version
        if not self.path.exists() and not create:
            raise GalleryError(f"{self.path}: no such gallery (create one with `run.py faces enroll`)")
        try:
            self.db = sqlite3.connect(str(self.path), timeout=10.0, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            raise GalleryError(f"{self.path}: not an Argus face gallery ({exc})") from None
        if not tables and create:
            self._create()
        elif "meta" not in tables or "faces" not in tables:
            raise GalleryError(f"{self.path}: not an Argus face gallery")
        meta = dict(self.db.execute("SELECT key, value FROM meta").fetchall())
        if meta.get("format") != FORMAT:
            raise GalleryError(f"{self.path}: not an Argus face gallery")
        if meta.get("model") != model or meta.get("version") != version:
            raise GalleryError(f"{self.path}: built with embedder {meta.get('model')} {meta.get('version')}, "
                               f"not {model} {version}: its embeddings cannot be compared (enrol again into "
                               "a new gallery)")
        self.dim = int(meta["dim"])
        self._revision: str | None = None
        self._names: list[str] = []
        self._vectors = np.zeros((0, self.dim), np.float32)
        self.reload()

    def _create(self) -> None:
        with self.db:
            self.db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            self.db.execute("CREATE TABLE faces (id INTEGER PRIMARY KEY, name TEXT NOT NULL, model TEXT NOT NULL, "
                            "version TEXT NOT NULL, vector BLOB NOT NULL, source TEXT, face_px INTEGER, "
                            "created REAL)")
            self.db.execute("CREATE INDEX faces_name ON faces(name)")
            from stages.faces.embedder import EMBEDDERS

            dim = EMBEDDERS[self.model].dim if self.model in EMBEDDERS else 0
            self.db.executemany("INSERT INTO meta VALUES (?, ?)", [
                ("format", FORMAT), ("schema", str(SCHEMA)), ("model", self.model), ("version", self.version),
                ("dim", str(dim)), ("revision", "0")])

    # -- reading ---------------------------------------------------------------------------------

    def changed(self) -> bool:
        """Whether another writer changed the gallery since the last `reload`."""
        row = self.db.execute("SELECT value FROM meta WHERE key='revision'").fetchone()
        return (row[0] if row else None) != self._revision

    def reload(self) -> None:
        row = self.db.execute("SELECT value FROM meta WHERE key='revision'").fetchone()
        rows = self.db.execute("SELECT name, vector FROM faces WHERE model=? AND version=? ORDER BY id",
                               (self.model, self.version)).fetchall()
        self._revision = row[0] if row else None
        self._names = [r[0] for r in rows]
        self._vectors = (np.stack([np.frombuffer(r[1], np.float32) for r in rows]) if rows
                         else np.zeros((0, self.dim), np.float32))

    def names(self) -> list[str]:
        return sorted(set(self._names))

    def entries(self) -> list[Entry]:
        return [Entry(*r) for r in self.db.execute("SELECT id, name, source, face_px FROM faces ORDER BY name, id")]

    def __len__(self) -> int:
        return len(self._names)

    def match(self, embeddings: np.ndarray) -> list[Match]:
        """The best and runner-up person for each of (N, dim) unit embeddings."""
        if len(embeddings) == 0:
            return []
        if not self._names:
            return [Match(None, float("inf"), None, float("inf")) for _ in embeddings]
        d = np.linalg.norm(embeddings[:, None, :] - self._vectors[None, :, :], axis=2)
        people = sorted(set(self._names))
        index = {n: i for i, n in enumerate(people)}
        per = np.full((len(embeddings), len(people)), np.inf, np.float32)
        cols = np.array([index[n] for n in self._names])
        for j, person in enumerate(cols):
            per[:, person] = np.minimum(per[:, person], d[:, j])
        order = np.argsort(per, axis=1)
        out = []
        for i in range(len(embeddings)):
            best = order[i, 0]
            second = order[i, 1] if len(people) > 1 else None
            out.append(Match(people[best], float(per[i, best]), people[second] if second is not None else None,
                             float(per[i, second]) if second is not None else float("inf")))
        return out

    def match_person(self, embeddings: np.ndarray, name: str) -> np.ndarray:
        """(N,) distance of each embedding to the person `name` (inf when not enrolled)."""
        cols = [i for i, n in enumerate(self._names) if n == name]
        if not cols:
            return np.full(len(embeddings), np.inf, np.float32)
        return np.linalg.norm(embeddings[:, None, :] - self._vectors[cols][None], axis=2).min(axis=1)

    # -- writing ---------------------------------------------------------------------------------

    def add(self, name: str, vectors: np.ndarray, sources: list[str], face_px: list[int]) -> None:
        """Enrol the faces (N, dim) of `name` in one transaction."""
        if not name or name.strip() != name or name.lower() == "unknown":
            raise GalleryError(f"invalid name {name!r}")
        now = time.time()
        with self.db:
            self.db.executemany(
                "INSERT INTO faces (name, model, version, vector, source, face_px, created) VALUES (?,?,?,?,?,?,?)",
                [(name, self.model, self.version, np.asarray(v, np.float32).tobytes(), s, int(px), now)
                 for v, s, px in zip(vectors, sources, face_px, strict=True)])
            self._bump()
        self.reload()

    def remove(self, name: str) -> int:
        with self.db:
            count = self.db.execute("DELETE FROM faces WHERE name=?", (name,)).rowcount
            if count:
                self._bump()
        self.reload()
        return count

    def _bump(self) -> None:
        self.db.execute("UPDATE meta SET value=CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key='revision'")

    def close(self) -> None:
        self.db.close()


def check_gallery(path: str | Path, model: str, version: str) -> str | None:
    """A one-line problem with the gallery at `path` for this embedder, or None (no model loaded)."""
    try:
        Gallery(path, model, version).close()
    except GalleryError as exc:
        return str(exc)
    return None
