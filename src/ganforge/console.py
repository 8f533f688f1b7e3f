"""Progress lines for the person at the terminal: on stderr, from one process only."""
from __future__ import annotations

import os
import sys


def is_main_process() -> bool:
    """False on every torchrun rank but 0 (RANK is set by torchrun; a bad value counts as rank 0
    here, and training reports it)."""
    return os.environ.get("RANK", "0").strip() in ("0", "")


def say(msg: str) -> None:
    """A progress line on stderr, from rank 0 only when torchrun runs several processes."""
    if is_main_process():
        print(msg, file=sys.stderr, flush=True)
