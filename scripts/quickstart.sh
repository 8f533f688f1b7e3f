#!/usr/bin/env bash
# Set up ganforge and train its main job on the bundled MNIST sample: the MNIST defaults
# (DCGAN pair M4/M5, non-saturated loss, batch 64, Adam 2e-4), chosen by measurement; see the README.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -c constraints.txt -e .
.venv/bin/ganforge train --dataset mnist -e "${EPOCHS:-10}" -o "${OUT:-runs/quickstart-$(date +%Y%m%d-%H%M%S)}" "$@"
