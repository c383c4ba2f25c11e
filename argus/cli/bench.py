"""`run.py bench VERB`: every benchmark, one verb each with its own options and `--help`.

Each verb has an `_X_args` function (its options) and an `_X` function (runs it, returns the result
dict); `VERBS` lists them. Every verb takes `--json`; `--source` defaults to the shared
`vtest.mp4` (`$ARGUS_SHARED_DATA`, see argus/tools/shared_data.py). Run them on a quiet machine.
"""

from __future__ import annotations

import argparse
import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from argus.cli.common import mot_data_dir, print_result
from argus.tools.shared_data import shared_data, vtest
from pipeline.errors import ArgusError

SOURCE_HELP = "video file (default: $ARGUS_SHARED_DATA/video/vtest.mp4)"


@dataclass(frozen=True)
class Verb:
    """One benchmark: its help line, its options and the function that runs it."""

    help: str
    description: str
    add_args: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], dict[str, Any]]


def _source(args: argparse.Namespace) -> Path:
    return Path(args.source) if args.source else vtest()


def _source_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", metavar="VIDEO", help=SOURCE_HELP)


def _config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="pipeline YAML whose stages to benchmark (default: the default stages)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="config override (repeatable)")


def _pipeline_args(p: argparse.ArgumentParser) -> None:
    _source_arg(p)
    p.add_argument("--frames", type=int, default=200, help="frames to time (default 200)")
    p.add_argument("--compare", default="ultralytics", help="peer: ultralytics (default) | ultralytics-openvino | "
                   "all | none")
    p.add_argument("--rounds", type=int, default=3, help="rounds, each side in its own process, alternating "
                   "(medians; default 3)")
    p.add_argument("--sinks", action="store_true", help="the config's sinks write, as in `run`")
    _config_args(p)
    p.add_argument("--backend", help="auto | tensorrt | openvino | onnxruntime | torch")
    p.add_argument("--precision", help="auto | fp32 | fp16 | bf16 | int8")


def _pipeline(args: argparse.Namespace) -> dict[str, Any]:
    from argus.benchmarks.pipeline import bench_pipeline

    return bench_pipeline(_source(args), frames=args.frames, compare=args.compare, config_path=args.config,
                          overrides=args.set or [], backend=args.backend, precision=args.precision,
                          rounds=args.rounds, sinks=args.sinks)


def _streams_args(p: argparse.ArgumentParser) -> None:
    _source_arg(p)
    p.add_argument("--max-streams", type=int, default=8, help="most streams tried (default 8)")
    p.add_argument("--min-streams", type=int, default=1, help="first number of streams tried (default 1)")
    p.add_argument("--seconds", type=float, default=20.0, help="measured seconds per run (default 20)")
    p.add_argument("--compare", default="ultralytics-openvino", help="peer: ultralytics-openvino (default) | "
                   "ultralytics | none")
    p.add_argument("--motion", action="store_true", help="Argus's streams with motion gating on (`motion: true`)")
    p.add_argument("--stagger", action="store_true", help="stream i starts i/K of the way into the video "
                   "(cameras not all busy at once)")
    _config_args(p)


def _streams(args: argparse.Namespace) -> dict[str, Any]:
    from argus.benchmarks.streams import bench_streams

    return bench_streams(_source(args), max_streams=args.max_streams, min_streams=args.min_streams,
                         seconds=args.seconds, compare=args.compare, config_path=args.config,
                         overrides=args.set or [], motion=args.motion, stagger=args.stagger)


def _motion_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--clip", type=Path, help="the action clip the still-camera video is built around (default: "
                   "$ARGUS_SHARED_DATA/actions/gmdcsa24/S2_Fall_12.mp4)")
    _source_arg(p)
    _config_args(p)


def _motion(args: argparse.Namespace) -> dict[str, Any]:
    from argus.benchmarks.motion import bench_motion

    clip = args.clip or shared_data("actions", "gmdcsa24", "S2_Fall_12.mp4")
    if not clip.is_file():
        raise ArgusError(f"bench motion: {clip}: no such clip (the shared action clips are absent)")
    return bench_motion(clip, _source(args), str(args.config) if args.config else None)


