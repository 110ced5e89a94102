#!/usr/bin/env bash
# The README's demo: on a fresh machine with Python 3.11 and apt, set up, then
# train CORR and CORR + RECORDS on real Fashion-MNIST-LT (rho 100) on the CPU
# and print both results side by side.
#   bash scripts/demo.sh                 # about 8 minutes of training on 2 cores
#   EPOCHS=20 OUT=runs/demo20 bash scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
OUT=${OUT:-runs/demo}
EPOCHS=${EPOCHS:-12}
Q=${Q:-0.5}
for method in corr records; do
  echo "== training fmnist_$method: $EPOCHS epochs, q $Q -> $OUT/$method"
  "$VENV/bin/python" launch.py --config="configs/fmnist_$method.py" \
    --workdir="$OUT/$method" --config.optim.epochs="$EPOCHS" \
    --config.data.partial_rate="$Q"
done
"$VENV/bin/python" scripts/compare.py "CORR=$OUT/corr" \
  "CORR + RECORDS=$OUT/records"
