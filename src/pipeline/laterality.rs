//! Which hand (issue 14): the side of each hand the hand model found, from the film's
//! attributes and from what the film shows, in this order of trust:
//!
//! 1. Image Laterality (0020,0062), else Laterality (0020,0060): `R` or `L` is a one-hand
//!    film of that side, `B` both hands, `U` unknown.
//! 2. Patient Orientation (0020,0020), read as PS3.17 Annex A reads it for hands: the
//!    directions are fixed to the hand in the anatomical position, so the thumb side of
//!    a right hand is `R`, of a left hand `L`, the wrist `H` and the fingertips `F`. With
//!    the fingers up (second value `H`), a first value `L` says the hand is seen from its
//!    back (dorsal view: a right hand's thumb on the image left of the hand), `R` from its
//!    palm. Both hangings of two-hand films follow: as acquired `L\H`, flipped for
//!    reading `R\H`.
//! 3. View Position (0018,5101): `PA` is seen from the tube, from the back of the hand
//!    (dorsal), `AP` from the palm.
//! 4. The site setting `pipeline.default_view` (default `dorsal`): every one of the ~750
//!    real single-hand films in real-films.md, and the bone-age atlases, are displayed so.
//!
//! Each fitted hand's thumb side (its chirality) with the view gives its side. Where the
//! film's attributes and the image disagree, the disagreement is reported with the result
//! (`conflicts`), never silently resolved; where they cannot both be true of one film (a
//! one-hand laterality on a film with two hands), or the attributes declare another kind
//! of film, the decision carries the reason the film is not assessable (`refusal`); the
//! quality gate acts on it, and with the gate off the sides are still given.

use serde::{Deserialize, Serialize};

use super::gate::{MAX_ROTATION_DEG, Reason};
use super::naming::{FittedHand, HandCount, Side};

/// The attributes of the image that say which hand it shows and how it is displayed,
/// as stored (trimmed, upper case); `None` when absent or empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilmAttributes {
    /// Image Laterality (0020,0062).
    pub image_laterality: Option<String>,
    /// Laterality (0020,0060), series level.
    pub laterality: Option<String>,
    /// Patient Orientation (0020,0020): row direction, column direction.
    pub patient_orientation: Option<(String, String)>,
    /// View Position (0018,5101).
    pub view_position: Option<String>,
    /// Body Part Examined (0018,0015).
    pub body_part_examined: Option<String>,
}

/// How a hand is displayed, seen from its back or from its palm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum View {
    /// From the back of the hand (PA as acquired): a right hand's thumb on the image left
    /// of the hand.
    Dorsal,
    /// From the palm: a right hand's thumb on the image right of the hand.
    Palmar,
}

impl View {
    /// The side of a hand displayed in this view whose thumb points towards +x or not.
    pub fn side(self, thumb_plus_x: bool) -> Side {
        match (self, thumb_plus_x) {
            (View::Dorsal, false) | (View::Palmar, true) => Side::Right,
            _ => Side::Left,
        }
    }

    /// The value as `pipeline.default_view` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            View::Dorsal => "dorsal",
            View::Palmar => "palmar",
        }
    }
}

/// Where a decision came from; the result reports it in words (`describe`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evidence {
    ImageLaterality,
    Laterality,
    PatientOrientation,
    ViewPosition,
    SiteSetting,
}

impl Evidence {
    pub fn describe(self) -> &'static str {
        match self {
            Evidence::ImageLaterality => "Image Laterality (0020,0062)",
            Evidence::Laterality => "Laterality (0020,0060)",
            Evidence::PatientOrientation => "Patient Orientation (0020,0020)",
            Evidence::ViewPosition => "View Position (0018,5101)",
            Evidence::SiteSetting => "site setting pipeline.default_view",
        }
    }
}

/// What Patient Orientation says, read for a hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Orientation {
    /// Fingers up, seen from the back or the palm.
    Upright(View),
    /// Fingers down.
    UpsideDown(View),
    /// Fingers pointing left or right (`H` or `F` along the rows).
    Sideways,
    /// An anterior or posterior direction in the image plane: a lateral or oblique view.
    NotFrontal,
}

