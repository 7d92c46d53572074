//! Calibration of a detector's finding probability (issue 17): temperature scaling of the
//! two-class logit and a decision threshold, both from the model manifest
//! (models/README.md, "Manifest").
//!
//! For a box with softmax scores a = absent and p = present, the calibrated probability
//! that the finding is present is
//!
//! ```text
//! q = sigmoid(ln(p / a) / T) = p^(1/T) / (p^(1/T) + a^(1/T))
//! ```
//!
//! and the finding is flagged when q > `present_threshold`. T = 1 with threshold 0.5 flags
//! exactly when p > a, the argmax of the paper. Box confidence, NMS and the ensemble merge
//! stay on the raw softmax; only the finding label and its probability use this.

/// Temperature when a manifest gives none.
pub const DEFAULT_TEMPERATURE: f64 = 1.0;
/// Decision threshold when a manifest gives none.
pub const DEFAULT_PRESENT_THRESHOLD: f64 = 0.5;

/// Serde's default of a missing `temperature`.
pub(crate) fn default_temperature() -> f64 {
    DEFAULT_TEMPERATURE
}

/// Serde's default of a missing `present_threshold`.
pub(crate) fn default_present_threshold() -> f64 {
    DEFAULT_PRESENT_THRESHOLD
}

/// Scores are clamped up to the smallest positive f32 before the logarithm: a softmax
/// score that underflowed to 0 was below it. Every positive f32 is kept as it is, so the
/// order of a and p, and with it the argmax, never changes.
const FLOOR: f64 = 1.401_298_464_324_817e-45;

/// Temperature scaling and decision threshold of one detector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    /// T: finite and > 0. Above 1 pulls probabilities towards 0.5.
    pub temperature: f64,
    /// The finding is flagged when the calibrated probability is above this; in (0, 1).
    pub present_threshold: f64,
}

impl Default for Calibration {
    fn default() -> Self {
        Calibration {
            temperature: DEFAULT_TEMPERATURE,
            present_threshold: DEFAULT_PRESENT_THRESHOLD,
        }
    }
}

impl Calibration {
    /// The scaled logit ln(p / a) / T, in log space (no overflow, no NaN at 0).
    fn logit(&self, absent: f32, present: f32) -> f64 {
        let ln = |x: f32| f64::from(x).clamp(FLOOR, 1.0).ln();
        (ln(present) - ln(absent)) / self.temperature
    }

    /// q: the calibrated probability that the finding is present, in [0, 1].
    pub fn probability(&self, absent: f32, present: f32) -> f32 {
        sigmoid(self.logit(absent, present)) as f32
    }

    /// Whether the finding is flagged: q > `present_threshold`, compared on the logit
    /// scale in full precision (so T = 1, threshold 0.5 is exactly present > absent).
    pub fn is_present(&self, absent: f32, present: f32) -> bool {
        let t = self.present_threshold;
        self.logit(absent, present) > t.ln() - (1.0 - t).ln()
    }

    /// Why these values cannot be used, if they cannot.
    pub fn problem(&self) -> Option<String> {
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Some(format!(
                "temperature must be finite and > 0, found {}",
                self.temperature
            ));
        }
        if !(self.present_threshold > 0.0 && self.present_threshold < 1.0) {
            return Some(format!(
                "present_threshold must be in (0, 1), found {}",
                self.present_threshold
            ));
        }
        None
    }
}

/// 1 / (1 + e^-z), without overflow for either sign of z.
fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cal(temperature: f64, present_threshold: f64) -> Calibration {
        Calibration {
            temperature,
            present_threshold,
        }
    }

    #[test]
    fn temperature_one_is_the_two_class_share() {
        // a = 0.2, p = 0.6: q = 0.6 / 0.8 = 0.75 (the background's 0.2 drops out).
        let q = Calibration::default().probability(0.2, 0.6);
        assert!((q - 0.75).abs() < 1e-6, "{q}");
        assert!(Calibration::default().is_present(0.2, 0.6));
    }

    #[test]
    fn temperature_two_takes_square_roots() {
        // q = sqrt(0.6) / (sqrt(0.6) + sqrt(0.2)) = sqrt(3) / (sqrt(3) + 1) = 0.633975.
        let q = cal(2.0, 0.5).probability(0.2, 0.6);
        let want = 3f64.sqrt() / (3f64.sqrt() + 1.0);
        assert!((f64::from(q) - want).abs() < 1e-6, "{q}");
        assert!((q - 0.6340).abs() < 1e-4);
        // T < 1 sharpens: T = 0.5 squares, q = 0.36 / (0.36 + 0.04) = 0.9.
        let q = cal(0.5, 0.5).probability(0.2, 0.6);
        assert!((q - 0.9).abs() < 1e-6, "{q}");
    }

    #[test]
    fn threshold_decides_the_flag() {
        // q = 0.75 is below a threshold of 0.8 and above one of 0.7.
        assert!(!cal(1.0, 0.8).is_present(0.2, 0.6));
        assert!(cal(1.0, 0.7).is_present(0.2, 0.6));
        // A low threshold flags a box whose argmax is absent: q = 0.3 / 0.9 = 1/3 > 0.3.
        assert!(cal(1.0, 0.3).is_present(0.6, 0.3));
        assert!(!Calibration::default().is_present(0.6, 0.3));
    }

    #[test]
    fn defaults_are_the_argmax() {
        let c = Calibration::default();
        // A tie is not present, as present > absent says.
        assert!(!c.is_present(0.4, 0.4));
        assert_eq!(c.probability(0.4, 0.4), 0.5);
        // Neighbouring f32 values still order as they do raw.
        let a = 0.45f32;
        let p = f32::from_bits(a.to_bits() + 1);
        assert!(c.is_present(a, p) && !c.is_present(p, a));
        for (a, p) in [
            (0.02, 0.97),
            (0.6, 0.3),
            (0.0, 0.0),
            (0.0, 1e-30),
            (1e-40, 0.0),
        ] {
            assert_eq!(c.is_present(a, p), p > a, "a {a} p {p}");
        }
    }

    #[test]
    fn zero_scores_give_no_nan() {
        let c = Calibration::default();
        assert_eq!(c.probability(0.0, 0.6), 1.0);
        // p = 0 counts as the smallest positive f32: q = 1.4e-45 / 0.6, a subnormal.
        assert!(c.probability(0.6, 0.0) < 1e-44);
        assert_eq!(c.probability(0.0, 0.0), 0.5);
        assert!(c.is_present(0.0, 0.6) && !c.is_present(0.6, 0.0));
        for t in [0.01, 1.0, 1e6] {
            for (a, p) in [(0.0, 0.6), (0.6, 0.0), (0.0, 0.0), (1.0, 1.0)] {
                let q = cal(t, 0.5).probability(a, p);
                assert!((0.0..=1.0).contains(&q), "T {t} a {a} p {p}: {q}");
            }
        }
    }

    #[test]
    fn refuses_bad_values() {
        assert_eq!(Calibration::default().problem(), None);
        for (t, thr) in [
            (0.0, 0.5),
            (-1.0, 0.5),
            (f64::NAN, 0.5),
            (f64::INFINITY, 0.5),
            (1.0, 0.0),
            (1.0, 1.0),
            (1.0, f64::NAN),
        ] {
            assert!(cal(t, thr).problem().is_some(), "T {t} threshold {thr}");
        }
    }
}
