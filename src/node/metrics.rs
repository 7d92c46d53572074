//! Counters and latency histograms of the node, exposed in the Prometheus text format.

use crate::pipeline::gate::Reason;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Histogram buckets in seconds: from a fast analysis to a long outage.
const BUCKETS: [f64; 12] = [
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 7200.0,
];

#[derive(Debug, Default)]
pub struct Histogram {
    inner: Mutex<(Vec<u64>, u64, f64)>,
}

impl Histogram {
    pub fn observe(&self, seconds: f64) {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if g.0.is_empty() {
            g.0 = vec![0; BUCKETS.len()];
        }
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                g.0[i] += 1;
            }
        }
        g.1 += 1;
        g.2 += seconds;
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{b}\"}} {}",
                g.0.get(i).copied().unwrap_or(0)
            );
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{le=\"+Inf\"}} {}\n{name}_sum {}\n{name}_count {}",
            g.1, g.2, g.1
        );
    }
}

/// Everything the node counts.
#[derive(Debug, Default)]
pub struct Metrics {
    pub associations: AtomicU64,
    pub associations_rejected: AtomicU64,
    pub tls_handshake_failures: AtomicU64,
    pub received: AtomicU64,
    pub refused: AtomicU64,
    pub ignored: AtomicU64,
    pub analysed: AtomicU64,
    pub failed: AtomicU64,
    pub sent: AtomicU64,
    pub retries: AtomicU64,
    pub dead_letters: AtomicU64,
    /// Analysed instances the quality gate found not assessable, per reason
    /// (`gate::Reason::CODES` order).
    pub not_assessable: [AtomicU64; Reason::CODES.len()],
    pub analysis_seconds: Histogram,
    pub delivery_seconds: Histogram,
}

impl Metrics {
    pub fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a film the gate refused, by its reason code.
    pub fn not_assessable(&self, code: &str) {
        if let Some(k) = Reason::CODES.iter().position(|c| *c == code) {
            Metrics::inc(&self.not_assessable[k]);
        }
    }

    /// The exposition, with the current queue depths.
    pub fn render(&self, inbox: usize, outbox: usize) -> String {
        let mut s = String::new();
        let counters: [(&str, &AtomicU64, &str); 11] = [
            ("associations", &self.associations, "Associations accepted."),
            (
                "associations_rejected",
                &self.associations_rejected,
                "Associations rejected.",
            ),
            (
                "tls_handshake_failures",
                &self.tls_handshake_failures,
                "Connections to the TLS listener whose TLS handshake failed or timed out.",
            ),
            (
                "received",
                &self.received,
                "Instances stored durably and acknowledged.",
            ),
            (
                "refused",
                &self.refused,
                "C-STORE requests answered with a failure status.",
            ),
            (
                "ignored",
                &self.ignored,
                "Instances accepted but not selected for analysis.",
            ),
            ("analysed", &self.analysed, "Instances analysed."),
            (
                "failed",
                &self.failed,
                "Instances that could not be analysed (kept in failed/).",
            ),
            ("sent", &self.sent, "Results delivered to a destination."),
            (
                "retries",
                &self.retries,
                "Failed delivery attempts that will be retried.",
            ),
            (
                "dead_letters",
                &self.dead_letters,
                "Results moved to dead/ after the last attempt.",
            ),
        ];
        for (name, c, help) in counters {
            let _ = writeln!(
                s,
                "# HELP rajoints_{name}_total {help}\n# TYPE rajoints_{name}_total counter\nrajoints_{name}_total {}",
                c.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            s,
            "# HELP rajoints_not_assessable_total Analysed instances that got no joint results, by reason.\n# TYPE rajoints_not_assessable_total counter"
        );
        for (code, c) in Reason::CODES.iter().zip(&self.not_assessable) {
            let _ = writeln!(
                s,
                "rajoints_not_assessable_total{{reason=\"{code}\"}} {}",
                c.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            s,
            "# HELP rajoints_queue_depth Files waiting.\n# TYPE rajoints_queue_depth gauge\nrajoints_queue_depth{{queue=\"inbox\"}} {inbox}\nrajoints_queue_depth{{queue=\"outbox\"}} {outbox}"
        );
        self.analysis_seconds.render(
            &mut s,
            "rajoints_analysis_seconds",
            "Time to analyse one instance.",
        );
        self.delivery_seconds.render(
            &mut s,
            "rajoints_delivery_seconds",
            "From C-STORE of the radiograph to its result confirmed by a destination.",
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_gauges_and_cumulative_buckets() {
        let m = Metrics::default();
        Metrics::inc(&m.received);
        Metrics::inc(&m.received);
        m.analysis_seconds.observe(0.3);
        m.analysis_seconds.observe(3.0);
        m.not_assessable("hand_shape");
        m.not_assessable("hand_shape");
        // An unknown code counts nowhere.
        m.not_assessable("elbow");
        let t = m.render(4, 1);
        assert!(
            t.contains("rajoints_not_assessable_total{reason=\"hand_shape\"} 2"),
            "{t}"
        );
        assert!(t.contains("rajoints_not_assessable_total{reason=\"body_part\"} 0"));
        assert_eq!(t.matches("rajoints_not_assessable_total{").count(), 8);
        assert!(t.contains("rajoints_received_total 2"), "{t}");
        assert!(t.contains("rajoints_queue_depth{queue=\"inbox\"} 4"));
        // 0.3 s falls in le=0.5 and above; 3 s from le=5.
        assert!(t.contains("rajoints_analysis_seconds_bucket{le=\"0.25\"} 0"));
        assert!(t.contains("rajoints_analysis_seconds_bucket{le=\"0.5\"} 1"));
        assert!(t.contains("rajoints_analysis_seconds_bucket{le=\"5\"} 2"));
        assert!(t.contains("rajoints_analysis_seconds_count 2"));
    }
}
