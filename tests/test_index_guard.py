"""`eqvl index serve` against hostile requests (issue 23, defects 6-9): Host allow-list (DNS rebinding),
Origin check, API key on every request, a decompression bomb and a chunked upload refused with the
server's peak memory measured, over-long URLs and out-of-range ids answered as JSON 4xx."""

from __future__ import annotations

import io
import struct
import time
import zlib

import httpx
import pytest
from PIL import Image

from eqvl.errors import EqvlError
from eqvl.index import Index
from eqvl.index.guard import Policy, allowed_hosts, check_exposure
from eqvl.index.server import Limits, create_app

from tests.helpers.index import Uvicorn, table_index  # noqa: E402

MB = 1024 * 1024


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    return table_index(tmp_path_factory.mktemp("guard"), 30)


@pytest.fixture(scope="module")
def served(index):
    root, enc = index
    policy = Policy(allowed_hosts=allowed_hosts("127.0.0.1", ["search.example.org"]), max_body=10 * MB + 64 * 1024)
    with Uvicorn(create_app(Index.open(root, encoder=enc), Limits(), policy=policy)) as url:
        yield url


@pytest.fixture(scope="module")
def keyed(index):
    root, enc = index
    policy = Policy(allowed_hosts=allowed_hosts("127.0.0.1"), api_key="s3cret key")
    with Uvicorn(create_app(Index.open(root, encoder=enc), Limits(), policy=policy)) as url:
        yield url


def _json_error(response, status: int) -> str:
    assert response.status_code == status, (response.status_code, response.text[:200])
    assert response.headers["content-type"].startswith("application/json")
    return response.json()["error"]


def _png(size=(8, 8)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (0, 0, 2)).save(out, format="PNG")  # TableEncoder: image 2
    return out.getvalue()


def test_host_allow_list_refuses_a_rebound_name(served):
    with httpx.Client(base_url=served, timeout=30) as client:
        assert "not served here" in _json_error(client.get("/health", headers={"Host": "evil.example.com"}), 403)
        assert "not served here" in _json_error(client.get("/thumb/1", headers={"Host": "evil.example.com:80"}), 403)
        for host in ("127.0.0.1", "localhost:8000", "search.example.org", "[::1]:9"):
            assert client.get("/health", headers={"Host": host}).status_code == 200, host


