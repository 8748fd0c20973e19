//! `metrics`: the broker's Prometheus metrics, served as text on the admin listener's
//! `/metrics` (`crate::admin`). Names follow what the Prometheus JMX exporter's usual Kafka
//! rules make of Kafka's MBeans (lower case: `kafka_server_brokertopicmetrics_bytesin_total`,
//! `kafka_network_requestmetrics_requests_total`, ...) and, for consumer lag,
//! kafka-exporter's, so existing dashboards and alert rules map over; docs/metrics.md
//! lists every family with its Kafka name.
//!
//! Three kinds: counters and histograms updated once per request or connection on the
//! request path ([`requests`], [`topics`]); counters updated once per metadata image
//! ([`IsrChanges`], deleted topics' series removed); and gauges computed at scrape time
//! from the state ([`state`]). The hot path never touches a record and never waits for a
//! scrape.

pub(crate) mod authorization;
pub(crate) mod errors;
pub(crate) mod quotas;
pub(crate) mod requests;
pub(crate) mod state;
pub(crate) mod topics;

use std::collections::HashMap;
use std::sync::Arc;

use prometheus::core::Collector;
use prometheus::{Encoder, IntCounter, Opts, Registry, TextEncoder};
use tokio::sync::watch;

use crate::metadata::MetadataImage;
use crate::replica::ReplicaManager;
use crate::types::TopicPartition;

/// The broker's registered metric families (one per process).
pub(crate) struct Metrics {
    registry: Registry,
    pub(crate) requests: requests::RequestMetrics,
    pub(crate) topics: topics::TopicMetrics,
    pub(crate) authorization: authorization::AuthorizationMetrics,
    pub(crate) quotas: quotas::QuotaMetrics,
    isr_changes: IsrChanges,
}

impl Metrics {
    pub(crate) fn new() -> prometheus::Result<Arc<Metrics>> {
        let registry = Registry::new();
        Ok(Arc::new(Metrics {
            requests: requests::RequestMetrics::register(&registry)?,
            topics: topics::TopicMetrics::register(&registry)?,
            authorization: authorization::AuthorizationMetrics::register(&registry)?,
            quotas: quotas::QuotaMetrics::register(&registry)?,
            isr_changes: IsrChanges::register(&registry)?,
            registry,
        }))
    }

    /// Every family, the registered ones and those computed from `broker` now, as
    /// Prometheus text (exposition format 0.0.4).
    pub(crate) fn render(&self, broker: &crate::handlers::Broker) -> Result<String, String> {
        let mut families = self.registry.gather();
        families.extend(state::collect(broker));
        let mut out = Vec::with_capacity(64 * 1024);
        TextEncoder::new()
            .encode(&families, &mut out)
            .map_err(|e| e.to_string())?;
        String::from_utf8(out).map_err(|e| e.to_string())
    }

    /// Follows applied metadata images until shutdown: counts ISR shrinks and expansions
    /// of partitions this broker leads and drops the series of deleted topics.
    pub(crate) async fn follow_images(
        self: Arc<Self>,
        replicas: Arc<ReplicaManager>,
        images: watch::Receiver<Arc<MetadataImage>>,
        shutdown: watch::Receiver<bool>,
    ) {
        let node_id = replicas.node_id();
        let mut previous: Option<HashMap<TopicPartition, Vec<i32>>> = None;
        replicas
            .follow_applied_images(images, shutdown, |image| {
                let led = led_isrs(image, node_id);
                if let Some(before) = &previous {
                    self.isr_changes.count(before, &led);
                }
                previous = Some(led);
                self.topics.retain_topics(image);
            })
            .await;
    }
}

/// The ISR of every partition `node_id` leads in `image`.
fn led_isrs(image: &MetadataImage, node_id: i32) -> HashMap<TopicPartition, Vec<i32>> {
    image
        .topics
        .values()
        .flat_map(|t| {
            t.partitions
                .iter()
                .filter(|(_, p)| p.leader == node_id)
                .map(|(&i, p)| (TopicPartition::new(t.name.clone(), i), p.isr.clone()))
        })
        .collect()
}

/// `collector` registered in `registry`, handed back to be updated.
pub(crate) fn registered<C: Collector + Clone + 'static>(
    registry: &Registry,
    collector: C,
) -> prometheus::Result<C> {
    registry.register(Box::new(collector.clone()))?;
    Ok(collector)
}

/// Kafka's `IsrShrinksPerSec` / `IsrExpandsPerSec`: ISR changes of partitions this broker
/// leads in both images, as committed through the metadata log (AlterPartition).
struct IsrChanges {
    shrinks: IntCounter,
    expands: IntCounter,
}

impl IsrChanges {
    fn register(registry: &Registry) -> prometheus::Result<Self> {
        let shrinks = registered(
            registry,
            IntCounter::with_opts(Opts::new(
                "kafka_server_replicamanager_isrshrinks_total",
                "Replicas removed from the ISR of partitions this broker leads (IsrShrinksPerSec).",
            ))?,
        )?;
        let expands = registered(
            registry,
            IntCounter::with_opts(Opts::new(
                "kafka_server_replicamanager_isrexpands_total",
                "Replicas added to the ISR of partitions this broker leads (IsrExpandsPerSec).",
            ))?,
        )?;
        Ok(IsrChanges { shrinks, expands })
    }

    fn count(
        &self,
        before: &HashMap<TopicPartition, Vec<i32>>,
        after: &HashMap<TopicPartition, Vec<i32>>,
    ) {
        for (tp, isr) in after {
            let Some(old) = before.get(tp) else {
                continue;
            };
            let removed = old.iter().filter(|r| !isr.contains(r)).count() as u64;
            let added = isr.iter().filter(|r| !old.contains(r)).count() as u64;
            self.shrinks.inc_by(removed);
            self.expands.inc_by(added);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isr_changes_count_removed_and_added_replicas() {
        let registry = Registry::new();
        let changes = IsrChanges::register(&registry).expect("register");
        let tp = TopicPartition::new("t", 0);
        let before = HashMap::from([(tp.clone(), vec![1, 2, 3])]);
        let shrunk = HashMap::from([(tp.clone(), vec![1, 3])]);
        let expanded = HashMap::from([(tp, vec![1, 2, 3])]);
        changes.count(&before, &shrunk);
        changes.count(&shrunk, &expanded);
        changes.count(&expanded, &HashMap::new());
        assert_eq!(changes.shrinks.get(), 1);
        assert_eq!(changes.expands.get(), 1);
    }
}
