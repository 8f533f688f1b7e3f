"""``ganforge demo --generator RUN``: a local web page to explore a trained generator.

Sample with a truncation slider (and a class picker for a conditional generator), interpolate
between two samples or two uploaded images, and restore an uploaded or drawn image hidden by a
chosen mask, with PSNR. The server is Flask's (``pip install 'ganforge[demo]'``) and listens on
127.0.0.1 unless told otherwise. Uploads are capped in size and decoded with the guards
``--images`` uses (decompression bombs, any mode and size converted); every bad upload or request
is answered with a JSON ``{"error": ...}`` that the page shows, and the server stays up.
"""
from __future__ import annotations

import base64
import io
import math
import threading
from importlib import resources
from typing import Any, Callable, Optional

import torch
from PIL import Image
from torch import Tensor

from ..errors import GanforgeError
from ..latent.fidelity import psnr
from ..images import read_images
from ..latent.interpolation import interpolate_latents
from ..latent.inversion import invert
from ..loading import OpenedGenerator
from ..latent.masks import MASK_KINDS, apply_mask, make_mask
from ..latent.sampling import sample

MAX_SAMPLES = 64
MAX_STEPS = 16
INVERSION = dict(restarts=4, iters=200)  # a second or two on a CPU for the 28x28 models


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

def make_app(gen: OpenedGenerator, *, max_upload: int = 2 * 1024 * 1024):
    """The Flask app serving the page and its four JSON endpoints for ``gen``."""
    try:
        from flask import Flask, jsonify, request
        from werkzeug.exceptions import HTTPException
    except ImportError:
        raise GanforgeError("ganforge demo needs Flask: pip install 'ganforge[demo]'") from None
    explorer = Explorer(gen)
    app = Flask("ganforge.demo")
    app.config["MAX_CONTENT_LENGTH"] = max_upload
    page = resources.files(__package__).joinpath("page.html").read_text()

    def form_int(name: str, low: int, high: int, default: Optional[int] = None) -> Optional[int]:
        text = request.form.get(name, "").strip()
        if not text:
            return default
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
        return read_images([io.BytesIO(file.read())], gen.shape, names=[file.filename])

    def answer(work: Callable[[], dict[str, Any]]):
        try:
            return jsonify(work())
        except GanforgeError as exc:
            return jsonify(error=str(exc)), 400

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):  # 404, 405, 413 (upload over the cap): one line in the page
        message = (f"upload larger than the {max_upload // 1024} KB this demo accepts" if exc.code == 413
                   else f"{exc.name}")
        return jsonify(error=message), exc.code

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):  # never a traceback in the page; the server log keeps it
        app.logger.exception("request failed")
        return jsonify(error=f"the demo could not do that ({type(exc).__name__}: {str(exc)[:160]})"), 500

    @app.get("/")
    def index():
        return page, 200, {"Content-Type": "text/html; charset=utf-8"}

    @app.get("/api/info")
    def info():
        return jsonify(explorer.info())

    @app.post("/api/sample")
    def sample_route():
        def work():
            text = request.form.get("truncation", "").strip()
            try:
                psi = float(text) if text else None
            except ValueError:
                raise GanforgeError(f"truncation must be a number, got {text[:20]!r}") from None
            if psi is not None and not 0 < psi <= 10:
                raise GanforgeError(f"truncation must be in (0, 10], got {psi}")
            return explorer.sample(form_int("n", 1, MAX_SAMPLES, 16), psi, label(), form_int("seed", 0, 2**31, 0))
        return answer(work)

    @app.post("/api/interpolate")
    def interpolate_route():
        def work():
            steps = form_int("steps", 2, MAX_STEPS, 8)
            if request.form.get("mode") == "images":
                return explorer.interpolate(upload("a"), upload("b"), steps, label())
            return explorer.interpolate(form_int("seed_a", 0, 2**31, 0), form_int("seed_b", 0, 2**31, 1), steps,
                                        label())
        return answer(work)

    @app.post("/api/restore")
    def restore_route():
        def work():
            mask = request.form.get("mask", "pepper")
            if mask not in MASK_KINDS:
                raise GanforgeError(f"unknown mask {mask[:20]!r}; valid: {', '.join(MASK_KINDS)}")
            return explorer.restore(upload("image"), mask, label(), form_int("seed", 0, 2**31, 0))
        return answer(work)

    return app


def serve(gen: OpenedGenerator, *, host: str = "127.0.0.1", port: int = 8000, max_upload: int = 2 * 1024 * 1024,
          ready: Optional[Callable[[str], None]] = None) -> None:
    """Serve the demo until interrupted; ``ready`` is told the address once it listens."""
    import logging

    from werkzeug.serving import make_server

    app = make_app(gen, max_upload=max_upload)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    try:
        server = make_server(host, port, app, threaded=True)
    except OSError as exc:
        raise GanforgeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    address = f"http://{host}:{server.server_port}/"
    (ready or print)(address)
    server.serve_forever()
