"""Lay out PETS 2009 S3-MF1 as a MOTChallenge sequence: `python -m argus.tools.tracking.pets CHECKOUT OUT_DIR`.

PETS 2009 (View_001: a campus path seen from above, 768x576, 7 frames per second) is the kind of CCTV
view where a pose model misses far people. The S3-MF1 clip (107 frames, 7 people, 620 boxes 65-124 px
tall) with ground truth is published in the repository antonmil/dctracking (`data/PETS/S3-MF1/`: frames
`img/frame_0001.jpg` ..., `gt/gt.txt` in MOT's row format). Clone it yourself (its terms: research and
education, no redistribution; PETS 2009's own terms apply to the frames) and run this to get the layout
`run.py bench detection` reads: `OUT_DIR/PETS09-S3-MF1/{img1/000001.jpg, gt/gt.txt, seqinfo.ini}`.
Nothing is downloaded here and nothing goes into this repository.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

NAME = "PETS09-S3-MF1"
SOURCE = Path("data/PETS/S3-MF1")
FRAME_RATE = 7  # PETS 2009 was recorded at about 7 frames per second
FRAME = re.compile(r"frame_(\d+)\.jpg$")


def lay_out(checkout: Path, out_dir: Path) -> Path:
    """Copy the clip's frames (renumbered 000001.jpg, ...) and ground truth into `out_dir`/NAME; returns
    that folder. Raises FileNotFoundError naming what is missing."""
    source = checkout / SOURCE
    frames = sorted((int(m.group(1)), p) for p in (source / "img").glob("frame_*.jpg") if (m := FRAME.search(p.name)))
    gt = source / "gt" / "gt.txt"
    if not frames or not gt.is_file():
        raise FileNotFoundError(f"{source}: expected img/frame_NNNN.jpg and gt/gt.txt (a dctracking checkout)")
    numbers = [n for n, _ in frames]
    if numbers != list(range(1, len(frames) + 1)):
        raise ValueError(f"{source / 'img'}: frames are not numbered 1..{len(frames)} without gaps")
    seq = out_dir / NAME
    (seq / "img1").mkdir(parents=True, exist_ok=True)
    (seq / "gt").mkdir(exist_ok=True)
    for number, path in frames:
        shutil.copyfile(path, seq / "img1" / f"{number:06d}.jpg")
    shutil.copyfile(gt, seq / "gt" / "gt.txt")
    (seq / "seqinfo.ini").write_text(
        f"[Sequence]\nname={NAME}\nimDir=img1\nframeRate={FRAME_RATE}\nseqLength={len(frames)}\n"
        "imWidth=768\nimHeight=576\nimExt=.jpg\n")
    return seq


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m argus.tools.tracking.pets", description=__doc__.splitlines()[0])
    parser.add_argument("checkout", type=Path, help="a clone of github.com/antonmil/dctracking")
    parser.add_argument("out_dir", type=Path, help="where the MOTChallenge layout goes")
    args = parser.parse_args(argv)
    try:
        seq = lay_out(args.checkout, args.out_dir)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{seq}: {len(list((seq / 'img1').glob('*.jpg')))} frames; "
          f"score it with: python run.py bench detection {seq}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
