import pytest
import torch


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Each test gets its own cache and working folder, and a fixed seed."""
    monkeypatch.setenv("GANFORGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    torch.set_num_threads(2)


@pytest.fixture
def run_cli():
    """``ganforge.cli.main`` with argparse's own exits turned into return codes."""
    from ganforge.cli import main

    def call(argv) -> int:
        try:
            return main(argv)
        except SystemExit as exc:
            return exc.code

    return call


@pytest.fixture
def whole_and_resumed(tmp_path):
    """``train ARGS`` for 2 epochs in one go, and for 1 epoch then ``--resume``d to 2: the two runs'
    last checkpoints (tensors), for tests that a resume continues a run exactly."""
    from ganforge.checkpoint import load_checkpoint
    from ganforge.cli import main

    def run(args: list[str]) -> tuple[dict, dict]:
        assert main(args + ["-e", "2", "-o", str(tmp_path / "whole")]) == 0
        assert main(args + ["-e", "1", "-o", str(tmp_path / "cut")]) == 0
        assert main(["train", "--resume", str(tmp_path / "cut"), "-e", "2", "-q"]) == 0
        return tuple(load_checkpoint(tmp_path / name / "checkpoints" / "last.safetensors")[0]
                     for name in ("whole", "cut"))

    return run


@pytest.fixture
def noise_pictures(tmp_path):
    """``make(name, count, (h, w), seed, suffix)``: a folder under tmp_path of ``count`` random RGB pictures."""
    import numpy as np
    from PIL import Image

    def make(name: str, count: int, size: tuple[int, int], seed: int = 0, suffix: str = ".png"):
        folder = tmp_path / name
        folder.mkdir()
        rng = np.random.default_rng(seed)
        for i in range(count):
            Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(folder / f"{i:04d}{suffix}")
        return folder

    return make
