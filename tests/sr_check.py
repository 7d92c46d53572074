"""Reads a rajoints SR with highdicom and checks it against the analysis JSON it came from.

Usage: sr_check.py SR_PATH JSON_PATH

highdicom parses the TID 1500 tree the way a consumer does (srread, then
get_planar_roi_measurement_groups, TID 1410). Checked per joint, in order: the Tracking
Identifier (the joint name, or joint-<n> for an unnamed joint), the closed 5-point box in
image pixels, the SCOORD's source image, and that the thumb IP joint (no subluxation label)
has no subluxation evaluation; the Finding (Finger Joint) and the Finding Site (the joint's
local code, e.g. R-PIP4); the Comment, which must be src/labels.rs joint_comment's text
(computed here by the same rule); each probability NUM (left out when it rounds to 0) and
its INFERRED FROM copy of the box. No NUM anywhere may have the value 0.

Every SR carries one report-level Qualitative Evaluations container: "Assessable for joint
scoring" Yes/No, the reason and each conflict as TEXT, then one "Hand summary" per hand,
read back and compared with the JSON's `summary` (or, for a JSON without one, the summary
made from its joints by the rule of Summary::of). The node's own SR names both detectors in
Contributing Equipment Sequence. Exits 1 with one line per mismatch.

A reviewer's report (the JSON has "verified": {"observer", "organization", "predecessor"})
must be VERIFIED with that Verifying Observer and Organization, name the node's SR as its
predecessor, and carry no probabilities (the findings are the reviewer's, not a model's).
"""

import json
import math
import sys

import highdicom as hd
import numpy as np

SUBLUXATION = "263031003"
ANKYLOSIS = "111227009"
FINGER_JOINT = "125682004"
COMMENT = "121106"
LOCAL = "99RAJ"
RIGHT, LEFT = "24028007", "7771000"


# --- The texts of src/labels.rs, by the same rules ---------------------------------------

def f32(x):
    """The f64 that Rust's f64::from(f32) gives for a probability the JSON holds."""
    return float(np.float32(x))


def round_half_up(x):
    """Rust's f64::round for the non-negative numbers here (Python's round is half-even)."""
    return math.floor(x + 0.5)


def percent(probability):
    p = round_half_up(f32(probability) * 100.0 * 100.0) / 100.0
    if p < 0.5:
        return "<1 %"
    if p >= 99.5:
        return ">99 %"
    return f"{round_half_up(p)} %"


def joint_name(joint, index):
    return joint["id"] if joint["id"] is not None else f"joint-{index + 1}"


def joint_comment(joint, index, reviewed):
    labels = [("ankylosis", joint["ankylosis"]), ("subluxation/dislocation", joint["subluxation"])]
    present = [(name, l) for name, l in labels if l is not None and l["present"]]
    name = joint_name(joint, index)
    if not present:
        return f"{name}: no finding"
    parts = [f if reviewed else f"{f} {percent(l['probability'])}" for f, l in present]
    return f"{name}: {', '.join(parts)}"


def hand_line(h):
    side = {"R": "Right hand", "L": "Left hand"}.get(h["side"], "Hand of unknown side")
    noun = "joint" if h["joints"] == 1 else "joints"
    lst = lambda names: ", ".join(names) if names else "none"
    return (f"{side} ({h['joints']} {noun}): ankylosis {len(h['ankylosis'])} ({lst(h['ankylosis'])}); "
            f"subluxation/dislocation {len(h['subluxation'])} ({lst(h['subluxation'])})")


def joint_order(name):
    """JointId's order: side (R first), finger, level (MCP before IP/PIP)."""
    side, row = name.split("-", 1)
    level = 0 if row.startswith("MCP") else 1
    return (0 if side == "R" else 1, int(row[-1]), level)


def summary_of(analysis):
    """analysis.rs Summary::of for a JSON written without a summary."""
    assessment = analysis.get("assessment", {"assessable": True, "reason": None})
    sides = [h["side"] for h in analysis.get("hands", [])]
    named = sorted((j for j in analysis["joints"] if j["id"] is not None), key=lambda j: joint_order(j["id"]))
    for j in named:
        if j["id"][0] not in sides:
            sides.append(j["id"][0])
    hands = []
    for side in dict.fromkeys(sides):
        mine = [j for j in named if j["id"][0] == side]
        hands.append({
            "side": side,
            "joints": len(mine),
            "ankylosis": [j["id"] for j in mine if j["ankylosis"]["present"]],
            "subluxation": [j["id"] for j in mine if j["subluxation"] is not None and j["subluxation"]["present"]],
        })
    return {"assessable": assessment["assessable"], "not_assessable_reason": assessment.get("reason"), "hands": hands}


def percent_value(probability):
    """The NUM value of a probability: percent, two decimals (sr.rs percent_value)."""
    return round_half_up(f32(probability) * 100.0 * 100.0) / 100.0


