"""Fault injection: a training run killed with SIGKILL at 20 random moments, during steps and
during checkpoint writes, and resumed each time, ends bitwise equal to an uninterrupted run."""
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from ganforge.checkpoint import load_checkpoint
from ganforge.training.stats import read_metrics

pytestmark = pytest.mark.slow  # kills and restarts real runs

ARGS = ["train", "--dataset", "ring", "-g", "toy-g", "-d", "toy-d", "-b", "64", "--limit", "3200", "-e", "20", "-q", "--seed", "5",
        "--checkpoint-every", "7", "--log-every", "3"]
ITERATIONS = 20 * 50
KILLS = 20

# Runs ganforge with every fsync in its atomic writes slowed down, so that a kill at a random
# moment often lands inside a write (between writing the temporary file and renaming it). It
# prints "<" when a write starts and ">" when it ends.
RUNNER = """
import os, sys, time, types
import ganforge.io as io
real = os.fsync
def slow_fsync(fd):
    print("<", end="", file=sys.stderr, flush=True)
    time.sleep(0.1)
    real(fd)
    print(">", end="", file=sys.stderr, flush=True)
io.os = types.SimpleNamespace(**{**vars(os), "fsync": slow_fsync})
from ganforge.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def _mtime(path) -> int:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return 0


def _checkpoint_is_whole(run) -> int:
    """The iteration of run's checkpoint, which must load completely (it is never half-written)."""
    tensors, meta = load_checkpoint(run / "checkpoints" / "last.safetensors")
    assert {"G.net.0.weight", "D.net.0.weight", "rng.torch"} <= tensors.keys()
    return meta["position"]["iteration"]


def test_sigkill_at_20_random_moments_loses_nothing(tmp_path):
    runner = tmp_path / "runner.py"
    runner.write_text(RUNNER)
    reference, run = tmp_path / "reference", tmp_path / "run"
    subprocess.run([sys.executable, "-m", "ganforge", *ARGS, "-o", str(reference)], env=_env(), check=True,
                   capture_output=True)
    rng = random.Random(2024)
    kills, in_write, seen = 0, 0, []
    while kills < KILLS:
        argv = ["train", "--resume", str(run), "-q"] if (run / "checkpoints" / "last.safetensors").exists() \
            else [*ARGS, "-o", str(run)]
        before = _mtime(run / "checkpoints" / "last.safetensors")
        proc = subprocess.Popen([sys.executable, str(runner), *argv], env=_env(), stderr=subprocess.PIPE,
                                stdout=subprocess.DEVNULL, text=True)
        deadline = time.monotonic() + 60
        while _mtime(run / "checkpoints" / "last.safetensors") == before and proc.poll() is None:
            assert time.monotonic() < deadline, "no checkpoint appeared"  # this process is training now
            time.sleep(0.01)
        time.sleep(rng.uniform(0.05, 0.6))
        if proc.poll() is not None:  # finished before the kill: nothing to count
            assert proc.returncode == 0, proc.stderr.read()[-2000:]
            break
        proc.send_signal(signal.SIGKILL)
        err = proc.communicate()[1]
        kills += 1
        marks = [c for c in err if c in "<>"]
        in_write += bool(marks) and marks[-1] == "<"
        seen.append(_checkpoint_is_whole(run))
    print(f"\nfault injection: {kills} kills, {in_write} inside a write, checkpoints at {len(set(seen))} distinct "
          f"iterations")
    assert kills == KILLS, f"the run finished after {kills} kills; make it longer"
    assert in_write >= 3, f"only {in_write} of {KILLS} kills landed inside a write"
    assert len(set(seen)) > 5  # the kills fell at many different points of training

    subprocess.run([sys.executable, "-m", "ganforge", "train", "--resume", str(run), "-q"], env=_env(), check=True,
                   capture_output=True)
    a, _ = load_checkpoint(reference / "checkpoints" / "last.safetensors")
    b, meta = load_checkpoint(run / "checkpoints" / "last.safetensors")
    assert meta["position"]["iteration"] == ITERATIONS
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)  # weights, Adam moments and RNG states, bit for bit
    rows = read_metrics(run / "metrics.csv")
    assert [int(r["iteration"]) for r in rows] == list(range(1, ITERATIONS + 1))  # none missing, none twice
    assert (run / "metrics.csv").read_text() == (reference / "metrics.csv").read_text()
    assert not list(run.rglob(".*.tmp"))  # temporary files of killed writes were cleared on resume
