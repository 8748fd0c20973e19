//! The error codes a response carries, counted as Kafka's `AbstractResponse.errorCounts`
//! counts them for `ErrorsPerSec` (NONE included): the top-level code where the response
//! has one, and the code of every topic, partition, group or resource result it holds.

use std::collections::HashMap;
use std::sync::OnceLock;

use kafka_protocol::messages::ResponseKind;
use kafka_protocol::ResponseError;

/// Error code → count for one response.
#[derive(Debug, Default)]
pub(crate) struct ErrorCounts(Vec<(i16, u32)>);

impl ErrorCounts {
    fn add(&mut self, code: i16) {
        match self.0.iter_mut().find(|(c, _)| *c == code) {
            Some((_, n)) => *n += 1,
            None => self.0.push((code, 1)),
        }
    }

    fn extend(&mut self, codes: impl IntoIterator<Item = i16>) {
        for code in codes {
            self.add(code);
        }
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (i16, u32)> + '_ {
        self.0.iter().copied()
    }

    /// The count of `code` (tests).
    #[cfg(test)]
    pub(crate) fn of(&self, code: i16) -> u32 {
        self.0
            .iter()
            .find(|(c, _)| *c == code)
            .map_or(0, |(_, n)| *n)
    }
}

/// Kafka's name of an error code (`Errors.name()`: `NOT_LEADER_OR_FOLLOWER`), the value of
/// the `error` label; a code this codec does not know is `UNKNOWN_SERVER_ERROR`'s fallback,
/// its number.
pub(crate) fn error_name(code: i16) -> &'static str {
    static NAMES: OnceLock<HashMap<i16, &'static str>> = OnceLock::new();
    let names = NAMES.get_or_init(|| {
        let mut names: HashMap<i16, &'static str> = HashMap::new();
        names.insert(0, "NONE");
        for code in -1..=200i16 {
            if let Some(error) = ResponseError::try_from_code(code) {
                let name: &'static str = Box::leak(screaming_snake(&format!("{error:?}")).into());
                names.insert(code, name);
            }
        }
        names
    });
    match names.get(&code) {
        Some(name) => name,
        None => "UNKNOWN",
    }
}

