"""Generators that leave ganforge: ONNX (run by onnxruntime and other ONNX runtimes) and TorchScript
(loaded by plain torch, C++ included), each with a dynamic batch size and ganforge's metadata.

The file takes latents z of shape (batch, z_dim) (and, for a class-conditional generator, the
classes, int64 of shape (batch,)) and returns samples of shape (batch, *shape): images in
[-1, 1] (``value_range``), or points for the 2-D toys. The metadata (z size, sample
shape, value range, model, dataset, which weights) travels inside the file: ONNX's
``metadata_props`` (values JSON-encoded) and TorchScript's extra file ``ganforge.json``.
"""
from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..errors import GanforgeError
from ..io import atomic_write_bytes
from ..loading import OpenedGenerator

FORMATS = ("onnx", "torchscript")
SUFFIXES = {"onnx": ".onnx", "torchscript": ".pt"}
EXTRA_FILE = "ganforge.json"


def default_export_path(generator: Path, fmt: str) -> Path:
    """Where ``ganforge export`` writes when not told: beside the generator (in its run folder); for a
    generator that ships with ganforge, the current folder."""
    from ..pretrained import is_pretrained

    if is_pretrained(generator):
        return Path(f"pretrained-{generator.stem}{SUFFIXES[fmt]}")
    folder = generator if generator.is_dir() else generator.parent
    return folder / f"generator{SUFFIXES[fmt]}"


def metadata(gen: OpenedGenerator) -> dict[str, Any]:
    image = len(gen.shape) == 3
    return {"exported_by": f"ganforge {__version__}", "model": gen.model, "dataset": gen.dataset,
            "z_dim": gen.z_dim, "shape": list(gen.shape), "value_range": [-1.0, 1.0] if image else None,
            "weights": gen.meta.get("weights", "raw"), "classes": gen.classes,
            "inputs": ["z", "class"] if gen.classes else ["z"], "outputs": ["samples"],
            # a self-conditioned G's classes are clusters: draw them this often to sample the data's distribution
            **({"class_prior": gen.prior.tolist()} if gen.prior is not None else {})}


def export_generator(gen: OpenedGenerator, path: Path | str, fmt: str) -> dict[str, Any]:
    """Write ``gen`` (opened with ``fast=False``, on the CPU) to ``path`` as ``fmt``; returns the metadata."""
    if fmt not in FORMATS:
        raise GanforgeError(f"unknown export format {fmt!r}; valid: {', '.join(FORMATS)}")
    meta = metadata(gen)
    G = (gen.conditional or gen.G).cpu().eval()
    example = (torch.randn(2, gen.z_dim, generator=torch.Generator().manual_seed(0)),)
    if gen.classes:
        example += (torch.arange(2) % gen.classes,)
    data = _onnx(G, example, meta) if fmt == "onnx" else _torchscript(G, example, meta)
    atomic_write_bytes(path, data)
    return meta


def _onnx(G: torch.nn.Module, example: tuple[torch.Tensor, ...], meta: dict[str, Any]) -> bytes:
    try:
        import onnx
        import onnxscript  # noqa: F401  (torch's exporter needs it)
    except ImportError:
        raise GanforgeError("ONNX export needs the onnx and onnxscript packages: pip install 'ganforge[export]'") \
            from None
    batch = torch.export.Dim("batch", min=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(G, example, input_names=meta["inputs"], output_names=meta["outputs"],
                                    dynamic_shapes=tuple({0: batch} for _ in example), dynamo=True, verbose=False)
    model = program.model_proto
    onnx.helper.set_model_props(model, {k: json.dumps(v) for k, v in meta.items()})
    return model.SerializeToString()


def _torchscript(G: torch.nn.Module, example: tuple[torch.Tensor, ...], meta: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # torch marks TorchScript as deprecated in favour of torch.export, whose
        warnings.simplefilter("ignore")  # files plain torch cannot run without the model's Python classes
        traced = torch.jit.trace(G, example, check_trace=False)
        torch.jit.save(traced, buffer, _extra_files={EXTRA_FILE: json.dumps(meta)})
    return buffer.getvalue()
