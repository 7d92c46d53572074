//! The RA spectrum graded as readers grade it: Sharp/van der Heijde (SvdH) joint-space
//! narrowing (JSN 0-4) and erosion scores per joint, and the graded disease model of the
//! `clinic` and `hard` presets.
//!
//! SvdH JSN: 0 normal; 1 focal or doubtful narrowing; 2 generalised, under half the
//! original space lost; 3 generalised, over half lost, or subluxation; 4 ankylosis or
//! complete luxation. The finding labels follow the definitions: ankylosis is bony
//! bridging (JSN 4), subluxation/dislocation is partial (JSN 3) or lost (JSN 4) contact of
//! the articular surfaces. Narrowing alone, however severe, carries no label: JSN 2 is the
//! commonest look-alike of a finding on real films (`real-films.md`).
//!
//! The graded model redraws, from its own stream, the labels, narrowing and erosions the
//! paper-era model drew, so the `paper` preset's films stay byte for byte as they were.

use super::patient::{
    Displacement, ErosionSpec, HandAnatomy, HandDisease, JointState, Rates, thresholds,
};
use super::preset::Mix;
use super::rng::Rng;

/// Joint-space width relative to healthy, per JSN grade 0-3: (lowest, highest). Grade 0
/// varies as healthy joints do, so that the width alone never separates a grade.
const GAP_OF_GRADE: [(f64, f64); 4] = [(0.86, 1.18), (0.76, 0.88), (0.5, 0.74), (0.12, 0.45)];

/// What a destroyed hand's scored joints become: ankylosed, luxated, else JSN 3.
const DESTROYED_ANKYLOSED: f64 = 0.4;
const DESTROYED_LUXATED: f64 = 0.45;

/// The SvdH JSN score of a joint as drawn; `None` where a prosthesis replaced it.
pub fn jsn(js: &JointState) -> Option<u8> {
    if js.implant == super::patient::JointImplant::Silicone {
        return None;
    }
    Some(match js.displacement {
        _ if js.ankylosis => 4,
        Displacement::Dislocated { .. } => 4,
        Displacement::Partial { .. } => 3,
        Displacement::None if js.gap < 0.5 => 3,
        Displacement::None if js.gap < 0.76 => 2,
        Displacement::None if js.gap < 0.86 => 1,
        Displacement::None => 0,
    })
}

/// The SvdH erosion score (0-5) of a joint: 1 for one small erosion, more with their
/// number and size, 5 for a destroyed joint. `width_mm` is the joint's width.
pub fn erosion(js: &JointState, width_mm: f64) -> u8 {
    if js.pencil {
        return 5;
    }
    if js.erosions.is_empty() {
        return 0;
    }
    // Eroded share of the articular surface, roughly: diameters over the joint's width.
    let share: f64 = js.erosions.iter().map(|e| 2.0 * e.r).sum::<f64>() / width_mm.max(1.0);
    let by_size = if share < 0.2 {
        1
    } else if share < 0.4 {
        2
    } else if share < 0.6 {
        3
    } else {
        4
    };
    by_size.max(js.erosions.len().min(3) as u8)
}

/// Probability of a flexion contracture at a finger's MCP (level 0) or PIP (level 1)
/// joint of narrowing grade `grade`, for a patient of latent severity `z`.
fn contracture_probability(level: usize, grade: usize, z: f64) -> f64 {
    let severity = super::math::norm_cdf(z);
    match (level, grade) {
        (1, 3..) => 0.5,
        (1, 2) => 0.3,
        (1, _) => 0.08 * (1.0 + severity),
        (_, 2..) => 0.15,
        _ => 0.02,
    }
}

