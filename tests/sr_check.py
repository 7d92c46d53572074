"""Reads a rajoints SR with highdicom and checks it against the analysis JSON it came from.

Usage: sr_check.py SR_PATH JSON_PATH

highdicom parses the TID 1500 tree the way a consumer does (srread, then
get_planar_roi_measurement_groups, TID 1410). Checked per joint, in order: the Tracking
Identifier (the joint name, or joint-<n> for an unnamed joint), the closed 5-point box in
image pixels, the SCOORD's source image, and that the thumb IP joint (no subluxation label)
has no subluxation evaluation. A film that is not assessable, or has laterality conflicts,
carries a report-level Qualitative Evaluations container: "Assessable for joint scoring"
Yes/No, the reason and each conflict as TEXT; a plain assessable film has none. Exits 1
with one line per mismatch.

A reviewer's report (the JSON has "verified": {"observer", "organization", "predecessor"})
must be VERIFIED with that Verifying Observer and Organization, name the node's SR as its
predecessor, and carry no probabilities (the findings are the reviewer's, not a model's).
"""

import json
import sys

import highdicom as hd
import numpy as np

SUBLUXATION = "263031003"
ANKYLOSIS = "111227009"


def expected_points(box):
    x0, y0, x1, y1 = box
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]], dtype=np.float32)


def check(sr_path, json_path):
    with open(json_path, encoding="utf-8") as f:
        analysis = json.load(f)
    sr = hd.sr.srread(sr_path)
    problems = []
    verified = analysis.get("verified")

    if not isinstance(sr, hd.sr.ComprehensiveSR):
        problems.append(f"expected a Comprehensive SR, got {type(sr).__name__}")
    source_uid = analysis["source"]["sop_instance_uid"]
    groups = sr.content.get_planar_roi_measurement_groups()
    joints = analysis["joints"]
    if len(groups) != len(joints):
        problems.append(f"{len(groups)} measurement groups for {len(joints)} joints")

    for n, (group, joint) in enumerate(zip(groups, joints), start=1):
        want_id = joint["id"] if joint["id"] is not None else f"joint-{n}"
        if group.tracking_identifier != want_id:
            problems.append(f"group {n}: tracking identifier {group.tracking_identifier!r}, want {want_id!r}")
        if group.tracking_uid is None:
            problems.append(f"group {n}: no tracking unique identifier")

        roi = group.roi
        if roi is None:
            problems.append(f"group {n}: no image region")
            continue
        if roi.graphic_type != hd.sr.GraphicTypeValues.POLYLINE:
            problems.append(f"group {n}: graphic type {roi.graphic_type}, want POLYLINE")
        points = roi.value
        want = expected_points(joint["box"])
        if points.shape != want.shape or not np.array_equal(points.astype(np.float32), want):
            problems.append(f"group {n}: box {points.tolist()}, want {want.tolist()}")
        # TID 1410: the SCOORD's one child is the image it is SELECTED FROM.
        selected = roi.ContentSequence[0]
        ref = selected.ReferencedSOPSequence[0].ReferencedSOPInstanceUID
        if selected.RelationshipType != "SELECTED FROM" or (source_uid is not None and ref != source_uid):
            problems.append(f"group {n}: region {selected.RelationshipType} {ref}, want SELECTED FROM {source_uid}")

        want_finding = None if joint["id"] is None else joint["id"].split("-", 1)[1]
        finding = group.finding_type.value if group.finding_type is not None else None
        if finding != want_finding:
            problems.append(f"group {n}: finding {finding!r}, want local joint code {want_finding!r}")

        numbers = {m.name.value: float(m.value) for m in group.get_measurements()}
        labels = [("ANKY-P", joint["ankylosis"]), ("SUBL-P", joint["subluxation"])]
        for code, label in labels:
            if verified:
                if code in numbers:
                    problems.append(f"group {n}: {code} in a reviewer's report")
            elif label is None:
                if code in numbers:
                    problems.append(f"group {n}: {code} present for a joint without that label")
            elif abs(numbers.get(code, -1.0) - 100.0 * label["probability"]) > 0.006:
                problems.append(f"group {n}: {code} = {numbers.get(code)}, want {100.0 * label['probability']:.2f} %")

        evaluations = {e.name.value: e.value.value for e in group.get_qualitative_evaluations()}
        want_ank = "52101004" if joint["ankylosis"]["present"] else "272519000"
        if evaluations.get(ANKYLOSIS) != want_ank:
            problems.append(f"group {n}: ankylosis {evaluations.get(ANKYLOSIS)}, want {want_ank}")
        if joint["subluxation"] is None:
            if SUBLUXATION in evaluations:
                problems.append(f"group {n}: subluxation evaluated for a joint without that label")
        else:
            want_subl = "52101004" if joint["subluxation"]["present"] else "272519000"
            if evaluations.get(SUBLUXATION) != want_subl:
                problems.append(f"group {n}: subluxation {evaluations.get(SUBLUXATION)}, want {want_subl}")

    if verified:
        problems += check_verification(sr, verified)
    problems += check_film_evaluations(sr, analysis)
    return problems


