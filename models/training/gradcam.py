#!/usr/bin/env python3
"""GradCAM heatmaps of a detector for one joint; see rajoints_train/gradcam.py."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from rajoints_train.gradcam import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