/// Redraws the scored joints' labels, narrowing and erosions, the DIPs' osteoarthritis,
/// destroyed hands and the carpus, at the mix's rates. `z` is the patient's latent
/// severity; `seed` a stream of this patient's own.
pub fn grade(
    disease: &mut [[HandDisease; 2]; 2],
    hands: &[HandAnatomy; 2],
    z: f64,
    rates: Rates,
    mix: &Mix,
    seed: u64,
) {
    let mut rng = Rng::new(seed);
    let (rho_a, rho_b) = (
        mix.rho.clamp(0.0, 1.0).sqrt(),
        (1.0 - mix.rho).max(0.0).sqrt(),
    );
    let d = mix.destroyed_hand_rate.clamp(0.0, 0.5);
    // Destroyed hands carry labels too: the other hands' rates are lowered so that the
    // mean over all joints stays the requested rate (while it can).
    let base = |rate: f64, in_destroyed: f64| ((rate - d * in_destroyed) / (1.0 - d)).max(0.0);
    let ank = base(rates.ankylosis, DESTROYED_ANKYLOSED);
    let sub = base(rates.subluxation, DESTROYED_LUXATED);
    // Share of labels at the MCPs: per-level rates whose mean over the joints that can
    // carry the label is the rate (20 joints for ankylosis, 18 for subluxation).
    let per_level = |rate: f64, share: Option<f64>, n_pip: f64| -> [f64; 2] {
        match share {
            None => [rate, rate],
            Some(s) => {
                let n = 10.0 + n_pip;
                [rate * s * n / 10.0, rate * (1.0 - s) * n / n_pip]
            }
        }
    };
    let ta = per_level(ank, mix.mcp_share.map(|s| s[0]), 10.0).map(thresholds);
    let ts = per_level(sub, mix.mcp_share.map(|s| s[1]), 8.0).map(thresholds);
    let [r1, r2, r3] = mix.jsn_rates;
    // Cumulative probabilities of JSN >= 3, >= 2, >= 1 among joints without a finding.
    let tn = [r3, r3 + r2, r3 + r2 + r1].map(thresholds);
    let te = thresholds(mix.erosion_rate);
    let toa = thresholds(mix.dip_oa_rate);
    let latent = |rng: &mut Rng| rho_a * z + rho_b * rng.normal();
    for h in 0..2 {
        let destroyed = rng.chance(d);
        let destroyed_t0 = rng.chance(0.6);
        let carpal = if destroyed {
            rng.range(0.7, 1.0)
        } else {
            // Carpal disease follows the patient's severity: collapse in the severe tail.
            (0.8 * (z - 1.2)).clamp(0.0, 0.9) * rng.range(0.5, 1.0)
        };
        for f in 0..5 {
            for level in 0..3 {
                if f == 0 && level == 2 {
                    continue;
                }
                let scored = level < 2;
                let thumb_ip = f == 0 && level == 1;
                let (xa, xs, xn, xe, xoa) = (
                    latent(&mut rng),
                    latent(&mut rng),
                    latent(&mut rng),
                    latent(&mut rng),
                    latent(&mut rng),
                );
                let (u_gap, u_kind, u_side, u_mag, u_ax, u_pencil, u_fate) = (
                    rng.f64(),
                    rng.f64(),
                    rng.f64(),
                    rng.f64(),
                    rng.f64(),
                    rng.f64(),
                    rng.f64(),
                );
                let fix_flex = rng.normal_clamped(12.0, 12.0, -5.0, 40.0);
                let (u_contract, u_angle) = (rng.f64(), rng.f64());
                let er = super::patient::erosion_sites(&mut rng);
                let lv = level.min(1);
                for t in 0..2 {
                    let js = &mut disease[t][h].joints[f][level];
                    let tf = t as f64;
                    let was_ankylosed = js.ankylosis;
                    let mut graded = 0;
                    if scored {
                        let wrecked = destroyed && (t == 1 || destroyed_t0);
                        js.ankylosis = if wrecked {
                            u_fate < DESTROYED_ANKYLOSED
                        } else {
                            xa < ta[lv][t]
                        };
                        let luxated = if wrecked {
                            !js.ankylosis && u_fate < DESTROYED_ANKYLOSED + DESTROYED_LUXATED
                        } else {
                            xs < ts[lv][t]
                        };
                        js.displacement = Displacement::None;
                        js.pencil = false;
                        if luxated && !thumb_ip && !js.ankylosis {
                            let complete =
                                wrecked || u_kind < mix.dislocation_share * (0.85 + 0.3 * tf);
                            // Ulnar at 75 % of MCPs; MCPs luxate volarly, so the base rides
                            // over the head in a PA view.
                            let side = if u_side < if level == 0 { 0.75 } else { 0.5 } {
                                -1.0
                            } else {
                                1.0
                            };
                            let axial = -if level == 0 { 0.5 + 0.5 * u_ax } else { u_ax }
                                * if complete { 1.0 } else { 0.5 };
                            js.displacement = if complete {
                                js.pencil = u_pencil < mix.pencil_share;
                                Displacement::Dislocated {
                                    lateral: side * (1.15 + 0.5 * u_mag),
                                    axial,
                                }
                            } else {
                                Displacement::Partial {
                                    lateral: side * (0.42 + 0.3 * u_mag + 0.05 * tf),
                                    axial,
                                }
                            };
                        }
                        // Narrowing of the joints without a finding, by grade.
                        let grade = if wrecked {
                            3
                        } else {
                            tn.iter().filter(|th| xn < th[t]).count().min(3)
                        };
                        let (lo, hi) = GAP_OF_GRADE[grade];
                        js.gap = lo + (hi - lo) * u_gap;
                        graded = grade;
                    } else {
                        // DIPs: osteoarthritic narrowing (unscored), more with the preset.
                        if !js.ankylosis && xoa < toa[t] {
                            js.gap = 0.3 + 0.4 * u_gap;
                        }
                    }
                    if js.ankylosis {
                        js.gap = 0.25;
                        if !was_ankylosed {
                            js.flexion = fix_flex;
                        }
                    } else if was_ankylosed && scored {
                        // The paper-era draw fixed this joint; it now moves as its pose says.
                        js.flexion = 0.0;
                    }
                    // Flexion contractures follow the damage: a finger that no longer
                    // straightens lies flexed on the film, its joint space narrowed in
                    // projection (the grade only rises, so a contracture stays).
                    if scored && f > 0 && !js.ankylosis && !js.subluxed() {
                        let p = contracture_probability(level, graded, z) * mix.deformity;
                        if u_contract < p.min(0.9) {
                            js.flexion += if level == 1 {
                                12.0 + 28.0 * u_angle
                            } else {
                                8.0 + 17.0 * u_angle
                            };
                        }
                    }
                    if scored {
                        js.erosions.clear();
                        if !js.ankylosis && (xe < te[t] || js.pencil) {
                            let grow = 1.0 + 0.3 * tf;
                            let s = hands[h].scale;
                            js.erosions = er
                                .iter()
                                .map(|&(distal, side, size, depth, cyst)| ErosionSpec {
                                    distal,
                                    side: if cyst { 0.0 } else { side },
                                    depth,
                                    r: (0.5 + 1.8 * size) * grow * s,
                                })
                                .collect();
                        }
                    }
                }
            }
        }
        for (t, tp) in disease.iter_mut().enumerate() {
            let hd = &mut tp[h];
            hd.carpal = if destroyed && (t == 1 || destroyed_t0) {
                carpal
            } else {
                carpal * (0.7 + 0.3 * t as f64)
            };
            if destroyed && (t == 1 || destroyed_t0) {
                hd.osteoporosis = hd.osteoporosis.max(0.7);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joint(gap: f64) -> JointState {
        JointState {
            gap,
            ..JointState::healthy()
        }
    }

    #[test]
    fn jsn_follows_the_definitions() {
        // Width alone: 0.9 of healthy is normal, 0.8 doubtful, 0.6 under half lost, 0.3
        // over half lost.
        assert_eq!(jsn(&joint(0.9)), Some(0));
        assert_eq!(jsn(&joint(0.8)), Some(1));
        assert_eq!(jsn(&joint(0.6)), Some(2));
        assert_eq!(jsn(&joint(0.3)), Some(3));
        // A partial subluxation is 3 whatever the width, ankylosis and luxation 4.
        let mut j = joint(1.0);
        j.displacement = Displacement::Partial {
            lateral: 0.5,
            axial: 0.0,
        };
        assert_eq!(jsn(&j), Some(3));
        j.displacement = Displacement::Dislocated {
            lateral: 1.2,
            axial: 0.0,
        };
        assert_eq!(jsn(&j), Some(4));
        let mut a = joint(0.25);
        a.ankylosis = true;
        assert_eq!(jsn(&a), Some(4));
        let mut s = joint(1.0);
        s.implant = super::super::patient::JointImplant::Silicone;
        assert_eq!(jsn(&s), None);
    }

    #[test]
    fn erosion_score_grows_with_size_and_number() {
        let e = |r: f64| ErosionSpec {
            distal: false,
            side: 1.0,
            depth: 0.5,
            r,
        };
        let mut j = joint(1.0);
        assert_eq!(erosion(&j, 10.0), 0);
        // One erosion of 0.5 mm on a 10 mm joint: diameter 1 mm, 10 % of the width.
        j.erosions = vec![e(0.5)];
        assert_eq!(erosion(&j, 10.0), 1);
        // 1.5 mm: 30 % -> 2; two of them: 60 % -> 4.
        j.erosions = vec![e(1.5)];
        assert_eq!(erosion(&j, 10.0), 2);
        j.erosions = vec![e(1.5), e(1.5)];
        assert_eq!(erosion(&j, 10.0), 4);
        // Three small ones: 3 by number.
        j.erosions = vec![e(0.3), e(0.3), e(0.3)];
        assert_eq!(erosion(&j, 10.0), 3);
        j.pencil = true;
        assert_eq!(erosion(&j, 10.0), 5);
    }

    #[test]
    fn thresholds_bracket_the_rate() {
        // p = 0.1: 0.085 at time point 0 and 0.115 at 1; 0 and 1 are exact.
        let [lo, hi] = thresholds(0.1);
        assert!((super::super::math::norm_cdf(lo) - 0.085).abs() < 1e-9);
        assert!((super::super::math::norm_cdf(hi) - 0.115).abs() < 1e-9);
        assert_eq!(thresholds(0.0), [f64::NEG_INFINITY; 2]);
        assert_eq!(thresholds(1.0), [f64::INFINITY; 2]);
    }
}
