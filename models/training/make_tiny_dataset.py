#!/usr/bin/env python3
"""Write a tiny synthetic rajoints-annotations/1 dataset; see rajoints_train/synth.py."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rajoints_train.synth import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
