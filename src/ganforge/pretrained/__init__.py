"""Generators that ship inside ganforge (``--pretrained NAME`` wherever a generator is read): each one a
generator file of the moving average's weights, trained by a ganforge command from the shipped recipe, and a
model card in cards.json (the command, the file's sha256, its measured metrics). scripts/make_pretrained.py
makes both from a finished run."""
from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

from ..errors import GanforgeError

FOLDER = Path(__file__).resolve().parent
CARDS = FOLDER / "cards.json"


@cache
def cards() -> dict[str, dict[str, Any]]:
    """Every shipped generator's card, by name."""
    return json.loads(CARDS.read_text())["generators"] if CARDS.exists() else {}


def pretrained_file(name: str) -> Path:
    """The shipped generator file called ``name``, checked against its card's sha256."""
    card = cards().get(name)
    if card is None:
        raise GanforgeError(f"no pretrained generator {name!r}; shipped: {', '.join(cards()) or 'none'}")
    path = FOLDER / card["file"]
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
    if digest != card["sha256"]:
        raise GanforgeError(f"the pretrained generator {name} ({path}) is missing or damaged: its sha256 is not its "
                            "card's; reinstall ganforge")
    return path


def is_pretrained(path: Path) -> bool:
    """Whether ``path`` is one of the shipped generator files (later commands write beside them otherwise)."""
    return Path(path).resolve().parent == FOLDER
