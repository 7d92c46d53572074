"""Train and inference see the same pixels: rajoints_train.data against the Rust node's
own decode and scale (`rajoints preprocess`, a hidden subcommand), on DICOM encodings the node meets: VOI windows
(LINEAR, LINEAR_EXACT, SIGMOID, several windows), no window (min-max), MONOCHROME1,
Rescale Slope/Intercept, Pixel Spacing vs Imager Pixel Spacing vs none (halved), odd sizes
and spacings, and upsampling.

Needs the rajoints binary (`make test` builds it first); RAJOINTS_BIN may name another.
"""

import os
import struct
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest

from rajoints_train.data import load_annotations, read_display, resample_area, scale_factors
from rajoints_train.synth import write_dicom

REPO = Path(__file__).resolve().parents[3]
PROBE = Path(os.environ.get("RAJOINTS_BIN", REPO / "target/debug/rajoints"))
#: float32 sums in a different order: a few ulps of values in [0, 1].
ATOL = 1e-6



@pytest.fixture(autouse=True)
def _binary_built():
    if not PROBE.is_file():
        pytest.fail(f"{PROBE} missing: run `make test`, which builds it before this test")


def variants(tmp: Path) -> list[Path]:
    rng = np.random.default_rng(0)

    def make(name, h, w, mutate):
        p = tmp / f"{name}.dcm"
        write_dicom(p, rng.random((h, w)), 0, name, "P")
        ds = pydicom.dcmread(p)
        mutate(ds)
        ds.save_as(p)
        return p

    def odd(ds):
        ds.PixelSpacing = [0.143, 0.157]

    def sigmoid(ds):
        ds.PixelSpacing = [0.2, 0.2]
        ds.VOILUTFunction, ds.WindowCenter, ds.WindowWidth = "SIGMOID", "1500", "900"

    def exact_m1(ds):
        ds.PixelSpacing = [0.11, 0.11]
        ds.VOILUTFunction, ds.WindowCenter, ds.WindowWidth = "LINEAR_EXACT", "1000", "3000"
        ds.PhotometricInterpretation = "MONOCHROME1"

    def up(ds):
        ds.PixelSpacing = [0.5, 0.5]

    def multiwin(ds):
        del ds.PixelSpacing
        ds.WindowCenter, ds.WindowWidth = ["2048", "100"], ["4096", "50"]

    return [make("odd", 499, 601, odd), make("sigmoid", 333, 257, sigmoid), make("exact_m1", 410, 390, exact_m1),
            make("up", 120, 150, up), make("multiwin", 211, 307, multiwin)]


@pytest.mark.parametrize("target_mm", [0.3, 0.0])
def test_python_preprocessing_is_the_nodes(tmp_path, tiny_dataset, target_mm):
    files = [tiny_dataset / a.file for a in load_annotations(tiny_dataset)] + variants(tmp_path)
    for f in files:
        out = tmp_path / "probe.bin"
        subprocess.run([str(PROBE), "preprocess", str(f), "--target-mm", str(target_mm), "--out", str(out)],
                       check=True, timeout=60)
        b = out.read_bytes()
        w, h = struct.unpack("<II", b[:8])
        fx, fy = struct.unpack("<dd", b[8:24])
        rust = np.frombuffer(b[24:], dtype="<f4").reshape(h, w)
        d = read_display(f)
        sx, sy = scale_factors(d.spacing_mm, target_mm, 0.5)
        py, pfx, pfy = resample_area(d.pixels, sx, sy)
        assert py.shape == rust.shape, f.name
        assert (pfx, pfy) == (fx, fy), f.name
        assert float(np.abs(py - rust).max()) <= ATOL, f.name
