"""``ganforge demo``: the JSON endpoints through Flask's test client (every bad request answered with
one message, the server still up), and the page itself in headless Chromium driven by Playwright:
sample with the slider and class picker, interpolate, restore a drawn image, bad uploads.

``DEMO_SCREENSHOT=docs/demo.png pytest tests/test_demo.py -k browser`` also writes docs/demo.md's
screenshot."""
import base64
import io
import os
import re
import shutil
import threading

import pytest
from PIL import Image

from ganforge.cli import main
from ganforge.demo import make_app, make_server
from ganforge.loading import open_generator

PNG_URL = re.compile(r"^data:image/png;base64,")
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
UPLOAD_CAP = 64 * 1024


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    assert main(["train", "--dataset", "mnist", "-g", "M4", "-d", "M5", "--limit", "256", "-b", "32", "-e", "2", "-q",
                 "--conditional", "-o", str(root / "run")]) == 0
    return root / "run"


@pytest.fixture(scope="module")
def app(run):
    return make_app(open_generator(run), max_upload=UPLOAD_CAP, origin="http://localhost")


def token_of(page: str) -> str:
    return page.split('name="ganforge-token" content="', 1)[1].split('"', 1)[0]


@pytest.fixture(scope="module")
def client(app):
    """Flask's test client as the demo's own page: Host localhost, the token the page was served with."""
    c = app.test_client()
    c.environ_base["HTTP_X_GANFORGE_TOKEN"] = token_of(c.get("/").get_data(as_text=True))
    return c


def png(size=(28, 28), mode="L", colour=0) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def image_as(kind: str) -> bytes:
    """A small picture in a format Pillow reads but the demo does not take (EPS written by hand: writing it
    would need Ghostscript, the program the demo must never reach)."""
    if kind == "EPS":
        return b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 28 28\nnewpath 0 0 moveto 28 28 lineto stroke\n%%EOF\n"
    buffer = io.BytesIO()
    Image.new("L", (28, 28), 128).save(buffer, format=kind)
    return buffer.getvalue()


def decoded(url: str) -> Image.Image:
    assert url.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))


def test_info_and_samples(client):
    info = client.get("/api/info").get_json()
    assert info["classes"] == 10 and info["z_dim"] == 50 and info["shape"] == [1, 28, 28]
    body = client.post("/api/sample", data={"n": "4", "truncation": "0.7", "class": "7", "seed": "3"}).get_json()
    assert decoded(body["image"]).size == ((4 * 29 + 1) * 4, 30 * 4)  # 4 digits in a row, padded, scaled 4x
    again = client.post("/api/sample", data={"n": "4", "truncation": "0.7", "class": "7", "seed": "3"}).get_json()
    assert again["image"] == body["image"]  # a seed gives the same samples


def test_interpolate_between_samples_and_images_and_restore(client):
    body = client.post("/api/interpolate", data={"mode": "samples", "seed_a": "1", "seed_b": "2", "steps": "5"})
    assert decoded(body.get_json()["image"]).size == ((5 * 29 + 1) * 4, 30 * 4)
    images = {"mode": "images", "steps": "3", "a": (io.BytesIO(png(colour=255)), "a.png"),
              "b": (io.BytesIO(png((40, 30), "RGB")), "b.png")}  # any size and mode is converted
    assert client.post("/api/interpolate", data=images).status_code == 200
    body = client.post("/api/restore", data={"mask": "pepper", "image": (io.BytesIO(png(colour=255)), "x.png")})
    result = body.get_json()
    assert result["hidden_fraction"] == pytest.approx(0.3, abs=0.002)
    assert result["psnr_all"] > 0 and result["psnr_hidden"] > 0
    assert decoded(result["restored"]).size == (28 * 4, 28 * 4)  # one image, shown 4x


