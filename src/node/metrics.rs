//! Counters and latency histograms of the node, exposed in the OpenMetrics text format
//! (which Prometheus reads) by the Prometheus project's `prometheus-client`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::pipeline::gate::Reason;

/// Histogram buckets in seconds: from a fast analysis to a long outage.
const BUCKETS: [f64; 12] = [
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 7200.0,
];

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabel {
    queue: &'static str,
}

/// Everything the node counts. Counters are shared handles: the registry holds clones.
#[derive(Debug)]
pub struct Metrics {
    pub associations: Counter,
    pub associations_rejected: Counter,
    pub tls_handshake_failures: Counter,
    pub received: Counter,
    pub refused: Counter,
    pub ignored: Counter,
    pub analysed: Counter,
    pub failed: Counter,
    pub sent: Counter,
    pub retries: Counter,
    pub dead_letters: Counter,
    /// Analysed instances the quality gate found not assessable, per reason.
    not_assessable: Family<ReasonLabel, Counter>,
    queue_depth: Family<QueueLabel, Gauge>,
    pub analysis_seconds: Histogram,
    pub delivery_seconds: Histogram,
    registry: Registry,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("rajoints");
        // Help texts end without a full stop: the encoder adds one.
        let mut counter = |name: &str, help: &str| {
            let c = Counter::default();
            registry.register(name, help, c.clone());
            c
        };
        let associations = counter("associations", "Associations accepted");
        let associations_rejected = counter("associations_rejected", "Associations rejected");
        let tls_handshake_failures = counter(
            "tls_handshake_failures",
            "Connections to the TLS listener whose TLS handshake failed or timed out",
        );
        let received = counter("received", "Instances stored durably and acknowledged");
        let refused = counter("refused", "C-STORE requests answered with a failure status");
        let ignored = counter(
            "ignored",
            "Instances accepted but not selected for analysis",
        );
        let analysed = counter("analysed", "Instances analysed");
        let failed = counter(
            "failed",
            "Instances that could not be analysed (kept in failed/)",
        );
        let sent = counter("sent", "Results delivered to a destination");
        let retries = counter("retries", "Failed delivery attempts that will be retried");
        let dead_letters = counter(
            "dead_letters",
            "Results moved to dead/ after the last attempt",
        );
        let not_assessable = Family::<ReasonLabel, Counter>::default();
        // Every reason shows, at 0 until it happens.
        for reason in Reason::CODES {
            let _ = not_assessable.get_or_create(&ReasonLabel { reason });
        }
        registry.register(
            "not_assessable",
            "Analysed instances that got no joint results, by reason",
            not_assessable.clone(),
        );
        let queue_depth = Family::<QueueLabel, Gauge>::default();
        registry.register("queue_depth", "Files waiting", queue_depth.clone());
        let analysis_seconds = Histogram::new(BUCKETS);
        registry.register(
            "analysis_seconds",
            "Time to analyse one instance",
            analysis_seconds.clone(),
        );
        let delivery_seconds = Histogram::new(BUCKETS);
        registry.register(
            "delivery_seconds",
            "From C-STORE of the radiograph to its result confirmed by a destination",
            delivery_seconds.clone(),
        );
        Metrics {
            associations,
            associations_rejected,
            tls_handshake_failures,
            received,
            refused,
            ignored,
            analysed,
            failed,
            sent,
            retries,
            dead_letters,
            not_assessable,
            queue_depth,
            analysis_seconds,
            delivery_seconds,
            registry,
        }
    }
}

impl Metrics {
    /// Counts a film the gate refused, by its reason code; an unknown code counts nowhere.
    pub fn not_assessable(&self, code: &str) {
        if let Some(reason) = Reason::CODES.iter().find(|c| **c == code) {
            self.not_assessable
                .get_or_create(&ReasonLabel { reason })
                .inc();
        }
    }

    /// The exposition, with the current queue depths.
    pub fn render(&self, inbox: usize, outbox: usize) -> String {
        let depth = |queue| {
            self.queue_depth
                .get_or_create(&QueueLabel { queue })
                .clone()
        };
        depth("inbox").set(i64::try_from(inbox).unwrap_or(i64::MAX));
        depth("outbox").set(i64::try_from(outbox).unwrap_or(i64::MAX));
        let mut s = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut s, &self.registry);
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_gauges_and_cumulative_buckets() {
        let m = Metrics::default();
        m.received.inc();
        m.received.inc();
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
        assert!(
            t.contains("rajoints_analysis_seconds_bucket{le=\"5.0\"} 2"),
            "{t}"
        );
        assert!(t.contains("rajoints_analysis_seconds_count 2"));
    }
}
