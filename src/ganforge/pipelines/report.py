"""One self-contained HTML page of what runs made: configuration, loss plots, sample grids,
inversion curves, restoration tables, interpolation rows, AE plots and metric tables.

Every folder a ganforge command writes holds a record that says what it is (records.py): a
training run's config.json, an evaluation's metrics.json, an inversion's results.json, ...
The page has one section function per record kind (``SECTIONS``). Images are embedded as
base64 PNGs; the page loads nothing from anywhere and runs no script.

Records are read as data, never as markup: a folder may come from anyone. Every value reaches the
page through ``esc`` (HTML-escaped text), a Content-Security-Policy forbids scripts and any source
but the page's own data, and images are embedded only from inside the folders the report was asked
for (no symbolic link, no ``..`` or absolute name in a record leaves them).
"""
from __future__ import annotations

import base64
import contextvars
import html
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

from ..animation import PROGRESS, encode_animation, progress_frames
from ..errors import GanforgeError
from ..records import Record, folder_record, read_record

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


# scripts none, images only as data: URIs, styles only the page's own
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"

# the folders a report was asked for, resolved: images are embedded from inside them only
_ROOTS: contextvars.ContextVar[tuple[Path, ...]] = contextvars.ContextVar("report_roots", default=())
# whether runs without a progress.gif get one made for the page (report --progress-video)
_PROGRESS: contextvars.ContextVar[bool] = contextvars.ContextVar("report_progress", default=False)


@dataclass
class Item:
    """One folder's contribution: a heading, the record kind it shows and the HTML of its body."""

    path: Path
    kind: str
    title: str
    body: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)  # one row of the comparison table


MIME = {".png": "image/png", ".gif": "image/gif"}


def inside(path: Path) -> bool:
    """Whether ``path`` is no symbolic link and lies, links and ``..`` resolved, inside a folder the report
    was asked for."""
    return not path.is_symlink() and any(path.resolve().is_relative_to(root) for root in _ROOTS.get())


def _img(path: Path, caption: str = "") -> str:
    if not inside(path) or not path.is_file():
        return f'<p class="note">{esc(path.name)}: not shown (a link, or outside the folders reported on)</p>'
    if path.suffix.lower() not in MIME:
        return f'<p class="note">{esc(path.name)}: written beside the results (a page shows PNG and GIF only)</p>'
    return _embedded(path.read_bytes(), MIME[path.suffix.lower()], caption or path.name, caption)


def _progress(samples: list[Path]) -> str:
    """A run's sample grids as an animated GIF on the page (made in memory: the run is not written)."""
    gif = encode_animation(progress_frames([p for p in samples if inside(p)]), ".gif", fps=4.0)
    return _embedded(gif, MIME[".gif"], "every epoch's samples, animated", "every epoch's samples, animated")


def _embedded(data: bytes, mime: str, alt: str, caption: str = "") -> str:
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="data:{mime};base64,{base64.b64encode(data).decode()}" alt="{esc(alt)}">{cap}</figure>'


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


def esc(v: Any) -> str:
    """Any value as HTML text: formatted by ``_fmt``, then escaped. Nothing reaches the page any other way."""
    return html.escape(_fmt(v))


