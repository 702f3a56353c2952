"""`eqvl index serve`: the JSON API over a real uvicorn on 127.0.0.1, limits and errors as JSON 4xx,
thumbnails only for indexed ids, and the page in a real headless Chromium (text query -> thumbnails)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import time

import httpx
import pytest
from PIL import Image

from eqvl.index import EmbedOptions, Index
from eqvl.index.server import Limits, create_app

from tests.helpers.index import Uvicorn, shape_images  # noqa: E402
from tests.helpers.server import free_port


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    root = tmp_path_factory.mktemp("http")
    rows = shape_images(root, n=24, size=96)
    csv = root / "photos.csv"
    csv.write_text("filepath\ttitle\tcolour\tshape\n" + "".join(f"{r}\t{c}\t{col}\t{s}\n" for r, c, col, s in rows))
    Index.build(root / "idx", csv, "eqvl-tiny-rn", "none", options=EmbedOptions(workers=0, progress=False))
    return root, rows


@pytest.fixture(scope="module")
def served(collection):
    from eqvl.models import load_encoder

    root, _ = collection
    idx = Index.open(root / "idx")
    app = create_app(idx, Limits(max_k=20, max_upload_bytes=100_000), rerank_model=load_encoder("eqvl-tiny-vit", "none"),
                     rerank_k=12)
    with Uvicorn(app) as url:
        yield url, idx, root


def _error(response, status: int) -> str:
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error"} and "Traceback" not in body["error"]
    return body["error"]


def _png(size=(64, 64), colour=(220, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="PNG")
    return out.getvalue()


def test_search_api(served):
    url, idx, _ = served
    with httpx.Client(base_url=url, timeout=60) as client:
        health = client.get("/health").json()
        assert health["status"] == "ok" and health["count"] == 24 and health["columns"] == ["path", "caption", "hash",
                                                                                            "colour", "shape"]
        result = client.get("/search", params={"text": "a red square", "k": 5}).json()
        assert [h["id"] for h in result["hits"]] == [h.id for h in idx.search(texts=["a red square"], k=5)[0]]
        assert result["took_ms"] > 0 and all(h["thumb"] == f"/thumb/{h['id']}" for h in result["hits"])
        blue = client.get("/search", params=[("text", "a shape"), ("k", "6"), ("where", "colour=blue")]).json()
        assert len(blue["hits"]) == 6 and {h["meta"]["colour"] for h in blue["hits"]} == {"blue"}
        both = client.get("/search", params=[("text", "x"), ("k", "20"), ("where", "colour=blue"),
                                             ("where", "shape=circle")]).json()
        assert len(both["hits"]) == 2 and all(h["meta"]["shape"] == "circle" for h in both["hits"])
        reranked = client.get("/search", params={"text": "a red square", "k": 4, "rerank": "true"}).json()
        assert reranked["reranked"] and {h["stage"] for h in reranked["hits"]} == {"rerank:eqvl-tiny-vit"}
        by_image = client.post("/search", files={"image": ("q.png", _png(), "image/png")}, data={"k": "3"}).json()
        assert len(by_image["hits"]) == 3 and by_image["query"] == {"image": "q.png"}
        thumb = client.get(f"/thumb/{result['hits'][0]['id']}")
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
        assert Image.open(io.BytesIO(thumb.content)).size == (96, 96)
        page = client.get("/")
        assert page.status_code == 200 and '<form id="form">' in page.text


def test_errors_are_json_4xx(served):
    url, _, root = served
    with httpx.Client(base_url=url, timeout=60) as client:
        assert "query text is empty" in _error(client.get("/search", params={"text": "  "}), 400)
        assert "k must be between 1 and 20" in _error(client.get("/search", params={"text": "x", "k": 0}), 400)
        assert "k must be between 1 and 20" in _error(client.get("/search", params={"text": "x", "k": 21}), 400)
        assert "k:" in _error(client.get("/search", params={"text": "x", "k": "ten"}), 422)
        assert "limit is 1000" in _error(client.get("/search", params={"text": "y" * 1001}), 400)
        msg = _error(client.get("/search", params={"text": "x", "where": "size=big"}), 400)
        assert "unknown column 'size'; columns: path, caption, hash, colour, shape" in msg
        assert "KEY=VALUE" in _error(client.get("/search", params={"text": "x", "where": "colour"}), 400)
        big = _png((600, 600)) + os.urandom(120_000)
        assert "limit" in _error(client.post("/search", files={"image": ("big.png", big, "image/png")}), 413)
        assert "not a readable image" in _error(client.post("/search", files={"image": ("x.png", b"GIF89a...", "image/png")}), 400)
        assert "no image" in _error(client.post("/search", data={"k": "3"}), 400)
        assert "no image with id 999" in _error(client.get("/thumb/999"), 404)
        assert "no image with id -1" in _error(client.get("/thumb/-1"), 404)
        _error(client.get("/thumb/abc"), 422)
        for probe in ("/thumb/..%2F..%2F..%2Fetc%2Fpasswd", "/thumb/%2Fetc%2Fpasswd", f"/thumb/{root}/images/000.png"):
            response = client.get(probe)
            assert response.status_code in (404, 422) and "root:" not in response.text and set(response.json()) == {"error"}
        _error(client.get("/nothing-here"), 404)


def test_serve_command_listens_on_loopback(collection):
    root, _ = collection
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "eqvl", "index", "serve", str(root / "idx"), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.time() + 240
        while True:
            assert proc.poll() is None and time.time() < deadline, proc.stdout.read() if proc.poll() is not None else "timeout"
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
                break
            except httpx.TransportError:
                time.sleep(0.5)
        assert health.json()["count"] == 24
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_page_in_a_real_browser(served, tmp_path):
    from tests.helpers.browser import browser_page

    url, idx, root = served
    with browser_page(width=1280, height=900) as page:
        page.goto(url + "/")
        page.wait_for_function("document.getElementById('about').textContent.includes('24 images')")
        page.fill("#text", "a red square")
        page.click("#go")
        page.wait_for_selector("figure.hit img")
        page.wait_for_function("[...document.querySelectorAll('figure.hit img')].every(i => i.complete && i.naturalWidth > 0)")
        shown = page.eval_on_selector_all("figure.hit .stage", "els => els.map(e => e.textContent)")
        expected = [h.id for h in idx.search(texts=["a red square"], k=10)[0]]
        assert [int(s.split()[1]) for s in shown] == expected
        assert "10 results in" in page.text_content("#status")
        page.screenshot(path=str(tmp_path / "index_page.png"))
        if os.environ.get("EQVL_SCREENSHOT_DIR"):
            shutil.copy(tmp_path / "index_page.png", os.path.join(os.environ["EQVL_SCREENSHOT_DIR"], "index_page.png"))
        page.fill("#where", "colour=blue")
        page.click("#go")
        page.wait_for_function("document.getElementById('status').textContent.startsWith('6 results in')")
        metas = page.eval_on_selector_all("figure.hit .meta", "els => els.map(e => e.textContent)")
        assert metas and all("colour=blue" in m for m in metas)
        page.fill("#where", "size=big")
        page.click("#go")
        page.wait_for_selector("#status.error")
        assert "unknown column 'size'" in page.text_content("#status") and page.query_selector("figure.hit") is None
        page.fill("#where", "")
        page.fill("#text", "")
        page.set_input_files("#image", str(root / "images" / "004.png"))
        page.click("#go")
        page.wait_for_selector("figure.hit img")
        assert len(page.query_selector_all("figure.hit")) == 10
