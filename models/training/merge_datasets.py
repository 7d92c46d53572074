#!/usr/bin/env python3
"""Merge rajoints-annotations/1 datasets into one training set; see rajoints_train/merge.py."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rajoints_train.merge import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
