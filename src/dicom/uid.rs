//! Deterministic UIDs for the objects rajoints writes.
//!
//! Every UID of an SR or GSPS (SOP Instance, Series, Tracking Unique Identifier, Device
//! Observer UID) is derived from what identifies its content: the source SOP Instance UID
//! and the identity of the models. Sending the same image twice through the same models
//! therefore yields the same UIDs, and an archive sees a duplicate of one instance instead
//! of two reports that disagree about nothing.
//!
//! The form is the UUID-derived root `2.25` (PS3.5 §B.2): `2.25.` followed by the decimal
//! value of a 128-bit UUID without leading zeros. The UUID is built like an RFC 9562
//! version 8 ("custom") UUID from the first 128 bits of a SHA-256 digest, the same way a
//! version 5 UUID is built from SHA-1.

use sha2::{Digest, Sha256};

/// Separates the parts before hashing (ASCII Unit Separator, 0x1F), so that
/// `["ab", "c"]` and `["a", "bc"]` give different UIDs. UIDs and version strings never
/// contain it.
const PART_SEPARATOR: u8 = 0x1f;

/// The UUID-derived UID root (PS3.5 §B.2).
const UUID_ROOT: &str = "2.25.";

/// Maximum length of a UID (PS3.5 §9.1).
pub const MAX_UID_LEN: usize = 64;

/// A UID `2.25.<n>` that depends only on `parts`.
///
/// `n` is the first 128 bits of SHA-256 over the parts joined with 0x1F, with the UUID
/// version field set to 8 and the variant field to `10` (RFC 9562 §4.1, §5.8), read as a
/// big-endian integer. The version bits make `n` at least 2^76, so it is never zero and its
/// decimal form has no leading zero; at most 39 digits, the UID has at most 44 characters.
pub fn derive_uid(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            hasher.update([PART_SEPARATOR]);
        }
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    // Octet 6 high nibble: version 8 (custom). Octet 8 top two bits: variant 0b10.
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    format!("{UUID_ROOT}{}", u128::from_be_bytes(bytes))
}

/// True when `uid` is a syntactically valid UID (PS3.5 §9.1): at most 64 characters,
/// components of digits separated by single dots, no component empty or with a leading
/// zero (a lone `0` is allowed).
pub fn is_valid_uid(uid: &str) -> bool {
    !uid.is_empty()
        && uid.len() <= MAX_UID_LEN
        && uid.split('.').all(|c| {
            !c.is_empty()
                && c.bytes().all(|b| b.is_ascii_digit())
                && (c == "0" || !c.starts_with('0'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derive_uid_is_deterministic() {
        let a = derive_uid(&["sr", "1.2.3.4", "ank 1.0 abc", "subl 1.0 def"]);
        let b = derive_uid(&["sr", "1.2.3.4", "ank 1.0 abc", "subl 1.0 def"]);
        assert_eq!(a, b);
    }

    #[test]
    fn derive_uid_differs_on_input() {
        let base = derive_uid(&["sr", "1.2.3.4"]);
        assert_ne!(base, derive_uid(&["sr", "1.2.3.5"]));
        assert_ne!(base, derive_uid(&["gsps", "1.2.3.4"]));
        // The separator keeps part boundaries significant.
        assert_ne!(derive_uid(&["ab", "c"]), derive_uid(&["a", "bc"]));
        assert_ne!(derive_uid(&["a"]), derive_uid(&["a", ""]));
    }

    #[test]
    fn derive_uid_has_valid_syntax() {
        for parts in [&[][..], &[""], &["x"], &["sr", "1.2.840.10008.1", "v1"]] {
            let uid = derive_uid(parts);
            assert!(uid.starts_with("2.25."), "{uid}");
            assert!(is_valid_uid(&uid), "{uid}");
            assert!(uid.len() <= MAX_UID_LEN, "{uid}");
        }
    }

    #[test]
    fn derive_uid_is_a_version_8_variant_1_uuid() {
        let uid = derive_uid(&["x"]);
        let n: u128 = uid.trim_start_matches(UUID_ROOT).parse().unwrap();
        let bytes = n.to_be_bytes();
        assert_eq!(bytes[6] >> 4, 8);
        assert_eq!(bytes[8] >> 6, 0b10);
    }

    #[test]
    fn uid_syntax_check_rejects_bad_uids() {
        for bad in ["", "1..2", "1.02", "1.2.", ".1", "1.a", &"1".repeat(65)] {
            assert!(!is_valid_uid(bad), "{bad}");
        }
        for good in ["0", "1.0.2", "2.25.123"] {
            assert!(is_valid_uid(good), "{good}");
        }
    }
}