/// `NotLeaderOrFollower` → `NOT_LEADER_OR_FOLLOWER`.
fn screaming_snake(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 8);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// Every error code in `response`, with Kafka's choice of what counts per API.
pub(crate) fn error_counts(response: &ResponseKind) -> ErrorCounts {
    let mut c = ErrorCounts::default();
    match response {
        ResponseKind::ApiVersions(r) => c.add(r.error_code),
        ResponseKind::Metadata(r) => {
            for t in &r.topics {
                c.extend(t.partitions.iter().map(|p| p.error_code));
                c.add(t.error_code);
            }
        }
        ResponseKind::DescribeCluster(r) => c.add(r.error_code),
        ResponseKind::DescribeTopicPartitions(r) => {
            for t in &r.topics {
                c.extend(t.partitions.iter().map(|p| p.error_code));
                c.add(t.error_code);
            }
        }
        ResponseKind::Produce(r) => {
            for t in &r.responses {
                c.extend(t.partition_responses.iter().map(|p| p.error_code));
            }
        }
        ResponseKind::Fetch(r) => {
            c.add(r.error_code);
            for t in &r.responses {
                c.extend(t.partitions.iter().map(|p| p.error_code));
            }
        }
        ResponseKind::ListOffsets(r) => {
            for t in &r.topics {
                c.extend(t.partitions.iter().map(|p| p.error_code));
            }
        }
        ResponseKind::OffsetForLeaderEpoch(r) => {
            for t in &r.topics {
                c.extend(t.partitions.iter().map(|p| p.error_code));
            }
        }
        ResponseKind::DeleteRecords(r) => {
            for t in &r.topics {
                c.extend(t.partitions.iter().map(|p| p.error_code));
            }
        }
        ResponseKind::CreateTopics(r) => c.extend(r.topics.iter().map(|t| t.error_code)),
        ResponseKind::DeleteTopics(r) => c.extend(r.responses.iter().map(|t| t.error_code)),
        ResponseKind::CreatePartitions(r) => c.extend(r.results.iter().map(|t| t.error_code)),
        ResponseKind::DescribeConfigs(r) => c.extend(r.results.iter().map(|t| t.error_code)),
        ResponseKind::AlterConfigs(r) => c.extend(r.responses.iter().map(|t| t.error_code)),
        ResponseKind::IncrementalAlterConfigs(r) => {
            c.extend(r.responses.iter().map(|t| t.error_code))
        }
        ResponseKind::ListConfigResources(r) => c.add(r.error_code),
        ResponseKind::ElectLeaders(r) => {
            c.add(r.error_code);
            for t in &r.replica_election_results {
                c.extend(t.partition_result.iter().map(|p| p.error_code));
            }
        }
        ResponseKind::AlterPartitionReassignments(r) => {
            c.add(r.error_code);
            for t in &r.responses {
                c.extend(t.partitions.iter().map(|p| p.error_code));
            }
        }
        ResponseKind::ListPartitionReassignments(r) => c.add(r.error_code),
        ResponseKind::DescribeLogDirs(r) => {
            c.add(r.error_code);
            c.extend(r.results.iter().map(|d| d.error_code));
        }
        ResponseKind::FindCoordinator(r) => {
            if r.coordinators.is_empty() {
                c.add(r.error_code);
            } else {
                c.extend(r.coordinators.iter().map(|k| k.error_code));
            }
        }
        ResponseKind::JoinGroup(r) => c.add(r.error_code),
        ResponseKind::SyncGroup(r) => c.add(r.error_code),
        ResponseKind::Heartbeat(r) => c.add(r.error_code),
        ResponseKind::LeaveGroup(r) => {
            c.add(r.error_code);
            c.extend(r.members.iter().map(|m| m.error_code));
        }
        ResponseKind::OffsetCommit(r) => {
            for t in &r.topics {
                c.extend(t.partitions.iter().map(|p| p.error_code));
            }
        }
        ResponseKind::OffsetFetch(r) => {
            if r.groups.is_empty() {
                c.add(r.error_code);
                for t in &r.topics {
                    c.extend(t.partitions.iter().map(|p| p.error_code));
                }
            } else {
                for g in &r.groups {
                    c.add(g.error_code);
                    for t in &g.topics {
                        c.extend(t.partitions.iter().map(|p| p.error_code));
                    }
                }
            }
        }
        ResponseKind::ListGroups(r) => c.add(r.error_code),
        ResponseKind::DescribeGroups(r) => c.extend(r.groups.iter().map(|g| g.error_code)),
        ResponseKind::DeleteGroups(r) => c.extend(r.results.iter().map(|g| g.error_code)),
        ResponseKind::OffsetDelete(r) => {
            c.add(r.error_code);
            for t in &r.topics {
                c.extend(t.partitions.iter().map(|p| p.error_code));
            }
        }
        ResponseKind::ConsumerGroupHeartbeat(r) => c.add(r.error_code),
        ResponseKind::ConsumerGroupDescribe(r) => c.extend(r.groups.iter().map(|g| g.error_code)),
        ResponseKind::InitProducerId(r) => c.add(r.error_code),
        ResponseKind::AddPartitionsToTxn(r) => {
            if r.results_by_transaction.is_empty() {
                for t in &r.results_by_topic_v3_and_below {
                    c.extend(
                        t.results_by_partition
                            .iter()
                            .map(|p| p.partition_error_code),
                    );
                }
            } else {
                c.add(r.error_code);
                for txn in &r.results_by_transaction {
                    for t in &txn.topic_results {
                        c.extend(
                            t.results_by_partition
                                .iter()
                                .map(|p| p.partition_error_code),
                        );
                    }
                }
            }
        }
        ResponseKind::AddOffsetsToTxn(r) => c.add(r.error_code),
        ResponseKind::EndTxn(r) => c.add(r.error_code),
        ResponseKind::TxnOffsetCommit(r) => {
            for t in &r.topics {
                c.extend(t.partitions.iter().map(|p| p.error_code));
            }
        }
        ResponseKind::DescribeTransactions(r) => {
            c.extend(r.transaction_states.iter().map(|s| s.error_code))
        }
        ResponseKind::ListTransactions(r) => c.add(r.error_code),
        ResponseKind::WriteTxnMarkers(r) => {
            for m in &r.markers {
                for t in &m.topics {
                    c.extend(t.partitions.iter().map(|p| p.error_code));
                }
            }
        }
        ResponseKind::DescribeProducers(r) => {
            for t in &r.topics {
                c.extend(t.partitions.iter().map(|p| p.error_code));
            }
        }
        // APIs this broker does not serve never get here (network.rs refuses them).
        _ => {}
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::produce_response::{
        PartitionProduceResponse, TopicProduceResponse,
    };
    use kafka_protocol::messages::ProduceResponse;

    #[test]
    fn error_names_are_kafkas() {
        assert_eq!(error_name(0), "NONE");
        assert_eq!(error_name(6), "NOT_LEADER_OR_FOLLOWER");
        assert_eq!(error_name(3), "UNKNOWN_TOPIC_OR_PARTITION");
        assert_eq!(error_name(-1), "UNKNOWN_SERVER_ERROR");
        assert_eq!(error_name(17), "INVALID_TOPIC_EXCEPTION");
        assert_eq!(error_name(i16::MAX), "UNKNOWN");
    }

    #[test]
    fn produce_counts_every_partition() {
        let mut topic = TopicProduceResponse::default();
        for code in [0, 0, 6] {
            topic
                .partition_responses
                .push(PartitionProduceResponse::default().with_error_code(code));
        }
        let response = ProduceResponse::default().with_responses(vec![topic]);
        let counts = error_counts(&ResponseKind::Produce(response));
        assert_eq!(counts.of(0), 2);
        assert_eq!(counts.of(6), 1);
    }
}