def _engines_args(p: argparse.ArgumentParser) -> None:
    _source_arg(p)
    p.add_argument("--model", default="yolo11n-pose", help="model name or .pt/.onnx path (default yolo11n-pose)")
    p.add_argument("--batch", default="1,4,8", help="batch sizes, comma-separated (default 1,4,8)")
    p.add_argument("--calib", type=Path, metavar="VIDEO_OR_DIR", help="INT8 calibration video or image folder")
    p.add_argument("--backend", help="only this backend: tensorrt | openvino | onnxruntime | torch")
    p.add_argument("--precision", help="only this precision: fp32 | fp16 | bf16 | int8")


def _engines(args: argparse.Namespace) -> dict[str, Any]:
    from argus.benchmarks.engines import bench_engines

    batches = [int(b) for b in args.batch.split(",")]
    return bench_engines(_source(args), model=args.model, batches=batches, calib=args.calib,
                         only=(args.backend, args.precision))


def _reid_args(p: argparse.ArgumentParser) -> None:
    _source_arg(p)
    p.add_argument("--start", type=int, default=400, help="first frame (default 400: the default head was "
                   "trained on vtest's frames before 400)")
    p.add_argument("--frames", type=int, default=395, help="frames used (default 395)")
    p.add_argument("--gaps", default="10,20,40", help="gap lengths in frames, comma-separated (default 10,20,40)")
    p.add_argument("--imgsz", type=int, default=960, help="model input size (default 960)")


def _reid(args: argparse.Namespace) -> dict[str, Any]:
    from argus.benchmarks.reid import bench_reid

    gaps = tuple(int(g) for g in args.gaps.split(","))
    return bench_reid(_source(args), start=args.start, frames=args.frames, gaps=gaps, imgsz=args.imgsz)


def _tracker_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("data_dir", type=Path, nargs="?", help="MOT data folder, <SEQ>/det/det.txt under it "
                   "(default: $ARGUS_SHARED_DATA/mot)")
    p.add_argument("--tracker", default="argus", help="sort | bytetrack | argus (default)")
    p.add_argument("--compare", help="peer on the same detections: bytetrack-rf | sort-rf | ocsort-rf | none")


def _tracker(args: argparse.Namespace) -> dict[str, Any]:
    from argus.benchmarks.tracker import bench_tracker

    compare = None if args.compare in (None, "none") else args.compare
    return bench_tracker(mot_data_dir(args.data_dir or shared_data("mot")), tracker=args.tracker, compare=compare)


def _detection_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("data_dir", type=Path, nargs="?", help="MOTChallenge sequence(s) with frames: <SEQ>/img1/*.jpg, "
                   "gt/gt.txt, seqinfo.ini (default: $ARGUS_SHARED_DATA/mot/TUD-Campus)")
    _config_args(p)
    p.add_argument("--compare", default="yolo-track", help="yolo-track (default: yolo11n-pose and yolov8n, each "
                   "with its bytetrack and botsort configs, persons only) | none")
    p.add_argument("--imgsz", type=int, default=640, help="the peers' image size (default 640)")
    p.add_argument("--input-sizes", metavar="SIZES", help="instead: the input-size study, e.g. 640,960,1280,auto: "
                   "YOLOv8n's person recall per size on the frames shrunk to 480x360 and in a 3x3 mosaic")


def _detection(args: argparse.Namespace) -> dict[str, Any]:
    from argus.benchmarks.detection import bench_detection, input_size_study

    data_dir = args.data_dir or shared_data("mot", "TUD-Campus")
    if not data_dir.exists():
        raise ArgusError(f"bench detection: {data_dir}: no such folder")
    if args.input_sizes:
        sizes = [s if s == "auto" else int(s) for s in args.input_sizes.split(",")]
        return input_size_study(data_dir, sizes)
    return bench_detection(data_dir, str(args.config) if args.config else None, args.set or [],
                           peers=args.compare != "none", imgsz=args.imgsz)