/// Reads Patient Orientation as PS3.17 Annex A does for hands; `None` when the values are
/// not of that form (empty, or a combination such as `LH`).
pub fn read_orientation(row: &str, column: &str) -> Option<Orientation> {
    let ap = |s: &str| s.contains('A') || s.contains('P');
    if ap(row) || ap(column) {
        return Some(Orientation::NotFrontal);
    }
    match (row, column) {
        ("L", "H") => Some(Orientation::Upright(View::Dorsal)),
        ("R", "H") => Some(Orientation::Upright(View::Palmar)),
        // Turned half a turn: the row direction reverses, the view stays.
        ("R", "F") => Some(Orientation::UpsideDown(View::Dorsal)),
        ("L", "F") => Some(Orientation::UpsideDown(View::Palmar)),
        ("H" | "F", "L" | "R") => Some(Orientation::Sideways),
        _ => None,
    }
}

/// Body parts that are not a hand: a film that says so is refused before detection.
/// Values are PS3.16 CID 4031 defined terms and common variants; anything else (HAND,
/// EXTREMITY, a site's own word, nothing) goes on to the image.
const NOT_A_HAND: &[&str] = &[
    "FOOT", "TOE", "ANKLE", "CHEST", "THORAX", "ABDOMEN", "PELVIS", "HIP", "KNEE", "LEG", "FEMUR",
    "SKULL", "HEAD", "SPINE", "CSPINE", "TSPINE", "LSPINE", "SSPINE", "SHOULDER", "ELBOW",
    "HUMERUS", "BREAST", "NECK", "CLAVICLE", "RIB", "SACRUM", "COCCYX", "JAW",
];

/// View Position values of non-frontal projections (PS3.3 C.8.11.5.1.1 and variants).
const NOT_FRONTAL: &[&str] = &[
    "LL", "RL", "LLO", "RLO", "RLD", "LLD", "RAO", "LAO", "RPO", "LPO", "LAT", "LATERAL", "OBL",
    "OBLIQUE",
];

/// What the attributes say before the image is looked at.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The hands expected on the film.
    pub hands: HandCount,
    /// The side of a one-hand film and where it was read, when an attribute says it.
    pub side: Option<(Side, Evidence)>,
    /// The view as the attributes give it, when they do (Patient Orientation, else View
    /// Position); the site setting fills in after the image is seen.
    pub view: Option<(View, Evidence)>,
    /// What Patient Orientation says, checked against the image later.
    pub orientation: Option<Orientation>,
    /// Disagreements among the attributes themselves.
    pub conflicts: Vec<String>,
    /// Why the attributes say this is not a frontal hand film, if they do.
    pub refusal: Option<Reason>,
}

/// Reads the attributes.
pub fn plan(a: &FilmAttributes) -> Plan {
    let orientation = a
        .patient_orientation
        .as_ref()
        .and_then(|(r, c)| read_orientation(r, c));
    let refusal = if let Some(part) = &a.body_part_examined
        && NOT_A_HAND
            .iter()
            .any(|n| part.split([' ', '_']).any(|w| w == *n))
    {
        Some(Reason::BodyPart {
            value: part.clone(),
        })
    } else if let Some(vp) = &a.view_position
        && NOT_FRONTAL.contains(&vp.as_str())
    {
        Some(Reason::NotFrontal {
            evidence: format!("View Position {vp}"),
        })
    } else if let (Some(Orientation::NotFrontal), Some((r, c))) =
        (orientation, &a.patient_orientation)
    {
        Some(Reason::NotFrontal {
            evidence: format!("Patient Orientation {r}\\{c}"),
        })
    } else {
        None
    };
    let mut conflicts = Vec::new();
    let lat = |v: &Option<String>| match v.as_deref() {
        Some("R") => Some((HandCount::One, Some(Side::Right))),
        Some("L") => Some((HandCount::One, Some(Side::Left))),
        Some("B") => Some((HandCount::Two, None)),
        _ => None,
    };
    let from_image = lat(&a.image_laterality);
    let from_series = lat(&a.laterality);
    if let (Some(i), Some(s)) = (from_image, from_series)
        && i != s
    {
        conflicts.push(format!(
            "Image Laterality {} and Laterality {} disagree; Image Laterality is used",
            a.image_laterality.as_deref().unwrap_or(""),
            a.laterality.as_deref().unwrap_or("")
        ));
    }
    let (hands, side) = match (from_image, from_series) {
        (Some((h, s)), _) => (h, s.map(|s| (s, Evidence::ImageLaterality))),
        (None, Some((h, s))) => (h, s.map(|s| (s, Evidence::Laterality))),
        (None, None) => (HandCount::Either, None),
    };
    let view_from_vp = match a.view_position.as_deref() {
        Some("PA") => Some((View::Dorsal, Evidence::ViewPosition)),
        Some("AP") => Some((View::Palmar, Evidence::ViewPosition)),
        _ => None,
    };
    let view = match orientation {
        Some(Orientation::Upright(v)) => Some((v, Evidence::PatientOrientation)),
        _ => view_from_vp,
    };
    Plan {
        hands,
        side,
        view,
        orientation,
        conflicts,
        refusal,
    }
}

