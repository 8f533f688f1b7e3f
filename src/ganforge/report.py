"""One self-contained HTML page of what runs made: configuration, loss plots, sample grids,
inversion curves, restoration tables, interpolation rows, AE plots and metric tables.

Every folder a ganforge command writes is recognised by its files (a training run's
config.json, an evaluation's metrics.json, an inversion's results.json, ...). Images are
embedded as base64 PNGs; the page loads nothing from anywhere and runs no script.
"""
from __future__ import annotations

import base64
import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional

from .errors import GanforgeError

CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1200px;padding:1em 1.5em;
color:#1d1d1f;background:#fff}
h1{font-size:1.6em;margin:.2em 0}h2{font-size:1.25em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
h3{font-size:1.05em;margin:1.2em 0 .4em}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));gap:1em;align-items:start}
figure{margin:0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}
td,th{border:1px solid #ddd;padding:.25em .6em;text-align:right}th{background:#f4f4f6;text-align:left}
td:first-child,th:first-child,td.t{text-align:left}
.note{color:#666;font-size:.9em}code{background:#f4f4f6;padding:0 .25em}
nav a{margin-right:1em}
"""


@dataclass
class Item:
    """One folder's contribution: a heading, a kind and the HTML of its body."""

    path: Path
    kind: str
    title: str
    body: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)  # one row of the comparison table


def _img(path: Path, caption: str = "") -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption or path.name)}">{cap}</figure>'


def _grid(figures: Iterable[str]) -> str:
    figures = [f for f in figures if f]
    return f'<div class="grid">{"".join(figures)}</div>' if figures else ""


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return str(v)
        return f"{v:,.4g}" if abs(v) < 1e5 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, (list, tuple)):
        return ", ".join(_fmt(x) for x in v)
    return str(v)