def _zones_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("data_dir", type=Path, nargs="?", help="MOT data folder, <SEQ>/gt/gt.txt and det/det.txt under "
                   "it, img1/ for end to end (default: $ARGUS_SHARED_DATA/mot)")
    p.add_argument("--no-end-to-end", action="store_true", help="skip the full pipeline on sequences with frames")


def _zones(args: argparse.Namespace) -> dict[str, Any]:
    from argus.benchmarks.zones import bench_zones

    return bench_zones(mot_data_dir(args.data_dir or shared_data("mot")), end_to_end=not args.no_end_to_end)


def _soak_args(p: argparse.ArgumentParser) -> None:
    _source_arg(p)
    p.add_argument("--minutes", type=float, default=20.0, help="duration (default 20)")
    p.add_argument("--sources", type=int, default=4, help="looping sources (default 4)")
    p.add_argument("--interval", type=float, default=30.0, help="seconds between samples (default 30)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="config override (repeatable)")


def _soak(args: argparse.Namespace) -> dict[str, Any]:
    from argus.benchmarks.soak import bench_soak

    return bench_soak(_source(args), minutes=args.minutes, sources=args.sources, interval_s=args.interval,
                      overrides=args.set or [])


def _faces_args(p: argparse.ArgumentParser) -> None:
    _source_arg(p)
    p.add_argument("--frames", type=int, default=200, help="frames of the pipeline runs (default 200)")
    p.add_argument("--data-dir", type=Path, help="faces to enrol (train/) for the benchmark's gallery "
                   "(default: $ARGUS_SHARED_DATA/faces)")
    p.add_argument("--backend", default="auto", help="auto | tensorrt | openvino | onnxruntime")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda:N")


def _faces(args: argparse.Namespace) -> dict[str, Any]:
    from argus.benchmarks.faces import bench

    return bench(_source(args), frames=args.frames, backend=args.backend, device=args.device,
                 gallery_dir=args.data_dir)


def _actions_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="builtin", help="rules | builtin (default) | PATH.onnx")
    p.add_argument("--tracks", type=int, default=20, help="tracked people per frame (default 20)")
    p.add_argument("--frames", type=int, default=300, help="frames timed (default 300)")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the best of each way is kept")
    p.add_argument("--backend", default="onnxruntime", help="model runtime: onnxruntime (default), openvino, "
                   "tensorrt, auto")


def _actions(args: argparse.Namespace) -> dict[str, Any]:
    from argus.benchmarks.actions import bench_actions

    return bench_actions(model=args.model, tracks=args.tracks, frames=args.frames, rounds=args.rounds,
                         backend=args.backend)


def _ray_args(p: argparse.ArgumentParser) -> None:
    _source_arg(p)
    p.add_argument("--streams", type=int, default=4, help="looping copies of the video (default 4)")
    p.add_argument("--imgsz", type=int, default=480, help="pose model input size (default 480)")
    p.add_argument("--cores", type=int, default=2, help="CPUs of the one actor, and number of 1-CPU actors "
                   "(default 2)")
    p.add_argument("--warmup", type=float, default=4.0, help="seconds before measuring (default 4)")
    p.add_argument("--window", type=float, default=12.0, help="measured seconds (default 12)")


def _ray(args: argparse.Namespace) -> dict[str, Any]:
    from argus.benchmarks.ray_runner import bench_ray
    from pipeline.ray.cluster import require_ray

    require_ray()
    return bench_ray(str(_source(args)), streams=args.streams, imgsz=args.imgsz, cores=args.cores,
                     warmup=args.warmup, window=args.window)


def _serve_args(p: argparse.ArgumentParser) -> None:
    _source_arg(p)
    p.add_argument("--seconds", type=float, default=20.0, help="measured seconds per phase (default 20)")
    p.add_argument("--settle", type=float, default=3.0, help="seconds before measuring a phase (default 3)")
    p.add_argument("--rounds", type=int, default=3, help="rounds of alternating phases (default 3)")
    p.add_argument("--clients", default="0,1,4", help="preview client counts, comma-separated (default 0,1,4)")
    p.add_argument("--preview-fps", type=float, default=5.0, help="preview rate cap per source (default 5)")


