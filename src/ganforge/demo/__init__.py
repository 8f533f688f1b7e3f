"""``ganforge demo --generator RUN``: a local web page to explore a trained generator.

Sample with a truncation slider (and a class picker for a conditional generator), interpolate
between two samples or two uploaded images, and restore an uploaded or drawn image hidden by a
chosen mask, with PSNR. The server is Flask's (``pip install 'ganforge[demo]'``) and listens on
127.0.0.1 unless told otherwise; every bad upload or request is answered with a JSON
``{"error": ...}`` that the page shows, and the server stays up.

It answers its own page only, whatever other page the user has open: a request whose Host is not
the server's own address (DNS rebinding) or whose Origin is another site's is refused, and every
API request carries the token the page was served with (a cross-site form cannot set the header).
Uploads are decoded only as PNG, JPEG, BMP, WebP or GIF (the first frame), up to a pixel count set
for the demo, and inside the one slot generator work has: a busy server answers 503 at once,
connections beyond a bound are answered 503 before a thread is made for them, idle ones are closed,
and inversions stop at a time limit. Every number a request sets has a server-side range.
"""
from __future__ import annotations

import base64
import collections
import io
import math
import secrets
import threading
from contextlib import contextmanager
from importlib import resources
from typing import Any, Callable, Iterator, Optional
from urllib.parse import urlsplit

import torch
from PIL import Image
from torch import Tensor

from ..errors import GanforgeError
from ..images import read_images
from ..latent.fidelity import psnr
from ..latent.interpolation import interpolate_latents
from ..latent.inversion import invert
from ..latent.masks import MASK_KINDS, apply_mask, make_mask
from ..latent.sampling import sample
from ..loading import OpenedGenerator

MAX_SAMPLES = 64
MAX_STEPS = 16
MAX_SEED = 2**31
REQUEST_SECONDS = 10.0  # an inversion stops here, with the best latent so far
INVERSION = dict(restarts=4, iters=200, seconds=REQUEST_SECONDS)  # a second or two on a CPU at 28x28
UPLOAD_FORMATS = ("PNG", "JPEG", "BMP", "WEBP", "GIF")  # Pillow's names; nothing else is decoded
UPLOAD_PIXELS = 4_194_304  # 2048x2048: at most 16 MB decoded, far more than a 28-128 px generator needs
CONNECTIONS = 32  # connections served at once; more are answered 503 before a thread is made for them
IDLE_SECONDS = 10  # a connection that sends nothing for this long is closed
TOKEN_HEADER = "X-Ganforge-Token"


class Explorer:
    """What the page asks of a generator, as functions of plain values; one request at a time."""

    def __init__(self, gen: OpenedGenerator):
        if len(gen.shape) != 3:
            raise GanforgeError(f"{gen.source} makes 2-D points, not images; ganforge demo shows image generators "
                                "(use ganforge sample for the toys)")
        self.gen, self.lock = gen, threading.Lock()

    def info(self) -> dict[str, Any]:
        g = self.gen
        return {"model": g.model, "dataset": g.dataset, "z_dim": g.z_dim, "shape": list(g.shape),
                "classes": g.classes, "weights": g.meta.get("weights", "raw"), "masks": list(MASK_KINDS),
                "max_samples": MAX_SAMPLES}

    def _G(self, label: Optional[int]):
        return (self.gen if label is None else self.gen.with_class(label)).G

    @torch.no_grad()
    def sample(self, n: int, truncation: Optional[float], label: Optional[int], seed: int) -> dict[str, Any]:
        with self.lock:
            images, _ = sample(self._G(label), n, self.gen.z_dim, psi=truncation, seed=seed, device=self.gen.device)
        return {"image": data_url(grid(images, ncol=min(n, 8)))}

    def interpolate(self, first: Tensor | int, second: Tensor | int, steps: int,
                    label: Optional[int]) -> dict[str, Any]:
        """Between two samples (their seeds) or two images (inverted), in ``steps`` columns; a conditional
        G stays at one class all along (``label``, else 0)."""
        G = self._G(0 if label is None and self.gen.classes else label)
        with self.lock:
            z = torch.cat([self._latent(G, x) for x in (first, second)])
            alphas = [1 - i / (steps - 1) for i in range(steps)]  # from the first (a = 1) to the second
            with torch.no_grad():
                row = interpolate_latents(G, z[:1], z[1:], alphas).rows[0]
        return {"image": data_url(grid(row, ncol=steps))}

    def _latent(self, G, source: Tensor | int) -> Tensor:
        if isinstance(source, int):  # a sample's seed
            return torch.randn(1, self.gen.z_dim, generator=torch.Generator().manual_seed(source)).to(self.gen.device)
        if self.gen.encoder is not None:
            return self.gen.encoder(source)
        return invert(G, source.to(self.gen.device), z_dim=self.gen.z_dim, **INVERSION).z

    def restore(self, image: Tensor, mask: str, label: Optional[int], seed: int) -> dict[str, Any]:
        h, w = self.gen.shape[-2:]
        hidden = make_mask(mask, (h, w), generator=torch.Generator().manual_seed(seed)).to(self.gen.device)
        image = image.to(self.gen.device)
        masked = apply_mask(image, hidden)
        with self.lock:
            restored = invert(self._G(label), masked, hidden=hidden, z_dim=self.gen.z_dim, seed=seed,
                              **INVERSION).reconstructions
        where = hidden[None, None].expand_as(image)
        return {"original": data_url(grid(image)), "masked": data_url(grid(masked)),
                "restored": data_url(grid(restored)), "psnr_all": _db(psnr(restored, image)),
                "psnr_hidden": _db(psnr(restored, image, where)), "hidden_fraction": float(hidden.float().mean())}


