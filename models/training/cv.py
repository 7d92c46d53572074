#!/usr/bin/env python3
"""Patient-level cross-validation of both detectors; see rajoints_train/cv.py and README.md."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rajoints_train.cv import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
