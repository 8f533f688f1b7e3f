"""Argument types and the one-line-error parser shared by all subcommands."""
from __future__ import annotations

import argparse
import math
from typing import Callable

from ..errors import GanforgeError


class Parser(argparse.ArgumentParser):
    """argparse that reports bad input as one line and exit code 2, without the usage block."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def registry_type(registry) -> Callable[[str], str]:
    def convert(value: str) -> str:
        try:
            return registry.canonical(value)
        except GanforgeError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = registry.kind
    return convert


def int_at_least(low: int) -> Callable[[str], int]:
    def convert(value: str) -> int:
        try:
            n = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {value!r}") from None
        if n < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {n}")
        return n

    convert.__name__ = "integer"
    return convert


def finite_float(value: str) -> float:
    try:
        x = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
    if not math.isfinite(x):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {value!r}")
    return x
