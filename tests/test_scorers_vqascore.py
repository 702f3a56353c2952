"""VQAScore on tiny random-weight LLaVA-1.5, Qwen2-VL, Qwen2.5-VL and PaliGemma directories built offline: eqvl's score
equals the one computed here directly with transformers the way t2v_metrics does (LLaVA: teacher-forced
"Yes</s>" cross-entropy; Qwen2-VL, PaliGemma: generate(max_new_tokens=1, output_scores=True)), alone or in
a padded batch; the templates are options; bad input is one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

transformers = pytest.importorskip("transformers")

from tests.helpers import scorers as F  # noqa: E402
from eqvl.errors import EqvlError  # noqa: E402
from eqvl.evaluation import evaluate  # noqa: E402
from eqvl.models import load_encoder  # noqa: E402
from eqvl.models.base import GroupedPairScorer, is_pair_scorer  # noqa: E402
from eqvl.models.vqascore import LLAVA_SYSTEM, expand2square  # noqa: E402

TEXTS = ["a red cube", "two dogs left of a blue ball on the green cat", "x"]


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("vqa")
    return {"llava": F.llava_dir(root), "qwen2vl": F.qwen2vl_dir(root), "paligemma": F.paligemma_dir(root),
            "qwen25vl": F.qwen2vl_dir(root, v25=True), "llava_next": F.llava_next_dir(root),
            "images": _mixed_sizes(F.images(root / "im", 3))}


def _mixed_sizes(paths):
    """Images of different sizes in one batch: different numbers of visual tokens / tiles to pad around."""
    Image.open(paths[2]).resize((70, 30)).save(paths[2])
    return paths


def _llava_direct(directory, image_path, text, question='Does this figure show "{}"? Please answer yes or no.'):
    """t2v_metrics's LLaVA-1.5 formula written out: prompt + "Yes</s>", labels masked over the prompt
    (minus its trailing-space token), exp(-mean cross-entropy) over the answer tokens."""
    proc = transformers.AutoProcessor.from_pretrained(directory)
    model = transformers.AutoModelForImageTextToText.from_pretrained(directory).eval()
    mean = tuple(int(x * 255) for x in proc.image_processor.image_mean)
    image = expand2square(Image.open(image_path).convert("RGB"), mean)
    head = f"{LLAVA_SYSTEM} USER: <image>\n{question.format(text)} ASSISTANT: "
    inputs = proc(text=[head + "Yes</s>"], images=[image], return_tensors="pt")
    n_answer = len(proc.tokenizer(head + "Yes</s>")["input_ids"]) - (len(proc.tokenizer(head)["input_ids"]) - 1)
    labels = inputs["input_ids"].clone()
    labels[:, : labels.shape[1] - n_answer] = -100
    with torch.no_grad():
        logits = model(**inputs).logits
    loss = torch.nn.functional.cross_entropy(logits[0, :-1], labels[0, 1:], ignore_index=-100)
    return float((-loss).exp())


def _qwen_direct(directory, image_path, text, answer="Yes"):
    """t2v_metrics's Qwen2-VL path: chat template, qwen_vl_utils resize, generate one token, softmax of its scores."""
    proc = transformers.AutoProcessor.from_pretrained(directory)
    model = transformers.AutoModelForImageTextToText.from_pretrained(directory).eval()
    image = Image.open(image_path).convert("RGB")
    h, w = image.height, image.width
    # smart_resize for this small image: rounded to multiples of 28, then scaled up to >= 4 x 28 x 28 pixels
    beta = (4 * 28 * 28 / (h * w)) ** 0.5
    image = image.resize((int(np.ceil(w * beta / 28)) * 28, int(np.ceil(h * beta / 28)) * 28))
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text":
                 f'Does this figure show "{text}"? Please answer Yes or No.'}]}]
    chat = proc.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    inputs = proc(text=[chat], images=[image], padding=True, return_tensors="pt", do_resize=False)
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=1, temperature=1.0, do_sample=False, output_scores=True,
                             return_dict_in_generate=True)
    yes = proc.tokenizer.encode(answer, add_special_tokens=False)[0]
    return float(torch.softmax(out.scores[-1][0], dim=-1)[yes])


