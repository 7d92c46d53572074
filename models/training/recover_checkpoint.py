#!/usr/bin/env python3
"""Recover a training checkpoint from an exported ONNX detector; see rajoints_train/recover.py."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rajoints_train.recover import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