def test_cross_origin_requests_are_refused(served):
    with httpx.Client(base_url=served, timeout=30) as client:
        files = {"image": ("q.png", _png(), "image/png")}
        own = served.split("//")[1]
        msg = _json_error(client.post("/search", files=files, headers={"Origin": "http://evil.example.com"}), 403)
        assert "cross-origin" in msg
        _json_error(client.post("/search", files=files, headers={"Origin": "null"}), 403)
        _json_error(client.get("/search", params={"text": "q1"}, headers={"Sec-Fetch-Site": "cross-site"}), 403)
        _json_error(client.get("/thumb/1", headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"}), 403)
        assert client.get("/", headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}).status_code == 200
        ok = client.post("/search", files=files, data={"k": "2"}, headers={"Origin": f"http://{own}"})
        assert ok.status_code == 200 and len(ok.json()["hits"]) == 2


def test_api_key_is_checked_on_every_request(keyed):
    with httpx.Client(base_url=keyed, timeout=30) as client:
        assert "API key" in _json_error(client.get("/health"), 401)
        _json_error(client.get("/thumb/1"), 401)
        _json_error(client.get("/search", params={"text": "q1"}, headers={"X-API-Key": "wrong"}), 401)
        assert client.get("/health", headers={"Authorization": "Bearer s3cret key"}).status_code == 200
        assert client.get("/thumb/1", headers={"X-API-Key": "s3cret key"}).status_code == 200
        assert client.get("/search", params={"text": "q1"}, headers={"Cookie": "eqvl_key=s3cret%20key"}).status_code == 200
        assert client.get("/").status_code == 200  # the page holds no data; it asks for the key


def test_non_loopback_bind_needs_a_key_or_allow_remote():
    assert check_exposure("127.0.0.1", None, False) is None and check_exposure("localhost", None, False) is None
    with pytest.raises(EqvlError, match="`api_key` .*`allow_remote`"):
        check_exposure("0.0.0.0", None, False)
    assert "WITHOUT an API key" in check_exposure("0.0.0.0", None, True)
    assert "every request needs the API key" in check_exposure("192.168.1.5", "k", False)


def _peak_rss_reset() -> None:
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")  # resets VmHWM (peak RSS) to the current RSS


def _rss_kb(field: str) -> int:
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(field)


def _bomb_png(side: int) -> bytes:
    """A side x side RGB PNG of zeros, written row by row (never held decoded in this process)."""
    comp = zlib.compressobj(9)
    row = b"\x00" * (1 + 3 * side)
    idat = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


#: the server runs in this process: its peak RSS may grow by at most this much per refused request
#: (a 13000 x 13000 RGB decode alone would need 507 MB; the body limit caps buffering at ~10 MB)
RSS_BOUND_MB = 64


def test_decompression_bomb_is_refused_before_decoding(served):
    bomb = _bomb_png(13000)
    assert len(bomb) < 1 * MB  # passes the 10 MB upload limit easily
    with httpx.Client(base_url=served, timeout=60) as client:
        _peak_rss_reset()
        before = _rss_kb("VmRSS")
        for _ in range(3):
            msg = _json_error(client.post("/search", files={"image": ("bomb.png", bomb, "image/png")}), 413)
            assert "13000x13000 pixels" in msg
        grew_mb = (_rss_kb("VmHWM") - before) / 1024
    assert grew_mb < RSS_BOUND_MB, f"peak RSS grew {grew_mb:.0f} MB"


def test_chunked_upload_is_cut_at_the_limit(served):
    sent = [0]

    def body():
        block = b"\x00" * (256 * 1024)
        for _ in range(69 * 4):  # 69 MB, no Content-Length: sent chunked
            sent[0] += len(block)
            yield block

    headers = {"Content-Type": "multipart/form-data; boundary=xyz"}
    _peak_rss_reset()
    before = _rss_kb("VmRSS")
    with httpx.Client(base_url=served, timeout=60) as client:
        try:
            response = client.post("/search", content=body(), headers=headers)
            assert "over the limit" in _json_error(response, 413)
        except httpx.TransportError:  # the server closed the connection after answering 413 mid-upload
            pass
    grew_mb = (_rss_kb("VmHWM") - before) / 1024
    assert sent[0] < 40 * MB, f"the server read {sent[0] / MB:.0f} MB before refusing"
    assert grew_mb < RSS_BOUND_MB, f"peak RSS grew {grew_mb:.0f} MB"


def _raw_get(url: str, target: str, complete: bool = True) -> tuple[str, str, str]:
    """(status line, content-type, body) of a GET sent over a plain socket (httpx refuses huge URLs itself);
    `complete=False` sends only the request line's start, as a client stuck in an endless URL would."""
    import socket

    host, port = url.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        end = " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" if complete else ""
        sock.sendall(f"GET {target}{end}".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    ctype = next((l.split(":", 1)[1].strip() for l in lines if l.lower().startswith("content-type:")), "")
    return lines[0], ctype, body.decode()


def test_odd_urls_and_ids_are_json_4xx(served):
    import json

    with httpx.Client(base_url=served, timeout=30) as client:
        assert "no image with id" in _json_error(client.get("/thumb/9223372036854775808"), 404)
        _json_error(client.get("/thumb/99999999999999999999999"), 404)
        assert "URL over the limit" in _json_error(client.get("/search", params={"text": "x" * 10_000}), 414)
    status, ctype, body = _raw_get(served, "/search?text=" + "x" * 100_000)
    assert status.split()[1] == "414" and ctype == "application/json" and json.loads(body)["error"]
    status, ctype, body = _raw_get(served, "/search?text=" + "x" * 100_000, complete=False)  # uvicorn's parser gives up
    assert status.split()[1] == "400" and ctype == "application/json" and "bad HTTP request" in json.loads(body)["error"]


def test_http_rerank_k_under_k_is_refused_like_the_cli(index):
    root, enc = index
    app = create_app(Index.open(root, encoder=enc), Limits(max_k=20), rerank_model=enc, rerank_k=5)
    with Uvicorn(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        msg = _json_error(client.get("/search", params={"text": "q1", "k": 10, "rerank": "true"}), 400)
        assert "over the server's --rerank-k (5)" in msg
        ok = client.get("/search", params={"text": "q1", "k": 5, "rerank": "true"}).json()
        assert ok["reranked"] and len(ok["hits"]) == 5


def test_concurrent_uploads_are_bounded(index):
    import threading

    root, enc = index
    policy = Policy(allowed_hosts=allowed_hosts("127.0.0.1"), max_bodies=1)
    release, started = threading.Event(), threading.Event()

    def slow_body():
        yield b"--xyz\r\n"
        started.set()
        release.wait(30)
        yield b"--xyz--\r\n"

    with Uvicorn(create_app(Index.open(root, encoder=enc), Limits(), policy=policy)) as url:
        first: list = []
        sender = threading.Thread(target=lambda: first.append(httpx.post(
            url + "/search", content=slow_body(), headers={"Content-Type": "multipart/form-data; boundary=xyz"},
            timeout=60)))
        sender.start()
        assert started.wait(30)
        time.sleep(0.3)
        try:
            second = httpx.post(url + "/search", files={"image": ("q.png", _png(), "image/png")}, timeout=30)
            assert "uploads are being received" in _json_error(second, 503)
            assert httpx.get(url + "/health", timeout=30).status_code == 200  # queries without a body still pass
        finally:
            release.set()
            sender.join(60)
        assert first and first[0].status_code == 400  # the slow one was read, then found to hold no image
        ok = httpx.post(url + "/search", files={"image": ("q.png", _png(), "image/png")}, data={"k": "1"}, timeout=30)
        assert ok.status_code == 200
