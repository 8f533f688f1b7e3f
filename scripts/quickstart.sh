#!/usr/bin/env bash
# Set up ganforge and train the report's best MNIST GAN (M1/M3, non-saturated loss, k=4
# unrolling, z=50, batch 24) for a few epochs on the bundled MNIST sample.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -c constraints.txt -e .
.venv/bin/ganforge train -g "M1" -d "M3" -b 24 -l "non_saturated" -k 4 -e "${EPOCHS:-5}" -z 50 --dataset "MNIST" \
    -o "${OUT:-runs/quickstart-$(date +%Y%m%d-%H%M%S)}" "$@"
