"""open_clip backend: shipped tiny configs, config JSON paths, checkpoints, local-dir, errors."""

from __future__ import annotations

import json
import shutil

import open_clip
import pytest
import torch
from PIL import Image

from eqvl.errors import EqvlError
from eqvl.models import load_encoder
from eqvl.models.openclip import CONFIG_DIR, OpenClipEncoder, create_openclip, shipped_configs, weights_hash


@pytest.fixture(scope="module")
def tiny():
    return create_openclip("eqvl-tiny-vit", "none", seed=0)


def test_shipped_configs_build_and_encode():
    assert {"eqvl-tiny-rn", "eqvl-tiny-vit"} <= set(shipped_configs())
    for name in ("eqvl-tiny-rn", "eqvl-tiny-vit"):
        enc = load_encoder(name, "none", seed=0)
        pixels = torch.stack([enc.preprocess(Image.new("RGB", (50, 40), c)) for c in ("red", "blue")])
        img = enc.encode_images(pixels)
        txt = enc.encode_texts(["a red cube", "a blue ball", "two cubes"])
        assert img.shape == (2, 64) and txt.shape == (3, 64)
        assert torch.allclose(img.norm(dim=-1), torch.ones(2), atol=1e-5)
        assert torch.allclose(txt.norm(dim=-1), torch.ones(3), atol=1e-5)
        s = enc.score(img, txt)
        assert s.shape == (3, 2)
        assert torch.allclose(enc.score_rows(img[[0, 1]], txt[[0, 1]]), s[[0, 1], [0, 1]], atol=1e-6)
        assert enc.score_kind == "cosine" and pixels.shape[-1] == 64


def test_random_init_is_seeded_and_does_not_touch_global_rng(tiny):
    state = torch.random.get_rng_state()
    again = create_openclip("eqvl-tiny-vit", "none", seed=0)
    other = create_openclip("eqvl-tiny-vit", "none", seed=1)
    assert torch.equal(state, torch.random.get_rng_state())
    assert weights_hash(again.model) == weights_hash(tiny.model)
    assert weights_hash(other.model) != weights_hash(tiny.model)
    assert tiny.model_cfg["vision_cfg"]["image_size"] == 64 and tiny.pretrained == "none"


def _perturbed(bundle):
    sd = {k: v.clone() for k, v in bundle.model.state_dict().items()}
    sd["logit_scale"] += 1.0
    sd["text_projection"] += 0.5
    return sd


def test_raw_state_dict_checkpoint(tiny, tmp_path):
    sd = _perturbed(tiny)
    path = tmp_path / "raw.pt"
    torch.save(sd, path)
    loaded = create_openclip("eqvl-tiny-vit", str(path), seed=5)
    assert loaded.pretrained == str(path)
    for key, value in loaded.model.state_dict().items():
        assert torch.equal(value, sd[key]), key


def test_epoch_checkpoint_with_module_prefix(tiny, tmp_path):
    """open_clip's epoch_N.pt (and eqvl train's): state_dict under a key, DDP `module.` prefix, extras."""
    sd = _perturbed(tiny)
    path = tmp_path / "checkpoints" / "epoch_3.pt"
    path.parent.mkdir()
    params = [torch.nn.Parameter(torch.ones(3))]
    optimizer = torch.optim.AdamW(params, lr=1e-3)
    params[0].sum().backward()
    optimizer.step()
    payload = {
        "epoch": 3,
        "step": 120,
        "name": "eqvl-tiny-vit",
        "state_dict": {f"module.{k}": v for k, v in sd.items()},
        "optimizer": optimizer.state_dict(),
        "scaler": {},
        "config": {"model": "eqvl-tiny-vit", "lr": 1e-4},
    }
    try:  # the trainer's own writer and RNG snapshot, when present, so the test follows its format
        from eqvl.train.checkpoint import rng_state, save_checkpoint
    except ImportError:
        payload["rng"] = {"torch": torch.random.get_rng_state()}
        torch.save(payload, path)
    else:
        payload["rng"] = rng_state()
        save_checkpoint(path, payload)
    enc = load_encoder("eqvl-tiny-vit", str(path))
    for key, value in enc.model.state_dict().items():
        assert torch.equal(value, sd[key]), key
    # ...and plain open_clip loads the same file (checkpoints stay open_clip-compatible)
    open_clip.add_model_config(CONFIG_DIR)
    model = open_clip.create_model("eqvl-tiny-vit", pretrained=str(path))
    assert torch.equal(model.state_dict()["text_projection"], sd["text_projection"])


