"""``ganforge demo``: the JSON endpoints through Flask's test client (every bad request answered with
one message, the server still up), and the page itself in headless Chromium driven by Playwright:
sample with the slider and class picker, interpolate, restore a drawn image, bad uploads.

``DEMO_SCREENSHOT=docs/demo.png pytest tests/test_demo.py -k browser`` also writes docs/demo.md's
screenshot."""
import base64
import io
import os
import shutil
import threading

import pytest
from PIL import Image

from ganforge.cli import main
from ganforge.demo import make_app
from ganforge.loading import open_generator

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
UPLOAD_CAP = 64 * 1024


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    assert main(["train", "--dataset", "mnist", "-g", "M4", "-d", "M5", "--limit", "256", "-b", "32", "-e", "2", "-q",
                 "--conditional", "-o", str(root / "run")]) == 0
    return root / "run"


@pytest.fixture(scope="module")
def client(run):
    return make_app(open_generator(run), max_upload=UPLOAD_CAP).test_client()


def png(size=(28, 28), mode="L", colour=0) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, colour).save(buffer, format="PNG")
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
    ("/api/restore", {"image": (io.BytesIO(b"not an image at all"), "x.png")}, 400, "cannot read image x.png"),
    ("/api/restore", {"image": (io.BytesIO(png((8000, 8000), "1")), "bomb.png")}, 400, "larger than ganforge reads"),
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
    from werkzeug.serving import make_server

    httpd = make_server("127.0.0.1", 0, make_app(open_generator(run), max_upload=UPLOAD_CAP), threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}/"
    httpd.shutdown()


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (CI installs Debian's chromium package)")
def test_the_page_in_a_real_browser(server, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1000, "height": 1400})
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(server)
        page.wait_for_function("document.getElementById('info').textContent.includes('M4 on mnist')")
        # sample: the slider sets psi (and ticks truncation), the class picker is there for a conditional G
        page.locator("#sample-psi").fill("0.5")
        assert page.locator("#sample-psi-value").text_content() == "0.50"
        assert page.locator("#sample-truncate").is_checked()
        page.select_option("#sample-class", "7")
        page.click("#sample-go")
        page.wait_for_function("document.getElementById('sample-out').src.startsWith('data:image/png')")
        # interpolate between two samples
        page.click("#interp-go")
        page.wait_for_function("document.getElementById('interp-out').src.startsWith('data:image/png')")
        # restore a drawn stroke behind a square mask
        box = page.locator("#restore-canvas").bounding_box()
        page.mouse.move(box["x"] + 140, box["y"] + 40)
        page.mouse.down()
        page.mouse.move(box["x"] + 140, box["y"] + 240, steps=12)
        page.mouse.up()
        page.select_option("#restore-mask", "square")
        page.click("#restore-go")
        page.wait_for_function("document.getElementById('restore-psnr').textContent.includes('PSNR')")
        assert "hidden" in page.locator("#restore-psnr").text_content()
        # bad uploads: a message in the page, and the page keeps working
        page.check("input[name=restore-source][value=upload]")
        (tmp_path / "notes.png").write_text("not an image")
        page.set_input_files("#restore-file", str(tmp_path / "notes.png"))
        page.click("#restore-go")
        page.wait_for_function("document.getElementById('restore-msg').textContent.includes('cannot read image')")
        (tmp_path / "huge.png").write_bytes(os.urandom(UPLOAD_CAP + 1))
        page.set_input_files("#restore-file", str(tmp_path / "huge.png"))
        page.click("#restore-go")
        page.wait_for_function("document.getElementById('restore-msg').textContent.includes('larger than')")
        page.fill("#sample-n", "0")
        page.click("#sample-go")
        page.wait_for_function("document.getElementById('sample-msg').textContent.includes('between 1 and 64')")
        page.fill("#sample-n", "16")
        page.click("#sample-go")
        page.wait_for_function("!document.getElementById('sample-go').disabled")  # answered
        assert page.locator("#sample-msg").text_content() == ""
        shot = os.environ.get("DEMO_SCREENSHOT") or str(tmp_path / "demo.png")
        page.check("input[name=restore-source][value=draw]")
        page.click("#restore-go")  # the message clears when the request goes out, the button comes back with the answer
        page.wait_for_function("document.getElementById('restore-msg').textContent === '' && "
                               "!document.getElementById('restore-go').disabled")
        assert page.locator("#restore-original").get_attribute("src").startswith("data:image/png")
        page.screenshot(path=shot, full_page=True)
        browser.close()
    assert errors == []
    assert Image.open(shot).size[0] == 1000