/// The side of each hand and how it was decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Sides {
    pub sides: Vec<Side>,
    /// Per hand: what decided its side, in words.
    pub from: Vec<String>,
    /// The view used, and where it came from.
    pub view: (View, Evidence),
    /// Disagreements between the attributes and the image (and among the attributes).
    pub conflicts: Vec<String>,
    /// Why the film is not assessable, when the attributes or the image say so: the
    /// plan's refusal, or a one-hand laterality on two hands. (A lone hand without a clear
    /// thumb side is the gate's: it refuses one whatever the attributes say.)
    pub refusal: Option<Reason>,
}

/// Decides the side of each fitted hand (left to right on the image).
pub fn decide(plan: &Plan, hands: &[FittedHand], site: View) -> Sides {
    let mut conflicts = plan.conflicts.clone();
    let mut refusal = plan.refusal.clone();
    // A one-hand laterality cannot name two hands: they are named by their thumbs.
    let mut tag = plan.side;
    if let Some((side, ev)) = tag
        && hands.len() > 1
    {
        refusal.get_or_insert(Reason::HandCount {
            said: format!("{} {}", ev.describe(), side.letter()),
            seen: hands.len(),
        });
        tag = None;
    }
    if plan.hands == HandCount::Two && hands.len() == 1 {
        conflicts.push(
            "the attributes say both hands (B), the image shows one hand; its side is read \
             from its thumb"
                .into(),
        );
    }
    // Patient Orientation that the image contradicts (a hand seen upright where it says
    // sideways or upside down) is not evidence for the view.
    // No hand found says nothing about how the image lies.
    let upright = !hands.is_empty()
        && hands
            .iter()
            .all(|h| h.rotation_deg.abs() <= MAX_ROTATION_DEG);
    if upright
        && matches!(
            plan.orientation,
            Some(Orientation::Sideways | Orientation::UpsideDown(_))
        )
    {
        conflicts.push(
            "Patient Orientation says the fingers do not point up, the image shows them up; \
             it is not used for the side"
                .into(),
        );
    }
    let view = plan.view.unwrap_or((site, Evidence::SiteSetting));
    let mut sides = Vec::with_capacity(hands.len());
    let mut from = Vec::with_capacity(hands.len());
    for h in hands {
        let seen = view.0.side(h.thumb_plus_x);
        match tag {
            Some((side, ev)) => {
                if side != seen {
                    conflicts.push(format!(
                        "{} says {}, but the thumb lies where a {} hand's does in the {} view \
                         ({}); named {} as the attribute says",
                        ev.describe(),
                        side.letter(),
                        side_word(seen),
                        view.0.as_str(),
                        view.1.describe(),
                        side.letter(),
                    ));
                }
                sides.push(side);
                from.push(ev.describe().to_string());
            }
            None => {
                sides.push(seen);
                from.push(format!(
                    "thumb side in the {} view ({})",
                    view.0.as_str(),
                    view.1.describe()
                ));
            }
        }
    }
    Sides {
        sides,
        from,
        view,
        conflicts,
        refusal,
    }
}

