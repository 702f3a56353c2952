"""Appendix B.1's frame rule on one Action Genome object track, with the build's filters taking part.

Anchor i takes the first later frame j whose relationship sets differ in >= 2 of 3 AND that passes
the filters (`accept`: same caption, a failed frame, near-duplicate or duplicate images); both
chosen frames block their next annotated frame (i+1, j+1). Choosing first and filtering after
would leave an anchor without a partner whenever the filters drop its first choice, although a
later valid partner exists; so the pairing runs after extraction, when the frames' hashes are known.
"""

from __future__ import annotations

from collections import Counter
from typing import Callable


def _ndiff(a: tuple, b: tuple) -> int:
    return (a[0] != b[0]) + (a[1] != b[1]) + (a[2] != b[2])


def pair_track(frames: list[int], rels: list[tuple],
               accept: Callable[[int, int], str | None] | None = None) -> tuple[list[tuple[int, int]], Counter]:
    """Chosen (i, j) positions of one track (frames in order) and why each other pair (i < j) was not chosen.

    `accept(i, j)` is asked only about a pair the relation rule allows, right before choosing it:
    None chooses it (so `accept` may remember what it accepted), a string is the filter that drops it.
    """
    n = len(frames)
    rels = [tuple(frozenset(x) for x in r) for r in rels]  # compare sets once each, not per pair
    blocked: set[int] = set()
    chosen: list[tuple[int, int]] = []
    refused: dict[tuple[int, int], str] = {}
    for i in range(n):
        if i in blocked:
            continue
        for j in range(i + 1, n):
            if j in blocked or _ndiff(rels[i], rels[j]) < 2:
                continue
            why = accept(i, j) if accept is not None else None
            if why is not None:
                refused[(i, j)] = why
                continue
            chosen.append((i, j))
            blocked.update((i + 1, j + 1))
            break
    dropped: Counter = Counter()
    picked = set(chosen)
    for i in range(n):
        for j in range(i + 1, n):
            if (i, j) in picked:
                continue
            if _ndiff(rels[i], rels[j]) < 2:
                dropped["relations_differ_lt_2"] += 1
            elif (i, j) in refused:
                dropped[refused[(i, j)]] += 1
            elif i in blocked or j in blocked:
                dropped["next_frame_of_chosen"] += 1
            else:
                dropped["anchor_already_paired"] += 1
    return chosen, dropped


def pairable(rels: list[tuple], captions: list[list[str]]) -> set[int]:
    """Positions that could be in some pair (relations differ in >= 2 and captions differ): the frames to extract."""
    sets = [tuple(frozenset(x) for x in r) for r in rels]
    out: set[int] = set()
    for i in range(len(sets)):
        for j in range(i + 1, len(sets)):
            if _ndiff(sets[i], sets[j]) >= 2 and captions[i][0] != captions[j][0]:
                out.update((i, j))
    return out