def items(seq):
    for item in seq:
        yield item
        yield from items(item.get("ContentSequence", []))


def concept(item):
    return item.ConceptNameCodeSequence[0].CodeValue if "ConceptNameCodeSequence" in item else None


def expected_points(box):
    x0, y0, x1, y1 = box
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]], dtype=np.float32)


def check(sr_path, json_path):
    with open(json_path, encoding="utf-8") as f:
        analysis = json.load(f)
    sr = hd.sr.srread(sr_path)
    problems = []
    verified = analysis.get("verified")

    if not isinstance(sr, hd.sr.Comprehensive3DSR):
        problems.append(f"expected a Comprehensive 3D SR, got {type(sr).__name__}")
    for item in items(sr.ContentSequence):
        if item.ValueType == "NUM" and float(item.MeasuredValueSequence[0].NumericValue) == 0.0:
            problems.append(f"NUM {concept(item)} has the value 0")
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

        finding = group.finding_type.value if group.finding_type is not None else None
        if finding != FINGER_JOINT:
            problems.append(f"group {n}: finding {finding!r}, want Finger Joint {FINGER_JOINT}")
        sites = group.finding_sites
        site = (sites[0].value.value, sites[0].value.scheme_designator, sites[0].value.meaning) if sites else None
        if joint["id"] is None:
            if site is None or site[:2] != (FINGER_JOINT, "SCT"):
                problems.append(f"group {n}: finding site {site}, want Finger Joint")
        elif site is None or site[:2] != (joint["id"], LOCAL) or not site[2].startswith(joint["id"] + " ("):
            problems.append(f"group {n}: finding site {site}, want ({joint['id']}, {LOCAL}, \"{joint['id']} (...)\")")

        comments = [i.TextValue for i in group[0].ContentSequence if i.ValueType == "TEXT" and concept(i) == COMMENT]
        want_comment = joint_comment(joint, n - 1, bool(verified))
        if comments != [want_comment]:
            problems.append(f"group {n}: comment {comments}, want [{want_comment!r}]")

        numbers = {m.name.value: float(m.value) for m in group.get_measurements()}
        nums = {concept(i): i for i in group[0].ContentSequence if i.ValueType == "NUM"}
        labels = [("ANKY-P", joint["ankylosis"]), ("SUBL-P", joint["subluxation"])]
        for code, label in labels:
            if verified:
                if code in numbers:
                    problems.append(f"group {n}: {code} in a reviewer's report")
            elif label is None or percent_value(label["probability"]) == 0.0:
                if code in numbers:
                    problems.append(f"group {n}: {code} present for a joint without that label or with 0 %")
            elif abs(numbers.get(code, -1.0) - 100.0 * label["probability"]) > 0.006:
                problems.append(f"group {n}: {code} = {numbers.get(code)}, want {100.0 * label['probability']:.2f} %")
            else:
                # OHIF's hydration reads the box from the first NUM: each NUM carries it.
                region = [i for i in nums[code].get("ContentSequence", []) if i.RelationshipType == "INFERRED FROM"]
                if len(region) != 1 or region[0].ValueType != "SCOORD":
                    problems.append(f"group {n}: {code} has no INFERRED FROM SCOORD")
                else:
                    got = np.array(region[0].GraphicData, dtype=np.float32).reshape(-1, 2)
                    image = region[0].ContentSequence[0]
                    if not np.array_equal(got, want) or image.RelationshipType != "SELECTED FROM":
                        problems.append(f"group {n}: {code} region {got.tolist()}, want {want.tolist()} SELECTED FROM")

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
        if "ContributingEquipmentSequence" in sr:
            problems.append("a reviewer's report names the detectors as contributing equipment")
    else:
        problems += check_contributing_equipment(sr, analysis)
    problems += check_film_evaluations(sr, analysis)
    return problems


def check_contributing_equipment(sr, analysis):
    """One item per detector (IHE AIR): purpose, model name, version, Device UID."""
    models = analysis.get("models")
    if models is None:
        return []
    got = [
        (e.PurposeOfReferenceCodeSequence[0].CodeValue, e.ManufacturerModelName, e.SoftwareVersions, e.get("DeviceUID"))
        for e in sr.get("ContributingEquipmentSequence", [])
    ]
    want = [("109102", m["name"], m["version"]) for m in (models["ankylosis"], models["subluxation"])]
    problems = []
    if [g[:3] for g in got] != want:
        problems.append(f"contributing equipment {got}, want {want}")
    if any(not g[3] for g in got) or len({g[3] for g in got}) != len(got):
        problems.append(f"contributing equipment Device UIDs {[g[3] for g in got]} missing or shared")
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

    summary = analysis.get("summary") or summary_of(analysis)
    want = "373066001" if summary["assessable"] else "373067005"
    if codes.get("ASSESSABLE") != want:
        problems.append(f"summary: Assessable for joint scoring = {codes.get('ASSESSABLE')}, want {want}")
    hands = [read_hand(item) for item in containers[0].ContentSequence
             if item.ValueType == "CONTAINER" and concept(item) == "HANDSUMMARY"]
    if [h for h, _ in hands] != summary["hands"]:
        problems.append(f"summary hands {[h for h, _ in hands]}, want {summary['hands']}")
    for h, line in hands:
        if line != [hand_line(h)]:
            problems.append(f"summary {h['side']}: comment {line}, want [{hand_line(h)!r}]")
    return problems + check_change(containers[0], analysis)


