#!/usr/bin/env python3
"""Export a trained detector to ONNX + manifest; see rajoints_train/export.py and README.md."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rajoints_train.export import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
