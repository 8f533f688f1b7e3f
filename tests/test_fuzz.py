"""Fuzzing with hypothesis: flag values, image files, checkpoints and the records report reads.
Every case must end with success, or with exit code 2 and one clear line; never a traceback, never
a file touched outside the case's own output folder, never code run from a checkpoint.

Case counts (max_examples: 1,250 in all) are fixed and the search is derandomised, so CI runs the
same cases.
"""
import contextlib
import io
import json
import os
import pickle
import shutil
import struct
import tempfile
import warnings
import zlib
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ganforge.cli import main

FUZZ = settings(deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
MARKER = "ganforge-fuzz-payload-ran"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def generator(tmp_path_factory) -> Path:
    """A small trained MNIST generator (M2: fully connected, fast) and its run folder."""
    run = tmp_path_factory.mktemp("gen") / "run"
    assert main(["train", "-g", "M2", "-d", "M3", "-b", "32", "--limit", "64", "-e", "1", "-q", "-o", str(run)]) == 0
    return run


def _snapshot(root: Path, skip: Path) -> dict:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")
            if p.is_file() and skip not in p.parents and p != skip}


def run_case(argv: list[str], work: Path, out: Path) -> tuple[int, str]:
    """Run the CLI in-process; check the outcome rules; return (code, stderr)."""
    before = _snapshot(work.parent, out)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()), \
            warnings.catch_warnings(record=True) as warned:
        warnings.simplefilter("always")
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's own exits
            code = exc.code
    assert not warned, [str(w.message)[:200] for w in warned]  # a user would see these on stderr
    text = err.getvalue()
    assert "Traceback" not in text and "Warning" not in text, text
    assert code in (0, 2), (argv, code, text)
    if code == 2:
        errors = [line for line in text.splitlines() if "error:" in line]
        assert len(errors) == 1 and len(errors[0]) < 400, text
    assert _snapshot(work.parent, out) == before, "a file outside the output folder changed"
    assert not (work / MARKER).exists()
    return code, text


# ---- command-line flag values -------------------------------------------------------------

WEIRD = st.sampled_from(["", " ", "-1", "0", "1e999", "nan", "inf", "-inf", "1e-45", "0x10", "1_000", "２",
                         "abc", "--", "-", "None", "3.5", "\x00", "ring;rm -rf /", "../../etc",
                         "M1", "M3", "mnist", "bf16", "cuda", "cuda:7", "mps", "auto", "cpu", "restore"])
VALUE = st.one_of(WEIRD, st.integers(-3, 9).map(str), st.floats(allow_nan=True, allow_infinity=True).map(repr),
                  st.text(max_size=8))

TRAIN_FLAGS = ["-b", "-e", "-k", "-z", "--lr-g", "--lr-d", "--beta1", "--beta2", "--real-label", "--image-size",
               "--log-every", "--checkpoint-every", "--dataset", "-g", "-d", "-l", "--device", "--amp",
               "--unroll-mode", "-gs", "-ds", "--seed", "--limit", "--vanish-threshold", "--vanish-patience",
               "--recipe", "--r1", "--r2", "--reg-every", "--spectral-norm", "--pack", "--augment", "--augment-p",
               "--ada-target", "--ema", "--ema-rampup", "--time-limit", "--lr-half-life", "--clusters"]
LATENT_FLAGS = {
    "sample": ["-n", "--truncation", "--seed", "--device", "-z", "--model", "--dataset"],
    "invert": ["-n", "-i", "-s", "--lr", "--prior", "--prune-after", "--indices", "--optimizer", "--seed"],
    "restore": ["--pepper-fraction", "--square-size", "--mask", "-n", "-i", "-s", "--indices"],
    "interpolate": ["--alphas", "--a", "--b", "-i", "-s"],
    "evaluate": ["--truncation-sweep", "-n", "--truncation", "--seed"],
}


@settings(FUZZ, max_examples=250)
@given(flag=st.sampled_from(TRAIN_FLAGS), value=VALUE)
def test_train_flag_values(flag, value):
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        out = work / "out"
        base = ["train", "--dataset", "ring", "-b", "64", "--limit", "64", "-e", "1", "-q", "--log-every", "1"]
        run_case([*base, flag, value, "-o", str(out)], work, out)


@settings(FUZZ, max_examples=250)
@given(command=st.sampled_from(sorted(LATENT_FLAGS)), data=st.data())
def test_generator_command_flag_values(generator, command, data):
    flag = data.draw(st.sampled_from(LATENT_FLAGS[command]))
    value = data.draw(VALUE)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        out = work / "out"
        small = {"sample": ["-n", "4"], "invert": ["-n", "1", "-i", "2", "-s", "2"],
                 "restore": ["-n", "1", "-i", "2", "-s", "1", "--mask", "square"],
                 "interpolate": ["--a", "0", "--b", "1", "-i", "2", "-s", "1"], "evaluate": ["-n", "20"]}[command]
        run_case([command, "--generator", str(generator), *small, flag, value, "-o", str(out)], work, out)


# ---- image inputs ---------------------------------------------------------------------------

