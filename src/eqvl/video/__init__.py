"""Video files: frame-accurate reading (PyAV), finding videos by id, and synthetic test videos.

Below both the twin miner (`eqvl.videotwins`) and the boundary grounding (`eqvl.grounding`)."""