def _serve_app(config: str, preview_fps: float, closing: threading.Event) -> tuple[Any, Any, Any]:
    """The real `run.py serve` parts on `config`, started: (controller, preview hub, ASGI app)."""
    try:
        from argus.cli.serve.app import create_app
        from argus.cli.serve.controller import Controller
        from argus.cli.serve.preview import PreviewHub
    except ImportError as exc:
        raise ArgusError(f"bench serve needs the web extra: pip install 'argus-pipeline[web]' ({exc})") from None
    controller = Controller(None, config)
    controller.start()
    if controller.pipeline is None:
        controller.stop()
        raise ArgusError(f"bench serve: config refused: {controller.startup_errors}")
    hub = PreviewHub(max_fps=preview_fps)
    return controller, hub, create_app(controller, hub, closing=closing)


def _serve(args: argparse.Namespace) -> dict[str, Any]:
    from argus.benchmarks.serve import bench_serve

    video = _source(args)
    if not video.is_file():
        raise ArgusError(f"video not found: {video}")
    return bench_serve(video, _serve_app, seconds=args.seconds, settle=args.settle, rounds=args.rounds,
                       clients=tuple(int(c) for c in args.clients.split(",")), preview_fps=args.preview_fps)


def _clips_args(p: argparse.ArgumentParser) -> None:
    _source_arg(p)
    p.add_argument("--cameras", type=int, default=4, help="RTSP servers, each serving a looped copy of the video "
                   "(default 4)")
    p.add_argument("--seconds", type=float, default=30.0, help="measured seconds per run (default 30)")
    p.add_argument("--warmup", type=float, default=10.0, help="seconds after every camera's first frame before "
                   "measuring (default 10)")
    p.add_argument("--rounds", type=int, default=3, help="rounds, each side in its own process, alternating "
                   "(medians; default 3)")
    p.add_argument("--sides", default="off,ring", help="off (no clips sink), ring (a clips sink whose trigger "
                   "never fires: the pre-roll encoding alone), clips (clips on track_started); default off,ring")
    _config_args(p)


def _clips(args: argparse.Namespace) -> dict[str, Any]:
    from argus.benchmarks.clips import bench_clips, parse_sides

    return bench_clips(_source(args), cameras=args.cameras, seconds=args.seconds, warmup_s=args.warmup,
                       rounds=args.rounds, sides=parse_sides(args.sides), config_path=args.config,
                       overrides=args.set or [])


