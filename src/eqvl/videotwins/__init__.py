"""`eqvl build`: EqBen-style twin benchmarks from video-language annotations.

Readers (`ag`, `gebc`, `youcook2`) turn official annotation files into a `Plan` of frames and
candidate pairs; `pipeline.run_build` extracts the frames (PyAV, resumable, in workers), filters
the pairs and writes `twins.jsonl` + `manifest.json` (+ `--export eqben`). `sd_pairs` writes
EQ-SD-style caption pairs, `review` serves a page to accept / reject twins, and `grounding`
finds event boundaries in a video (EqBen appendix A.5).
"""
