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
