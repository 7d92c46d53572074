"""merge.py: several datasets as one, without copying, and without mixing up patients."""

import json

import pytest

from rajoints_train.data import load_annotations, read_display
from rajoints_train.merge import main, merge


def test_merge_prefixes_files_and_patients(tiny_dataset, tmp_path):
    out = tmp_path / "merged"
    doc = merge(out, [("a", tiny_dataset), ("b", tiny_dataset)])
    anns = load_annotations(out)
    n = len(load_annotations(tiny_dataset))
    assert len(anns) == len(doc["images"]) == 2 * n
    assert anns[0].file.startswith("a/images/") and anns[n].file.startswith("b/images/")
    assert anns[0].patient_id.startswith("a:") and anns[0].patient_id[2:] == anns[n].patient_id[2:]
    assert len({a.patient_id for a in anns}) == 2 * len({a.patient_id for a in anns[:n]})
    assert read_display(out / anns[n].file).pixels.shape == (anns[n].height, anns[n].width)
    # Merging again into the same folder is fine; another source under a taken name is not.
    merge(out, [("a", tiny_dataset), ("b", tiny_dataset)])
    with pytest.raises(ValueError, match="exists"):
        merge(out, [("a", out)])  # out is a valid dataset too, but not what out/a links to


def test_merge_refuses_bad_names_and_sources(tiny_dataset, tmp_path, capsys):
    with pytest.raises(ValueError, match="must differ"):
        merge(tmp_path / "m", [("a", tiny_dataset), ("a", tiny_dataset)])
    with pytest.raises(ValueError, match="plain folder name"):
        merge(tmp_path / "m", [("../x", tiny_dataset)])
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "annotations.json").write_text(json.dumps({"format": "other"}))
    assert main(["--out", str(tmp_path / "m2"), f"x={bad}"]) == 2
    assert "expected 'rajoints-annotations/1'" in capsys.readouterr().err
    assert main(["--out", str(tmp_path / "m3"), "nosep"]) == 2