def test_config_json_path(tmp_path):
    cfg = json.loads((CONFIG_DIR / "eqvl-tiny-rn.json").read_text())
    cfg["embed_dim"] = 32
    path = tmp_path / "my-test-tiny-model.json"
    path.write_text(json.dumps(cfg))
    enc = load_encoder(str(path), "none")
    assert enc.encode_texts(["x"]).shape == (1, 32)
    assert enc.name == str(path)


def test_config_json_path_errors(tmp_path):
    bad = tmp_path / "notaconfig.json"
    bad.write_text(json.dumps({"embed_dim": 8}))
    with pytest.raises(EqvlError, match="missing vision_cfg, text_cfg"):
        create_openclip(str(bad))
    clash = tmp_path / "ViT-B-32.json"
    shutil.copy(CONFIG_DIR / "eqvl-tiny-rn.json", clash)
    with pytest.raises(EqvlError, match="already has a different model config"):
        create_openclip(str(clash))


def test_local_dir_passes_through(tiny, tmp_path):
    sd = _perturbed(tiny)
    (tmp_path / "open_clip_config.json").write_text(json.dumps({"model_cfg": tiny.model_cfg, "preprocess_cfg": {}}))
    torch.save(sd, tmp_path / "open_clip_pytorch_model.bin")
    enc = load_encoder(f"local-dir:{tmp_path}")
    assert torch.equal(enc.model.state_dict()["logit_scale"], sd["logit_scale"])


def test_unknown_model_lists_valid_names():
    with pytest.raises(EqvlError) as exc:
        load_encoder("no-such-model")
    msg = str(exc.value)
    assert "unknown model 'no-such-model'" in msg and "ViT-B-32" in msg and "eqvl-tiny-rn" in msg


