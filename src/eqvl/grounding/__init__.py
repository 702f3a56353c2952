"""Boundary grounding: where in a video does a "before" caption give way to an "after" caption.

Used by `eqvl ground` and by the `gebc-grounding` benchmark reader."""
