//! Which received instances are analysed (issue 5): Modality CR or DX, and Body Part
//! Examined HAND or FINGER or a Series Description that mentions the hand, by default.

use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use crate::config::Filter;

/// Whether `obj` is selected for analysis.
pub fn selects(filter: &Filter, obj: &InMemDicomObject) -> bool {
    let text = |tag| {
        obj.get(tag)
            .and_then(|e| e.to_str().ok())
            .map(|s| s.trim_end_matches(['\0', ' ']).trim().to_string())
            .unwrap_or_default()
    };
    let modality = text(tags::MODALITY);
    let body_part = text(tags::BODY_PART_EXAMINED);
    let description = text(tags::SERIES_DESCRIPTION).to_lowercase();
    let in_list = |v: &str, list: &[String]| list.iter().any(|x| x.eq_ignore_ascii_case(v));
    in_list(&modality, &filter.modalities)
        && (in_list(&body_part, &filter.body_parts)
            || filter
                .series_description_words
                .iter()
                .any(|w| !w.is_empty() && description.contains(&w.to_lowercase())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Unmatched;
    use dicom_core::{DataElement, PrimitiveValue, VR};

    fn obj(modality: &str, body_part: &str, description: &str) -> InMemDicomObject {
        InMemDicomObject::from_element_iter([
            DataElement::new(tags::MODALITY, VR::CS, PrimitiveValue::from(modality)),
            DataElement::new(
                tags::BODY_PART_EXAMINED,
                VR::CS,
                PrimitiveValue::from(body_part),
            ),
            DataElement::new(
                tags::SERIES_DESCRIPTION,
                VR::LO,
                PrimitiveValue::from(description),
            ),
        ])
    }

    fn default_filter() -> Filter {
        Filter {
            modalities: vec!["CR".into(), "DX".into()],
            body_parts: vec!["HAND".into(), "FINGER".into()],
            series_description_words: vec!["hand".into()],
            unmatched: Unmatched::Ignore,
        }
    }

    #[test]
    fn selects_hand_radiographs_only() {
        let f = default_filter();
        assert!(selects(&f, &obj("CR", "HAND", "")));
        assert!(selects(&f, &obj("DX", "FINGER", "")));
        assert!(selects(&f, &obj("DX", "", "Both Hands PA")));
        assert!(!selects(&f, &obj("CR", "CHEST", "PA chest")));
        assert!(!selects(&f, &obj("MR", "HAND", "")));
    }
}