def test_bad_pretrained_values(tiny, tmp_path):
    with pytest.raises(EqvlError, match="not a file and not a pretrained tag"):
        create_openclip("eqvl-tiny-vit", "laion400m_e32")
    wrong = create_openclip("eqvl-tiny-rn", "none")
    path = tmp_path / "rn.pt"
    torch.save({"state_dict": wrong.model.state_dict()}, path)
    with pytest.raises(EqvlError, match=r"does not fit `model` eqvl-tiny-vit: \d+ missing keys \(visual\.\S+ \[\d"):
        create_openclip("eqvl-tiny-vit", str(path))
    with pytest.raises(EqvlError, match="precision"):
        create_openclip("eqvl-tiny-vit", precision="fp8")
    with pytest.raises(EqvlError, match="`device`"):
        load_encoder("eqvl-tiny-vit", device="gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(EqvlError, match="CUDA is not available"):
            load_encoder("eqvl-tiny-vit", device="cuda")


def test_from_model_wraps_live_model(tiny):
    enc = OpenClipEncoder.from_model(tiny.model, tiny.preprocess_val, tiny.tokenizer, name="trainer")
    before = enc.identity()
    with torch.no_grad():
        tiny.model.logit_scale += 0.0  # unchanged weights -> same identity
    assert enc.identity() == before and enc.name == "trainer"
    with torch.no_grad():
        tiny.model.text_projection.add_(1.0)
    assert enc.identity() != before  # the cache key follows the live weights
    with torch.no_grad():
        tiny.model.text_projection.sub_(1.0)
    tiny.model.train()
    enc.encode_texts(["a cube"])
    assert tiny.model.training  # a trainer's model goes back to train mode after eval
    tiny.model.eval()
    wrapped = OpenClipEncoder.from_model(torch.nn.DataParallel(tiny.model), tiny.preprocess_val, tiny.tokenizer)
    assert wrapped.model is tiny.model


def test_checkpoint_errors_say_what_the_file_is_and_which_keys_differ(tmp_path):
    """Issue 13: a non-checkpoint names what it is; a wrong architecture lists keys with shapes, one line."""
    text = tmp_path / "notackpt.pt"
    text.write_text("hello world\n")
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    for path, what in ((text, "a text file (starts 'hello world')"), (empty, "an empty file (0 bytes")):
        with pytest.raises(EqvlError) as exc:
            load_encoder("eqvl-tiny-rn", str(path))
        assert f"not a model checkpoint: it is {what}" in str(exc.value) and "\n" not in str(exc.value)
    rn = create_openclip("eqvl-tiny-rn", "none")
    path = tmp_path / "rn.pt"
    torch.save({"state_dict": rn.model.state_dict(), "config": {"model": "eqvl-tiny-rn"}}, path)
    with pytest.raises(EqvlError) as exc:
        load_encoder("eqvl-tiny-vit", str(path))
    msg = str(exc.value)
    assert "\n" not in msg and "missing keys (visual.class_embedding [64]" in msg
    assert "unexpected keys (visual.bn1.weight [16]" in msg
    assert "visual.conv1.weight: checkpoint [16x3x3x3], model [64x3x16x16]" in msg
    assert msg.endswith("the checkpoint was trained with `model` eqvl-tiny-rn")


def test_random_weights_need_explicit_none_and_checkpoint_names_its_model(tmp_path):
    with pytest.raises(EqvlError, match="no `pretrained` given.*`pretrained` none"):
        load_encoder("eqvl-tiny-rn")
    with pytest.raises(EqvlError, match="unknown model"):  # a misspelt name is reported first
        load_encoder("eqvl-tiny-nr")
    rn = create_openclip("eqvl-tiny-rn", "none", seed=3)
    path = tmp_path / "epoch_1.pt"
    torch.save({"state_dict": rn.model.state_dict(), "name": "eqvl-tiny-rn"}, path)
    enc = load_encoder(None, str(path))  # no --model: the checkpoint says which
    assert enc.name == "eqvl-tiny-rn" and weights_hash(enc.model) == weights_hash(rn.model)
    torch.save(rn.model.state_dict(), tmp_path / "raw.pt")
    with pytest.raises(EqvlError, match="`model` is required: .*raw.pt does not store its model name"):
        load_encoder(None, str(tmp_path / "raw.pt"))


def test_model_typo_lists_nearest_names_once():
    with pytest.raises(EqvlError) as exc:
        load_encoder("eqvl-tiny-nr", "none")
    msg = str(exc.value)
    nearest = msg.split("(nearest: ")[1].split(")")[0].split(", ")
    assert nearest[0] == "eqvl-tiny-rn" and len(nearest) == len(set(nearest)) <= 4
    assert len(msg) < 600  # not the ~150 names of every model


def test_pretrained_tag_without_network_fails_at_once(monkeypatch):
    """HF_HUB_OFFLINE (or an unreachable hub) and weights not cached: one line saying what to do,
    before open_clip starts its download retries."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EqvlError, match=r"`pretrained` openai: the weights of RN50 \(openai\) are not in the local "
                                        r"cache and HF_HUB_OFFLINE is set; .*`pretrained` /path/to/weights.bin"):
        create_openclip("RN50", "openai")


def test_precision_names_are_open_clips_and_shared_by_train_and_eval(capsys):
    """Issue 10: one precision list (eqvl.precision) with open_clip's trainer's names, used by both."""
    pytest.importorskip("open_clip_train")
    from open_clip_train.params import parse_args

    from eqvl.precision import PRECISIONS, autocast, check_precision, input_dtype, needs_grad_scaler
    from eqvl.train.config import TrainConfig

    with pytest.raises(SystemExit):
        parse_args(["--precision", "no-such-precision"])
    listed = capsys.readouterr().err.split("choose from ")[1].split(")")[0]
    assert set(PRECISIONS) == {name.strip(" '") for name in listed.split(",")}
    assert check_precision("amp_fp16") == "amp"  # eqvl's earlier spelling still accepted
    with pytest.raises(EqvlError, match="`precision` 'fp8': choose from amp, amp_bf16"):
        TrainConfig(train_data="x.csv", pretrained="none", precision="fp8").validate()
    with pytest.raises(EqvlError, match="`precision` 'fp8'"):
        load_encoder("eqvl-tiny-rn", "none", precision="fp8")
    assert autocast("amp", "cpu") is autocast("amp_bf16", "cpu")  # no autocast on a CPU: fp32, as eval always did
    assert input_dtype("bf16") == torch.bfloat16 and input_dtype("amp") == torch.float32
    assert needs_grad_scaler("amp", "cuda") and not needs_grad_scaler("amp_bf16", "cuda")
    assert not needs_grad_scaler("amp", "cpu")