@pytest.mark.parametrize("path,data,status,needle", [
    ("/api/sample", {"n": "0"}, 400, "n must be between 1 and 64"),
    ("/api/sample", {"n": "many"}, 400, "n must be a whole number"),
    ("/api/sample", {"truncation": "-1"}, 400, "truncation must be in (0, 10]"),
    ("/api/sample", {"class": "10"}, 400, "class must be between 0 and 9"),
    ("/api/restore", {"mask": "zebra"}, 400, "unknown mask"),
    ("/api/restore", {"mask": "square"}, 400, "no image was uploaded"),
    ("/api/restore", {"image": (io.BytesIO(b"not an image at all"), "x.png")}, 400,
     "x.png is not an image of the formats accepted here (PNG, JPEG, BMP, WEBP, GIF)"),
    ("/api/restore", {"image": (io.BytesIO(png((8000, 8000), "1")), "bomb.png")}, 400,
     "the 4,194,304 pixels read here"),
    ("/api/restore", {"image": (io.BytesIO(image_as("TIFF")), "x.tiff")}, 400, "not an image of the formats"),
    ("/api/restore", {"image": (io.BytesIO(image_as("EPS")), "x.eps")}, 400, "not an image of the formats"),
    ("/api/restore", {"image": (io.BytesIO(os.urandom(UPLOAD_CAP + 1)), "big.png")}, 413, "larger than the 64 KB"),
    ("/api/interpolate", {"mode": "images", "a": (io.BytesIO(png()), "a.png")}, 400, "no image was uploaded as 'b'"),
    ("/api/nowhere", {}, 404, "Not Found"),
])
def test_bad_requests_get_one_message_and_the_server_stays_up(client, path, data, status, needle):
    response = client.post(path, data=data)
    assert response.status_code == status
    message = response.get_json()["error"]
    assert needle in message and "\n" not in message and "Traceback" not in message
    assert client.get("/api/info").status_code == 200