def table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    def cell(c: Any) -> str:
        kind = ' class="t"' if isinstance(c, str) else ""
        return f"<td{kind}>{html.escape(_fmt(c))}</td>"

    body = "".join("<tr>" + "".join(cell(c) for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _json(path: Path) -> Optional[dict]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _pick(paths: list[Path], n: int) -> list[Path]:
    """Up to n paths spread evenly, always including the first and the last."""
    if len(paths) <= n:
        return paths
    step = (len(paths) - 1) / (n - 1)
    return [paths[round(i * step)] for i in range(n)]


# ---- the kinds of folder -------------------------------------------------------------------

GAN_KEYS = ("dataset", "generator", "discriminator", "loss", "unroll_steps", "unroll_mode", "g_steps", "d_steps",
            "batch_size", "z_dim", "lr_g", "lr_d", "real_label", "epochs", "seed", "processes", "device")
AE_KEYS = ("dataset", "model", "z_dim", "latent_reg", "moments_over", "factor_start", "factor_growth", "factor_cap",
           "batch_size", "lr", "epochs", "seed", "device")


def _training_run(path: Path, config: dict) -> Item:
    is_ae = "latent_reg" in config
    summary = _json(path / "summary.json") or {}
    if is_ae:
        title = f"autoencoder {config.get('model')} on {config.get('dataset')}, latent regulariser {config.get('latent_reg')}"
    else:
        title = (f"GAN {config.get('generator')}/{config.get('discriminator')} on {config.get('dataset')}, "
                 f"{config.get('loss')}, k={config.get('unroll_steps')}")
    item = Item(path, "ae" if is_ae else "gan", title)
    keys = AE_KEYS if is_ae else GAN_KEYS
    item.body.append(table(["option", "value"], [[k, config[k]] for k in keys if k in config]))
    if summary:
        item.body.append(table(["epochs", "iterations", "seconds", "seconds per epoch"],
                               [[summary.get("epochs"), summary.get("iterations"), summary.get("seconds"),
                                 summary.get("seconds_per_epoch")]]))
    else:
        item.body.append('<p class="note">No summary.json: the run has not finished (or was stopped).</p>')
    if (path / "loss.png").exists():
        item.body.append(_grid([_img(path / "loss.png", "losses")]))
    samples = sorted((path / "samples").glob("epoch_*.png"))
    if samples:
        item.body.append("<h3>Samples over epochs</h3>" if not is_ae else "<h3>Inputs and reconstructions</h3>")
        item.body.append(_grid(_img(p, p.stem.replace("_", " ")) for p in _pick(samples, 4)))
    item.summary = {"run": path.name, **{k: config.get(k) for k in ("generator", "discriminator", "loss",
                                                                  "unroll_steps", "model", "latent_reg")
                                         if k in config},
                    "epochs": summary.get("epochs"), "iterations": summary.get("iterations"),
                    "seconds": summary.get("seconds")}
    if is_ae:
        cdfs = sorted((path / "cdf").glob("epoch_*.png"))
        if cdfs:
            item.body.append("<h3>Latent values against N(0, 1)</h3>")
            item.body.append(_grid(_img(p, p.stem.replace("_", " ")) for p in _pick(cdfs, 3)))
        ks = _json(path / "latent_ks.json")
        if ks:
            item.body.append(table(["epoch", "KS to N(0, 1)", "mean", "variance", "kurtosis"],
                                   [[r["epoch"], r["ks"], *r["moments"]] for r in _pick(ks, 8)]))
            item.summary["latent KS"] = ks[-1]["ks"]
    else:
        metrics = _metrics_rows(_json(path / "evaluation" / "metrics.json"))
        if metrics:
            item.summary.update({k: metrics[0].get(k) for k in ("fid", "classifier_score", "class_kl_to_uniform")})
    return item


def _metrics_rows(metrics: Optional[dict]) -> list[dict]:
    return (metrics or {}).get("results") or []


def _evaluation(path: Path, metrics: dict) -> Item:
    item = Item(path, "evaluate", f"evaluation of {metrics.get('generator', path.parent.name)}")
    rows = _metrics_rows(metrics)
    if rows:
        item.body.append(table(
            ["truncation ψ", "FID", "KID", "classifier score", "real data's score", "class KL to uniform",
             "precision", "recall", "samples"],
            [["none" if r["truncation"] is None else r["truncation"], r["fid"], r["kid"], r["classifier_score"],
              r["classifier_score_real"], r["class_kl_to_uniform"], r["precision"], r["recall"], r["n_fake"]]
             for r in rows]))
        hist = rows[0].get("class_histogram")
        if hist:
            item.body.append("<h3>Class histogram (share of samples per class)</h3>")
            item.body.append(table([str(i) for i in range(len(hist))], [hist]))
        evaluator = metrics.get("evaluator") or {}
        item.body.append(f'<p class="note">Features of the shipped {html.escape(str(evaluator.get("dataset")))} '
                         f'evaluator (test accuracy {_fmt(evaluator.get("test_accuracy"))}); Inception FID: '
                         f'{_fmt(metrics.get("inception_fid"))}.</p>')
    elif "modes_covered" in metrics:
        keys = [k for k in ("modes_covered", "modes_total", "high_quality_share", "reverse_kl", "kl_to_uniform",
                            "samples") if k in metrics]
        item.body.append(table(keys, [[metrics[k] for k in keys]]))
    figures = [_img(path / f, f.rsplit(".", 1)[0]) for f in ("truncation.png", "samples.png") if (path / f).exists()]
    item.body.append(_grid(figures))
    return item


def _inversion(path: Path, results: dict) -> Item:
    item = Item(path, "invert", f"inversion: {results['restarts']} restarts, {results['iters']} iterations "
                                f"({results.get('optimizer')})")
    item.body.append(table(["image", "chosen restart", "final loss of each restart", "MSE", "PSNR (dB)"],
                           [[r["image"], r["chosen"], r["restart_losses"], r["mse"], r["psnr"]]
                            for r in results["images"]]))
    item.body.append(f'<p>Mean MSE {_fmt(results.get("mean_mse"))}.</p>')
    if (path / "grid.png").exists():
        item.body.append(_grid([_img(path / "grid.png", "inputs and reconstructions")]))
    curves = sorted((path / "loss_curves").glob("*.png"))
    if curves:
        item.body.append("<h3>Loss per restart (the chosen one marked)</h3>")
        item.body.append(_grid(_img(p, p.stem.replace("_", " ")) for p in curves[:8]))
    return item


def _restoration(path: Path, results: dict) -> Item:
    item = Item(path, "restore", f"restoration: {results['restarts']} restarts, {results['iters']} iterations")
    masks = results["masks"]
    item.body.append(table(["mask", "hidden share", "PSNR all (dB)", "PSNR hidden (dB)", "SSIM all", "SSIM hidden",
                            "PSNR of the masked input (dB)"],
                           [[k, r["hidden_fraction"], r["psnr_all"], r["psnr_hidden"], r["ssim_all"],
                             r["ssim_hidden"], r["psnr_masked_input"]] for k, r in masks.items()]))
    item.body.append(_grid(_img(path / f"restore_{k}.png", f"{k}: original | masked | restored")
                           for k in masks if (path / f"restore_{k}.png").exists()))
    return item


def _interpolation(path: Path, results: dict) -> Item:
    how = "spherical" if results.get("slerp") else "linear"
    item = Item(path, "interpolate", f"interpolation ({how}), a ∈ {{{', '.join(_fmt(a) for a in results['alphas'])}}}")
    if (path / "interpolation.png").exists():
        item.body.append(_img(path / "interpolation.png", "G(a·z1 + (1−a)·z2), one row per pair"))
    return item


def _samples(path: Path) -> Item:
    item = Item(path, "sample", "samples")
    item.body.append(_grid([_img(path / "samples.png", "samples")]))
    return item


def read_folder(path: Path) -> list[Item]:
    """The report items of one folder (a run folder also brings its evaluation/ subfolder)."""
    if not path.is_dir():
        raise GanforgeError(f"{path} is not a folder that a ganforge command wrote")
    config, results, metrics = _json(path / "config.json"), _json(path / "results.json"), _json(path / "metrics.json")
    items: list[Item] = []
    if config is not None:
        items.append(_training_run(path, config))
        if (path / "evaluation" / "metrics.json").exists():
            items.append(_evaluation(path / "evaluation", _json(path / "evaluation" / "metrics.json") or {}))
    elif metrics is not None:
        items.append(_evaluation(path, metrics))
    elif results is not None and "masks" in results:
        items.append(_restoration(path, results))
    elif results is not None and "alphas" in results:
        items.append(_interpolation(path, results))
    elif results is not None and "images" in results:
        items.append(_inversion(path, results))
    elif (path / "samples.png").exists():
        items.append(_samples(path))
    else:
        raise GanforgeError(f"{path} holds nothing a ganforge command writes (no config.json, results.json, "
                            "metrics.json or samples.png)")
    return items


def comparison(items: list[Item]) -> str:
    """Training runs of one kind side by side: a table and their last sample grids and loss plots."""
    html_parts = []
    for kind, name in (("gan", "GAN runs"), ("ae", "Autoencoder runs")):
        runs = [i for i in items if i.kind == kind]
        if len(runs) < 2:
            continue
        keys = list(dict.fromkeys(k for r in runs for k in r.summary))
        html_parts.append(f"<h2>{name} side by side</h2>")
        html_parts.append(table(keys, [[r.summary.get(k) for k in keys] for r in runs]))
        lasts = []
        for r in runs:
            grids = sorted((r.path / "samples").glob("epoch_*.png"))
            if grids:
                lasts.append(_img(grids[-1], f"{r.path.name}: {grids[-1].stem.replace('_', ' ')}"))
        html_parts.append(_grid(lasts))
        html_parts.append(_grid(_img(r.path / "loss.png", f"{r.path.name}: losses") for r in runs
                                if (r.path / "loss.png").exists()))
    return "".join(html_parts)


def build_report(folders: list[Path], *, title: str = "ganforge report", notes: Optional[str] = None) -> str:
    items = [item for folder in folders for item in read_folder(Path(folder))]
    nav = "".join(f'<a href="#item{i}">{html.escape(it.path.name)}</a>' for i, it in enumerate(items))
    parts = [f"<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport "
             f'content="width=device-width,initial-scale=1"><title>{html.escape(title)}</title>'
             f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>",
             f"<nav>{nav}</nav>" if len(items) > 1 else ""]
    if notes:
        parts.append(notes)
    parts.append(comparison(items))
    for i, it in enumerate(items):
        parts.append(f'<h2 id="item{i}">{html.escape(it.title)}</h2><p class="note"><code>{html.escape(str(it.path))}'
                     f"</code></p>")
        parts.extend(it.body)
    parts.append('<p class="note">Made by ganforge. Every number on this page was measured by the command that '
                 "wrote the folder it comes from.</p></body></html>")
    return "\n".join(p for p in parts if p)