def _paligemma_direct(directory, image_path, text):
    """t2v_metrics's PaliGemma path: processor(text=question, images=image), generate one token, softmax of its
    scores at the answer's token (t2v_metrics's own `encode(answer)[0]` would be <bos> for Gemma's tokenizer)."""
    proc = transformers.AutoProcessor.from_pretrained(directory)
    model = transformers.PaliGemmaForConditionalGeneration.from_pretrained(directory).eval()
    inputs = proc(text=f'Does this figure show "{text}"? Please answer Yes or No.',
                  images=Image.open(image_path).convert("RGB"), return_tensors="pt")
    inputs.pop("labels", None)
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=1, output_scores=True, return_dict_in_generate=True)
    yes = proc.tokenizer.encode("Yes", add_special_tokens=False)[0]
    return float(torch.softmax(out.scores[0], dim=-1)[0, yes])


DIRECT = {"llava": _llava_direct, "llava_next": _llava_direct, "qwen2vl": _qwen_direct, "qwen25vl": _qwen_direct, "paligemma": _paligemma_direct}


@pytest.mark.parametrize("family", ["llava", "llava_next", "qwen2vl", "qwen25vl", "paligemma"])
def test_vqascore_equals_direct_transformers_alone_and_batched(dirs, family):
    scorer = load_encoder(f"vqascore:{dirs[family]}")
    assert is_pair_scorer(scorer) and isinstance(scorer, GroupedPairScorer) and scorer.score_kind == "probability"
    direct_fn = DIRECT[family]
    imgs = [scorer.preprocess(Image.open(p).convert("RGB")) for p in dirs["images"]]
    pairs = [(0, 0), (1, 1), (2, 2), (0, 1), (2, 0)]
    direct = np.array([direct_fn(dirs[family], dirs["images"][i], TEXTS[t]) for i, t in pairs])
    batched = scorer.score_grouped(imgs, [i for i, _ in pairs], [TEXTS[t] for _, t in pairs]).numpy()
    np.testing.assert_allclose(batched, direct, rtol=0, atol=1e-5)
    alone = [float(scorer.score_pairs([imgs[i]], [TEXTS[t]])[0]) for i, t in pairs]
    np.testing.assert_allclose(alone, batched, rtol=0, atol=1e-6)  # padding does not leak between pairs
    assert np.ptp(direct) > 5e-5 and np.all((direct > 0) & (direct < 1))


def test_templates_are_options_and_part_of_the_identity(dirs):
    base = load_encoder(f"vqascore:{dirs['llava']}")
    q = 'Is "{}" what this picture shows? Please answer yes or no.'
    other = load_encoder(f"vqascore:{dirs['llava']}", options={"question": q})
    assert other.identity() != base.identity()
    img = other.preprocess(Image.open(dirs["images"][0]).convert("RGB"))
    got = float(other.score_pairs([img], [TEXTS[0]])[0])
    assert abs(got - _llava_direct(dirs["llava"], dirs["images"][0], TEXTS[0], question=q)) < 1e-5
    with pytest.raises(EqvlError, match="at most one"):
        load_encoder(f"vqascore:{dirs['llava']}", options={"question": "{} and {}"})


def test_vqascore_engine_end_to_end(dirs, tmp_path):
    data = F.twins(tmp_path / "tw", n=2)
    res = evaluate(load_encoder(f"vqascore:{dirs['qwen2vl']}"), "twins", data, batch_size=3, progress=False)
    assert res.results["encoding"]["pairs"]["encoded"] == 8 and res.results["config"]["score_kind"] == "probability"
    item = res.data.items[1]
    want = _qwen_direct(dirs["qwen2vl"], item.images[0].path, item.captions[1])
    assert abs(res.scores[1][1, 0] - want) < 1e-5


def test_vqascore_bad_input(dirs, tmp_path):
    with pytest.raises(EqvlError, match=r"answer 'Yes please' is \d+ tokens.*`option` answer="):
        load_encoder(f"vqascore:{dirs['qwen2vl']}", options={"answer": "Yes please"})
    with pytest.raises(EqvlError, match="BlipForImageTextRetrieval; supported: LlavaForConditionalGeneration"):
        load_encoder(f"vqascore:{F.blip_dir(tmp_path)}")
    broken = F.copy_without(dirs["llava"], tmp_path / "noproc", "processor_config.json")
    with pytest.raises(EqvlError, match="no processor in .*preprocessor_config.json or processor_config.json"):
        load_encoder(f"vqascore:{broken}")
    with pytest.raises(EqvlError, match="`pretrained` is not used with vqascore:"):
        load_encoder(f"vqascore:{dirs['llava']}", "openai")
