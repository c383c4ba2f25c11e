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

Sources WITHOUT a licence (used for measurement only, never for a shipped model or committed data;
each gets a NOTICE.txt saying so instead of a LICENSE):

- UP-Fall Detection (Martinez-Villasenor et al., Sensors 2019; the dataset's own terms are on its
  site, not in the repository): repository taufeeque9/HumanFallDetection, which committed videos it
  compiled from UP-Fall's camera frames (640x480, 18 FPS) for subject 1 @ 3583d4a2 (all five fall
  types x 3 trials x 2 cameras, and activities 6, 8-11) and one clip of subject 4 @ a3e8159f. The
  repository has no licence file. Cameras 1 (side) and 2 (front, raised) film the same trial, so a
  trial is one fall seen twice: 15 falls, 30 fall clips.
- thanhnc58/fall-detector @ 1574ecd9: ten phone videos (406x720 portrait, 30 FPS) of staged falls,
  no licence file. Who is in them is not said: grouped by clothes (a dark "AON" jersey in Fall01-04, an
  orange top in Fall05, a checked shirt in Fall06-10).
- EikeSan/video-fall-detection @ b01a342d: one 320x240 10 FPS clip (`video.mp4`; origin not stated, no
  licence file): a man crouches, sits on a chair, gets up, walks and falls.
- noahzhy/KU_fall_detection @ 9a3818bb: four re-encoded clips, no licence file, origin not stated:
  `cam1.avi` (720x480) is a scenario of the Multiple Cameras Fall Dataset (Auvinet et al., Montreal:
  the room, mattress and checkerboard); `cam2-4.avi` (320x240) show three other people (two men, a
  woman) falling in one waiting room.

Labels of all of these are eye labels as above (contact sheets at 5 frames per second, +-0.2 s); the
fall runs from the first loss of balance (or, for UP-Fall's "sitting in an empty chair", the start
of the descent) to the body reaching the floor. UP-Fall's own per-frame tags are in a file missing
from the snapshot (CompleteDataSet.csv, over 4 MiB).

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
UPFALL = ("taufeeque9/HumanFallDetection", "3583d4a2024e6ae9eb1c7f20c19c3a20d64a9cf2")
UPFALL_S4 = ("taufeeque9/HumanFallDetection", "a3e8159ff9329f140ca1732d5d685cb87ffdfec2")
THANH = ("thanhnc58/fall-detector", "1574ecd990212e5726ee9b0984b9793e607ba4f8")
EIKE = ("EikeSan/video-fall-detection", "b01a342d31e3fddaf3d752a7ec37766ba80a6644")
KU = ("noahzhy/KU_fall_detection", "9a3818bb36ec54c3258d172f53d6386a2e4a33d0")
NO_LICENCE = "none: measurement only"
# Per source repository: (file written under OUT_DIR, the licence file in the repository or None, licence).
# A source without a licence gets a NOTICE.txt that says so instead.
LICENCES = {GMDCSA: ("gmdcsa24/LICENSE", "LICENSE", "MIT"), ASSIST: ("assist_fall/LICENSE", "LICENSE", "CC BY 4.0"),
            UPFALL: ("upfall/NOTICE.txt", None, NO_LICENCE), UPFALL_S4: ("upfall/NOTICE.txt", None, NO_LICENCE),
            THANH: ("thanhnc58/NOTICE.txt", None, NO_LICENCE), EIKE: ("eikesan/NOTICE.txt", None, NO_LICENCE),
            KU: ("ku/NOTICE.txt", None, NO_LICENCE)}
NOTICE = ("{repo} @ {commit}:\nthe repository has no licence file. Its clips are copied byte for byte for measurement\n"
          "only (leave-one-person-out figures in docs/guides/actions.md); do not redistribute them or\n"
          "train a shipped model on them.\n")


@dataclass(frozen=True)
class Item:
    """One clip: where it comes from, where it goes under OUT_DIR, who is in it, its labels."""

    repo: tuple[str, str]
    path: str
    file: str
    person: str
    labels: tuple[tuple[float, float, str, str], ...]  # (start_s, end_s, label, note)
    subject: tuple[float, float] | None = None  # where the labelled person is: persons.csv's `subject`