fn side_word(s: Side) -> &'static str {
    match s {
        Side::Right => "right",
        Side::Left => "left",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(il: &str, lat: &str, po: &str, vp: &str) -> FilmAttributes {
        let o = |s: &str| (!s.is_empty()).then(|| s.to_string());
        FilmAttributes {
            image_laterality: o(il),
            laterality: o(lat),
            patient_orientation: po.split_once('\\').map(|(r, c)| (r.into(), c.into())),
            view_position: o(vp),
            body_part_examined: Some("HAND".into()),
        }
    }

    /// The plan of attributes that declare nothing wrong.
    fn ok_plan(a: &FilmAttributes) -> Plan {
        let p = plan(a);
        assert_eq!(p.refusal, None);
        p
    }

    /// A decision that finds the film assessable.
    fn ok_decide(p: &Plan, hands: &[FittedHand], site: View) -> Sides {
        let s = decide(p, hands, site);
        assert_eq!(s.refusal, None);
        s
    }

    fn hand(thumb_plus_x: bool, centre_x: f32) -> FittedHand {
        FittedHand {
            thumb_plus_x,
            scale: 6.0,
            rotation_deg: 3.0,
            rms_mm: 2.0,
            joints: 10,
            chirality_margin: 900.0,
            centre_x,
            aspect: 1.0,
        }
    }

    /// PS3.17 Annex A fixes the labels to the hand in the anatomical position (palm
    /// forward, thumb lateral): a right hand's thumb side is R, its wrist H. Worked by
    /// hand for a right hand seen from its back with the fingers up: the thumb is on the
    /// image left, so the rows run from the thumb (R) towards the little finger, i.e.
    /// towards L; the columns run from the fingertips down to the wrist, towards H: L\H.
    /// A left hand seen so has its thumb (L) on the image right: rows run towards L
    /// again. Seen from the palm, both read R\H. Turned half a turn both values reverse.
    #[test]
    fn patient_orientation_reads_as_ps3_17_annex_a_for_hands() {
        assert_eq!(
            read_orientation("L", "H"),
            Some(Orientation::Upright(View::Dorsal))
        );
        assert_eq!(
            read_orientation("R", "H"),
            Some(Orientation::Upright(View::Palmar))
        );
        assert_eq!(
            read_orientation("R", "F"),
            Some(Orientation::UpsideDown(View::Dorsal))
        );
        assert_eq!(
            read_orientation("L", "F"),
            Some(Orientation::UpsideDown(View::Palmar))
        );
        assert_eq!(read_orientation("H", "R"), Some(Orientation::Sideways));
        assert_eq!(read_orientation("F", "L"), Some(Orientation::Sideways));
        // A lateral hand: the rows run from palm to back.
        assert_eq!(read_orientation("A", "H"), Some(Orientation::NotFrontal));
        assert_eq!(read_orientation("LA", "H"), Some(Orientation::NotFrontal));
        assert_eq!(read_orientation("LH", "F"), None);
        assert_eq!(read_orientation("", ""), None);
    }

    #[test]
    fn view_and_thumb_give_the_side() {
        // Dorsal: a right hand's thumb points to the image left (-x).
        assert_eq!(View::Dorsal.side(false), Side::Right);
        assert_eq!(View::Dorsal.side(true), Side::Left);
        assert_eq!(View::Palmar.side(true), Side::Right);
        assert_eq!(View::Palmar.side(false), Side::Left);
    }

    #[test]
    fn one_hand_film_without_attributes_follows_the_site_setting() {
        let p = ok_plan(&FilmAttributes::default());
        assert_eq!(p.hands, HandCount::Either);
        // Thumb on the image left of the hand: a right hand seen from its back.
        let s = ok_decide(&p, &[hand(false, 500.0)], View::Dorsal);
        assert_eq!(s.sides, vec![Side::Right]);
        assert_eq!(s.view, (View::Dorsal, Evidence::SiteSetting));
        assert!(s.conflicts.is_empty());
        // A site that displays from the palm names the same image a left hand.
        let s = ok_decide(&p, &[hand(false, 500.0)], View::Palmar);
        assert_eq!(s.sides, vec![Side::Left]);
    }

    #[test]
    fn laterality_names_a_one_hand_film_and_a_contradiction_is_reported() {
        let p = ok_plan(&attrs("", "R", "L\\H", "PA"));
        assert_eq!(p.hands, HandCount::One);
        assert_eq!(p.side, Some((Side::Right, Evidence::Laterality)));
        let s = ok_decide(&p, &[hand(false, 500.0)], View::Dorsal);
        assert_eq!(s.sides, vec![Side::Right]);
        assert!(s.conflicts.is_empty(), "{:?}", s.conflicts);
        // The thumb on the image right in a dorsal view is a left hand's: reported, and
        // the attribute, trusted more, names it.
        let s = ok_decide(&p, &[hand(true, 500.0)], View::Dorsal);
        assert_eq!(s.sides, vec![Side::Right]);
        assert_eq!(s.conflicts.len(), 1);
        assert!(s.conflicts[0].contains("left hand"), "{}", s.conflicts[0]);
        // Image Laterality outranks Laterality.
        let p = ok_plan(&attrs("L", "R", "", ""));
        assert_eq!(p.side, Some((Side::Left, Evidence::ImageLaterality)));
        assert_eq!(p.conflicts.len(), 1);
    }

    #[test]
    fn two_hand_films_in_both_hangings() {
        // As acquired (L\H): the right hand on the image right, thumbs to the middle.
        let hands = [hand(true, 500.0), hand(false, 1500.0)];
        let p = ok_plan(&attrs("B", "", "L\\H", "PA"));
        assert_eq!(p.hands, HandCount::Two);
        let s = ok_decide(&p, &hands, View::Dorsal);
        assert_eq!(s.sides, vec![Side::Left, Side::Right]);
        assert_eq!(s.view.1, Evidence::PatientOrientation);
        // Flipped for reading (R\H): the same picture has the right hand on the left.
        let p = ok_plan(&attrs("B", "", "R\\H", "PA"));
        let s = ok_decide(&p, &hands, View::Dorsal);
        assert_eq!(s.sides, vec![Side::Right, Side::Left]);
        // No Patient Orientation: View Position PA is the view from the tube (dorsal).
        let p = ok_plan(&attrs("B", "", "", "PA"));
        let s = ok_decide(&p, &hands, View::Palmar);
        assert_eq!(s.sides, vec![Side::Left, Side::Right]);
        assert_eq!(s.view.1, Evidence::ViewPosition);
    }

    #[test]
    fn one_hand_laterality_on_two_hands_is_not_assessable() {
        let p = ok_plan(&attrs("", "L", "L\\H", "PA"));
        let two = [hand(true, 500.0), hand(false, 1500.0)];
        let s = decide(&p, &two, View::Dorsal);
        assert!(matches!(s.refusal, Some(Reason::HandCount { seen: 2, .. })));
        // Named by their thumbs all the same, for a gate that is off.
        assert_eq!(s.sides, vec![Side::Left, Side::Right]);
    }

    #[test]
    fn attributes_of_other_films_are_refused() {
        let mut a = attrs("", "R", "L\\H", "PA");
        a.body_part_examined = Some("FOOT".into());
        assert!(matches!(plan(&a).refusal, Some(Reason::BodyPart { .. })));
        a.body_part_examined = Some("CHEST".into());
        assert!(matches!(plan(&a).refusal, Some(Reason::BodyPart { .. })));
        a.body_part_examined = Some("HAND".into());
        assert_eq!(plan(&a).refusal, None);
        a.body_part_examined = None;
        assert_eq!(plan(&a).refusal, None);
        assert!(matches!(
            plan(&attrs("", "R", "L\\H", "LL")).refusal,
            Some(Reason::NotFrontal { .. })
        ));
        assert!(matches!(
            plan(&attrs("", "R", "A\\H", "")).refusal,
            Some(Reason::NotFrontal { .. })
        ));
    }

    #[test]
    fn an_unclear_thumb_is_refused_and_an_attribute_still_names_the_side() {
        let unclear = FittedHand {
            chirality_margin: 100.0,
            ..hand(false, 500.0)
        };
        // Without an attribute its side would rest on the thumb alone: the gate refuses
        // a lone hand without a clear thumb.
        assert!(matches!(
            super::super::gate::check(std::slice::from_ref(&unclear), None),
            Err(Reason::Shape { .. })
        ));
        let p = ok_plan(&attrs("", "L", "", ""));
        let s = ok_decide(&p, &[unclear], View::Dorsal);
        assert_eq!(s.sides, vec![Side::Left]);
    }

    #[test]
    fn an_orientation_the_image_contradicts_is_not_used() {
        // R\F would be a dorsal view turned upside down; the hand is seen upright, so the
        // attribute is wrong somewhere: reported, and View Position gives the view.
        let p = ok_plan(&attrs("", "", "R\\F", "PA"));
        let s = ok_decide(&p, &[hand(false, 500.0)], View::Palmar);
        assert_eq!(s.view, (View::Dorsal, Evidence::ViewPosition));
        assert_eq!(s.sides, vec![Side::Right]);
        assert_eq!(s.conflicts.len(), 1);
        // No hand found: nothing contradicts the attribute, so nothing is reported.
        let none = decide(&p, &[], View::Palmar);
        assert!(none.conflicts.is_empty(), "{:?}", none.conflicts);
    }
}
