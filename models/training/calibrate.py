#!/usr/bin/env python3
"""Fit the finding calibration of both detectors on a validation set; see rajoints_train/calibrate.py."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rajoints_train.calibrate import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
