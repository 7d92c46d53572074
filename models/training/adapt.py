#!/usr/bin/env python3
"""Adapt both detectors to a site's exported films; see rajoints_train/adapt.py and README.md."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rajoints_train.adapt import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
