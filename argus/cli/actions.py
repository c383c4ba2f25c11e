"""`run.py actions train|tune|eval|bench`: train an action model or tune the rules on labelled clips, score a
classifier, time the stage."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from argus.cli.bench import add_bench_verb
from pipeline.errors import ArgusError


def _data(args: argparse.Namespace):
    from argus.tools.actions.dataset import load_clips
    from argus.tools.actions.labels import read_clips

    clips = read_clips(args.data_dir, source=args.labels)
    quiet = getattr(args, "json", False)
    return load_clips(clips, progress=None if quiet else (lambda name: print(f"keypoints: {name}", file=sys.stderr)))


def _classes(args: argparse.Namespace, data) -> tuple[str, ...]:
    from argus.tools.actions.labels import CLASS_OF, NO_PERSON
    from stages.actions.rules import CLASSES

    if args.classes:
        return tuple(c.strip() for c in args.classes.split(",") if c.strip())
    found = {CLASS_OF.get(lab, lab) for d in data for _, _, lab in d.clip.segments if lab != NO_PERSON}
    known = tuple(c for c in CLASSES if c in found)
    return known if known else tuple(sorted(found))


def cmd_train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from argus.tools.actions.dataset import check_classes, training_windows
    from argus.tools.actions.evaluate import score_results, simulate
    from argus.tools.actions.train import export, predict, train
    from stages.actions.hysteresis import ActionState

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


def _eval_all_tracks(args: argparse.Namespace) -> int:
    from argus.tools.actions.labels import read_clips
    from argus.tools.actions.live import evaluate_all_tracks
    from stages.actions.stage import ActionConfig

    clips = read_clips(args.data_dir, source=args.labels)
    progress = None if args.json else (lambda name: print(f"clip: {name}", file=sys.stderr))
    if args.pipeline is not None:
        import yaml

        from argus.tools.actions.live import evaluate_pipeline
        from pipeline.errors import ConfigError

        try:
            config = yaml.safe_load(args.pipeline.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError([f"--pipeline {args.pipeline}: {str(exc).splitlines()[0]}"]) from None
        if not isinstance(config, dict):
            raise ConfigError([f"--pipeline {args.pipeline}: not a pipeline config (a YAML mapping)"])
        if not any(isinstance(st, dict) and st.get("type") == "action" for st in config.get("stages") or []):
            raise ConfigError([f"--pipeline {args.pipeline}: no `action` stage to score"])
        result = evaluate_pipeline(clips, config, progress)
    else:
        if args.model in ("train", "tune-rules"):
            raise ArgusError(f"--all-tracks scores a model as shipped: rules, builtin or a file, not {args.model}")
        action = ActionConfig(model=args.model, enter=args.enter, leave=args.leave, min_duration_s=args.min_duration)
        result = evaluate_all_tracks(clips, action, progress)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    f = result["falls"]
    tracks = f"{result['tracks']} tracks in " if result["tracks"] is not None else ""
    print(f"model {result['model']}, every track ({tracks}{result['clips']} clips)")
    print(f"caught (some track's fall starts within 1 s, alert within 1.5 s of the fall's end): {f['caught']}/"
          f"{f['labelled']} (Wilson 95% {f['caught_wilson95']}); false alarms {f['false_alarms']} "
          f"({f['false_alarms_non_fall_clips']} on non-fall clips, {f['extra_events_on_fall_clips']} extra on fall "
          f"clips), {f['false_alarms_per_hour']} per hour of non-fall video ({f['non_fall_s'] / 60:.1f} min); "
          f"start error {f['start_error_s']}")
    for name, g in result["per_source"].items():
        print(f"  {name:28s} falls {g['caught']}/{g['labelled']} caught, false alarms {g['false_alarms']} in "
              f"{g['non_fall_s']:.0f} s")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    import functools

    from argus.tools.actions.evaluate import evaluate
    from stages.actions.hysteresis import ActionState
    from stages.actions.stage import RULES_STEPS, RULES_WINDOW_S

    if args.all_tracks or args.pipeline is not None:
        return _eval_all_tracks(args)
    data = _data(args)
    state = functools.partial(ActionState, enter=args.enter, leave=args.leave, min_duration_s=args.min_duration)
    classes = _classes(args, data) if args.model == "train" else None
    if args.model == "tune-rules":
        from argus.tools.actions.tune import nested_lopo

        result, chosen = nested_lopo(data, state, RULES_WINDOW_S, RULES_STEPS,
                                     progress=None if args.json else (lambda s: print(s, file=sys.stderr)))
        result.update(model="rules, thresholds tuned on the other people (leave one person out)",
                      persons=sorted(chosen), thresholds_per_person=chosen)
    else:
        result = evaluate(data, args.model, state=state, window_s=RULES_WINDOW_S, steps=RULES_STEPS,
                          arch=args.arch, epochs=args.epochs, inputs=args.inputs, seed=args.seed, classes=classes,
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
          f"clips; delay {f['delay_s']}; start error {f['start_error_s']}")
    print(f"caught (start within 1 s, alert within 1.5 s of the fall's end): {f['caught']}/{f['labelled']} "
          f"(Wilson 95% {f['caught_wilson95']}); {f['false_alarms_per_hour']} false alarms per hour of non-fall "
          f"video ({f['non_fall_s'] / 60:.1f} min); alert after the fall's end {f['alert_after_end_s']}")
    for kind, groups in result.get("breakdown", {}).items():
        print(f"per {kind}:")
        for name, g in groups.items():
            print(f"  {name:28s} clips {g['clips']:3d} macro-F1 {g['macro_f1']:.3f} falls {g['caught']}/{g['falls']} "
                  f"caught ({g['detected']} started in time) false alarms {g['false_alarms']} in "
                  f"{g['non_fall_s']:.0f} s delay {g['delay_median_s']}")
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    import functools

    import yaml
    from tqdm import tqdm

    from argus.tools.actions.evaluate import score_results
    from argus.tools.actions.tune import prepare, run, tune
    from pipeline.atomic_file import write_text_atomic
    from stages.actions import rules
    from stages.actions.hysteresis import ActionState
    from stages.actions.stage import RULES_STEPS, RULES_WINDOW_S

    if args.out is not None and args.out.suffix not in (".yaml", ".yml"):
        raise ArgusError(f"--out {args.out}: expected a .yaml path")
    data = _data(args)
    state = functools.partial(ActionState, enter=args.enter, leave=args.leave, min_duration_s=args.min_duration)
    prepared = prepare(data, RULES_WINDOW_S, RULES_STEPS)
    with tqdm(desc="tune rules", unit="trial", disable=args.json or None, file=sys.stderr) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        chosen, _ = tune(prepared, state, sweeps=args.sweeps, progress=progress)
    changed = {k: v for k, v in chosen.items() if v != rules.RULES[k]}
    tuned = score_results(run(prepared, chosen, state), rules.CLASSES)
    default = score_results(run(prepared, rules.RULES, state), rules.CLASSES)
    snippet = {"type": "action", "model": "rules", "thresholds": chosen}
    report = {"thresholds": chosen, "changed_from_defaults": changed,
              "in_sample": {name: {"posture_macro_f1": r["posture_macro_f1"], "macro_f1": r["macro_f1"],
                                   "falls_detected": r["falls"]["detected"], "falls": r["falls"]["labelled"],
                                   "false_alarms": r["falls"]["false_alarms_non_fall_clips"]}
                            for name, r in (("tuned", tuned), ("defaults", default))},
              "note": "in-sample (scored on the clips it was tuned on); `actions eval --model tune-rules` "
                      "gives the leave-one-person-out figure of this search"}
    if args.out is not None:
        write_text_atomic(args.out, "# stage snippet from `run.py actions tune` (put it in `stages:` after pose "
                          "and track)\n" + yaml.safe_dump(snippet, sort_keys=False))
        report["out"] = str(args.out)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(yaml.safe_dump({"stage": snippet}, sort_keys=False), end="")
    for name, row in report["in_sample"].items():
        print(f"{name} (in-sample): posture macro-F1 {row['posture_macro_f1']}, falls {row['falls_detected']}/"
              f"{row['falls']}, false alarms {row['false_alarms']}")
    print("for the figure on people it was not tuned on: run.py actions eval DATA_DIR --model tune-rules")
    return 0


def hysteresis_args(p: argparse.ArgumentParser) -> None:
    """The hysteresis settings scored with (the action stage's defaults)."""
    p.add_argument("--enter", type=float, default=0.6, help="hysteresis enter score")
    p.add_argument("--leave", type=float, default=0.4, help="hysteresis leave score")
    p.add_argument("--min-duration", type=float, default=0.3, help="seconds a class must hold to start")


def add_actions_parser(verbs) -> None:
    """The `actions` verb and its tools."""
    actions = verbs.add_parser("actions", help="action recognition tools (train, tune, eval, bench)")
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
                    "out: a network per held-out person) | tune-rules (leave one person out: the rules' "
                    "thresholds tuned per held-out person on the others)")
    ev.add_argument("--all-tracks", action="store_true", help="every track through the action stage, as a live "
                    "pipeline runs it (any track's fall start counts), instead of each clip's main person")
    ev.add_argument("--pipeline", type=Path, metavar="CONFIG", help="every track, from a whole pipeline config "
                    "(with an `action` stage) run on each clip: its finder instead of the tools' (implies "
                    "--all-tracks; --model and the hysteresis options are the config's)")
    hysteresis_args(ev)
    ev.set_defaults(func=cmd_eval)

    tune = tools.add_parser("tune", help="choose the rules' thresholds on labelled clips, write a stage snippet",
                            description="Coordinate search over the rules' thresholds (grids in "
                            "argus/tools/actions/tune.py) on every clip; prints the in-sample scores of the "
                            "choice and of the defaults. `actions eval --model tune-rules` scores the same "
                            "search leaving one person out.")
    tune.add_argument("data_dir", type=Path, help="clips + labels.csv (time ranges), or one folder per class")
    tune.add_argument("--labels", default="eye", help="labels.csv `source` to use (default eye)")
    tune.add_argument("--sweeps", type=int, default=2, help="passes over every threshold (default 2)")
    tune.add_argument("--out", type=Path, help="write the action stage snippet (YAML) here")
    tune.add_argument("--json", action="store_true", help="machine-readable output")
    hysteresis_args(tune)
    tune.set_defaults(func=cmd_tune)

    add_bench_verb(tools, "actions", as_name="bench")  # the same as `run.py bench actions`
