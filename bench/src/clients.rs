//! librdkafka client setup and topic administration shared by the scenarios.

use std::time::{Duration, Instant};

use rdkafka::admin::{
    AdminClient, AdminOptions, AlterConfig, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientConfig;

use crate::error::BenchError;

/// Deadline for one admin request (create or delete topics).
const ADMIN_TIMEOUT_MS: u64 = 30_000;
/// Deadline for newly created topics to show up, with leaders, in metadata.
pub(crate) const TOPIC_READY_TIMEOUT_MS: u64 = 60_000;
/// Pause between two metadata polls while waiting for topics.
const METADATA_POLL_INTERVAL_MS: u64 = 100;
/// Topics per CreateTopics request.
const CREATE_TOPICS_CHUNK: usize = 50;

/// Settings every bench client shares.
pub(crate) fn base_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("client.id", "ironlog-bench")
        // Single-broker loopback runs: never resolve to anything but what we were given.
        .set("broker.address.family", "v4")
        .set("log_level", "4");
    if bootstrap.starts_with('[') {
        config.set("broker.address.family", "any");
    }
    config
}

/// `config` with `settings` (`KEY`, `VALUE`) set on top, e.g. a listener's security
/// protocol, CA and SASL credentials.
pub(crate) fn with_settings(
    mut config: ClientConfig,
    settings: &[(String, String)],
) -> ClientConfig {
    for (key, value) in settings {
        config.set(key, value);
    }
    config
}

fn admin_client(bootstrap: &str) -> Result<AdminClient<DefaultClientContext>, BenchError> {
    Ok(base_config(bootstrap).create()?)
}

fn runtime() -> Result<tokio::runtime::Runtime, BenchError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| BenchError::io("building the admin runtime", e))
}

/// Creates `topics` (already existing ones are accepted) and waits until every one of them
/// reports `partitions` partitions with a leader.
pub(crate) fn create_topics(
    bootstrap: &str,
    topics: &[String],
    partitions: i32,
    replication_factor: i32,
) -> Result<(), BenchError> {
    create_topics_with_configs(bootstrap, topics, partitions, replication_factor, &[])
}

/// `create_topics` with topic configs (`KEY`, `VALUE`) set on every topic.
pub(crate) fn create_topics_with_configs(
    bootstrap: &str,
    topics: &[String],
    partitions: i32,
    replication_factor: i32,
    configs: &[(&str, &str)],
) -> Result<(), BenchError> {
    let admin = admin_client(bootstrap)?;
    let runtime = runtime()?;
    let admin_timeout = Duration::from_millis(ADMIN_TIMEOUT_MS);
    let options = AdminOptions::new()
        .operation_timeout(Some(admin_timeout))
        .request_timeout(Some(admin_timeout));
    for chunk in topics.chunks(CREATE_TOPICS_CHUNK) {
        let new_topics: Vec<NewTopic<'_>> = chunk
            .iter()
            .map(|name| {
                configs.iter().fold(
                    NewTopic::new(
                        name,
                        partitions,
                        TopicReplication::Fixed(replication_factor),
                    ),
                    |topic, (key, value)| topic.set(key, value),
                )
            })
            .collect();
        // The client enforces the request timeout; the outer bound catches a stuck future.
        let results = runtime
            // The timer must be created inside the runtime, hence the async block.
            .block_on(async {
                tokio::time::timeout(
                    admin_timeout + Duration::from_secs(5),
                    admin.create_topics(&new_topics, &options),
                )
                .await
            })
            .map_err(|_| BenchError::Timeout {
                what: format!("CreateTopics for {} topics", chunk.len()),
                waited_ms: admin_timeout.as_millis(),
            })??;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => {
                    return Err(BenchError::Topic {
                        topic,
                        reason: format!("CreateTopics failed: {code}"),
                    })
                }
            }
        }
    }
    wait_for_topics(
        &admin,
        topics,
        partitions,
        Duration::from_millis(TOPIC_READY_TIMEOUT_MS),
    )
}

/// Waits until every one of `topics` (already created) reports `partitions` partitions with
/// a leader, e.g. after a broker restart.
pub(crate) fn wait_for_topics_ready(
    bootstrap: &str,
    topics: &[String],
    partitions: i32,
) -> Result<(), BenchError> {
    let admin = admin_client(bootstrap)?;
    wait_for_topics(
        &admin,
        topics,
        partitions,
        Duration::from_millis(TOPIC_READY_TIMEOUT_MS),
    )
}