# Where the labelled person is (frame fractions) in clips that show someone else too, so the tools score
# the right person (`extract.main_person`); found by listing the clips with two people tracked at once and
# looking at them. UP-Fall's front camera sees a second man sitting at a desk on the right edge (x 0.9) for
# the whole clip; the subject stands near the middle and lies on the mattress below it. ASSIST's videos
# carry a picture-in-picture view of the same scene in a top corner, which was scored instead of the main
# view in three clips. Without these the main person was the bystander in 16 UP-Fall clips (14 falls).
UPFALL_FRONT = (0.5, 0.65)
ASSIST_SUBJECTS = {"assist_fall/adl_10_collapsing_onto_chair.mp4": (0.23, 0.39),
                   "assist_fall/adl_12_sitting_laying_down_quickly.mp4": (0.51, 0.39),
                   "assist_fall/adl_11_sitting_laying_down_slowly.mp4": (0.51, 0.39)}


def _g(subject: int, kind: str, n: str, person: str, *labels) -> Item:
    return Item(GMDCSA, f"Subject {subject}/{kind}/{n}.mp4", f"gmdcsa24/S{subject}_{kind}_{n}.mp4", person, labels)


def _a(path: str, person: str, *labels) -> Item:
    kind, name = path.split("/")
    file = f"assist_fall/{kind}_{name}.mp4"
    return Item(ASSIST, f"videos/{path}.mp4", file, person, labels, ASSIST_SUBJECTS.get(file))


def _up(activity: int, trial: int, cam: int, *labels) -> Item:
    return Item(UPFALL, f"dataset/Activity{activity}/Subject1/Trial{trial}Cam{cam}.mp4",
                f"upfall/S1_A{activity:02d}_T{trial}_C{cam}.mp4", "upfall_S1", labels,
                UPFALL_FRONT if cam == 2 else None)


def _th(n: int, person: str, *labels) -> Item:
    return Item(THANH, f"videos/Fall{n:02d}.mp4", f"thanhnc58/Fall{n:02d}.mp4", person, labels)


# UP-Fall subject 1's falls: activity -> how, and per (trial, camera) the clip's length and the eye-labelled
# fall (start, end); the person stands before it and lies on the mattress after it.
UP_FALL_KIND = {1: "forward, using the hands", 2: "forward, onto the knees first", 3: "backward",
                4: "sideways", 5: "sitting down on a chair that is not there, then onto the back"}
UP_FALLS = {
    (1, 1, 1): (7.89, 2.5, 3.3), (1, 1, 2): (7.89, 2.85, 3.35), (1, 2, 1): (7.83, 0.7, 1.5),
    (1, 2, 2): (7.83, 0.9, 1.5), (1, 3, 1): (7.89, 0.7, 1.6), (1, 3, 2): (7.89, 0.7, 1.5),
    (2, 1, 1): (6.39, 0.7, 1.5), (2, 1, 2): (6.39, 0.6, 1.5), (2, 2, 1): (7.89, 0.9, 1.7),
    (2, 2, 2): (7.89, 0.9, 1.7), (2, 3, 1): (7.89, 0.7, 1.6), (2, 3, 2): (7.89, 0.9, 1.6),
    (3, 1, 1): (7.78, 0.9, 1.6), (3, 1, 2): (7.78, 0.9, 1.6), (3, 2, 1): (7.72, 0.9, 1.6),
    (3, 2, 2): (7.72, 0.9, 1.6), (3, 3, 1): (7.72, 0.7, 1.3), (3, 3, 2): (7.72, 0.7, 1.3),
    (4, 1, 1): (7.67, 0.5, 1.2), (4, 1, 2): (7.67, 0.5, 1.2), (4, 2, 1): (7.72, 0.7, 1.3),
    (4, 2, 2): (7.72, 0.9, 1.4), (4, 3, 1): (7.83, 0.7, 1.3), (4, 3, 2): (7.83, 0.7, 1.3),
    (5, 1, 1): (7.67, 0.5, 1.5), (5, 1, 2): (7.67, 0.7, 1.5), (5, 2, 1): (7.39, 0.5, 1.5),
    (5, 2, 2): (7.39, 0.5, 1.5), (5, 3, 1): (7.61, 0.6, 1.5), (5, 3, 2): (7.61, 0.7, 1.5),
}
CAMERA = {1: "side camera (the lying body is at the bottom edge)", 2: "front camera, raised"}


