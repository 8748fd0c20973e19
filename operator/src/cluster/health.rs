//! `health`: how a cluster's brokers see themselves — the brokers the cluster lists as
//! serving (registered and unfenced: Metadata's broker list), and over every topic the
//! partitions with fewer in-sync replicas than replicas (under-replicated) and those without
//! a leader (offline). One Metadata request for every topic, bounded in time; the
//! reconciler feeds the operator's cluster gauges from it.

use std::time::Duration;

use ironlog_protocol::kafka_protocol::messages::{MetadataRequest, MetadataResponse};
use ironlog_protocol::{Client, Error, Target};

use crate::kafka_admin::AdminEndpoint;

/// How long the Metadata request may take, retries included.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(10);

/// A cluster's health as its brokers report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ClusterHealth {
    pub brokers: usize,
    pub under_replicated_partitions: usize,
    pub offline_partitions: usize,
}

/// Why the brokers could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    #[error("no Kafka client for {bootstrap}: {source}")]
    Client { bootstrap: String, source: Error },
    #[error("Metadata from {bootstrap}: {source}")]
    Request { bootstrap: String, source: Error },
    #[error("Metadata from {bootstrap}: no answer within {HEALTH_TIMEOUT:?}")]
    Timeout { bootstrap: String },
}

/// The health a Metadata response for every topic describes.
pub fn summarize(response: &MetadataResponse) -> ClusterHealth {
    let partitions = response.topics.iter().flat_map(|t| t.partitions.iter());
    let mut health = ClusterHealth {
        brokers: response.brokers.len(),
        ..Default::default()
    };
    for p in partitions {
        if p.leader_id.0 < 0 {
            health.offline_partitions += 1;
        }
        if p.isr_nodes.len() < p.replica_nodes.len() {
            health.under_replicated_partitions += 1;
        }
    }
    health
}

/// Asks the brokers at `endpoint`.
pub async fn probe(endpoint: &AdminEndpoint) -> Result<ClusterHealth, HealthError> {
    let bootstrap = endpoint.to_string();
    let mut config = endpoint.client_config();
    config.retry.total_timeout = HEALTH_TIMEOUT;
    let client = Client::new(config).map_err(|source| HealthError::Client {
        bootstrap: bootstrap.to_string(),
        source,
    })?;
    // no topic list: every topic
    let request = MetadataRequest::default()
        .with_topics(None)
        .with_allow_auto_topic_creation(false);
    let response = tokio::time::timeout(HEALTH_TIMEOUT, client.send(Target::AnyBroker, &request))
        .await
        .map_err(|_| HealthError::Timeout {
            bootstrap: bootstrap.to_string(),
        })?
        .map_err(|source| HealthError::Request {
            bootstrap: bootstrap.to_string(),
            source,
        })?;
    Ok(summarize(&response))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironlog_protocol::kafka_protocol::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };
    use ironlog_protocol::kafka_protocol::messages::BrokerId;

    fn partition(leader: i32, replicas: &[i32], isr: &[i32]) -> MetadataResponsePartition {
        MetadataResponsePartition::default()
            .with_leader_id(BrokerId(leader))
            .with_replica_nodes(replicas.iter().map(|&r| BrokerId(r)).collect())
            .with_isr_nodes(isr.iter().map(|&r| BrokerId(r)).collect())
    }

    #[test]
    fn counts_brokers_and_partitions_short_of_replicas_or_leaders() {
        let response = MetadataResponse::default()
            .with_brokers(vec![
                MetadataResponseBroker::default().with_node_id(BrokerId(0)),
                MetadataResponseBroker::default().with_node_id(BrokerId(2)),
            ])
            .with_topics(vec![
                MetadataResponseTopic::default().with_partitions(vec![
                    partition(0, &[0, 1, 2], &[0, 1, 2]),
                    partition(0, &[0, 1, 2], &[0, 2]),
                ]),
                MetadataResponseTopic::default().with_partitions(vec![
                    partition(-1, &[1], &[1]),
                    partition(-1, &[1, 2], &[2]),
                ]),
            ]);
        assert_eq!(
            summarize(&response),
            ClusterHealth {
                brokers: 2,
                under_replicated_partitions: 2,
                offline_partitions: 2,
            }
        );
        assert_eq!(
            summarize(&MetadataResponse::default()),
            ClusterHealth::default()
        );
    }
}
