"""The demo relabels synth's attribute *swaps* as `binding` without touching synth's files."""

import json

from eqvl.demo.synth_adapter import TRIPLETS_FILE, TWINS_FILE, split_binding


def test_split_binding_relabels_swaps_and_their_triplets(tmp_path):
    twins = [
        {"id": "a-0", "subset": "attribute", "change": {"change": "swap_colour"}},
        {"id": "a-1", "subset": "attribute", "change": {"change": "change_colour"}},
        {"id": "l-0", "subset": "location", "change": {"from": "left", "to": "right"}},
    ]
    triplets = [{"id": f"{t['id']}-0", "subset": t["subset"], "twin": t["id"]} for t in twins]
    (tmp_path / "twins.jsonl").write_text("".join(json.dumps(t) + "\n" for t in twins))
    (tmp_path / "triplets.jsonl").write_text("".join(json.dumps(t) + "\n" for t in triplets))
    before = (tmp_path / "twins.jsonl").read_text()
    counts = split_binding(tmp_path)
    assert counts == {"binding": 1, "attribute": 1, "location": 1}
    out = [json.loads(line) for line in (tmp_path / TWINS_FILE).read_text().splitlines()]
    assert [t["subset"] for t in out] == ["binding", "attribute", "location"]
    trip = [json.loads(line) for line in (tmp_path / TRIPLETS_FILE).read_text().splitlines()]
    assert [t["subset"] for t in trip] == ["binding", "attribute", "location"]
    assert (tmp_path / "twins.jsonl").read_text() == before