def _up_falls() -> tuple[Item, ...]:
    return tuple(_up(a, t, c, (0.0, start, "standing", ""), (start, end, "falling", UP_FALL_KIND[a]),
                     (end, length, "lying", f"on the mattress; {CAMERA[c]}"))
                 for (a, t, c), (length, start, end) in UP_FALLS.items())


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
    *_up_falls(),
    _up(6, 1, 1, (0.0, 45.45, "adl", "walks around the room, at times out of view")),
    _up(8, 1, 1, (0.0, 43.28, "sitting", "on a chair, the whole clip")),
    _up(8, 1, 2, (0.0, 43.28, "sitting", "on a chair, the whole clip")),
    *(_up(9, t, c, (0.0, length, "adl", "picks an object up from the floor (bending)"))
      for t, length in ((1, 7.33), (2, 7.17), (3, 7.06)) for c in (1, 2)),
    _up(10, 1, 1, (0.0, 21.28, "adl", "jumps on the spot")),
    _up(10, 1, 2, (0.0, 21.28, "adl", "jumps on the spot")),
    _up(11, 1, 1, (0.0, 42.61, "lying", "on the mattress, the whole clip; at the bottom edge")),
    _up(11, 1, 2, (0.0, 42.61, "lying", "on the mattress, the whole clip")),
    Item(UPFALL_S4, "dataset/Subject4Activity1Trial1Camera1/output.mp4", "upfall/S4_A01_T1_C1.mp4", "upfall_S4",
         ((0.0, 1.1, "standing", ""), (1.1, 1.8, "falling", "forward, using the hands"),
          (1.8, 7.45, "lying", "on the mattress, at the bottom edge"))),
    _th(1, "thanh_A", (0.0, 3.4, "walking", "towards the camera"), (3.4, 4.2, "standing", ""),
        (4.2, 5.5, "falling", "down to sitting, then onto the back"), (5.5, 6.92, "lying", "on the floor")),
    _th(2, "thanh_A", (0.0, 3.8, "walking", "a second person sits at the right edge"),
        (3.8, 4.7, "falling", "forward"), (4.7, 8.78, "lying", "on the floor")),
    _th(3, "thanh_A", (0.0, 2.3, "standing", ""), (2.3, 3.0, "walking", ""),
        (3.0, 3.7, "falling", "forward to the knees, then down"), (3.7, 5.25, "lying", "curled up on the floor")),
    _th(4, "thanh_A", (0.0, 2.0, "standing", ""), (2.0, 6.1, "walking", "towards the camera"),
        (6.1, 7.0, "falling", "forward onto hands and knees, then down"), (7.0, 9.94, "lying", "close to the camera")),
    _th(5, "thanh_B", (0.0, 1.2, "standing", ""), (1.2, 5.0, "walking", "towards the camera"),
        (5.0, 6.2, "falling", "stumbles, squats, goes down sideways"), (6.2, 8.57, "lying", "close to the camera")),
    _th(6, "thanh_C", (0.0, 3.8, "standing", ""), (3.8, 5.9, "walking", "towards the camera"),
        (5.9, 7.1, "falling", "forward onto hands and knees, then down"), (7.1, 8.99, "lying", "on the floor")),
    _th(7, "thanh_C", (0.0, 0.8, "no_person", ""), (0.8, 1.6, "walking", "comes in from the left"),
        (1.6, 7.2, "standing", ""), (7.2, 8.5, "walking", ""),
        (8.5, 9.4, "falling", "slips, sits down, onto the back; partly out of view"), (9.4, 11.56, "lying", "")),
    _th(8, "thanh_C", (0.0, 1.8, "standing", ""), (1.8, 3.4, "walking", ""),
        (3.4, 4.3, "falling", "slips backward, sits, onto the back"), (4.3, 6.52, "lying", "on the floor")),
    _th(9, "thanh_C", (0.0, 1.6, "standing", ""), (1.6, 4.7, "walking", "towards the camera"),
        (4.7, 5.6, "falling", "lunges forward, rolls"), (5.6, 7.78, "lying", "close to the camera")),
    _th(10, "thanh_C", (0.0, 1.4, "no_person", ""), (1.4, 5.7, "walking", "comes in from the left, towards the camera"),
        (5.7, 6.5, "falling", "trips forward"), (6.5, 8.94, "lying", "partly out of view")),
    Item(EIKE, "video.mp4", "eikesan/video.mp4", "eikesan_1",
         ((0.0, 4.0, "no_person", ""), (4.0, 4.2, "walking", "comes in from the right"),
          (4.2, 5.2, "bending", "crouches by the chair"), (5.2, 7.8, "standing", ""),
          (7.8, 8.6, "bending", "sits down on the chair"), (8.6, 12.4, "sitting", "on a plastic chair"),
          (12.4, 13.6, "bending", "gets up"), (13.6, 14.6, "standing", ""), (14.6, 15.3, "walking", ""),
          (15.3, 15.9, "falling", "to the knees and hands, then down"),
          (15.9, 19.3, "lying", "on the floor, partly out of view"))),
    Item(KU, "cam1.avi", "ku/cam1.avi", "ku_mcf",
         ((0.0, 28.0, "no_person", ""), (28.0, 33.0, "walking", "comes in at the top left"),
          (33.0, 35.8, "adl", "bends over at the desk, turns"),
          (35.8, 37.0, "falling", "stumbles forward onto the mattress"), (37.0, 44.8, "lying", "on the mattress"),
          (44.8, 52.08, "adl", "sits up, kneels, gets up; other people come in"))),
    Item(KU, "cam2.avi", "ku/cam2.avi", "ku_2",
         ((0.0, 1.0, "no_person", ""), (1.0, 3.1, "walking", "comes in from the right"),
          (3.1, 3.7, "falling", "down onto his side at the mattress edge"), (3.7, 8.16, "lying", ""))),
    Item(KU, "cam3.avi", "ku/cam3.avi", "ku_3",
         ((0.0, 5.0, "standing", ""), (5.0, 6.2, "walking", ""),
          (6.2, 7.2, "falling", "stoops, then collapses forward onto the mattress (slow)"),
          (7.2, 11.86, "lying", "prone on the mattress"))),
    Item(KU, "cam4.avi", "ku/cam4.avi", "ku_4",
         ((0.0, 3.9, "walking", ""), (3.9, 4.6, "falling", "to the knees, then onto her side"),
          (4.6, 6.96, "lying", "on the mattress"))),
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