/// Polls cluster metadata until every topic has `partitions` partitions, each with a leader.
fn wait_for_topics(
    admin: &AdminClient<DefaultClientContext>,
    topics: &[String],
    partitions: i32,
    timeout: Duration,
) -> Result<(), BenchError> {
    let started = Instant::now();
    let deadline = started + timeout;
    let attempts_max = timeout.as_millis() / u128::from(METADATA_POLL_INTERVAL_MS) + 1;
    let mut last_missing = String::from("no metadata fetched yet");
    for _ in 0..attempts_max {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            break;
        }
        match admin
            .inner()
            .fetch_metadata(None, remaining.min(Duration::from_secs(10)))
        {
            Ok(metadata) => {
                let missing = topics.iter().find(|name| {
                    !metadata.topics().iter().any(|t| {
                        t.name() == name.as_str()
                            && t.error().is_none()
                            && t.partitions().len() == partitions.unsigned_abs() as usize
                            && t.partitions()
                                .iter()
                                .all(|p| p.leader() >= 0 && p.error().is_none())
                    })
                });
                match missing {
                    None => {
                        tracing::debug!(
                            topics = topics.len(),
                            waited_ms = started.elapsed().as_millis() as u64,
                            "topics ready"
                        );
                        return Ok(());
                    }
                    Some(name) => last_missing = format!("topic {name} not ready"),
                }
            }
            Err(e) => last_missing = format!("metadata request failed: {e}"),
        }
        std::thread::sleep(Duration::from_millis(METADATA_POLL_INTERVAL_MS));
    }
    Err(BenchError::Timeout {
        what: format!("{} topics to become ready ({last_missing})", topics.len()),
        waited_ms: started.elapsed().as_millis(),
    })
}

/// Replaces the topic's configs with `configs` (AlterConfigs: unlisted ones return to
/// their defaults).
pub(crate) fn alter_topic_configs(
    bootstrap: &str,
    topic: &str,
    configs: &[(&str, &str)],
) -> Result<(), BenchError> {
    let admin = admin_client(bootstrap)?;
    let runtime = runtime()?;
    let admin_timeout = Duration::from_millis(ADMIN_TIMEOUT_MS);
    let options = AdminOptions::new().request_timeout(Some(admin_timeout));
    let alter = configs.iter().fold(
        AlterConfig::new(ResourceSpecifier::Topic(topic)),
        |alter, (key, value)| alter.set(key, value),
    );
    let results = runtime
        .block_on(async {
            tokio::time::timeout(
                admin_timeout + Duration::from_secs(5),
                admin.alter_configs([&alter], &options),
            )
            .await
        })
        .map_err(|_| BenchError::Timeout {
            what: format!("AlterConfigs for topic {topic}"),
            waited_ms: admin_timeout.as_millis(),
        })??;
    for result in results {
        if let Err((_, code)) = result {
            return Err(BenchError::Topic {
                topic: topic.to_string(),
                reason: format!("AlterConfigs failed: {code}"),
            });
        }
    }
    Ok(())
}

/// Best effort: failures are logged, not returned (the broker may not support deletion).
pub(crate) fn delete_topics(bootstrap: &str, topics: &[String]) {
    let attempt = || -> Result<(), BenchError> {
        let admin = admin_client(bootstrap)?;
        let runtime = runtime()?;
        let admin_timeout = Duration::from_millis(ADMIN_TIMEOUT_MS);
        let options = AdminOptions::new().operation_timeout(Some(admin_timeout));
        for chunk in topics.chunks(CREATE_TOPICS_CHUNK) {
            let names: Vec<&str> = chunk.iter().map(String::as_str).collect();
            let results = runtime
                .block_on(async {
                    tokio::time::timeout(
                        admin_timeout + Duration::from_secs(5),
                        admin.delete_topics(&names, &options),
                    )
                    .await
                })
                .map_err(|_| BenchError::Timeout {
                    what: "DeleteTopics".to_string(),
                    waited_ms: admin_timeout.as_millis(),
                })??;
            for (topic, code) in results.into_iter().filter_map(Result::err) {
                tracing::warn!(%topic, %code, "could not delete bench topic");
            }
        }
        Ok(())
    };
    if let Err(e) = attempt() {
        tracing::warn!(error = %e, topics = topics.len(), "could not delete bench topics");
    }
}

/// A payload that no codec could shrink much (compression is off anyway), deterministic.
pub(crate) fn payload(record_bytes: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..record_bytes)
        .map(|_| {
            // xorshift64
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_has_requested_size_and_is_not_constant() {
        let bytes = payload(1024);
        assert_eq!(bytes.len(), 1024);
        let distinct: std::collections::HashSet<u8> = bytes.iter().copied().collect();
        assert!(
            distinct.len() > 100,
            "payload should look random, had {} distinct bytes",
            distinct.len()
        );
        assert_eq!(payload(100), payload(100), "payload must be deterministic");
    }

    #[test]
    fn base_config_points_at_bootstrap() {
        let config = base_config("127.0.0.1:9092");
        assert_eq!(config.get("bootstrap.servers"), Some("127.0.0.1:9092"));
        assert_eq!(
            base_config("[::1]:9092").get("broker.address.family"),
            Some("any")
        );
    }
}
