"""Tracker tooling on MOTChallenge data: read and write sequences (`mot.py`), simulated detectors
(`simulate.py`), TrackEval scoring and Roboflow peers (`evaluate.py`, `peers.py`), the cross-validated
parameter search (`tune.py`) and the appearance head's training (`harvest.py`, `train_embedding.py`)."""