def _png(width: int, height: int, mode: str, seed: int) -> bytes:
    from PIL import Image

    g = torch.Generator().manual_seed(seed)
    channels = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}[mode]
    pixels = torch.randint(0, 256, (height, width, channels), generator=g, dtype=torch.uint8).squeeze(-1).numpy()
    buf = io.BytesIO()
    Image.fromarray(pixels, mode=mode).save(buf, format="PNG")
    return buf.getvalue()


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims a huge size (a decompression bomb's first bytes)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) + \
        chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


IMAGE_BYTES = st.one_of(
    st.builds(_png, st.integers(1, 80), st.integers(1, 80), st.sampled_from(["L", "LA", "RGB", "RGBA"]),
              st.integers(0, 1000)),
    st.builds(lambda b, cut: b[:cut], st.builds(_png, st.just(28), st.just(28), st.just("L"), st.integers(0, 9)),
              st.integers(0, 400)),  # truncated
    st.builds(_png_claiming, st.integers(1, 2**31 - 1), st.integers(1, 2**31 - 1)),
    st.binary(max_size=300),  # not an image (or empty)
    st.sampled_from([b"", b"hello", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"\xff\xd8\xff\xe0" + b"\x00" * 20]),
)


@settings(FUZZ, max_examples=200)
@given(blob=IMAGE_BYTES, suffix=st.sampled_from([".png", ".jpg", ".txt", ""]))
def test_image_inputs(generator, blob, suffix):
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        image = work / f"input{suffix}"
        image.write_bytes(blob)
        out = work / "out"
        run_case(["invert", "--generator", str(generator), "--images", str(image), "-i", "2", "-s", "2", "-o",
                  str(out)], work, out)


# ---- checkpoints ----------------------------------------------------------------------------

class Payload:
    """A pickle that would create a marker file if it were ever loaded."""

    def __init__(self, folder: str):
        self.folder = folder

    def __reduce__(self):
        return (os.system, (f"touch {self.folder}/{MARKER}",))


def _checkpoint(kind: str, data: st.DataObject, valid: bytes, work: Path) -> tuple[bytes, str]:
    from safetensors.torch import save

    if kind == "truncated":
        return valid[:data.draw(st.integers(0, len(valid) - 1))], ".safetensors"
    if kind == "flipped":
        pos = data.draw(st.integers(0, min(len(valid), 600) - 1))
        return valid[:pos] + bytes([valid[pos] ^ data.draw(st.integers(1, 255))]) + valid[pos + 1:], ".safetensors"
    if kind == "metadata":
        meta = data.draw(st.dictionaries(st.sampled_from(["kind", "model", "z_dim", "shape", "dataset", "format"]),
                                         st.one_of(st.none(), st.integers(-5, 10**6), st.text(max_size=6),
                                                   st.lists(st.integers(-2, 64), max_size=4)), max_size=6))
        tensors = {"G.net.0.weight": torch.zeros(2, 2)}
        return save(tensors, metadata={"ganforge": json.dumps(meta)}), ".safetensors"
    if kind == "shapes":
        shape = data.draw(st.lists(st.integers(0, 9), min_size=0, max_size=3))
        meta = {"format": "ganforge-checkpoint-1", "kind": "generator", "generator": "M2", "z_dim": 50,
                "shape": [1, 28, 28], "dataset": "mnist"}
        return save({"G.net.0.weight": torch.zeros(shape)}, metadata={"ganforge": json.dumps(meta)}), ".safetensors"
    # a legacy .pt/.pkl whose loading would run code
    return pickle.dumps({"state": Payload(str(work))}), data.draw(st.sampled_from([".pt", ".pkl"]))


@settings(FUZZ, max_examples=350)
@given(kind=st.sampled_from(["truncated", "flipped", "metadata", "shapes", "payload"]), data=st.data())
def test_checkpoint_files(generator, kind, data):
    valid = (generator / "generator.safetensors").read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        blob, suffix = _checkpoint(kind, data, valid, work)
        path = work / f"gen{suffix}"
        path.write_bytes(blob)
        out = work / "out"
        code, _ = run_case(["sample", "--generator", str(path), "-n", "4", "--model", "M2", "--dataset", "mnist",
                            "-o", str(out)], work, out)
        if kind in ("payload", "truncated"):
            assert code == 2


# ---- the records report reads --------------------------------------------------------------

JSON_VALUE = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-3, 10**6), st.floats(allow_nan=False),
                                    st.text(max_size=6)),
                          lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                  st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                          max_leaves=8)


@pytest.fixture(scope="module")
def folders(generator, tmp_path_factory) -> dict[str, Path]:
    """A run with its evaluation, and an inversion folder, to spoil one record of at a time."""
    root = tmp_path_factory.mktemp("folders")
    assert main(["evaluate", "--generator", str(generator), "-n", "100"]) == 0
    assert main(["invert", "--generator", str(generator), "-n", "1", "-i", "2", "-s", "1", "-o",
                 str(root / "invert")]) == 0
    return {"run": generator, "invert": root / "invert"}


@settings(FUZZ, max_examples=200)
@given(which=st.sampled_from(["run/config.json", "run/summary.json", "run/evaluation/metrics.json",
                              "invert/results.json"]),
       how=st.sampled_from(["cut", "value", "field", "bytes"]), data=st.data())
def test_report_on_spoilt_records(folders, which, how, data):
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "work"
        folder, name = which.split("/", 1)
        shutil.copytree(folders[folder], work / folder)
        path = work / folder / name
        text = path.read_text()
        if how == "cut":  # a file cut short
            path.write_text(text[: data.draw(st.integers(0, len(text) - 1))])
        elif how == "value":  # any JSON at all
            path.write_text(json.dumps(data.draw(JSON_VALUE)))
        elif how == "field":  # one field of the record replaced, kind and format included
            record = json.loads(text)
            record[data.draw(st.sampled_from(sorted(record)))] = data.draw(JSON_VALUE)
            path.write_text(json.dumps(record))
        else:
            path.write_bytes(data.draw(st.binary(max_size=64)))
        out = work / "out"
        out.mkdir()
        run_case(["report", str(work / folder), "-o", str(out / "r.html")], work, out)
