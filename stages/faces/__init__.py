"""Faces: detect (detector.py), align (aligner.py), gate (quality.py), embed (embedder.py, facenet.py),
match (gallery.py), vote per track (voting.py), in the `face` stage (stage.py) and `run.py faces` (enrol.py,
identify.py)."""
