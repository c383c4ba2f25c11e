"""`run.py faces ...`: manage a face gallery and identify faces in photos.

    faces enroll --gallery faces.db NAME IMAGE_OR_FOLDER... [--largest] [--force]
    faces list --gallery faces.db [--json]
    faces remove --gallery faces.db NAME
    faces identify --gallery faces.db IMAGE... [--json]
    faces evaluate DATA_DIR [--json]     (precision / recall on data/faces: enrol train/, identify the rest)
    faces bench ...                      (the same as `run.py bench faces`: ms per frame and per face)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from argus.cli.bench import add_bench_verb
from argus.tools.shared_data import shared_data
from stages.faces.voting import VoteRules

EMBEDDER_NAMES = ("facenet512",)
DEFAULT_EMBEDDER = "facenet512"


def _gallery(args: argparse.Namespace, create: bool = False) -> Any:
    from stages.faces.embedder import EMBEDDERS
    from stages.faces.gallery import Gallery

    info = EMBEDDERS[args.embedder]
    return Gallery(args.gallery, info.name, info.version, create=create)


def _recognizer(args: argparse.Namespace) -> Any:
    from stages.faces.recognizer import Recognizer

    return Recognizer(embedder_name=args.embedder, backend=args.backend, device=args.device)


def cmd_enroll(args: argparse.Namespace) -> int:
    from argus.tools.faces.enrol import EnrolError, enrol

    gallery = _gallery(args, create=True)
    recognizer = _recognizer(args)
    try:
        accepted = enrol(gallery, recognizer, args.name, args.images, largest=args.largest, force=args.force,
                         threshold=args.threshold)
    except EnrolError as exc:
        for line in exc.lines:
            print(f"faces enroll: {line}", file=sys.stderr)
        print(f"faces enroll: nothing enrolled for {args.name}", file=sys.stderr)
        return 2
    finally:
        recognizer.close()
    print(f"enrolled {len(accepted)} face(s) of {args.name} into {args.gallery} "
          f"({len(gallery.names())} people, {len(gallery)} faces)")
    gallery.close()
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    gallery = _gallery(args)
    entries = gallery.entries()
    if args.json:
        people: dict[str, list[dict[str, Any]]] = {}
        for e in entries:
            people.setdefault(e.name, []).append({"id": e.id, "source": e.source, "face_px": e.face_px})
        print(json.dumps({"model": gallery.model, "version": gallery.version, "people": people}, indent=1))
    else:
        for name in gallery.names():
            n = sum(1 for e in entries if e.name == name)
            print(f"{name}\t{n} face(s)")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    gallery = _gallery(args)
    count = gallery.remove(args.name)
    if not count:
        print(f"faces remove: {args.name} is not enrolled in {args.gallery}", file=sys.stderr)
        return 2
    print(f"removed {args.name} ({count} face(s))")
    return 0


def cmd_identify(args: argparse.Namespace) -> int:
    from argus.tools.faces.enrol import image_files, read_image
    from argus.tools.faces.identify import identify

    gallery = _gallery(args)
    recognizer = _recognizer(args)
    results, code = [], 0
    try:
        for path in image_files(args.images):
            image = read_image(path)
            if image is None:
                print(f"faces identify: {path}: not an image", file=sys.stderr)
                code = 2
                continue
            faces = identify(recognizer, gallery, [image], threshold=args.threshold, face_margin=args.face_margin)[0]
            results.append({"file": str(path), "faces": faces})
    finally:
        recognizer.close()
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        for r in results:
            names = ", ".join(f"{f['name']} ({f['distance']})" for f in r["faces"]) or "no face"
            print(f"{r['file']}: {names}")
    return code


def cmd_evaluate(args: argparse.Namespace) -> int:
    from argus.tools.faces.evaluate import evaluate

    result = evaluate(args.data_dir, threshold=args.threshold, face_margin=args.face_margin, backend=args.backend)
    print(json.dumps(result, indent=1) if args.json else result["table"])
    return 0


def add_faces_parser(verbs: Any) -> None:
    """Register `faces` and its sub-verbs on the main parser's subparsers."""
    faces = verbs.add_parser("faces", help="face gallery: enroll, list, remove, identify, evaluate, bench",
                             description="Manage a face gallery (SQLite) and identify faces in photos.")
    sub = faces.add_subparsers(dest="faces_verb", metavar="ACTION", required=True)
    rules = VoteRules()

    def common(p: argparse.ArgumentParser, gallery: bool = True) -> None:
        if gallery:
            p.add_argument("--gallery", required=True, type=Path, help="gallery file (SQLite)")
        p.add_argument("--embedder", default=DEFAULT_EMBEDDER, choices=EMBEDDER_NAMES, help="face embedder")
        p.add_argument("--backend", default="auto", help="auto | tensorrt | openvino | onnxruntime")
        p.add_argument("--device", default="auto", help="auto | cpu | cuda:N")
        p.add_argument("--threshold", type=float, default=rules.threshold,
                       help=f"largest distance to name a face (default {rules.threshold})")
        p.add_argument("--face-margin", type=float, default=rules.face_margin,
                       help=f"runner-up must be this much farther (default {rules.face_margin})")

    p = sub.add_parser("enroll", help="add photos of a person (all checked first; nothing written on a refusal)")
    common(p)
    p.add_argument("name")
    p.add_argument("images", nargs="+", help="image files or folders")
    p.add_argument("--largest", action="store_true", help="enrol the largest face of a photo with several")
    p.add_argument("--force", action="store_true", help="skip the look-alike checks against the gallery")
    p.set_defaults(func=cmd_enroll)

    p = sub.add_parser("list", help="enrolled people")
    common(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("remove", help="remove a person and all their faces")
    common(p)
    p.add_argument("name")
    p.set_defaults(func=cmd_remove)

    p = sub.add_parser("identify", help="name every face in photos")
    common(p)
    p.add_argument("images", nargs="+", help="image files or folders")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_identify)

    p = sub.add_parser("evaluate", help="precision / recall on a data/faces-style folder (train/, test/, "
                       "variants/)")
    common(p, gallery=False)
    p.add_argument("data_dir", type=Path, nargs="?", default=shared_data("faces"),
                   help="train/, test/ and variants/ photos (default: $ARGUS_SHARED_DATA/faces)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    add_bench_verb(sub, "faces", as_name="bench")  # the same as `run.py bench faces`