def test_the_command_refuses_a_toy_generator_in_one_line(tmp_path, capsys):
    assert main(["train", "--dataset", "ring", "-g", "toy-g", "-d", "toy-d", "--limit", "256", "-b", "64", "-e", "1",
                 "-q", "-o", str(tmp_path / "ring")]) == 0
    capsys.readouterr()
    assert main(["demo", "--generator", str(tmp_path / "ring"), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "makes 2-D points, not images" in err


@pytest.fixture
def server(run):
    httpd = make_server(open_generator(run), host="127.0.0.1", port=0, max_upload=UPLOAD_CAP)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (CI installs Debian's chromium package)")
def test_the_page_in_a_real_browser(server, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    expect = playwright.expect  # waits run in Playwright's own world: the page's CSP (no eval) stays on
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1000, "height": 1400})
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(server)
        expect(page.locator("#info")).to_contain_text("M4 on mnist")
        # sample: the slider sets psi (and ticks truncation), the class picker is there for a conditional G
        page.locator("#sample-psi").fill("0.5")
        assert page.locator("#sample-psi-value").text_content() == "0.50"
        assert page.locator("#sample-truncate").is_checked()
        page.select_option("#sample-class", "7")
        page.click("#sample-go")
        expect(page.locator("#sample-out")).to_have_attribute("src", PNG_URL)
        # interpolate between two samples
        page.click("#interp-go")
        expect(page.locator("#interp-out")).to_have_attribute("src", PNG_URL)
        # restore a drawn stroke behind a square mask
        box = page.locator("#restore-canvas").bounding_box()
        page.mouse.move(box["x"] + 140, box["y"] + 40)
        page.mouse.down()
        page.mouse.move(box["x"] + 140, box["y"] + 240, steps=12)
        page.mouse.up()
        page.select_option("#restore-mask", "square")
        page.click("#restore-go")
        expect(page.locator("#restore-psnr")).to_contain_text("PSNR")
        assert "hidden" in page.locator("#restore-psnr").text_content()
        # bad uploads: a message in the page, and the page keeps working
        page.check("input[name=restore-source][value=upload]")
        (tmp_path / "notes.png").write_text("not an image")
        page.set_input_files("#restore-file", str(tmp_path / "notes.png"))
        page.click("#restore-go")
        expect(page.locator("#restore-msg")).to_contain_text("not an image of the")
        (tmp_path / "huge.png").write_bytes(os.urandom(UPLOAD_CAP + 1))
        page.set_input_files("#restore-file", str(tmp_path / "huge.png"))
        page.click("#restore-go")
        expect(page.locator("#restore-msg")).to_contain_text("larger than")
        page.fill("#sample-n", "0")
        page.click("#sample-go")
        expect(page.locator("#sample-msg")).to_contain_text("between 1 and 64")
        page.fill("#sample-n", "16")
        page.click("#sample-go")
        expect(page.locator("#sample-go")).to_be_enabled()  # answered
        assert page.locator("#sample-msg").text_content() == ""
        shot = os.environ.get("DEMO_SCREENSHOT") or str(tmp_path / "demo.png")
        page.check("input[name=restore-source][value=draw]")
        page.click("#restore-go")  # the message clears when the request goes out, the button comes back with the answer
        expect(page.locator("#restore-msg")).to_have_text("")
        expect(page.locator("#restore-go")).to_be_enabled()
        assert page.locator("#restore-original").get_attribute("src").startswith("data:image/png")
        page.screenshot(path=shot, full_page=True)
        browser.close()
    assert errors == []
    assert Image.open(shot).size[0] == 1000


# ---- a page on another site, or another name for this machine, cannot drive the demo

def test_a_foreign_host_is_refused_even_with_a_token(app, client):
    token = client.environ_base["HTTP_X_GANFORGE_TOKEN"]
    other = app.test_client()
    for path in ("/", "/api/info"):  # DNS rebinding: evil.com resolving to 127.0.0.1
        response = other.get(path, headers={"Host": "evil.com", "X-Ganforge-Token": token})
        assert response.status_code == 403
        assert "answers requests to http://localhost only" in response.get_json()["error"]


def test_a_cross_site_form_post_is_refused_and_does_no_work(app, client, monkeypatch):
    import ganforge.demo as demo

    ran = []
    monkeypatch.setattr(demo.Explorer, "restore", lambda *a: ran.append(1) or {})
    form = {"mask": "pepper", "image": (io.BytesIO(png()), "x.png")}
    other = app.test_client()  # a form on evil.com posting here: an Origin, no token header
    response = other.post("/api/restore", data=form, headers={"Origin": "https://evil.com"})
    assert response.status_code == 403 and "its own page only" in response.get_json()["error"]
    form = {"mask": "pepper", "image": (io.BytesIO(png()), "x.png")}
    response = other.post("/api/restore", data=form)  # no Origin (an old browser), no token
    assert response.status_code == 403 and "page token" in response.get_json()["error"]
    response = other.post("/api/sample", data={"n": "1"}, headers={"X-Ganforge-Token": "guessed"})
    assert response.status_code == 403 and ran == []
    response = client.post("/api/sample", data={"n": "1"}, headers={"Origin": "http://localhost"})
    assert response.status_code == 200  # the page itself, its Origin and token
    page = other.get("/")
    assert page.headers["X-Frame-Options"] == "DENY" and "frame-ancestors 'none'" in page.headers[
        "Content-Security-Policy"]
    assert token_of(page.get_data(as_text=True)) != client.environ_base["HTTP_X_GANFORGE_TOKEN"]  # one per page


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_a_decompression_bomb_is_refused_before_it_is_decoded(client):
    bomb = png((20_000, 20_000), "1")  # 400 megapixels in a few kilobytes
    assert len(bomb) < 100_000
    before = _rss_mb()
    for _ in range(4):
        response = client.post("/api/restore", data={"image": (io.BytesIO(bomb), "bomb.png")})
        assert response.status_code == 400 and "the 4,194,304 pixels read here" in response.get_json()["error"]
    assert _rss_mb() - before < 50  # decoded, it would be 400 MB at one byte per pixel


@pytest.mark.slow
def test_two_hundred_concurrent_requests_are_answered_and_memory_returns(run):
    import concurrent.futures
    import http.client

    httpd = make_server(open_generator(run), host="127.0.0.1", port=0, max_upload=UPLOAD_CAP)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    port = httpd.server_port

    def request(method: str, path: str, body: bytes = b"", headers: dict | None = None) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            return conn.getresponse().status
        except (ConnectionError, http.client.RemoteDisconnected):
            return 0
        finally:
            conn.close()

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/")
    token = token_of(conn.getresponse().read().decode())
    conn.close()
    form = {"X-Ganforge-Token": token, "Content-Type": "application/x-www-form-urlencoded"}
    request("POST", "/api/sample", b"n=64", form)  # warm: the first sample builds what later ones reuse
    before = _rss_mb()
    with concurrent.futures.ThreadPoolExecutor(200) as pool:
        calls = [pool.submit(request, "POST", "/api/sample", b"n=64&seed=%d" % i, form) if i % 2 else
                 pool.submit(request, "GET", "/api/info", b"", {"X-Ganforge-Token": token}) for i in range(200)]
        statuses = [c.result() for c in calls]
    assert set(statuses) <= {200, 503} and statuses.count(200) >= 50  # busy is said at once, never queued
    assert request("GET", "/api/info", headers={"X-Ganforge-Token": token}) == 200  # still answering
    assert _rss_mb() - before < 100
    httpd.shutdown()
    httpd.server_close()
