"""What every JSON file a ganforge command writes is: one place that names the kinds, writes them
and reads them back.

Each file is a JSON object with ``"kind"`` (one of ``KINDS``) and ``"format"`` (a version
number of that file's layout), then the command's own fields. ``ganforge report`` dispatches
on ``kind``; a reader that meets a kind it does not know, or a format it does not read, says so
instead of guessing from keys.

Folders written by ganforge 0.1 have no ``kind``: ``read_record`` recognises those files once,
here, by file name and their fields, and hands them on as format-0 records with their old
metric names (plain ``fid``/``kid`` for the evaluator-feature FID/KID) renamed.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import GanforgeError
from .io import atomic_write_json

FORMAT = 1  # the layout this version writes and reads; 0 stands for ganforge 0.1's files, which have no kind

KINDS = {
    "gan-run": "a GAN training run's configuration (config.json)",
    "ae-run": "an autoencoder training run's configuration (config.json)",
    "run-summary": "what a finished training run did (summary.json)",
    "latent-normality": "an autoencoder's latent distance to N(0, 1) per epoch (latent_ks.json)",
    "image-evaluation": "FID, KID, classifier score and more in an evaluator's features (metrics.json)",
    "toy-evaluation": "mode coverage of a 2-D toy generator (metrics.json)",
    "stacked-mnist-evaluation": "mode coverage of a Stacked MNIST generator (metrics.json)",
    "coverage-evaluation": "NDB: how a generator without an evaluator covers k-means cells of its data (metrics.json)",
    "inversion": "latents found for images, every restart's loss (results.json)",
    "restoration": "masked images filled in, PSNR and SSIM per mask (results.json)",
    "interpolation": "decoded rows between pairs of images (results.json)",
    "samples": "images drawn from a generator (results.json)",
    "evaluators": "the evaluator networks in a weights folder: file, checksum, test accuracy (evaluators.json)",
    "reproduction": "the report's experiment suite: what ran, how long, with which command (reproduce.json)",
}

# The file that says what a folder is, in the order a reader looks for them.
FOLDER_FILES = ("config.json", "metrics.json", "results.json", "reproduce.json")

# Evaluator-feature metrics had plain names in format 0.
_RENAMED = {"fid": "lenet_fid", "kid": "lenet_kid", "kid_std": "lenet_kid_std"}


@dataclass
class Record:
    kind: str
    format: int
    data: dict[str, Any]  # the whole object, kind and format included
    path: Path

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)


def write_record(path: Path | str, kind: str, fields: dict[str, Any]) -> None:
    """Write ``fields`` as a record of ``kind`` (atomically)."""
    if kind not in KINDS:
        raise ValueError(f"unknown record kind {kind!r}")
    atomic_write_json(path, {"kind": kind, "format": FORMAT, **fields})


def read_record(path: Path | str, expect: tuple[str, ...] = ()) -> Record:
    """The record in ``path``; GanforgeError (one line) if it is missing, damaged, of another shape,
    of a format this version does not read, or not of a kind in ``expect`` (when given)."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise GanforgeError(f"{path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GanforgeError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        data = json.loads(text)
    except ValueError:
        raise GanforgeError(f"{path} is damaged: not complete JSON (a file cut short?)") from None
    record = _upgrade(path, data) if _is_legacy(data) else _checked(path, data)
    if expect and record.kind not in expect:
        raise GanforgeError(f"{path} is a {record.kind} record, not {' or '.join(expect)}")
    return record


def folder_record(folder: Path) -> Record:
    """The record that says what ``folder`` is (a run's config.json, an evaluation's metrics.json, ...)."""
    for name in FOLDER_FILES:
        if (folder / name).is_file():
            return read_record(folder / name)
    if (folder / "samples.png").is_file() and (folder / "z.safetensors").is_file():  # ganforge 0.1's sample
        return Record("samples", 0, {"kind": "samples", "format": 0}, folder / "results.json")
    raise GanforgeError(f"{folder} holds no file a ganforge command writes ({', '.join(FOLDER_FILES)})")


def _checked(path: Path, data: Any) -> Record:
    if not isinstance(data, dict) or not isinstance(data.get("kind"), str) or "format" not in data:
        raise GanforgeError(f"{path} is JSON of another shape, not a ganforge record (no kind and format)")
    kind, fmt = data["kind"], data["format"]
    if kind not in KINDS:
        raise GanforgeError(f"{path} is a record of kind {kind!r}, which this ganforge does not know")
    if type(fmt) is not int or fmt != FORMAT:
        raise GanforgeError(f"{path} is a {kind} record in format {fmt!r}; this ganforge reads format {FORMAT}")
    return Record(kind, fmt, data, path)


# ---- ganforge 0.1's files ----------------------------------------------------------------------


def _is_legacy(data: Any) -> bool:
    """A file of ganforge 0.1: a list (latent_ks.json), or an object without a format."""
    if isinstance(data, list):
        return True
    return isinstance(data, dict) and "format" not in data and data.get("kind") in (None, "autoencoder")


def _upgrade(path: Path, data: Any) -> Record:
    kind = _legacy_kind(path.name, data)
    if kind is None:
        raise GanforgeError(f"{path} is JSON of another shape, not a ganforge record (no kind and format)")
    if isinstance(data, list):
        data = {"epochs": data}
    elif kind == "evaluators":
        data = {"evaluators": data}
    data = dict(data)
    if kind.endswith("evaluation"):
        data["results"] = [{_RENAMED.get(k, k): v for k, v in row.items()} for row in data.get("results") or []]
    data.update(kind=kind, format=0)
    return Record(kind, 0, data, path)


def _legacy_kind(name: str, data: Any) -> str | None:
    if name == "latent_ks.json" and isinstance(data, list):
        return "latent-normality"
    if not isinstance(data, dict):
        return None
    if name == "evaluators.json":
        return "evaluators"
    if name == "config.json" and {"dataset", "epochs", "seed", "versions"} <= data.keys():
        return "ae-run" if data.get("kind") == "autoencoder" else "gan-run"
    if name == "summary.json" and {"epochs", "iterations"} <= data.keys():
        return "run-summary"
    if name == "metrics.json" and isinstance(data.get("results"), list) and "generator" in data:
        return {"ring": "toy-evaluation", "grid": "toy-evaluation",
                "stacked-mnist": "stacked-mnist-evaluation"}.get(data.get("dataset"), "image-evaluation")
    if name == "results.json" and "generator" in data:
        for key, kind in (("masks", "restoration"), ("alphas", "interpolation"), ("images", "inversion")):
            if key in data:
                return kind
    return None
