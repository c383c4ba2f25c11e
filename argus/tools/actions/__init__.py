"""Action tooling on labelled clips: data folders and persons (`labels.py`), keypoint sequences, cached
(`extract.py`), windows and targets (`dataset.py`), the temporal network and its ONNX export (`train.py`),
leave-one-person-out figures (`evaluate.py`) and the rules' threshold search (`tune.py`)."""
