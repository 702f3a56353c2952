"""`eqvl eval` with the new prefixes: hf-itm: and vqascore: need no --pretrained, --option question=
reaches the model, retrieval goes coarse-to-fine with --coarse-model, mistakes are one line."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("transformers")

from tests.helpers import scorers as F  # noqa: E402
from eqvl.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    return {"blip": F.blip_dir(root), "llava": F.llava_dir(root)}


def test_cli_pair_scorers(dirs, tmp_path, capsys):
    data = F.twins(tmp_path / "tw", n=2)
    out = tmp_path / "itm.json"
    assert main(["eval", "--model", f"hf-itm:{dirs['blip']}", "--benchmark", "twins", "--data", str(data),
                 "--output", str(out), "--no-cache", "--workers", "0", "--no-progress"]) == 0
    res = json.loads(out.read_text())
    assert res["model"] == f"hf-itm:{dirs['blip']}" and res["encoding"]["pairs"]["encoded"] == 8
    out = tmp_path / "vqa.json"
    q = 'Is this "{}"? Please answer yes or no.'
    assert main(["eval", "--model", f"vqascore:{dirs['llava']}", "--benchmark", "twins", "--data", str(data),
                 "--output", str(out), "--no-cache", "--workers", "0", "--no-progress", "--option", f"question={q}"]) == 0
    res = json.loads(out.read_text())
    assert res["config"]["model_options"] == {"question": q} and "question" not in res["config"]["options"]


def test_cli_coarse_to_fine_retrieval(dirs, tmp_path, capsys):
    paths = F.images(tmp_path, 3)
    (tmp_path / "c.csv").write_text("filepath,title\n" + "".join(f"{p.name},a photo {i}\n" for i, p in enumerate(paths)))
    out = tmp_path / "r.json"
    assert main(["eval", "--model", f"hf-itm:{dirs['blip']}", "--benchmark", "retrieval", "--data",
                 str(tmp_path / "c.csv"), "--output", str(out), "--coarse-model", f"hf:{dirs['blip']}",
                 "--coarse-k", "2", "--no-cache", "--workers", "0", "--no-progress"]) == 0
    c2f = json.loads(out.read_text())["coarse_to_fine"]
    assert c2f["coarse_model"] == f"hf:{dirs['blip']}" and c2f["coarse_k"] == 2 and c2f["pairs_scored"] <= 12
    capsys.readouterr()
    assert main(["eval", "--model", f"hf-itm:{dirs['blip']}", "--pretrained", "openai", "--benchmark", "retrieval",
                 "--data", str(tmp_path / "c.csv"), "--output", str(tmp_path / "x.json"), "--no-progress"]) != 0
    err = capsys.readouterr().err
    assert "--pretrained is not used with hf-itm:" in err and "Traceback" not in err


def test_index_search_reranks_with_itm_and_vqascore(dirs, tmp_path, capsys):
    from PIL import Image

    from eqvl.models import load_encoder

    paths = F.images(tmp_path / "im", 5)
    csv = tmp_path / "photos.csv"
    csv.write_text("filepath\ttitle\n" + "".join(f"{p}\tphoto {i}\n" for i, p in enumerate(paths)))
    idx = tmp_path / "idx"
    assert main(["index", "build", "--model", f"hf:{dirs['blip']}", "--images", str(csv), "--out", str(idx),
                 "--workers", "0", "--no-progress"]) == 0
    for spec in (f"hf-itm:{dirs['blip']}", f"vqascore:{dirs['llava']}"):
        capsys.readouterr()
        assert main(["index", "search", str(idx), "--text", "a red cube", "-k", "3", "--rerank-model", spec,
                     "--rerank-k", "5", "--json"]) == 0
        hits = json.loads(capsys.readouterr().out)["hits"]
        scorer = load_encoder(spec)
        want = {str(p): float(scorer.score_pairs([scorer.preprocess(Image.open(p).convert("RGB"))], ["a red cube"])[0])
                for p in paths}
        best = sorted(want.values(), reverse=True)[:3]
        assert [h["score"] for h in hits] == pytest.approx(best, abs=1e-5)
        assert all(h["stage"] == f"rerank:{spec}" for h in hits)


def test_pair_scorer_as_index_model_is_one_line(dirs, tmp_path, capsys):
    paths = F.images(tmp_path / "im", 2)
    csv = tmp_path / "p.csv"
    csv.write_text("filepath\n" + "".join(f"{p}\n" for p in paths))
    capsys.readouterr()
    assert main(["index", "build", "--model", f"hf-itm:{dirs['blip']}", "--images", str(csv), "--out",
                 str(tmp_path / "idx"), "--workers", "0", "--no-progress"]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("eqvl index: error:")]
    assert len(lines) == 1 and "Traceback" not in err  # (transformers' own "Loading weights" bars aside)
    assert "scores (image, caption) pairs jointly" in lines[0] and "--rerank-model" in lines[0]
