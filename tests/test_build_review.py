"""eqvl build review: decisions round-trip through the HTTP API and the page's keys; eval / export keep accepted twins."""

import json
import os
import socket
import time
from pathlib import Path

import pytest

from eqvl.benchmarks import get_benchmark
from eqvl.data.decisions import accepted_ids, read_decisions
from eqvl.cli import main
from eqvl.errors import DataError
from tests.helpers.server import Uvicorn
from tests.helpers.videos import write_ag, write_gebc

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from eqvl.videotwins.review import create_app  # noqa: E402

LOCAL = "http://127.0.0.1"


@pytest.fixture()
def built(tmp_path):
    write_ag(tmp_path)
    out = tmp_path / "out"
    assert main(["build", "ag", "--annotations", str(tmp_path / "annotations"), "--frames", str(tmp_path / "frames"),
                 "--out", str(out), "--no-progress"]) == 0
    return out


def test_api_round_trip_and_resume(built):
    client = TestClient(create_app(built), base_url=LOCAL)
    data = client.get("/api/twins").json()
    assert data["total"] == 2 and data["first_undecided"] == 0
    ids = [t["id"] for t in data["twins"]]
    assert len(ids) == 2 and data["counts"] == {"total": 2, "accepted": 0, "rejected": 0, "undecided": 2}
    assert client.get(data["twins"][0]["image_0"]).status_code == 200
    r = client.post("/api/decision", json={"id": ids[0], "decision": "accept"}).json()
    assert r["decision"] == "accept" and r["counts"]["accepted"] == 1
    client.post("/api/decision", json={"id": ids[1], "decision": "accept"})
    client.post("/api/decision", json={"id": ids[1], "decision": "reject"})  # changed her mind: last wins
    assert client.post("/api/decision", json={"id": "nope", "decision": "accept"}).status_code == 404
    assert client.post("/api/decision", json={"id": ids[0], "decision": "maybe"}).status_code == 422
    assert client.get("/img/../twins.jsonl").status_code == 404 and client.get("/img/manifest.json").status_code == 404
    store = built / "review" / "decisions.jsonl"
    assert len(store.read_text().splitlines()) == 3
    # a new server (a later session) resumes from the file
    again = TestClient(create_app(built), base_url=LOCAL).get("/api/twins").json()
    assert [t["decision"] for t in again["twins"]] == ["accept", "reject"]
    client.post("/api/decision", json={"id": ids[1], "decision": "undo"})
    assert read_decisions(store) == {ids[0]: "accept"}


def test_eval_and_export_keep_accepted_only(built, tmp_path, capsys):
    ids = [json.loads(x)["id"] for x in (built / "twins.jsonl").read_text().splitlines()]
    store = built / "review" / "decisions.jsonl"
    client = TestClient(create_app(built), base_url=LOCAL)
    client.post("/api/decision", json={"id": ids[1], "decision": "accept"})
    client.post("/api/decision", json={"id": ids[0], "decision": "reject"})
    data = get_benchmark("twins").load(built, accepted=str(store))
    assert [it.id for it in data.items] == [ids[1]]
    assert main(["build", "export", str(built), "--accepted", str(store)]) == 0
    exported = json.loads((built / "eqben" / "eqbenag.json").read_text())
    assert sum(len(v) for subj in exported.values() for v in subj.values()) == 1
    assert len(get_benchmark("eqben").load(built / "eqben").items) == 1
    with store.open("a") as f:  # a line cut by a crash is ignored; a bad line in the middle is named
        f.write('{"id": "x", "deci')
    assert accepted_ids(store) == {ids[1]}
    store.write_text('garbage\n{"id": "a", "decision": "accept"}\n')
    with pytest.raises(DataError, match="decisions.jsonl:1: malformed JSON line"):
        accepted_ids(store)
    with pytest.raises(DataError, match="decisions file not found"):
        get_benchmark("twins").load(built, accepted=str(tmp_path / "none.jsonl"))


def test_browser_keys_accept_and_reject(built):
    from tests.helpers.browser import browser_page

    with Uvicorn(create_app(built)) as url:
        with browser_page(1100, 620) as page:
            page.goto(f"{url}/")
            page.wait_for_selector("body[data-ready='1']")
            first = page.inner_text("#twin-id")
            assert page.inner_text("#cap0").startswith("The person is")
            page.keyboard.press("a")
            page.wait_for_selector("body[data-accepted='1']")
            second = page.inner_text("#twin-id")
            page.keyboard.press("r")
            page.wait_for_selector("body[data-rejected='1']")
            assert page.inner_text("#state") == "rejected"
            assert first != second
            page.keyboard.press("ArrowLeft")
            assert page.inner_text("#twin-id") == first and page.inner_text("#state") == "accepted"
            # the images really loaded
            assert page.evaluate("document.getElementById('img0').naturalWidth") == 64
            if os.environ.get("EQVL_WRITE_DOCS_IMG"):
                page.screenshot(path=str(Path(__file__).parents[1] / "docs" / "img" / "build_review.png"))
        assert read_decisions(built / "review" / "decisions.jsonl") == {first: "accept", second: "reject"}


