"""Command line: `python run.py VERB ...` (also installed as `argus`). One verb per job.

Exit codes: 0 success, 1 a source or sink failed during the run, 2 bad input found before
starting (config, paths, models), 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from argus import __version__
from argus.cli.actions import add_actions_parser
from argus.cli.bench import add_bench_parser
from argus.cli.common import mot_data_dir, table
from argus.cli.faces import add_faces_parser
from argus.cli.serve import add_serve_parser
from pipeline.errors import ArgusError
from pipeline.secrets import SecretMaskingFilter, mask_secrets

log = logging.getLogger("argus")


def setup_logging(verbose: bool = False) -> None:
    """Log lines to stderr, with URL credentials masked in every record."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%H:%M:%S"))
    handler.addFilter(SecretMaskingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("ultralytics", "PIL", "matplotlib", "h5py"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def source_entries(uris: Sequence[str]) -> list[dict[str, Any]]:
    """Source config entries for `--source` values, with readable unique ids."""
    from stages.sources import infer_kind

    entries: list[dict[str, Any]] = []
    used: set[str] = set()
    for i, uri in enumerate(uris):
        kind = infer_kind(uri)
        if kind == "demo":
            base = "demo"
        elif kind == "webcam":
            base = f"webcam{uri}"
        elif kind == "rtsp":
            base = f"cam{i}"
        else:
            path = Path(uri.split("*")[0] or ".") if kind == "files" else Path(uri)
            base = (path.name if kind == "files" else path.stem) or f"source{i}"
        base = "".join(ch if ch.isalnum() or ch in "_.-" else "_" for ch in base)
        source_id, n = base, 1
        while source_id in used:
            n += 1
            source_id = f"{base}-{n}"
        used.add(source_id)
        entries.append({"id": source_id, "uri": uri})
    return entries


def _load(args: argparse.Namespace):
    from pipeline.config import load_config

    replace: dict[str, Any] = {}
    if getattr(args, "source", None):
        replace["sources"] = source_entries(args.source)
    if getattr(args, "out", None):
        replace["output_dir"] = args.out
    overrides = list(getattr(args, "set", None) or [])
    if getattr(args, "frames", None):
        config = load_config(args.config, overrides, replace=replace)
        overrides += [f"sources.{i}.max_frames={args.frames}" for i in range(len(config.sources))]
    return load_config(args.config, overrides, replace=replace)


def cmd_run(args: argparse.Namespace) -> int:
    from pipeline import Pipeline
    from pipeline.progress import print_summary, progress_bar

    config = _load(args)
    Path(config.output_dir).mkdir(parents=True, exist_ok=True)
    if getattr(args, "ray", None):
        from pipeline.ray.driver import RayPipeline

        pipeline = RayPipeline(config, args.ray)
    else:
        pipeline = Pipeline(config)
    show = config.runner.progress and not args.json
    with progress_bar(pipeline.total_frames(), enabled=show) as advance:
        pipeline.on_frames = advance
        code = pipeline.run()
    if args.json:
        print(json.dumps({"exit_code": code, **pipeline.run_stats.to_json()}, indent=2))
    else:
        print_summary(pipeline.run_stats, config.output_dir)
    return code


def cmd_check(args: argparse.Namespace) -> int:
    config = _load(args)
    print(f"{args.config}: ok ({len(config.sources)} source(s), {len(config.stages)} stage(s): "
          f"{', '.join(s.type for s in config.stages)}; {len(config.sinks)} sink(s))")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    if args.markdown:
        from pipeline.config_reference import config_reference

        print(config_reference(), end="")
        return 0
    from pipeline.config_reference import config_schema_with_events

    print(json.dumps(config_schema_with_events(), indent=2))
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    from argus.tools.build import build_config

    built = build_config(_load(args), calib=args.calib, report=(lambda line: None) if args.json else print)
    if args.json:
        print(json.dumps({"built": built}, indent=2))
    return 0


def cmd_eval_mot(args: argparse.Namespace) -> int:
    from argus.tools.tracking.evaluate import eval_mot

    compare = None if args.compare in (None, "none") else args.compare
    if args.every_frames < 1 or (args.every_frames > 1 and compare):
        error = ArgusError("eval-mot: --every-frames must be 1 or more, and above 1 it needs no --compare "
                           "(a peer cannot move the boxes of the frames between)")
        error.exit_code = 2
        raise error
    result = eval_mot(mot_data_dir(args.data_dir), tracker=args.tracker, compare=compare, out_dir=args.out,
                      progress=not args.json, every_frames=args.every_frames)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for name in ("argus", "peer"):
            if name in result:
                print(f"{name:>6}: " + "  ".join(f"{k} {v}" for k, v in result[name].items()))
    return 0


def cmd_track_tune(args: argparse.Namespace) -> int:
    from argus.tools.tracking.tune import print_report, tune, write_snippet

    try:
        report = tune(args.data_dir, tracker=args.tracker, folds=args.folds, trials=args.trials, seed=args.seed)
    except (ValueError, FileNotFoundError) as exc:  # a bad DATA_DIR or option, found before any trial
        error = ArgusError(f"track tune: {exc}")
        error.exit_code = 2
        raise error from None
    if args.out is not None:
        report["snippet"] = str(write_snippet(args.out, report))
    print(json.dumps(report, indent=2) if args.json else print_report(report))
    return 0


def cmd_train_embedding(args: argparse.Namespace) -> int:
    from argus.tools.tracking.train_embedding import export_head, harvest, train

    for video in args.videos:
        if not video.is_file():
            raise ArgusError(f"video not found: {video}")
    data = harvest(args.videos, imgsz=args.imgsz, frames=args.frames, model=args.model)
    export_head(train(data, dim=args.dim, epochs=args.steps), args.out)
    result = {"out": str(args.out), "tracks": len(set(data.labels.tolist())), "samples": len(data.labels),
              "dim": args.dim}
    print(json.dumps(result, indent=2) if args.json else table(result))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="argus", description="Argus: streaming video analytics (decode -> pose/detection -> tracking "
        "-> annotated video, JSONL results and events), configured in one YAML file.",
        epilog="Exit codes: 0 ok, 1 a source or sink failed, 2 bad input, 130 interrupted. "
               "Run 'argus VERB --help' for each verb.")
    parser.add_argument("--version", action="version", version=f"argus {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    def config_args(p: argparse.ArgumentParser, optional: bool) -> None:
        p.add_argument("config", type=Path, nargs="?" if optional else None, default=None,
                       help="pipeline YAML (default: the built-in demo pipeline)" if optional else "pipeline YAML")
        p.add_argument("--set", action="append", metavar="KEY=VALUE",
                       help="override a config key, e.g. --set stages.0.score_min=0.4 (repeatable)")

    run = verbs.add_parser("run", help="run a pipeline", description="Run a pipeline: every source to its "
                           "end (or Ctrl-C / SIGTERM), writing the sinks' outputs under --out.")
    config_args(run, optional=True)
    run.add_argument("--source", action="append", metavar="URI", help="replace the config's sources: a video "
                     "file, a glob ('clips/*.mp4'), an image folder, a webcam index (0), an rtsp:// URL or "
                     "'demo' (repeatable)")
    run.add_argument("--out", metavar="DIR", help="output folder (config key output_dir; default out)")
    run.add_argument("--frames", type=int, metavar="N", help="stop each source after N frames")
    run.add_argument("--json", action="store_true", help="print the run summary as JSON, no progress bar")
    run.add_argument("--ray", metavar="auto|ADDRESS|local", help="spread the streams over Ray actors: 'local' "
                     "starts a private Ray here, 'auto' or HOST:PORT joins a cluster (config: runner.ray)")
    run.set_defaults(func=cmd_run)

    check = verbs.add_parser("check", help="validate a config without loading models",
                             description="Validate a config: keys, types, environment variables, model paths.")
    config_args(check, optional=False)
    check.set_defaults(func=cmd_check, source=None, out=None, frames=None)

    schema = verbs.add_parser("schema", help="print the config's JSON Schema (editor completion) and, under "
                              "x-argus-event-types, every registered event type with its payload fields")
    schema.add_argument("--markdown", action="store_true", help="the config reference and event types as Markdown "
                        "tables instead")
    schema.set_defaults(func=cmd_schema)

    add_bench_parser(verbs)

    build = verbs.add_parser("build", help="prepare every model file a config needs (export, INT8, engines)",
                             description="Export, quantise and compile each model stage's model once, into "
                             "the cache, so the first frame does not wait. INT8 calibrates on --calib, else "
                             "the stage's calib:, else the config's video/image sources.")
    config_args(build, optional=True)
    build.add_argument("--calib", type=Path, metavar="VIDEO_OR_DIR", help="INT8 calibration frames")
    build.add_argument("--json", action="store_true", help="machine-readable output")
    build.set_defaults(func=cmd_build, source=None, out=None, frames=None)

    track = verbs.add_parser("track", help="tracking tools (train-embedding, tune)")
    track_verbs = track.add_subparsers(dest="track_verb", metavar="TOOL", required=True)
    train = track_verbs.add_parser(
        "train-embedding", help="learn the appearance projection head from tracklets in videos",
        description="Run the pose model and the motion tracker over VIDEOS, then train a linear projection "
        "of the pooled backbone features with a triplet loss on the tracklets (no labels needed) and write "
        "it as ONNX. Use it with the track stage's embedding_head.")
    train.add_argument("videos", type=Path, nargs="+", help="video files with several people")
    train.add_argument("--out", type=Path, required=True, help="the head's ONNX file to write")
    train.add_argument("--frames", type=int, help="frames per video (default: all)")
    train.add_argument("--imgsz", type=int, default=960, help="model input size (small people need more)")
    train.add_argument("--model", default="yolo11n-pose", help="the model whose pooled features the head projects "
                       "(a built-in name or .pt path; a head only fits the model it was trained on)")
    train.add_argument("--dim", type=int, default=64, help="embedding size")
    train.add_argument("--steps", type=int, default=300, help="training steps")
    train.add_argument("--json", action="store_true", help="machine-readable output")
    train.set_defaults(func=cmd_train_embedding)
    tune = track_verbs.add_parser(
        "tune", help="cross-validated parameter search against MOT ground truth",
        description="Random search over the track stage's thresholds on every sequence of DATA_DIR with its "
        "public detections and with simulated detectors of other score distributions; K-fold "
        "cross-validation by sequence and by detector. Prints held-out scores of the tuned parameters next "
        "to the defaults and Roboflow ByteTrack / OC-SORT / SORT, and writes a track stage snippet.")
    tune.add_argument("data_dir", type=Path, help="folder of MOTChallenge sequences with gt/gt.txt")
    tune.add_argument("--tracker", default="argus", choices=["argus", "bytetrack"], help="tracker to tune")
    tune.add_argument("--folds", type=int, default=2, help="folds by sequence (and detector groups)")
    tune.add_argument("--trials", type=int, default=24, help="parameter sets tried (the first are the defaults)")
    tune.add_argument("--seed", type=int, default=0, help="seed of the search and of the simulated detectors")
    tune.add_argument("--out", type=Path, help="write the chosen parameters as a track stage YAML snippet")
    tune.add_argument("--json", action="store_true", help="machine-readable output")
    tune.set_defaults(func=cmd_track_tune)

    mot = verbs.add_parser("eval-mot", help="score a tracker on MOTChallenge detections with TrackEval",
                           description="Track every <SEQ>/det/det.txt under DATA_DIR, write MOTChallenge "
                           "results, score against <SEQ>/gt/gt.txt (HOTA, DetA, AssA, MOTA, IDF1, IDSW).")
    mot.add_argument("data_dir", type=Path, help="folder of MOTChallenge sequences")
    mot.add_argument("--tracker", default="argus", help="sort | bytetrack | argus (default)")
    mot.add_argument("--compare", help="peer on the same detections: bytetrack-rf | sort-rf | ocsort-rf")
    mot.add_argument("--every-frames", type=int, default=1, metavar="N",
                     help="the tracker sees every N-th frame's detections only, as after a detect stage with "
                     "every_frames: N (default 1: every frame)")
    mot.add_argument("--out", type=Path, help="folder for result files (default: a temporary folder)")
    mot.add_argument("--json", action="store_true", help="machine-readable output")
    mot.set_defaults(func=cmd_eval_mot)
    add_actions_parser(verbs)
    add_faces_parser(verbs)
    add_serve_parser(verbs)
    return parser


_interrupted = False


def _terminate(signum: int, _frame: object) -> None:
    """Ctrl-C / SIGTERM before the runner takes over (imports, model loading): unwind, exit 130."""
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.verbose)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    try:
        return int(args.func(args) or 0)
    except ArgusError as exc:
        if _interrupted:  # e.g. an import cut short by the signal surfaced as a load error
            print("interrupted", file=sys.stderr)
            return 130
        print(mask_secrets(str(exc)), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception:
        if _interrupted:  # a signal inside a native import (onnxruntime: "initialization failed")
            print("interrupted", file=sys.stderr)
            return 130
        raise
