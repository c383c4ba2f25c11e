"""`run.py actions train|eval|bench`: train an action model on labelled clips, score a classifier, time the stage."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from pipeline.errors import ArgusError


def _data(args: argparse.Namespace):
    from stages.actions.dataset import load_clips
    from stages.actions.labels import read_clips

    clips = read_clips(args.data_dir, source=args.labels)
    quiet = getattr(args, "json", False)
    return load_clips(clips, progress=None if quiet else (lambda name: print(f"keypoints: {name}", file=sys.stderr)))


def _classes(args: argparse.Namespace, data) -> tuple[str, ...]:
    from stages.actions.labels import CLASS_OF, NO_PERSON
    from stages.actions.rules import CLASSES

    if args.classes:
        return tuple(c.strip() for c in args.classes.split(",") if c.strip())
    found = {CLASS_OF.get(lab, lab) for d in data for _, _, lab in d.clip.segments if lab != NO_PERSON}
    known = tuple(c for c in CLASSES if c in found)
    return known if known else tuple(sorted(found))


def cmd_train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from stages.actions.dataset import check_classes, training_windows
    from stages.actions.evaluate import score_results, simulate
    from stages.actions.hysteresis import ActionState
    from stages.actions.train import export, predict, train

    if args.out.suffix != ".onnx":
        raise ArgusError(f"--out {args.out}: expected a .onnx path")
    data = _data(args)
    classes = _classes(args, data)
    check_classes(data, classes, args.window, args.steps)
    persons = sorted({d.clip.person for d in data})
    val_person = args.val_person or (persons[-1] if len(persons) > 1 else None)
    fit = [d for d in data if d.clip.person != val_person] if val_person else data
    x, y = training_windows(fit, classes, args.window, args.steps)
    started = time.monotonic()
    with tqdm(total=args.epochs, desc="train", disable=args.json, file=sys.stderr) as bar:
        def progress(epoch: int, total: int, loss: float) -> None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3f}")

        net = train(x, y, classes, arch=args.arch, epochs=args.epochs, inputs=args.inputs, seed=args.seed,
                    progress=progress)
    report: dict = {"out": str(args.out), "arch": args.arch, "classes": list(classes), "windows": int((y >= 0).sum()),
                    "train_s": round(time.monotonic() - started, 1)}
    if val_person:
        held = [d for d in data if d.clip.person == val_person]
        results = [simulate(d, lambda w: predict(net, w), classes, args.window, args.steps, ActionState) for d in held]
        val = score_results(results, classes)
        report["validation"] = {"person": val_person, "macro_f1": val["macro_f1"], "confusion": val["confusion"]}
        if args.all_data:  # validation shown, then the shipped model learns from every person
            x, y = training_windows(data, classes, args.window, args.steps)
            net = train(x, y, classes, arch=args.arch, epochs=args.epochs, inputs=args.inputs, seed=args.seed)
    export(net, args.out, classes, args.window, args.steps, args.arch)
    report["bytes"] = args.out.stat().st_size
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(json.dumps({k: v for k, v in report.items() if k != "validation"}))
        if "validation" in report:
            print(f"validation on {val_person} (held out): macro-F1 over its classes "
                  f"{report['validation']['macro_f1']}")
            _print_confusion(report["validation"]["confusion"])
    return 0


def _print_confusion(confusion: dict) -> None:
    if not confusion:
        return
    cols = list(next(iter(confusion.values())))
    print("truth \\ predicted".ljust(16) + "".join(c[:8].rjust(9) for c in cols))
    for truth, row in confusion.items():
        print(truth[:15].ljust(16) + "".join(str(row[c]).rjust(9) for c in cols))


def cmd_eval(args: argparse.Namespace) -> int:
    import functools

    from stages.actions.evaluate import evaluate
    from stages.actions.hysteresis import ActionState
    from stages.actions.stage import RULES_STEPS, RULES_WINDOW_S

    data = _data(args)
    state = functools.partial(ActionState, enter=args.enter, leave=args.leave, min_duration_s=args.min_duration)
    classes = _classes(args, data) if args.model == "train" else None
    result = evaluate(data, args.model, state=state, window_s=RULES_WINDOW_S, steps=RULES_STEPS, arch=args.arch,
                      epochs=args.epochs, inputs=args.inputs, seed=args.seed, classes=classes,
                      progress=None if args.json else (lambda s: print(s, file=sys.stderr)))
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"model {result['model']}; persons {', '.join(result['persons'])}; {result['frames']} frames scored")
    for name, row in result["per_class"].items():
        print(f"  {name:10s} precision {row['precision']:.3f} recall {row['recall']:.3f} f1 {row['f1']:.3f} "
              f"support {row['support']}")
    print(f"posture macro-F1 {result['posture_macro_f1']} (standing, sitting, lying, walking, falling); "
          f"macro-F1 over the model's classes present {result['macro_f1']}")
    _print_confusion(result["confusion"])
    f = result["falls"]
    print(f"falls: {f['detected']}/{f['labelled']} recall {f['recall']} (Wilson 95% {f['wilson95']}); false alarms "
          f"{f['false_alarms_non_fall_clips']} on non-fall clips, {f['extra_events_on_fall_clips']} extra on fall "
          f"clips; delay {f['delay_s']}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from stages.actions.bench import bench_actions

    result = bench_actions(model=args.model, tracks=args.tracks, frames=args.frames, rounds=args.rounds,
                           backend=args.backend)
    print(json.dumps(result, indent=2))
    return 0


def add_actions_parser(verbs) -> None:
    """The `actions` verb and its tools."""
    actions = verbs.add_parser("actions", help="action recognition tools (train, eval, bench)")
    tools = actions.add_subparsers(dest="actions_verb", metavar="TOOL", required=True)

    def data_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("data_dir", type=Path, help="clips + labels.csv (time ranges), or one folder per class")
        p.add_argument("--labels", default="eye", help="labels.csv `source` to use (default eye)")
        p.add_argument("--classes", help="comma-separated classes (default: Argus's classes found in the labels)")
        p.add_argument("--arch", default="cnn", choices=["cnn", "gru"], help="network (default cnn)")
        p.add_argument("--epochs", type=int, default=25, help="training epochs (default 25)")
        p.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
        p.add_argument("--inputs", default="all", choices=["all", "cues"], help="features the network reads "
                       "(default all; cues: no raw joint layout)")
        p.add_argument("--json", action="store_true", help="machine-readable output")

    train = tools.add_parser("train", help="train an action model on labelled clips, write ONNX",
                             description="Extract keypoint sequences with Argus's pose stage and tracker "
                             "(cached), train a small temporal network, show a held-out person's confusion "
                             "matrix and export ONNX with a dynamic batch.")
    data_args(train)
    train.add_argument("--out", type=Path, required=True, help="the .onnx file to write")
    train.add_argument("--window", type=float, default=1.2, help="window in seconds (default 1.2)")
    train.add_argument("--steps", type=int, default=12, help="samples per window (default 12)")
    train.add_argument("--val-person", help="person held out for the validation matrix (default: the last)")
    train.add_argument("--all-data", action="store_true", help="after validating, retrain on every person")
    train.set_defaults(func=cmd_train)

    ev = tools.add_parser("eval", help="score rules, builtin, a model file, or leave-one-person-out training",
                          description="Per-class precision/recall, confusion matrix, posture macro-F1, fall "
                          "events (recall with Wilson interval, false alarms, delay).")
    data_args(ev)
    ev.add_argument("--model", default="rules", help="rules | builtin | PATH.onnx | train (leave one person "
                    "out: a network per held-out person)")
    ev.add_argument("--enter", type=float, default=0.6, help="hysteresis enter score")
    ev.add_argument("--leave", type=float, default=0.4, help="hysteresis leave score")
    ev.add_argument("--min-duration", type=float, default=0.3, help="seconds a class must hold to start")
    ev.set_defaults(func=cmd_eval)

    bench = tools.add_parser("bench", help="action stage ms per frame with N tracks: batched vs one by one")
    bench.add_argument("--model", default="builtin", help="rules | builtin | PATH.onnx")
    bench.add_argument("--tracks", type=int, default=20, help="tracked people per frame")
    bench.add_argument("--frames", type=int, default=300, help="frames timed")
    bench.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the best of each way is kept")
    bench.add_argument("--backend", default="onnxruntime", help="model runtime: onnxruntime (default), openvino, "
                       "tensorrt, auto")
    bench.set_defaults(func=cmd_bench)