# The SR's change code of each (finding, status) of the JSON's change.joints (issue 19).
CHANGE_CODES = {
    ("ankylosis", "new"): "ANKY-NEW",
    ("subluxation", "new"): "SUBL-NEW",
    ("ankylosis", "unchanged_present"): "ANKY-SAME",
    ("subluxation", "unchanged_present"): "SUBL-SAME",
    ("ankylosis", "absent_now_present_before"): "ANKY-GONE",
    ("subluxation", "absent_now_present_before"): "SUBL-GONE",
    (None, "not_seen_now"): "NOTSEEN-NOW",
    (None, "not_seen_before"): "NOTSEEN-PRIOR",
}


def check_change(evaluations, analysis):
    """The comparison with the prior (issue 19) against the JSON's `change`: one Change
    since prior container with its Comment, and in each compared hand's summary one change
    CODE per joint line (value the joint's 99RAJ code) and one "since" line."""
    change = analysis.get("change")
    containers = [item for item in evaluations.ContentSequence
                  if item.ValueType == "CONTAINER" and concept(item) == "CHANGE"]
    if change is None:
        # A JSON without `change` looked for no prior; the SR it is checked against may
        # come from the node, which always looks (and says when there is none).
        return []
    if len(containers) != 1:
        return [f"{len(containers)} Change since prior containers, want 1"]
    problems = []
    comments = [i.TextValue for i in containers[0].ContentSequence
                if i.ValueType == "TEXT" and concept(i) == COMMENT]
    if len(comments) != 1:
        problems.append(f"change: comments {comments}, want one")
    want = sorted((CHANGE_CODES[(j["finding"], j["status"])], j["joint"])
                  for j in change["joints"] if (j["finding"], j["status"]) in CHANGE_CODES)
    got, since = [], []
    for hand in evaluations.ContentSequence:
        if hand.ValueType != "CONTAINER" or concept(hand) != "HANDSUMMARY":
            continue
        for item in hand.ContentSequence:
            name = concept(item)
            if item.ValueType == "CODE" and name in set(CHANGE_CODES.values()):
                got.append((name, item.ConceptCodeSequence[0].CodeValue))
            elif item.ValueType == "TEXT" and name == COMMENT and " since " in item.TextValue:
                since.append(item.TextValue)
    if sorted(got) != want:
        problems.append(f"change codes {sorted(got)}, want {want}")
    if len(since) != len(change["hands"]):
        problems.append(f"change: {len(since)} hand lines, want {len(change['hands'])}")
    return problems


def read_hand(container):
    """A Hand summary container as the JSON's HandSummary, and its Comment lines. A count
    without a NUM is 0 (the SR writes no NUM of 0); the joints must agree with the counts."""
    hand = {"side": None, "joints": 0, "ankylosis": [], "subluxation": []}
    counts, lines = {}, []
    for item in container.ContentSequence:
        name = concept(item)
        if item.ValueType == "CODE" and name == "272741003":
            hand["side"] = {RIGHT: "R", LEFT: "L"}.get(item.ConceptCodeSequence[0].CodeValue)
        elif item.ValueType == "NUM":
            counts[name] = int(float(item.MeasuredValueSequence[0].NumericValue))
        elif item.ValueType == "CODE" and name in (ANKYLOSIS, SUBLUXATION):
            value = item.ConceptCodeSequence[0]
            key = "ankylosis" if name == ANKYLOSIS else "subluxation"
            hand[key].append(value.CodeValue if value.CodingSchemeDesignator == LOCAL else f"?{value.CodeValue}")
        elif item.ValueType == "TEXT" and name == COMMENT:
            # The comparison's line ("Right hand since ...", issue 19) is checked by
            # check_change, not as the summary line.
            if " since " not in item.TextValue:
                lines.append(item.TextValue)
    hand["joints"] = counts.get("JOINTS-N", 0)
    for key, code in (("ankylosis", "ANKY-N"), ("subluxation", "SUBL-N")):
        if counts.get(code, 0) != len(hand[key]):
            hand[key].append(f"?count {counts.get(code, 0)}")
    return hand, lines


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
