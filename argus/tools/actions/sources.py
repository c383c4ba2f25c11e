"""Rebuild the extended fall set from named public sources: `python -m argus.tools.actions.sources OUT_DIR`.

The shared development set (`$ARGUS_SHARED_DATA/actions`, 16 clips, 4 people, 7 falls) is linked in
under `shared/` (symlinks, nothing copied); the clips below are taken byte for byte from public
GitHub repositories at the commits named here, and every clip's labels are written to `labels.csv`
in the shared set's vocabulary (`falling`, `lying`, `standing`, `walking`, `sitting`, ..., see the
shared README) with who is in it in `persons.csv` (for leave-one-person-out). Large data stays
outside the repository: OUT_DIR is yours (e.g. /work/data-falls/argus-falls).

Sources and licences (keep each LICENSE file with its clips; cite the papers):

- GMDCSA24 (Alam et al., Data in Brief 2024): repository
  ekramalam/GMDCSA24-A-Dataset-for-Human-Fall-Detection-in-Videos @ 5abac769, licence MIT. New:
  subjects 3 and 4, 8 falls, 6 non-fall clips (and one more of subject 1).
- ASSIST-IoT multimodal fall detection dataset (Danilenka et al., Zenodo 10.5281/zenodo.8340378):
  repository ASSIST-IoT-SRIPAS/multimodal-fall-detection-dataset @ 7a11c96b, licence CC BY 4.0. New:
  the volunteers recorded on 06/02 and 01/02/2023, 1 fall, 13 non-fall clips (crouching, bending,
  stumbling, crawling, sitting and lying down slowly, jumps, stairs, lying still).

People: GMDCSA24 names its subjects; ASSIST does not say who is in which reference video, so a person
is the recording date burned into the frame (as in the shared README: `assist_0902` is the man of
the shared clips, `assist_0702` the woman; 06/02 shows a third volunteer, 01/02 a fourth). Only the
clips present in the stored snapshots are used (files of 4 MiB and more are missing from them).

Labels: `source=eye` rows were set here from contact sheets at 4-5 frames per second (±0.2 s),
starting from the official GMDCSA24 ranges (whose `Falling` range runs to the end of the clip). A
non-fall clip whose postures were not labelled frame by frame carries one `adl` row: scored for
false fall alarms, never for per-frame posture (`labels.UNSCORED`).

Looked at and not used (see docs/guides/actions.md): UP-Fall skeletons
(Tresor-Koffi/3D_skeletons-UP-Fall-Dataset: falls only, MediaPipe keypoints whose frames alternate
with a fixed placeholder skeleton, no licence file), an UR Fall clip (jiminh03/individual_research:
a re-encoding with detector boxes drawn on it).
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

GMDCSA = ("ekramalam/GMDCSA24-A-Dataset-for-Human-Fall-Detection-in-Videos", "5abac7693229900cf80f722e878fbb119211fc1c")
ASSIST = ("ASSIST-IoT-SRIPAS/multimodal-fall-detection-dataset", "7a11c96b9a3576cef92f0795a19b3786c69a3335")
LICENCES = {GMDCSA: ("gmdcsa24/LICENSE", "LICENSE", "MIT"), ASSIST: ("assist_fall/LICENSE", "LICENSE", "CC BY 4.0")}


@dataclass(frozen=True)
class Item:
    """One clip: where it comes from, where it goes under OUT_DIR, who is in it, its labels."""

    repo: tuple[str, str]
    path: str
    file: str
    person: str
    labels: tuple[tuple[float, float, str, str], ...]  # (start_s, end_s, label, note)


def _g(subject: int, kind: str, n: str, person: str, *labels) -> Item:
    return Item(GMDCSA, f"Subject {subject}/{kind}/{n}.mp4", f"gmdcsa24/S{subject}_{kind}_{n}.mp4", person, labels)


def _a(path: str, person: str, *labels) -> Item:
    kind, name = path.split("/")
    return Item(ASSIST, f"videos/{path}.mp4", f"assist_fall/{kind}_{name}.mp4", person, labels)


ITEMS: tuple[Item, ...] = (
    _g(3, "Fall", "01", "gmdcsa_S3", (0.0, 1.2, "falling", "forward; the fall is under way at the first frame"),
       (1.2, 3.82, "lying", "on the floor")),
    _g(3, "Fall", "15", "gmdcsa_S3", (0.0, 1.9, "standing", "drinking from a bottle"),
       (1.9, 3.2, "falling", "backward, rolls"), (3.2, 5.65, "lying", "on the floor")),
    _g(3, "Fall", "16", "gmdcsa_S3", (0.0, 1.75, "walking", ""),
       (1.75, 2.8, "falling", "to the side, then onto the back"), (2.8, 6.08, "lying", "on the floor")),
    _g(3, "Fall", "19", "gmdcsa_S3", (0.0, 1.95, "standing", ""), (1.95, 3.3, "falling", "to the knees, then backward"),
       (3.3, 5.72, "lying", "on the floor, knees up")),
    _g(3, "Fall", "20", "gmdcsa_S3", (0.0, 2.25, "walking", "slowly"), (2.25, 3.2, "falling", "forward"),
       (3.2, 6.24, "lying", "on the floor")),
    _g(4, "Fall", "01", "gmdcsa_S4", (0.0, 1.75, "standing", "on the bed"),
       (1.75, 2.7, "falling", "sideways onto the bed"), (2.7, 4.68, "lying", "on the bed")),
    _g(4, "Fall", "02", "gmdcsa_S4", (0.0, 1.6, "lying", "on the bed"),
       (1.6, 2.4, "falling", "rolls off the bed to the floor"), (2.4, 2.98, "lying", "on the floor")),
    _g(4, "Fall", "03", "gmdcsa_S4", (0.0, 1.75, "walking", "away from the camera, only the legs in view"),
       (1.75, 2.5, "falling", "forward"), (2.5, 6.71, "lying", "on the floor, on elbows and knees at first")),
    _g(3, "ADL", "07", "gmdcsa_S3", (0.0, 3.35, "adl", "exercising: squats (sitting and standing)")),
    _g(3, "ADL", "15", "gmdcsa_S3", (0.0, 7.69, "sitting", "on the floor, reading a newspaper")),
    _g(3, "ADL", "18", "gmdcsa_S3", (0.0, 11.12, "adl", "walks in, sits on the bed, eats")),
    _g(3, "ADL", "19", "gmdcsa_S3", (0.0, 6.51, "adl", "picks a pen from the floor (bending), puts it on the bed")),
    _g(3, "ADL", "20", "gmdcsa_S3", (0.0, 9.39, "sitting", "on the bed, on the phone")),
    _g(4, "ADL", "19", "gmdcsa_S4", (0.0, 9.91, "adl", "walks, stands, picks up a jar, sits on the bed")),
    _g(1, "ADL", "16", "gmdcsa_S1", (0.0, 3.56, "adl", "seated on a chair, picks a phone from the ground")),
    _a("fall/07_fall_to_knees_forward", "assist_0602", (0.0, 1.3, "standing", "on the mattress stack"),
       (1.3, 2.4, "falling", "to the knees, then forward"), (2.4, 9.13, "lying", "on the mattress, still")),
    _a("adl/01_walking_slowly", "assist_0602", (0.0, 5.53, "adl", "walks along the room")),
    _a("adl/02_walking_quickly", "assist_0602", (0.0, 3.46, "adl", "walks quickly along the room")),
    _a("adl/07_sitting_high_chair", "assist_0602", (0.0, 15.96, "adl", "sits on a high chair and gets up")),
    _a("adl/13_bending_at_knees", "assist_0602", (0.0, 5.01, "adl", "bends at the knees (crouch)")),
    _a("adl/14_bending_wo_knees", "assist_0602", (0.0, 10.39, "adl", "bends without the knees")),
    _a("adl/15_stumbling", "assist_0602", (0.0, 4.39, "adl", "stumbles, no fall")),
    _a("adl/17_crawling", "assist_0602", (0.0, 8.43, "adl", "crawls on the floor")),
    _a("imm/01_imm_back", "assist_0602", (0.0, 4.22, "lying", "immobile on the back")),
    _a("imm/02_imm_stomach", "assist_0602", (0.0, 4.22, "lying", "immobile on the stomach")),
    _a("adl/08_low_chair_sitting_slowly", "assist_0902", (0.0, 14.72, "adl", "sits slowly on a low chair, gets up")),
    _a("adl/18_multiple_jumps", "assist_0902", (0.0, 3.35, "adl", "several small jumps")),
    _a("adl/11_sitting_laying_down_slowly", "assist_0702", (0.0, 13.78, "adl", "sits, lies down slowly, sits up")),
    _a("adl/06_walking_stairs_quickly", "assist_0102", (0.0, 9.02, "adl", "walks down stairs (main view right)")),
)

# The shared set's people in the names this set uses (its own table is stages' labels.SHARED_PERSONS).
SHARED_PERSON = {"gmdcsa24/S1_": "gmdcsa_S1", "gmdcsa24/S2_": "gmdcsa_S2"}


def _show(mirror: Path, commit: str, path: str) -> bytes:
    try:
        return subprocess.run(["git", "--git-dir", str(mirror), "show", f"{commit}:{path}"], check=True,
                              capture_output=True).stdout
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"{mirror}: cannot read {path} at {commit[:8]} "
                         f"({exc.stderr.decode(errors='replace').strip()})") from None


def mirror_of(mirrors: Path, repo: str) -> Path:
    """The bare git directory of `repo` under `mirrors` (`owner+name/repo`, as `fetch` leaves it, or
    `owner+name.git` from `git clone --bare`)."""
    owner_name = repo.replace("/", "+")
    for candidate in (mirrors / owner_name / "repo", mirrors / f"{owner_name}.git"):
        if candidate.is_dir():
            return candidate
    raise SystemExit(f"no mirror of {repo} under {mirrors}: run `git clone --bare https://github.com/{repo} "
                     f"{mirrors / (owner_name + '.git')}`")


def shared_rows(shared: Path) -> tuple[list[list[str]], dict[str, str]]:
    """The shared set's `eye` rows (files prefixed `shared/`) and its people under this set's names."""
    from argus.tools.actions.labels import SHARED_PERSONS

    rows, persons = [], {}
    with (shared / "labels.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["source"] != "eye":
                continue
            name = row["file"]
            rows.append([f"shared/{name}", row["start_s"], row["end_s"], row["label"], "eye", row["note"]])
            person = SHARED_PERSONS.get(name) or next(v for k, v in SHARED_PERSON.items() if name.startswith(k))
            persons[f"shared/{name}"] = person
    return rows, persons


def build(out: Path, mirrors: Path, shared: Path | None) -> dict:
    """Write the set under `out`; returns counts per source."""
    out.mkdir(parents=True, exist_ok=True)
    rows: list[list[str]] = []
    persons: dict[str, str] = {}
    if shared is not None:
        link = out / "shared"
        if not link.exists():
            os.symlink(shared.resolve(), link)
        rows, persons = shared_rows(shared)
    for item in ITEMS:
        target = out / item.file
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(".part")
            tmp.write_bytes(_show(mirror_of(mirrors, item.repo[0]), item.repo[1], item.path))
            tmp.replace(target)
        persons[item.file] = item.person
        rows += [[item.file, f"{s:.2f}", f"{e:.2f}", label, "eye", note] for s, e, label, note in item.labels]
    for repo, (dest, src, _) in LICENCES.items():
        (out / dest).write_bytes(_show(mirror_of(mirrors, repo[0]), repo[1], src))
    with (out / "labels.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "start_s", "end_s", "label", "source", "note"])
        writer.writerows(rows)
    with (out / "persons.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "person"])
        writer.writerows(sorted(persons.items()))
    files = {r[0] for r in rows}
    falls = sum(1 for r in rows if r[3] == "falling")
    return {"clips": len(files), "falls": falls, "people": len(set(persons.values())),
            "new_clips": len(ITEMS), "new_falls": sum(1 for i in ITEMS for lab in i.labels if lab[2] == "falling")}


def main(argv: list[str] | None = None) -> int:
    from argus.tools.shared_data import shared_data

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder to write (outside the repository)")
    parser.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"),
                        help="folder of bare git mirrors of the source repositories")
    parser.add_argument("--no-shared", action="store_true", help="leave the shared development set out")
    args = parser.parse_args(argv)
    shared = None if args.no_shared else Path(shared_data("actions"))
    print(build(args.out, args.mirrors, shared))
    return 0


if __name__ == "__main__":
    sys.exit(main())
