"""Argument types and the one-line-error parser shared by all subcommands."""
from __future__ import annotations

import argparse
import math
from typing import Callable

from ..errors import GanforgeError
from ..options import GROUPS, RUN_OPTIONS, Option, grouped


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


def int_at_least(low: int, high: float = math.inf) -> Callable[[str], int]:
    """An integer from ``low`` to ``high``: every count a command takes has an upper bound, so that no number
    reaches an allocation or a library that cannot take it."""
    def convert(value: str) -> int:
        try:
            n = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {value!r}") from None
        if n < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {n}")
        if n > high:
            raise argparse.ArgumentTypeError(f"must be <= {int(high):,}, got {n:,}")
        return n

    convert.__name__ = "integer"
    return convert


def _number(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None


def truncation(value: str) -> float:
    """A truncation psi: a positive number, or inf for none."""
    x = _number(value)
    if not x > 0:  # NaN, zero, negative and -inf
        raise argparse.ArgumentTypeError(f"must be a positive number (inf: no truncation), got {value!r}")
    return x


def finite_float(value: str) -> float:
    x = _number(value)
    if not math.isfinite(x):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {value!r}")
    return x


def add_options(p: argparse.ArgumentParser, options: list[Option]) -> None:
    """One flag per declared option (options.py), in a help section per group, with its default stated.
    Options left out stay out of the namespace (the parser's argument_default is SUPPRESS), so the
    config's defaults and the recipes fill them."""
    for group, members in grouped(options).items():
        section = p.add_argument_group(GROUPS[group])
        for o in members:
            kw: dict = {"help": f"{o.help} (default: {o.default_text()})", "dest": o.name}
            if o.kind == "switch":
                kw["action"] = "store_true"
            elif o.kind == "toggle":
                kw["action"] = argparse.BooleanOptionalAction
            elif isinstance(o.choices, tuple):
                kw["choices"] = o.choices
                if o.kind is int:
                    kw["type"] = int
            else:
                kw["type"] = registry_type(o.choices) if o.choices is not None else option_type(o)
            if o.metavar and "action" not in kw:
                kw["metavar"] = o.metavar
            section.add_argument(*o.flags, **kw)


def option_type(o: Option) -> Callable[[str], object]:
    """What reads a declared option's value: its integer range, a finite number, or text."""
    if o.kind is int:
        return int_at_least(int(o.valid.low), o.valid.high) if o.valid is not None else int
    return finite_float if o.kind is float else str


# ---- flags that several commands share, declared once

def pretrained(name: str) -> str:
    """--pretrained NAME as the path of the shipped generator file (so every command reads it as --generator)."""
    from ..pretrained import pretrained_file

    try:
        return str(pretrained_file(name))
    except GanforgeError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_generator(p: argparse.ArgumentParser, *, device: bool = True) -> None:
    """--generator (or --pretrained), how every command that reads a trained generator names it, and
    --raw-weights (and --device)."""
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--generator", metavar="RUN_OR_FILE",
                       help="the trained generator: a run folder, a generator/checkpoint .safetensors, or a legacy "
                       ".pt/.pkl state dict")
    which.add_argument("--pretrained", dest="generator", type=pretrained, metavar="NAME",
                       help="a generator that ships with ganforge (`ganforge models --pretrained` lists them)")
    p.add_argument("--raw-weights", action="store_true",
                   help="G's own weights, not the moving average of them that a run with --ema keeps")
    if device:
        add_device(p)


def add_device(p: argparse.ArgumentParser) -> None:
    _add_run_option(p, "device")


def add_seed(p: argparse.ArgumentParser) -> None:
    _add_run_option(p, "seed")


def _add_run_option(p: argparse.ArgumentParser, name: str) -> None:
    """A flag the training commands declare in options.py, with its declared help and default."""
    o = next(o for o in RUN_OPTIONS if o.name == name)
    p.add_argument(*o.flags, type=option_type(o), default=o.default, help=f"{o.help} (default: {o.default_text()})")


def add_out(p: argparse.ArgumentParser, default: str, metavar: str = "DIR") -> None:
    p.add_argument("-o", "--out", metavar=metavar, help=f"output {'file' if metavar == 'FILE' else 'folder'} "
                   f"(default {default})")
