#!/usr/bin/env bash
# CI smoke run of the training recipe (issue 4, item 6; issue 15), under 4 minutes on 2 cores:
# the unit tests (box coder, matching, loss, hard-negative mining, crops, augmentation,
# export parity for both backbones), then a tiny synthetic DICOM set -> 2 training
# iterations of the light backbone per detector -> ONNX export -> parity with PyTorch ->
# manifests -> GradCAM -> `rajoints analyze` with both models when the binary is built
# (target/debug or target/release; RAJOINTS_BIN overrides); then the site chain on 10
# phantoms: folds -> adapt.py from the shipped weights -> rajoints analyze -> cv.py; and
# fine-tuning from the released checkpoints models/{ankylosis,subluxation}.pt (issue 17).
#
# Needs the training requirements in the venv:
#   .venv/bin/pip install -r models/training/requirements.txt
# PYTHON overrides the interpreter (default .venv/bin/python). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
if ! "$PY" -c 'import torch, onnx, onnxruntime, pydicom' 2>/dev/null; then
    echo "smoke.sh: $PY lacks the training requirements; run:" >&2
    echo "  $PY -m pip install -r models/training/requirements.txt" >&2
    exit 2
fi
# One thread per process: CI machines have 2 cores and the tests are small.
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
exec "$PY" -m pytest -q -p no:cacheprovider models/training/tests "$@"