def _db(value: Tensor) -> Optional[float]:
    """A PSNR for JSON: None where it is infinite (a perfect restoration), which JSON cannot hold."""
    x = float(value[0])
    return x if math.isfinite(x) else None


def grid(images: Tensor, ncol: int = 1, scale: int = 4) -> Image.Image:
    """(N, C, H, W) in [-1, 1] -> one PIL image, ``ncol`` wide, each pixel ``scale`` pixels."""
    from torchvision.utils import make_grid

    x = make_grid(images.detach().float().cpu().clamp(-1, 1).add(1).div(2), nrow=ncol, padding=1, pad_value=0.5)
    array = x.mul(255).round().byte().permute(1, 2, 0).numpy()
    im = Image.fromarray(array)
    return im.resize((im.width * scale, im.height * scale), Image.NEAREST)


def data_url(im: Image.Image) -> str:
    buffer = io.BytesIO()
    im.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


# --------------------------------------------------------------------------- the web app

def allowed_hosts(origin: str) -> set[str]:
    """The Host headers that name the server at ``origin`` (http://HOST:PORT): that one, and at a loopback
    address its other loopback names."""
    parts = urlsplit(origin)
    hosts = {parts.netloc}
    if parts.hostname in ("127.0.0.1", "localhost"):
        port = f":{parts.port}" if parts.port else ""
        hosts |= {f"127.0.0.1{port}", f"localhost{port}"}
    return hosts


