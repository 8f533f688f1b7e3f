"""``ganforge report`` (one HTML page of what runs made) and ``ganforge reproduce`` (the report's
whole experiment suite, then that page)."""
from __future__ import annotations

import html
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ..errors import GanforgeError

SCALES = ("smoke", "cpu", "full")


def add_parsers(sub) -> None:
    p = sub.add_parser("report", help="one self-contained HTML page of what runs made")
    p.add_argument("runs", nargs="+", metavar="FOLDER", help="run folders or output folders of ganforge commands")
    p.add_argument("-o", "--out", default="report.html", help="HTML file to write (report.html)")
    p.add_argument("--title", default="ganforge report", help="page title")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("reproduce", help="run the report's whole experiment suite and build its report")
    p.add_argument("--scale", choices=SCALES, default="smoke",
                   help="smoke: minutes, tiny runs (default); cpu: under an hour on a laptop CPU; full: the "
                   "report's own epochs")
    p.add_argument("-o", "--out", required=True, help="folder for all runs and report.html (must be new or empty)")
    p.add_argument("--data-root", help="folder holding CelebA (torchvision's layout or a folder of images)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.set_defaults(func=cmd_reproduce)


def cmd_report(args) -> int:
    from ..io import atomic_write_text
    from ..report import build_report

    page = build_report([Path(r) for r in args.runs], title=args.title)
    try:
        atomic_write_text(Path(args.out), page)
    except OSError as exc:
        raise GanforgeError(f"cannot write {args.out}: {exc.strerror or exc}") from None
    print(f"report in {args.out}")
    return 0


# ---- reproduce ---------------------------------------------------------------------------------

@dataclass
class Scale:
    mnist_epochs: int
    mnist_limit: Optional[int]  # training digits used (None: all 8,000 of the bundled sample)
    ae_epochs: int
    celeb_epochs: int
    celeb_limit: Optional[int]
    inversion_images: int
    inversion_iters: int
    eval_samples: int


SCALE = {
    "smoke": Scale(1, 480, 2, 1, 256, 4, 60, 500),
    "cpu": Scale(3, None, 10, 1, 2_000, 8, 500, 10_000),
    "full": Scale(50, None, 20, 50, None, 8, 1_000, 10_000),  # the report's epochs: -e 50 for both GANs
}


@dataclass
class Experiment:
    name: str
    folder: str
    argv: list[str]
    needs: list[str] = field(default_factory=list)  # folders that must have been made first
    status: str = "pending"
    seconds: float = 0.0
    reason: str = ""


def plan(scale: Scale, out: Path, device: str, data_root: Optional[str]) -> list[Experiment]:
    limit = ["--limit", str(scale.mnist_limit)] if scale.mnist_limit else []
    report_gan = ["-g", "M1", "-d", "M3", "-b", "24", "-z", "50", "-e", str(scale.mnist_epochs), "--dataset", "mnist",
                  "--device", device, *limit]
    best = str(out / "gan-non_saturated-k4")
    exps = [Experiment(f"GAN, {loss} loss, k=4", f"gan-{loss}-k4", ["train", *report_gan, "-l", loss, "-k", "4"])
            for loss in ("cross_entropy", "non_saturated", "mse")]
    exps.append(Experiment("GAN, non_saturated loss, unrolling off (k=0)", "gan-non_saturated-k0",
                           ["train", *report_gan, "-l", "non_saturated", "-k", "0"]))
    celeb = ["train", "--dataset", "celeb", "-g", "M11", "-d", "M12", "-b", "128", "-l", "non_saturated", "-k", "2",
             "-z", "100", "-gs", "5", "-ds", "2", "-e", str(scale.celeb_epochs), "--device", device]
    if scale.celeb_limit:
        celeb += ["--limit", str(scale.celeb_limit), "-b", "64"]
    if data_root:
        celeb += ["--data-root", data_root]
    exps.append(Experiment("GAN on CelebA (M11/M12, k=2, -gs 5 -ds 2)", "gan-celeb", celeb))
    latent = ["--generator", best, "--device", device, "-i", str(scale.inversion_iters)]
    exps += [
        Experiment("inversion, 5 restarts", "invert",
                   ["invert", *latent, "-n", str(scale.inversion_images), "-s", "5"], needs=[best]),
        Experiment("restoration, three masks", "restore",
                   ["restore", *latent, "--masks", "all", "-n", str(scale.inversion_images), "-s", "5"],
                   needs=[best]),
        Experiment("GAN interpolation", "interpolate-gan",
                   ["interpolate", *latent, "--a", "0", "1", "--b", "2", "3", "-s", "5"], needs=[best]),
    ]
    ae = ["train-ae", "-e", str(scale.ae_epochs), "--device", device, *limit]
    ae_moments = str(out / "ae-moments")
    exps += [
        Experiment("autoencoder", "ae-none", [*ae, "--latent-reg", "none"]),
        Experiment("autoencoder with moment matching", "ae-moments", [*ae, "--latent-reg", "moments"]),
        Experiment("AE interpolation (encoder as the image-to-z map)", "interpolate-ae",
                   ["interpolate", "--generator", ae_moments, "--device", device, "--a", "0", "1", "--b", "2", "3"],
                   needs=[ae_moments]),
        Experiment("metrics and truncation sweep", "gan-non_saturated-k4/evaluation",
                   ["evaluate", "--generator", best, "--device", device, "-n", str(scale.eval_samples),
                    "--truncation-sweep", "0.5,1,1.5,2,inf"], needs=[best]),
        Experiment("metrics of the AE with moment matching, as a generator", "ae-moments/evaluation",
                   ["evaluate", "--generator", ae_moments, "--device", device, "-n", str(scale.eval_samples)],
                   needs=[ae_moments]),
    ]
    for e in exps:
        e.folder = str(out / e.folder)
        if e.argv[0] not in ("evaluate",):
            e.argv += ["-o", e.folder]
        else:
            e.argv += ["--out", e.folder]
    return exps


def _celeb_missing(data_root: Optional[str]) -> Optional[str]:
    from ..data import DataOptions, load_dataset

    try:
        load_dataset("celeb", DataOptions(root=Path(data_root) if data_root else None))
    except GanforgeError as exc:
        return str(exc)
    return None


def cmd_reproduce(args) -> int:
    from ..training.runstate import say
    from . import main as ganforge

    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise GanforgeError(f"output folder {out} already holds files; choose another --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GanforgeError(f"cannot write to output folder {out}: {exc.strerror or exc}") from None
    experiments = plan(SCALE[args.scale], out, args.device, args.data_root)
    celeb_reason = _celeb_missing(args.data_root)
    started = time.perf_counter()
    for i, exp in enumerate(experiments, 1):
        missing = [n for n in exp.needs if not Path(n, "generator.safetensors").exists()]
        if exp.folder.endswith("gan-celeb") and celeb_reason:
            exp.status, exp.reason = "skipped", f"no CelebA data: {celeb_reason}"
        elif missing:
            exp.status, exp.reason = "skipped", f"needs {', '.join(Path(m).name for m in missing)}, which failed"
        if exp.status == "skipped":
            say(f"[{i}/{len(experiments)}] {exp.name}: skipped ({exp.reason})")
            continue
        say(f"[{i}/{len(experiments)}] {exp.name} ... ({time.perf_counter() - started:.0f} s so far)")
        t0 = time.perf_counter()
        code = ganforge(exp.argv)
        exp.seconds = time.perf_counter() - t0
        exp.status = "done" if code == 0 else "failed"
        if code != 0:
            exp.reason = f"exit code {code}; command: ganforge {' '.join(exp.argv)}"
        say(f"[{i}/{len(experiments)}] {exp.name}: {exp.status} in {exp.seconds:.0f} s")
    _write_report(out, experiments, args.scale)
    failed = [e for e in experiments if e.status == "failed"]
    print(f"report in {out / 'report.html'} ({len(experiments) - len(failed)} of {len(experiments)} experiments "
          f"ran or were skipped with a reason; {time.perf_counter() - started:.0f} s)")
    return 1 if failed else 0


def _write_report(out: Path, experiments: list[Experiment], scale: str) -> None:
    from ..io import atomic_write_text
    from ..report import build_report, table

    rows = [[e.name, e.status, round(e.seconds, 1) if e.status == "done" else None,
             f"ganforge {' '.join(e.argv)}" if e.status != "skipped" else e.reason] for e in experiments]
    notes = (f"<p>The report's experiment suite at scale <code>{html.escape(scale)}</code> "
             f"(<code>ganforge reproduce --scale {html.escape(scale)}</code>).</p>"
             + table(["experiment", "status", "seconds", "command or reason"], rows))
    made = [Path(e.folder) for e in experiments
            if e.status == "done" and not e.folder.endswith("/evaluation")]  # evaluations come with their run
    atomic_write_text(out / "report.html", build_report(made, title=f"ganforge reproduce --scale {scale}",
                                                        notes=notes))
