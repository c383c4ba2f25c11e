"""Per-person action recognition over windows of pose keypoints (the `action` stage).

One idea per file: `features.py` (windows in seconds, normalisation), `rules.py` (the classifier
without training), `model.py` (learned ONNX models, the builtin one), `hysteresis.py` (labels to
start/end transitions), `stage.py` (the pipeline stage), `labels.py` (data folders, persons),
`extract.py` (keypoint sequences, cached), `dataset.py` (windows and targets, augmentation),
`train.py` (the temporal network, ONNX export), `evaluate.py` (leave-one-person-out figures),
`bench.py` (stage speed with N tracks).
"""
