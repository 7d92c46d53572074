#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/seed-*): small valid
inputs the fuzzer mutates. Run from the repository root with the test venv's Python
(pydicom); DCMTK's dcmcjpeg and dcmcrle make the compressed seeds. The first byte of each
input selects what the target does with the rest (see fuzz_targets/*.rs)."""

import io
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

OUT = Path("fuzz/corpus")
CR = "1.2.840.10008.5.1.4.1.1.1"
# Order of scp::TRANSFER_SYNTAXES: mode byte = index + 1.
TS = [
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.1.99",
    "1.2.840.10008.1.2.4.70",
    "1.2.840.10008.1.2.4.57",
    "1.2.840.10008.1.2.4.50",
    "1.2.840.10008.1.2.4.51",
    "1.2.840.10008.1.2.5",
    "1.2.840.10008.1.2.4.90",
    "1.2.840.10008.1.2.4.91",
]


def cr(rows=8, cols=8, bits=16):
    ds = Dataset()
    ds.SOPClassUID = CR
    ds.SOPInstanceUID = "2.25.1"
    ds.Modality = "CR"
    ds.BodyPartExamined = "HAND"
    ds.PatientName = "Seed"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated = bits
    ds.BitsStored = bits if bits == 8 else 12
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    ds.WindowCenter, ds.WindowWidth = "2048", "4096"
    ds.PixelSpacing = [0.1, 0.1]
    dt = "<u2" if bits == 16 else "u1"
    import numpy as np

    ds.PixelData = (np.arange(rows * cols) * 37 % (1 << ds.BitsStored)).astype(dt).tobytes()
    return ds


def part10(ds, ts):
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CR
    ds.file_meta.MediaStorageSOPInstanceUID = "2.25.1"
    ds.file_meta.TransferSyntaxUID = ts
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def data_set(file_bytes):
    """The data set after the file meta (what an SCU sends in P-DATA)."""
    f = io.BytesIO(file_bytes)
    pydicom.dcmread(f, stop_before_pixels=False)
    f.seek(132)
    # (0002,0000) UL group length: explicit VR LE, value at offset 8 of the element.
    head = f.read(12)
    (glen,) = struct.unpack("<I", head[8:12])
    return file_bytes[132 + 12 + glen :]


def dcmtk(tool, args, src):
    with tempfile.TemporaryDirectory() as d:
        a, b = Path(d) / "in.dcm", Path(d) / "out.dcm"
        a.write_bytes(src)
        subprocess.run([tool, *args, str(a), str(b)], check=True)
        return b.read_bytes()


def write(target, name, mode, body):
    p = OUT / target / f"seed-{name}"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(bytes([mode]) + body)


def main():
    explicit = part10(cr(), ExplicitVRLittleEndian)
    write("dataset", "part10-explicit", 0, explicit)
    write("dataset", "explicit", 1, data_set(explicit))
    write("dataset", "implicit", 2, data_set(part10(cr(), ImplicitVRLittleEndian)))
    write("dataset", "deflated", 3, data_set(part10(cr(), DeflatedExplicitVRLittleEndian)))
    write("dataset", "jpeg-lossless", 4, data_set(dcmtk("dcmcjpeg", ["+e1"], explicit)))
    eight = part10(cr(bits=8), ExplicitVRLittleEndian)
    write("dataset", "jpeg-baseline", 6, data_set(dcmtk("dcmcjpeg", ["+eb"], eight)))
    write("dataset", "rle", 8, data_set(dcmtk("dcmcrle", [], explicit)))

    # PDUs (PS3.8 9.3): mode 0 = a stream of PDUs.
    def item(t, body):
        return struct.pack(">BBH", t, 0, len(body)) + body

    def pdu(t, body):
        return struct.pack(">BBI", t, 0, len(body)) + body

    pc = item(0x20, bytes([1, 0, 0, 0]) + item(0x30, b"1.2.840.10008.1.1")
              + item(0x40, b"1.2.840.10008.1.2"))
    user = item(0x50, item(0x51, struct.pack(">I", 16384)) + item(0x52, b"1.2.3.4"))
    rq = pdu(0x01, struct.pack(">HH", 1, 0) + b"RAJOINTS".ljust(16) + b"SEED".ljust(16)
             + bytes(32) + item(0x10, b"1.2.840.10008.3.1.1.1") + pc + user)

    def command(elements):
        body = b"".join(struct.pack("<HHI", 0, e, len(v)) + v for e, v in elements)
        return struct.pack("<HHII", 0, 0, 4, len(body)) + body

    echo = command([
        (0x0002, b"1.2.840.10008.1.1\0"),
        (0x0100, struct.pack("<H", 0x0030)),
        (0x0110, struct.pack("<H", 1)),
        (0x0800, struct.pack("<H", 0x0101)),
    ])
    echo_rsp = command([
        (0x0002, b"1.2.840.10008.1.1\0"),
        (0x0100, struct.pack("<H", 0x8030)),
        (0x0120, struct.pack("<H", 1)),
        (0x0800, struct.pack("<H", 0x0101)),
        (0x0900, struct.pack("<H", 0)),
    ])
    pdata = pdu(0x04, struct.pack(">I", len(echo) + 2) + bytes([1, 0x03]) + echo)
    release = pdu(0x05, bytes(4))
    write("pdu", "associate-rq", 0, rq)
    write("pdu", "associate-echo-release", 0, rq + pdata + release)
    write("pdu", "pdata-echo", 0, pdata)
    write("pdu", "echo-command", 2, echo)
    write("pdu", "echo-response", 3, echo_rsp)


if __name__ == "__main__":
    sys.exit(main())
