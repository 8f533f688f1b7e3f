#!/usr/bin/env bash
# The GPU check: what only a CUDA machine can measure, in under 8 minutes on one GPU.
#
#   bash scripts/gpu-check.sh
#
# 1. the tests marked `cuda` (tests/cuda: a step on CUDA against the CPU, the graphed step against the
#    eager one and its resume, torch.cuda's host-sync check, bf16 and --compile training, NCCL DDP, every
#    command with --device cuda);
# 2. the MNIST recipe with --cuda-graphs for 30 seconds on the GPU, evaluated like the CPU runs (goal FID <= 16);
# 3. throughput.md's CUDA-graphs table (every recipe eager against graphed), then its CUDA table.
# Results go to docs/benchmarks/gpu-check.md (and .json, the run's last sample grid gpu-check-samples.png,
# throughput.*), and to $OUT when it is set; each part writes what it measured before the next starts.
# Uses the python3 that has torch (PYTHON=... to choose); ganforge runs from src/ without installing.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
docs=docs/benchmarks
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' \
  || { echo "gpu-check: torch sees no CUDA device" >&2; exit 2; }
start=$(date +%s)
keep() { if [ -n "${OUT:-}" ]; then cp "$docs"/gpu-check.* "$docs"/gpu-check-samples.png "$docs"/throughput.* "$OUT"/ 2>/dev/null; fi; }

timeout 170 "$PY" -m pytest -q -p no:cacheprovider -m cuda tests/cuda -rA 2>&1 | tee "$work/tests.txt"
tests_rc=${PIPESTATUS[0]}

timeout 75 "$PY" -m ganforge train --dataset mnist --device cuda --cuda-graphs --time-limit 0.5 -q -o "$work/mnist" \
  && timeout 45 "$PY" -m ganforge evaluate --generator "$work/mnist" --device cuda -o "$work/evaluation"
quality_rc=$?
last_grid=$(ls "$work/mnist/samples"/*.png 2>/dev/null | tail -1)
[ -n "$last_grid" ] && cp "$last_grid" "$docs/gpu-check-samples.png"  # to look at beside the metrics

summarise() {
"$PY" - "$work" "$tests_rc" "$throughput_rc" "$quality_rc" "$start" <<'PYEOF'
import json, re, sys, time
from pathlib import Path
import torch
work, tests_rc, throughput_rc, quality_rc, start = Path(sys.argv[1]), *map(int, sys.argv[2:])
docs = Path("docs/benchmarks")
tests = (work / "tests.txt").read_text()
outcomes = re.findall(r"^(PASSED|FAILED|SKIPPED|ERROR) (\S+)", tests, re.M)
result = {"kind": "gpu-check", "card": torch.cuda.get_device_name(), "torch": torch.__version__,
          "cuda": torch.version.cuda, "measured": time.strftime("%Y-%m-%d"), "seconds": round(time.time() - start),
          "tests": {"exit": tests_rc, "outcomes": [{"test": t.split("::")[-1], "outcome": o} for o, t in outcomes]},
          "throughput_exit": throughput_rc, "quality_exit": quality_rc}
evaluation = work / "evaluation" / "metrics.json"
summary = work / "mnist" / "summary.json"
if quality_rc == 0 and evaluation.exists():
    row = json.loads(evaluation.read_text())["results"][0]
    result["mnist_graphed_30_s"] = {"iterations": json.loads(summary.read_text())["iterations"],
                                 **{k: row[k] for k in ("lenet_fid", "classifier_score", "class_kl_to_uniform",
                                                        "precision", "recall")}}
(docs / "gpu-check.json").write_text(json.dumps(result, indent=2) + "\n")
md = [f"# GPU check on {result['card']}", "",
      f"`bash scripts/gpu-check.sh`, {result['measured']}, torch {result['torch']} (CUDA {result['cuda']}), "
      f"{result['seconds']} s in all. The CUDA throughput table is in throughput.md; what each GPU run found, "
      "and what changed after it, in gpu-notes.md.", "",
      "| test (tests/cuda, marked `cuda`) | outcome |", "|---|---|"]
md += [f"| {t['test']} | {t['outcome']} |" for t in result["tests"]["outcomes"]]
if "mnist_graphed_30_s" in result:
    m = result["mnist_graphed_30_s"]
    md += ["", "`ganforge train --dataset mnist --device cuda --time-limit 2`, then `ganforge evaluate`:", "",
           "| iterations | FID (LeNet features) | classifier score | class KL | precision | recall |",
           "|---:|---:|---:|---:|---:|---:|",
           f"| {m['iterations']:,} | {m['lenet_fid']:.1f} | {m['classifier_score']:.2f} | "
           f"{m['class_kl_to_uniform']:.3f} | {m['precision']:.3f} | {m['recall']:.3f} |"]
else:
    md += ["", f"The 30-second MNIST run failed (exit {quality_rc})."]
(docs / "gpu-check.md").write_text("\n".join(md) + "\n")
print("\n".join(md))
PYEOF
keep
}
throughput_rc=-1
summarise  # the tests and the 30-second run are kept before the throughput tables start

# each table saves itself after every row, so a stop at the limit keeps the rows measured
timeout 170 "$PY" benchmarks/throughput.py --graphs 2>&1 | tail -12
throughput_rc=${PIPESTATUS[0]}
keep
remaining=$(( 470 - ($(date +%s) - start) ))
if [ "$remaining" -gt 60 ]; then
  timeout "$remaining" "$PY" benchmarks/throughput.py --cuda-only --images 2048 2>&1 | tail -8
  [ "${PIPESTATUS[0]}" = 0 ] || throughput_rc=1
fi
summarise
exit $(( tests_rc || throughput_rc || quality_rc ))