def make_app(gen: OpenedGenerator, *, max_upload: int = 2 * 1024 * 1024, origin: str = "http://127.0.0.1:8000"):
    """The Flask app serving the page and its four JSON endpoints for ``gen``, to the page it serves at
    ``origin`` only."""
    try:
        from flask import Flask, jsonify, request
        from werkzeug.exceptions import HTTPException
    except ImportError:
        raise GanforgeError("ganforge demo needs Flask: pip install 'ganforge[demo]'") from None
    explorer = Explorer(gen)
    app = Flask("ganforge.demo")
    app.config["MAX_CONTENT_LENGTH"] = max_upload
    page = resources.files(__package__).joinpath("page.html").read_text()
    hosts = allowed_hosts(origin)
    origins = {f"{urlsplit(origin).scheme}://{h}" for h in hosts}
    issued: collections.deque[str] = collections.deque(maxlen=256)  # the tokens of the last pages served
    slot = threading.BoundedSemaphore(1)  # generator work, decoding included: one request at a time

    def refuse(code: int, message: str):
        return jsonify(error=message), code

    @app.before_request
    def guard():
        if request.host not in hosts:  # another name resolving here: DNS rebinding
            return refuse(403, f"this demo answers requests to {origin} only")
        sent = request.headers.get("Origin")
        if sent is not None and sent not in origins:  # another site's page
            return refuse(403, "this demo answers its own page only")
        if request.path.startswith("/api/") and request.headers.get(TOKEN_HEADER) not in issued:
            return refuse(403, "missing or unknown page token: reload the demo page")
        return None

    @app.after_request
    def headers(response):
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data: blob:; style-src 'unsafe-inline'; "
            "script-src 'unsafe-inline'; frame-ancestors 'none'; form-action 'none'")
        return response

    @contextmanager
    def working() -> Iterator[None]:
        if not slot.acquire(blocking=False):
            raise Busy()
        try:
            yield
        finally:
            slot.release()

    def form_int(name: str, low: int, high: int, default: Optional[int] = None) -> Optional[int]:
        text = request.form.get(name, "").strip()
        if not text:
            return default
        if len(text) > 12:
            raise GanforgeError(f"{name} must be between {low} and {high}, got {text[:20]!r}")
        try:
            value = int(text)
        except ValueError:
            raise GanforgeError(f"{name} must be a whole number, got {text[:20]!r}") from None
        if not low <= value <= high:
            raise GanforgeError(f"{name} must be between {low} and {high}, got {value}")
        return value

    def label() -> Optional[int]:
        return form_int("class", 0, gen.classes - 1) if gen.classes else None

    def upload(name: str) -> Tensor:
        file = request.files.get(name)
        if file is None or not file.filename:
            raise GanforgeError(f"no image was uploaded as {name!r}")
        return read_images([io.BytesIO(file.read())], gen.shape, names=[file.filename[:80]],
                           formats=UPLOAD_FORMATS, max_pixels=UPLOAD_PIXELS)

    def answer(work: Callable[[], dict[str, Any]]):
        try:
            with working():
                return jsonify(work())
        except Busy:
            return refuse(503, "the demo is busy with another request; try again in a moment")
        except GanforgeError as exc:
            return refuse(400, str(exc))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):  # 404, 405, 413 (upload over the cap): one line in the page
        message = (f"upload larger than the {max_upload // 1024} KB this demo accepts" if exc.code == 413
                   else f"{exc.name}")
        return refuse(exc.code, message)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):  # never a traceback in the page; the server log keeps it
        app.logger.exception("request failed")
        return refuse(500, f"the demo could not do that ({type(exc).__name__}: {str(exc)[:160]})")

    @app.get("/")
    def index():
        token = secrets.token_urlsafe(24)
        issued.append(token)
        return page.replace("{{TOKEN}}", token), 200, {"Content-Type": "text/html; charset=utf-8",
                                                       "Cache-Control": "no-store"}

    @app.get("/api/info")
    def info():
        return jsonify(explorer.info())

    @app.post("/api/sample")
    def sample_route():
        def work():
            text = request.form.get("truncation", "").strip()
            try:
                psi = float(text[:20]) if text else None
            except ValueError:
                raise GanforgeError(f"truncation must be a number, got {text[:20]!r}") from None
            if psi is not None and not 0 < psi <= 10:
                raise GanforgeError(f"truncation must be in (0, 10], got {psi}")
            return explorer.sample(form_int("n", 1, MAX_SAMPLES, 16), psi, label(),
                                   form_int("seed", 0, MAX_SEED, 0))
        return answer(work)

    @app.post("/api/interpolate")
    def interpolate_route():
        def work():
            steps = form_int("steps", 2, MAX_STEPS, 8)
            if request.form.get("mode") == "images":
                return explorer.interpolate(upload("a"), upload("b"), steps, label())
            return explorer.interpolate(form_int("seed_a", 0, MAX_SEED, 0), form_int("seed_b", 0, MAX_SEED, 1),
                                        steps, label())
        return answer(work)

    @app.post("/api/restore")
    def restore_route():
        def work():
            mask = request.form.get("mask", "pepper")
            if mask not in MASK_KINDS:
                raise GanforgeError(f"unknown mask {mask[:20]!r}; valid: {', '.join(MASK_KINDS)}")
            return explorer.restore(upload("image"), mask, label(), form_int("seed", 0, MAX_SEED, 0))
        return answer(work)

    return app


class Busy(Exception):
    """Generator work is under way; the request is answered 503 at once rather than queued."""


def make_server(gen: OpenedGenerator, *, host: str = "127.0.0.1", port: int = 8000,
                max_upload: int = 2 * 1024 * 1024):
    """The demo's HTTP server, listening (not yet serving): werkzeug's threaded server with at most
    ``CONNECTIONS`` connections served at once (more are answered 503 and closed, with no thread made)
    and idle connections closed after ``IDLE_SECONDS``."""
    import logging

    from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

    class Handler(WSGIRequestHandler):
        timeout = IDLE_SECONDS

        def log_request(self, *args, **kwargs) -> None:  # no line per request
            pass

    class BoundedServer(ThreadedWSGIServer):
        slots = threading.BoundedSemaphore(CONNECTIONS)
        request_queue_size = 128  # the listen backlog: a burst of connections waits here, not in threads

        def process_request(self, request, client_address):
            if not self.slots.acquire(blocking=False):
                try:
                    request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                                    b"Connection: close\r\nRetry-After: 1\r\n\r\n")
                except OSError:
                    pass
                self.shutdown_request(request)
                return
            super().process_request(request, client_address)

        def process_request_thread(self, request, client_address):
            try:
                super().process_request_thread(request, client_address)
            finally:
                self.slots.release()

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    try:
        probe = BoundedServer(host, port, lambda environ, start: [], Handler)
    except OSError as exc:
        raise GanforgeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    shown = f"[{host}]" if ":" in host else host
    probe.app = make_app(gen, max_upload=max_upload, origin=f"http://{shown}:{probe.server_port}")
    return probe


def serve(gen: OpenedGenerator, *, host: str = "127.0.0.1", port: int = 8000, max_upload: int = 2 * 1024 * 1024,
          ready: Optional[Callable[[str], None]] = None) -> None:
    """Serve the demo until interrupted; ``ready`` is told the address once it listens."""
    server = make_server(gen, host=host, port=port, max_upload=max_upload)
    shown = f"[{host}]" if ":" in host else host
    (ready or print)(f"http://{shown}:{server.server_port}/")
    server.serve_forever()
