"""``ganforge report`` (one HTML page of what runs made) and ``ganforge reproduce`` (the report's
whole experiment suite, then that page)."""
from __future__ import annotations

from pathlib import Path

SCALE_NAMES = ("smoke", "cpu", "full")


def add_parsers(sub) -> None:
    p = sub.add_parser("report", help="one self-contained HTML page of what runs made")
    p.add_argument("runs", nargs="+", metavar="FOLDER", help="run folders or output folders of ganforge commands")
    p.add_argument("-o", "--out", default="report.html", help="HTML file to write (report.html)")
    p.add_argument("--title", default="ganforge report", help="page title")
    p.add_argument("--progress-video", action="store_true",
                   help="show every GAN run's per-epoch sample grids as one animation (runs trained with "
                   "--progress-video show theirs anyway)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("reproduce", help="run the report's whole experiment suite and build its report")
    p.add_argument("--scale", choices=SCALE_NAMES, default="smoke",
                   help="smoke: minutes, tiny runs (default); cpu: about 50 minutes on a 2-core CPU; full: the "
                   "report's own epochs")
    p.add_argument("-o", "--out", required=True, help="folder for all runs and report.html (must be new or empty)")
    p.add_argument("--data-root", help="folder holding CelebA (torchvision's layout or a folder of images)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.set_defaults(func=cmd_reproduce)


# Pipelines are imported inside the command functions: see cli/latent.py.


def cmd_report(args) -> int:
    from ..io import atomic_write_text
    from ..pipelines.report import build_report

    page = build_report([Path(r) for r in args.runs], title=args.title, progress=args.progress_video)
    atomic_write_text(Path(args.out), page)
    print(f"report in {args.out}")
    return 0


def cmd_reproduce(args) -> int:
    from ..pipelines.reproduce import reproduce

    experiments = reproduce(Path(args.out), scale=args.scale, device=args.device, data_root=args.data_root)
    failed = [e for e in experiments if e.status == "failed"]
    print(f"report in {Path(args.out) / 'report.html'} ({len(experiments) - len(failed)} of {len(experiments)} "
          f"experiments ran or were skipped with a reason)")
    return 1 if failed else 0