def table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in header)

    def cell(c: Any) -> str:
        kind = ' class="t"' if isinstance(c, str) else ""
        return f"<td{kind}>{esc(c)}</td>"

    body = "".join("<tr>" + "".join(cell(c) for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _pick(paths: list[Path], n: int) -> list[Path]:
    """Up to n paths spread evenly, always including the first and the last."""
    if len(paths) <= n:
        return paths
    step = (len(paths) - 1) / (n - 1)
    return [paths[round(i * step)] for i in range(n)]


# ---- one section per record kind ------------------------------------------------------------

GAN_KEYS = ("dataset", "generator", "discriminator", "loss", "unroll_steps", "unroll_mode", "g_steps", "d_steps",
            "batch_size", "z_dim", "lr_g", "lr_d", "real_label", "epochs", "seed", "processes", "device")
AE_KEYS = ("dataset", "model", "z_dim", "latent_reg", "moments_over", "factor_start", "factor_growth", "factor_cap",
           "batch_size", "lr", "epochs", "seed", "device")


def _optional(path: Path, kind: str) -> Optional[Record]:
    """The record in ``path`` if the file is there (a run still going has no summary yet)."""
    return read_record(path, expect=(kind,)) if path.is_file() else None


def _training_run(record: Record) -> list[Item]:
    path, config, is_ae = record.path.parent, record.data, record.kind == "ae-run"
    summary = _optional(path / "summary.json", "run-summary")
    if is_ae:
        title = (f"autoencoder {config.get('model')} on {config.get('dataset')}, "
                 f"latent regulariser {config.get('latent_reg')}")
    else:
        title = (f"GAN {config.get('generator')}/{config.get('discriminator')} on {config.get('dataset')}, "
                 f"{config.get('loss')}, k={config.get('unroll_steps')}")
    item = Item(path, record.kind, title)
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
        if (path / PROGRESS).exists():
            item.body.append(_grid([_img(path / PROGRESS, "every epoch's samples, animated")]))
        elif _PROGRESS.get() and not is_ae:
            item.body.append(_grid([_progress(samples)]))
    done = summary.data if summary else {}
    item.summary = {"run": path.name, **{k: config.get(k) for k in ("generator", "discriminator", "loss",
                                                                  "unroll_steps", "model", "latent_reg")
                                         if k in config},
                    "epochs": done.get("epochs"), "iterations": done.get("iterations"), "seconds": done.get("seconds")}
    items = [item]
    if is_ae:
        cdfs = sorted((path / "cdf").glob("epoch_*.png"))
        if cdfs:
            item.body.append("<h3>Latent values against N(0, 1)</h3>")
            item.body.append(_grid(_img(p, p.stem.replace("_", " ")) for p in _pick(cdfs, 3)))
        ks = _optional(path / "latent_ks.json", "latent-normality")
        if ks and ks["epochs"]:
            item.body.append(table(["epoch", "KS to N(0, 1)", "mean", "variance", "kurtosis"],
                                   [[r["epoch"], r["ks"], *r["moments"]] for r in _pick(ks["epochs"], 8)]))
            item.summary["latent KS"] = ks["epochs"][-1]["ks"]
    evaluation = path / "evaluation" / "metrics.json"
    if evaluation.is_file():
        record = read_record(evaluation)
        items += SECTIONS[record.kind](record)
        rows = record.get("results") or []
        if rows:
            keys = ("lenet_fid", "classifier_score", "class_kl_to_uniform", "modes_with_any_sample",
                    "high_quality_share",
                    "kl_to_uniform")
            item.summary.update({k: rows[0][k] for k in keys if k in rows[0]})
    return items


def _image_evaluation(record: Record) -> list[Item]:
    path = record.path.parent
    item = Item(path, record.kind, f"evaluation of {record.get('generator', path.parent.name)}")
    rows = record.get("results") or []
    item.body.append(table(
        ["truncation ψ", "FID (LeNet features)", "KID (LeNet features)", "classifier score", "real data's score",
         "class KL to uniform", "precision", "recall", "density", "coverage", "samples"],
        [["none" if r.get("truncation") is None else r["truncation"], r.get("lenet_fid"), r.get("lenet_kid"),
          r.get("classifier_score"), r.get("classifier_score_real"), r.get("class_kl_to_uniform"),
          r.get("precision"), r.get("recall"), r.get("density"), r.get("coverage"), r.get("n_fake")] for r in rows]))
    hist = rows[0].get("class_histogram") if rows else None
    if hist:
        item.body.append("<h3>Class histogram (share of samples per class)</h3>")
        item.body.append(table([str(i) for i in range(len(hist))], [hist]))
    per_class = rows[0].get("per_class_fid") if rows else None
    if per_class:  # a class-conditional generator, its classes asked for in turn
        accuracy = rows[0].get("conditional_accuracy")
        shown = esc(100 * accuracy if isinstance(accuracy, (int, float)) else accuracy)
        item.body.append(f"<h3>Class-conditional: {shown} % of samples show the class asked for; per class, the "
                         "FID of its samples against its test images, the share of its samples the evaluator reads "
                         "as it, and the share of its real test images it reads as it</h3>")
        rows_by_class = [["FID", *per_class]]
        for key, what in (("per_class_accuracy", "samples read as asked"),
                          ("real_per_class_accuracy", "real test images read right")):
            if rows[0].get(key):
                rows_by_class.append([what, *rows[0][key]])
        item.body.append(table(["", *(str(i) for i in range(len(per_class)))], rows_by_class))
    evaluator = record.get("evaluator") or {}
    item.body.append(f'<p class="note">Features of the shipped {esc(evaluator.get("dataset"))} '
                     f'evaluator (test accuracy {esc(evaluator.get("test_accuracy"))}); Inception FID: '
                     f'{esc(record.get("inception_fid"))}.</p>')
    if (path / "truncation.png").exists():
        item.body.append(_grid([_img(path / "truncation.png", "FID and classifier score against ψ")]))
    return [item]


def _mode_evaluation(record: Record) -> list[Item]:
    path = record.path.parent
    what = {"stacked-mnist-evaluation": "Stacked MNIST modes", "coverage-evaluation": "coverage of k-means cells (NDB)"
            }.get(record.kind, "modes of a 2-D toy")
    item = Item(path, record.kind, f"{what}: evaluation of {record.get('generator', path.parent.name)}")
    rows = record.get("results") or []
    keys = [k for k in ("modes_with_any_sample", "modes_covered", "modes_total", "high_quality_share", "reverse_kl",
                        "kl_to_uniform", "conditional_accuracy", "ndb", "ndb_share", "bins", "bin_kl", "empty_bins",
                        "samples")
            if rows and k in rows[0]]
    item.body.append(table(["truncation ψ", *keys],
                           [[_psi(r.get("truncation", record.get("truncation"))), *[r[k] for k in keys]]
                            for r in rows]))
    if (path / "samples.png").exists():
        item.body.append(_grid([_img(path / "samples.png", "samples over the mode centres")]))
    return [item]


def _psi(truncation) -> str:
    return "none" if truncation is None else str(truncation)


def _inversion(record: Record) -> list[Item]:
    path = record.path.parent
    item = Item(path, record.kind, f"inversion: {record['restarts']} restarts, {record['iters']} iterations "
                                f"({record.get('optimizer')})")
    item.body.append(table(["image", "chosen restart", "final loss of each restart", "MSE", "PSNR (dB)"],
                           [[r["image"], r["chosen"], r["restart_losses"], r["mse"], r["psnr"]]
                            for r in record["images"]]))
    item.body.append(f'<p>Mean MSE {esc(record.get("mean_mse"))}.</p>')
    if (path / "grid.png").exists():
        item.body.append(_grid([_img(path / "grid.png", "inputs and reconstructions")]))
    curves = sorted((path / "loss_curves").glob("*.png"))
    if curves:
        item.body.append("<h3>Loss per restart (the chosen one marked)</h3>")
        item.body.append(_grid(_img(p, p.stem.replace("_", " ")) for p in curves[:8]))
    return [item]


def _restoration(record: Record) -> list[Item]:
    path = record.path.parent
    item = Item(path, record.kind, f"restoration: {record['restarts']} restarts, {record['iters']} iterations")
    masks = record["masks"]
    item.body.append(table(["mask", "hidden share", "PSNR all (dB)", "PSNR hidden (dB)", "SSIM all", "SSIM hidden",
                            "PSNR of the masked input (dB)"],
                           [[k, r["hidden_fraction"], r["psnr_all"], r["psnr_hidden"], r["ssim_all"],
                             r["ssim_hidden"], r["psnr_masked_input"]] for k, r in masks.items()]))
    item.body.append(_grid(_img(path / f"restore_{k}.png", f"{k}: original | masked | restored")
                           for k in masks if (path / f"restore_{k}.png").exists()))
    return [item]


def _interpolation(record: Record) -> list[Item]:
    path = record.path.parent
    how = "spherical" if record.get("slerp") else "linear"
    animation = record.get("animation") or {}
    video = [_img(Path(animation["video"]), f"the walk, {animation.get('frames')} frames")] if animation else []
    if record.get("stops"):  # a looping walk through random latents
        item = Item(path, record.kind, f"latent loop through {record['stops']} random latents ({how})")
        item.body.append(_grid([_img(path / "start.png", "its first frame"), *video]))
        return [item]
    alphas = f"a ∈ {{{', '.join(_fmt(a) for a in record['alphas'])}}}"
    if record.get("classes"):  # a conditional generator, between two classes at fixed latents
        a, b = record["classes"]
        title, caption = f"class interpolation {b} → {a}, {alphas}", "G(z, a·e_A + (1−a)·e_B), one row per z"
    else:
        title, caption = f"interpolation ({how}), {alphas}", "G(a·z1 + (1−a)·z2), one row per pair"
    item = Item(path, record.kind, title)
    if (path / "interpolation.png").exists():
        item.body.append(_img(path / "interpolation.png", caption))
    item.body += video
    return [item]


def _samples(record: Record) -> list[Item]:
    path = record.path.parent
    psi = record.get("truncation")
    title = f"{record.get('n') or ''} samples" + (f", truncation ψ = {_fmt(psi)}" if psi else "")
    item = Item(path, record.kind, title)
    if (path / "samples.png").exists():
        item.body.append(_grid([_img(path / "samples.png", "samples")]))
    return [item]


def _reproduction(record: Record) -> list[Item]:
    root = record.path.parent
    exps = record["experiments"]
    item = Item(root, record.kind, f"the report's experiment suite at scale {record.get('scale')}")
    item.body.append(f"<p>Made by <code>ganforge reproduce --scale {esc(record.get('scale'))}</code>.</p>")
    item.body.append(table(["experiment", "status", "seconds", "command or reason"],
                           [[e["name"], e["status"], e["seconds"] if e["status"] == "done" else None,
                             e["reason"] or e["command"]] for e in exps]))
    items = [item]
    for e in exps:  # an evaluation comes with its run folder
        folder = root / str(e["folder"])
        if e["status"] != "done" or folder.name == "evaluation":
            continue
        if not (folder.resolve().is_relative_to(root.resolve()) and inside(folder)):
            item.body.append(f'<p class="note">{esc(e["folder"])}: not shown (outside the suite\'s folder)</p>')
            continue
        items += read_folder(folder)
    return items


SECTIONS: dict[str, Callable[[Record], list[Item]]] = {
    "gan-run": _training_run,
    "ae-run": _training_run,
    "image-evaluation": _image_evaluation,
    "toy-evaluation": _mode_evaluation,
    "stacked-mnist-evaluation": _mode_evaluation,
    "coverage-evaluation": _mode_evaluation,
    "inversion": _inversion,
    "restoration": _restoration,
    "interpolation": _interpolation,
    "samples": _samples,
    "reproduction": _reproduction,
}


def read_folder(path: Path) -> list[Item]:
    """The report items of one folder, or of the folder of one record file (a run folder also brings
    its evaluation/ subfolder); GanforgeError with one line for anything else."""
    if path.is_file():
        record = read_record(path)
    elif path.is_dir():
        record = folder_record(path)
    else:
        raise GanforgeError(f"{path} does not exist")
    if record.kind not in SECTIONS:
        raise GanforgeError(f"{record.path} is a {record.kind} record, which is part of a folder, not one to "
                            "report on its own; give the folder")
    try:
        return SECTIONS[record.kind](record)
    except (KeyError, TypeError, AttributeError, IndexError) as exc:
        raise GanforgeError(f"{record.path} is a {record.kind} record without the fields it should have "
                            f"({type(exc).__name__}: {exc})") from None


def comparison(items: list[Item]) -> str:
    """Training runs of one kind side by side: a table and their last sample grids and loss plots."""
    html_parts = []
    for kind, name in (("gan-run", "GAN runs"), ("ae-run", "Autoencoder runs")):
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


def build_report(folders: list[Path], *, title: str = "ganforge report", progress: bool = False) -> str:
    """One self-contained HTML page of ``folders`` (run folders, command output folders, record files);
    with ``progress``, every GAN run's sample grids animated."""
    folders = [Path(folder) for folder in folders]
    token = _ROOTS.set(tuple((f if f.is_dir() else f.parent).resolve() for f in folders))
    animate = _PROGRESS.set(progress)
    try:
        items = [item for folder in folders for item in read_folder(folder)]
        compared = comparison(items)
    finally:
        _ROOTS.reset(token)
        _PROGRESS.reset(animate)
    nav = "".join(f'<a href="#item{i}">{esc(it.path.name)}</a>' for i, it in enumerate(items))
    parts = [f'<!doctype html><html lang=en><head><meta charset=utf-8><meta http-equiv="Content-Security-Policy" '
             f'content="{CSP}"><meta name=viewport content="width=device-width,initial-scale=1">'
             f"<title>{esc(title)}</title><style>{CSS}</style></head><body><h1>{esc(title)}</h1>",
             f"<nav>{nav}</nav>" if len(items) > 1 else ""]
    parts.append(compared)
    for i, it in enumerate(items):
        parts.append(f'<section data-kind="{esc(it.kind)}"><h2 id="item{i}">{esc(it.title)}</h2>'
                     f'<p class="note"><code>{esc(it.path)}</code></p>')
        parts.extend(it.body)
        parts.append("</section>")
    parts.append('<p class="note">Made by ganforge. Every number on this page was measured by the command that '
                 "wrote the folder it comes from.</p></body></html>")
    return "\n".join(p for p in parts if p)