VERBS: dict[str, Verb] = {
    "pipeline": Verb("an Argus config vs `yolo track` on a video",
                     "An Argus config (default: detect + track + pose) against `yolo track` with the config's "
                     "first model (its person finder) on the same frames; each "
                     "side in a process of its own, alternated, medians.", _pipeline_args, _pipeline),
    "streams": Verb("how many real-time streams Argus and `yolo track` keep",
                    "K looping copies of the video at its frame rate, K growing until a side drops frames.",
                    _streams_args, _streams),
    "engines": Verb("every backend x precision installed, vs ultralytics predict",
                    "Bare model calls per batch size on real frames, ultralytics' predict as the reference, "
                    "INT8/BF16 agreement with FP32.", _engines_args, _engines),
    "reid": Verb("ids kept through removed detections, with and without appearance",
                 "Detections of each track removed for a gap; the share of gaps relinked and IDF1, per tracker "
                 "configuration.", _reid_args, _reid),
    "tracker": Verb("tracker update ms/frame vs a Roboflow tracker on MOT detections",
                    "Time of `update` alone per frame on every sequence of DATA_DIR, best of 5 interleaved "
                    "repeats.", _tracker_args, _tracker),
    "detection": Verb("people found, keypoints and HOTA on frames with ground truth vs `yolo track`",
                      "Person recall and precision (IoU 0.5, by height), the share of people found with "
                      "keypoints, and end-to-end HOTA/IDF1 (TrackEval) of a config on MOTChallenge frames, "
                      "beside `yolo track` with each peer model and tracker on the same frames.",
                      _detection_args, _detection),
    "zones": Verb("line counts vs the MOT ground truth, beside supervision LineZone and ultralytics ObjectCounter",
                  "Two lines through the middle of each sequence; true crossings from the GT tracks' bottom "
                  "centres; counts of Argus's zones stage, LineZone and ObjectCounter on the GT tracks, on Argus's "
                  "tracker over the public detections, and end to end on the frames.", _zones_args, _zones),
    "motion": Verb("motion gating on a still camera (model share, people kept) and its cost on a busy one",
                   "A still-camera video built from a real action clip (empty room, the clip, empty room) through "
                   "a config ungated and gated; the gate's share of frames and cost on a busy video.",
                   _motion_args, _motion),
    "soak": Verb("K looping camera-like sources for N minutes (RSS, FPS, drops)",
                 "Looping camera-like sources through the full default pipeline with its sinks: memory, FPS "
                 "and drops sampled over time.", _soak_args, _soak),
    "faces": Verb("face stage ms per frame and per face, batched vs one by one",
                  "Detector and embedder ms per face, batched and one by one, and the face stage's ms per frame "
                  "in a pose + track + face pipeline on the video and on a clip of photo faces.",
                  _faces_args, _faces),
    "actions": Verb("action stage ms per frame with N tracks, batched vs one by one",
                    "Synthetic swaying people through the action stage's own process, batched and one window "
                    "at a time.", _actions_args, _actions),
    "ray": Verb("the Ray runner vs the single-process one (needs the ray extra)",
                "Steady-state FPS and CPU ms per frame of looping streams: one process, Ray with one actor of "
                "--cores CPUs, Ray with --cores actors of one CPU.", _ray_args, _ray),
    "serve": Verb("pipeline FPS with 0, 1 and 4 web preview clients (needs the web extra)",
                  "The `run.py serve` app over real HTTP on a looping, unpaced video; phases alternate the "
                  "number of MJPEG preview clients on the same warm pipeline.", _serve_args, _serve),
    "clips": Verb("CPU per frame of the clips sink's pre-roll ring on K RTSP cameras, against no clips sink",
                  "K GStreamer RTSP servers serving the looped video; the default pipeline and sinks on the K "
                  "cameras without a clips sink and with one whose trigger never fires (optionally one that "
                  "records clips on track_started); each side in a process of its own, alternated, medians of "
                  "CPU seconds per frame, FPS and drops per camera.", _clips_args, _clips),
}


def _run(verb: Verb, args: argparse.Namespace) -> int:
    print_result(verb.run(args), args.json)
    return 0


def add_bench_verb(subparsers: Any, name: str, as_name: str | None = None) -> argparse.ArgumentParser:
    """Add benchmark `name` to `subparsers` as `bench NAME`, or as `as_name` (the alias `faces bench`)."""
    verb = VERBS[name]
    p = subparsers.add_parser(as_name or name, help=verb.help,
                              description=verb.description + " Run it on a quiet machine.")
    verb.add_args(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=functools.partial(_run, verb))
    return p


def add_bench_parser(verbs: Any) -> None:
    """Register `bench` and one sub-verb per benchmark on the main parser's subparsers."""
    bench = verbs.add_parser("bench", help="benchmarks, against peers where there are some (bench VERB --help)",
                             description="Benchmarks, each verb with its own options. Figures depend on the "
                             "machine's load: run them on a quiet machine. Shared data (the default video, MOT "
                             "sequences, faces) is read from $ARGUS_SHARED_DATA, by default shared/data beside "
                             "the repository.")
    sub = bench.add_subparsers(dest="bench_verb", metavar="VERB", required=True)
    for name in VERBS:
        add_bench_verb(sub, name)
