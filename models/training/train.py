#!/usr/bin/env python3
"""Train one SSD300 joint detector; see rajoints_train/train.py and README.md."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rajoints_train.train import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