def test_review_cli_busy_port_one_line(built, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["build", "review", str(built), "--port", str(port)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"cannot listen on 127.0.0.1:{port}" in err


def test_review_refuses_a_folder_without_twins(tmp_path):
    with pytest.raises(DataError, match="not a build folder"):
        create_app(tmp_path)


def _hand_built(folder: Path, n: int = 6) -> list[str]:
    """A build folder written by hand: n twins with their own small images."""
    from PIL import Image

    (folder / "images").mkdir(parents=True)
    rows = []
    for k in range(n):
        for side in (0, 1):
            Image.new("RGB", (16, 12), (20 * k, 100 * side, 50)).save(folder / "images" / f"{k}_{side}.png")
        rows.append({"id": f"t{k}", "image_0": f"images/{k}_0.png", "image_1": f"images/{k}_1.png",
                     "caption_0": f"caption {k} a", "caption_1": f"caption {k} b"})
    (folder / "twins.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return [r["id"] for r in rows]


def test_crafted_paths_outside_the_folder_are_refused(tmp_path):
    folder = tmp_path / "build"
    _hand_built(folder, 2)
    rows = [json.loads(x) for x in (folder / "twins.jsonl").read_text().splitlines()]
    for bad in ("/etc/passwd", "../outside.png", "images/../../outside.png"):
        (folder / "twins.jsonl").write_text(json.dumps({**rows[0], "image_1": bad}) + "\n")
        with pytest.raises(DataError, match=r"twins.jsonl:1 \(field 'image_1'\): image path .* is not inside the build folder"):
            create_app(folder)
    # a symlink inside images/ that points outside: listed, but never served
    (tmp_path / "secret.txt").write_text("secret")
    (folder / "images" / "link.png").symlink_to(tmp_path / "secret.txt")
    (folder / "twins.jsonl").write_text(json.dumps({**rows[0], "image_1": "images/link.png"}) + "\n")
    client = TestClient(create_app(folder), base_url=LOCAL)
    assert client.get("/img/images/0_0.png").status_code == 200
    r = client.get("/img/images/link.png")
    assert r.status_code == 404 and "secret" not in r.text
    assert client.get("/img/twins.jsonl").status_code == 404


def test_host_header_is_checked_and_twins_are_paged(tmp_path):
    folder = tmp_path / "build"
    ids = _hand_built(folder, 6)
    app = create_app(folder)
    assert TestClient(app, base_url="http://evil.example").get("/api/twins").status_code == 400  # DNS rebinding
    client = TestClient(app, base_url="http://localhost:8765")
    page = client.get("/api/twins", params={"offset": 4, "limit": 4}).json()
    assert page["total"] == 6 and [t["id"] for t in page["twins"]] == ids[4:]
    assert client.get("/api/twins", params={"limit": 100000}).status_code == 422
    client.post("/api/decision", json={"id": "t0", "decision": "accept"})
    assert client.get("/api/next_undecided", params={"after": 0}).json() == {"index": 1}


def test_decisions_are_appended_without_rereading_the_file(tmp_path, monkeypatch):
    import eqvl.videotwins.review as review

    folder = tmp_path / "build"
    ids = _hand_built(folder, 3)
    client = TestClient(create_app(folder), base_url=LOCAL)
    calls = []
    monkeypatch.setattr(review, "read_decisions", lambda *a: calls.append(a) or {})
    for twin_id, decision in zip(ids, ("accept", "reject", "accept")):
        r = client.post("/api/decision", json={"id": twin_id, "decision": decision}).json()
    assert r["counts"] == {"total": 3, "accepted": 2, "rejected": 1, "undecided": 0} and calls == []
    assert read_decisions(folder / "review" / "decisions.jsonl") == dict(zip(ids, ("accept", "reject", "accept")))


def test_browser_fast_typing_decides_each_twin_once(tmp_path):
    """a, r, a, a 50 ms apart while the server takes 300 ms per save: each key lands on its own twin."""
    from tests.helpers.browser import browser_page

    folder = tmp_path / "build"
    ids = _hand_built(folder, 6)
    app = create_app(folder)

    @app.middleware("http")
    async def slow_saves(request, call_next):
        import asyncio

        if request.url.path == "/api/decision":
            await asyncio.sleep(0.3)
        return await call_next(request)

    with Uvicorn(app) as url:
        with browser_page(1000, 600) as page:
            page.goto(f"{url}/")
            page.wait_for_selector("body[data-ready='1']")
            for key in "araa":
                page.keyboard.press(key)
                page.wait_for_timeout(50)
            store = folder / "review" / "decisions.jsonl"
            for _ in range(200):  # the four saves reach the file (one by one, 300 ms each)
                if store.is_file() and len(store.read_text().splitlines()) == 4:
                    break
                time.sleep(0.05)
            assert read_decisions(store) == dict(zip(ids, ("accept", "reject", "accept", "accept")))
            page.wait_for_selector("body[data-saved='4'][data-pending='0']", timeout=10000)
            assert page.inner_text("#twin-id") == ids[4] and page.inner_text("#error") == ""
            page.keyboard.press("ArrowLeft")
            page.wait_for_function(f"document.getElementById('twin-id').textContent === '{ids[3]}'")
            assert page.inner_text("#state") == "accepted"
        assert read_decisions(folder / "review" / "decisions.jsonl") == dict(zip(ids, ("accept", "reject", "accept", "accept")))
