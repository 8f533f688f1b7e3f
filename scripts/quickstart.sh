#!/usr/bin/env bash
# Set up ganforge and train its main job on the bundled MNIST sample: the MNIST recipe
# (DCGAN pair M4/M5, non-saturated loss, batch 64, Adam 1e-3, a moving average of G), chosen by
# measurement; see docs/recipes.md.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -c constraints.txt -e .
.venv/bin/ganforge train --dataset mnist -e "${EPOCHS:-10}" -o "${OUT:-runs/quickstart-$(date +%Y%m%d-%H%M%S)}" "$@"
