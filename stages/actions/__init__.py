"""Per-person action recognition over windows of pose keypoints (the `action` stage).

One idea per file: `features.py` (windows in seconds, normalisation), `rules.py` (the classifier
without training), `model.py` (learned ONNX models, the builtin one), `hysteresis.py` (labels to
start/end transitions), `stage.py` (the pipeline stage). Training, tuning and evaluation on labelled
clips live in argus/tools/actions/; the stage's speed benchmark in argus/benchmarks/actions.py.
"""