def shared_subjects(persons: dict[str, str]) -> dict[str, tuple[float, float]]:
    """Subjects of the shared clips that need one (see ASSIST_SUBJECTS)."""
    return {name: ASSIST_SUBJECTS[name.removeprefix("shared/")] for name in persons
            if name.removeprefix("shared/") in ASSIST_SUBJECTS}


def build(out: Path, mirrors: Path, shared: Path | None) -> dict:
    """Write the set under `out`; returns counts per source."""
    out.mkdir(parents=True, exist_ok=True)
    rows: list[list[str]] = []
    persons: dict[str, str] = {}
    subjects: dict[str, tuple[float, float]] = {}
    notices: dict[str, list[str]] = {}
    if shared is not None:
        link = out / "shared"
        if not link.exists():
            os.symlink(shared.resolve(), link)
        rows, persons = shared_rows(shared)
        subjects = shared_subjects(persons)
    for item in ITEMS:
        target = out / item.file
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(".part")
            tmp.write_bytes(_show(mirror_of(mirrors, item.repo[0]), item.repo[1], item.path))
            tmp.replace(target)
        persons[item.file] = item.person
        if item.subject is not None:
            subjects[item.file] = item.subject
        rows += [[item.file, f"{s:.2f}", f"{e:.2f}", label, "eye", note] for s, e, label, note in item.labels]
    for repo, (dest, src, _) in LICENCES.items():
        if src is None:
            notices.setdefault(dest, []).append(NOTICE.format(repo=repo[0], commit=repo[1]))
        else:
            (out / dest).write_bytes(_show(mirror_of(mirrors, repo[0]), repo[1], src))
    for dest, texts in notices.items():
        (out / dest).write_text("".join(dict.fromkeys(texts)))
    with (out / "labels.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "start_s", "end_s", "label", "source", "note"])
        writer.writerows(rows)
    with (out / "persons.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "person", "subject"])
        writer.writerows([name, person, " ".join(f"{v:g}" for v in subjects[name]) if name in subjects else ""]
                         for name, person in sorted(persons.items()))
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
