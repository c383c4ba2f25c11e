"""Face gallery tooling behind `run.py faces`: enrol photos (`enrol.py`), name the faces of photos
(`identify.py`), precision / recall on a data/faces-style folder (`evaluate.py`)."""
