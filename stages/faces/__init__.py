"""Faces: detect (detector.py), align (aligner.py), gate (quality.py), embed (embedder.py, facenet.py),
match (gallery.py), vote per track (voting.py), in the `face` stage (stage.py). Enrolling and identifying
photos (`run.py faces`) live in argus/tools/faces/."""