def check_verification(sr, verified):
    """VERIFIED, its observer and organization, and the predecessor (PS3.3 C.17.2)."""
    problems = []
    if sr.VerificationFlag != "VERIFIED":
        problems.append(f"Verification Flag {sr.VerificationFlag}, want VERIFIED")
        return problems
    observer = sr.VerifyingObserverSequence[0]
    if str(observer.VerifyingObserverName) != verified["observer"]:
        problems.append(f"Verifying Observer Name {observer.VerifyingObserverName}, want {verified['observer']}")
    if observer.VerifyingOrganization != verified["organization"]:
        problems.append(f"Verifying Organization {observer.VerifyingOrganization}, want {verified['organization']}")
    refs = [
        sop.ReferencedSOPInstanceUID
        for study in sr.get("PredecessorDocumentsSequence", [])
        for series in study.ReferencedSeriesSequence
        for sop in series.ReferencedSOPSequence
    ]
    if refs != [verified["predecessor"]]:
        problems.append(f"predecessor documents {refs}, want [{verified['predecessor']}]")
    return problems


def check_film_evaluations(sr, analysis):
    """The report-level Qualitative Evaluations against the JSON's assessment/conflicts."""
    problems = []
    assessment = analysis.get("assessment", {"assessable": True, "reason": None})
    conflicts = analysis.get("conflicts", [])
    containers = [
        item for item in sr.ContentSequence
        if item.ValueType == "CONTAINER"
        and item.ConceptNameCodeSequence[0].CodeValue == "C0034375"
        and item.ConceptNameCodeSequence[0].CodingSchemeDesignator == "UMLS"
    ]
    measurements = [
        item for item in sr.ContentSequence
        if item.ValueType == "CONTAINER" and item.ConceptNameCodeSequence[0].CodeValue == "126010"
    ]
    if not assessment["assessable"] and measurements:
        problems.append("a film that is not assessable has an Imaging Measurements container")
    if assessment["assessable"] and not conflicts:
        if containers:
            problems.append("a plain assessable film has a Qualitative Evaluations container")
        return problems
    if len(containers) != 1:
        return problems + [f"{len(containers)} Qualitative Evaluations containers, want 1"]
    codes, texts = {}, {}
    for item in containers[0].ContentSequence:
        name = item.ConceptNameCodeSequence[0].CodeValue
        if item.ValueType == "CODE":
            codes[name] = item.ConceptCodeSequence[0].CodeValue
        elif item.ValueType == "TEXT":
            texts.setdefault(name, []).append(item.TextValue)
    want = "373066001" if assessment["assessable"] else "373067005"
    if codes.get("ASSESSABLE") != want:
        problems.append(f"Assessable for joint scoring = {codes.get('ASSESSABLE')}, want {want}")
    want_reason = [assessment["reason"]] if assessment.get("reason") else []
    if texts.get("NOTASSESSREASON", []) != want_reason:
        problems.append(f"reason {texts.get('NOTASSESSREASON')}, want {want_reason}")
    if texts.get("LATCONFLICT", []) != conflicts:
        problems.append(f"conflicts {texts.get('LATCONFLICT')}, want {conflicts}")
    return problems


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    problems = check(argv[1], argv[2])
    for p in problems:
        print(p, file=sys.stderr)
    if not problems:
        print(f"{argv[1]}: highdicom reads it; tracking identifiers and boxes match")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
