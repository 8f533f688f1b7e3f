"""How much `ganforge reproduce --scale cpu` varies from run to run: the suite run several times as a user
runs it, each generator's metrics read from its own `evaluation/metrics.json`, and each row's outcome
(what the samples are) and spread (FID, classifier score, class KL, coverage, iterations) put side by side.

    python benchmarks/reproduce.py --runs 2 --keep runs/spread   # about 50 minutes a suite on a 2-core CPU
    python benchmarks/reproduce.py --add runs/spread/suite-*      # add suites run before (kept folders)
    python benchmarks/reproduce.py --table                       # the Markdown again, from the JSON

Each suite run is added to those already in docs/benchmarks/reproduce.json (with its date and machine), so
the spread can grow over sessions.

Its time-limited runs stop at whatever iteration the machine reached (the report's GANs after 8 minutes,
the recipe after 10, each autoencoder after 3), so outcomes that depend on the iteration vary. Writes
docs/benchmarks/reproduce.json and reproduce.md.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DOCS, machine, table, write  # noqa: E402

# The generators of the suite that are evaluated without truncation, by folder, and what the page calls them.
ROWS = {
    "gan-cross_entropy-k4": "GAN, cross_entropy loss, k=4",
    "gan-non_saturated-k4": "GAN, non_saturated loss, k=4",
    "gan-mse-k4": "GAN, mse loss, k=4",
    "gan-non_saturated-k0": "GAN, non_saturated loss, k=0",
    "gan-recipe": "the MNIST recipe (ganforge train --dataset mnist)",
    "ae-moments": "autoencoder with moment matching, as a generator",
}


def outcome(m: dict) -> str:
    """What the samples are, in the words the report uses, from the evaluator's numbers: a blank G's
    samples all read as one class with no confidence to spare (score near 1); a collapsed G draws variants
    of one or two digits, so its samples cover almost none of the test digits' neighbourhoods (coverage
    below 0.05, where a G drawing blotchy but varied digits covers a third) or read as few classes (class
    KL to uniform above 1; uniform is 0, one class alone 2.3). It names no digit: the evaluator reads a
    collapsed G's strokes as several classes (its grid of ones read 55 % as 1 in one run, most often as 5 in
    another)."""
    if m["classifier_score"] < 1.5:
        return "nothing (one class, score < 1.5)"
    if m["coverage"] < 0.05 or m["class_kl_to_uniform"] > 1.0:
        return "mode collapse (coverage < 0.05 or class KL > 1)"
    return "digits" if m["lenet_fid"] < 100 else "varied, blotchy digits"


def read_suite(folder: Path) -> dict:
    """One suite's rows: iterations and the untruncated evaluation of each generator in ROWS."""
    suite = json.loads((folder / "reproduce.json").read_text())
    status = {e["folder"]: e for e in suite["experiments"]}
    rows = {}
    for name in ROWS:
        evaluation = folder / name / "evaluation" / "metrics.json"
        if not evaluation.is_file():  # the run or its evaluation failed or was skipped: the suite says why
            first = next(e for e in (status[name], status[f"{name}/evaluation"]) if e["status"] != "done")
            rows[name] = {"outcome": f"{first['name']} {first['status']}: {first['reason']}"}
            continue
        metrics = json.loads(evaluation.read_text())
        row = next(r for r in metrics["results"] if r.get("truncation") is None)
        summary = json.loads((folder / name / "summary.json").read_text())
        rows[name] = {"iterations": summary["iterations"], "seconds": summary["seconds"],
                      **{k: row[k] for k in ("lenet_fid", "classifier_score", "class_kl_to_uniform", "precision",
                                             "recall", "coverage")}}
        rows[name]["outcome"] = outcome(rows[name])
    return {"minutes": round(suite["seconds"] / 60, 1), "rows": rows}


def cell(row: dict) -> str:
    if "lenet_fid" not in row:  # the run failed or was skipped: the outcome says why
        return row["outcome"]
    return (f"{row['outcome']}: FID {row['lenet_fid']:,.0f}, score {row['classifier_score']:.2f}, class KL "
            f"{row['class_kl_to_uniform']:.2f}, coverage {row['coverage']:.2f}, {row['iterations']:,} iterations")


def markdown(results: dict) -> str:
    suites = results["suites"]
    cpus = ", ".join(sorted({f"{x['machine']['cpu']} ({x['machine']['cores']} cores)" for x in suites}))
    runs = f"{len(suites)} run{'s' if len(suites) > 1 else ''}"
    md = ["# `ganforge reproduce --scale cpu`, run after run", "",
          f"{runs} of `ganforge reproduce --scale cpu -o DIR` on {cpus}, nothing else running: "
          + ", ".join(f"run {i + 1} on {x['measured']} took {x['minutes']:g} minutes" for i, x in enumerate(suites))
          + ". FID, the classifier score and coverage in the MNIST evaluator's features (10,000 samples, no "
          "truncation); the outcome is read from them (`outcome()` in benchmarks/reproduce.py). A row is stable "
          "when every run drew the same kind of picture.", ""]
    header = "| generator | " + " | ".join(f"run {i + 1}" for i in range(len(suites))) + " | stable |"
    rows = []
    for name, title in ROWS.items():
        cells = [suite["rows"][name] for suite in suites]
        stable = len({c["outcome"] for c in cells}) == 1
        rows.append(f"| {title} | " + " | ".join(map(cell, cells)) + f" | {'yes' if stable else 'no'} |")
    md += table(header, rows)
    return "\n".join(md)


def add_suite(results: dict, folder: Path) -> None:
    """Read a finished suite run on this machine, add it to the saved ones and write both files again."""
    finished = (folder / "reproduce.json").stat().st_mtime
    suite = {**read_suite(folder), "measured": time.strftime("%Y-%m-%d", time.localtime(finished)),
             "machine": machine()}
    results["suites"].append(suite)
    print(f"suite {len(results['suites'])}:", {k: v["outcome"] for k, v in suite["rows"].items()}, flush=True)
    write("reproduce", results, markdown(results))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=2, help="how many suites to run and add to the table (default 2)")
    p.add_argument("--keep", help="keep each suite's folder (its report.html, samples) under this folder")
    p.add_argument("--table", action="store_true", help="only rebuild the Markdown from the saved JSON")
    p.add_argument("--add", nargs="+", metavar="FOLDER", default=[],
                   help="add suites run before on this machine (`ganforge reproduce --scale cpu` folders), run none")
    args = p.parse_args()
    saved = DOCS / "reproduce.json"
    results = json.loads(saved.read_text()) if saved.is_file() else {"command": "ganforge reproduce --scale cpu",
                                                                     "suites": []}
    if args.table:
        write("reproduce", results, markdown(results))
        return
    for folder in args.add:
        add_suite(results, Path(folder))
    if args.add:
        return
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.runs):  # each suite joins the earlier ones (of earlier days too) as soon as it ends
            folder = Path(args.keep or tmp) / f"suite-{time.strftime('%Y%m%d-%H%M%S')}"
            subprocess.run([sys.executable, "-m", "ganforge", "reproduce", "--scale", "cpu", "-o", str(folder)],
                           check=True)
            add_suite(results, folder)

if __name__ == "__main__":
    main()
