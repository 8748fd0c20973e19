//! `InterBrokerClient`: the broker's requests to other brokers on the inter-broker listener
//! that are not the controller's or the replica fetcher's — transaction markers to remote
//! partition leaders (WriteTxnMarkers, API 27) and KIP-890 partition verification against
//! a remote transaction coordinator (AddPartitionsToTxn v4+ verify-only, API 24). One
//! `ironlog_protocol::Client` (requests by `Target::Node`, one reused connection per
//! broker), made on first use and bootstrapped from the brokers the metadata image lists
//! on `inter.broker.listener.name`, so node addresses are the ones brokers registered.
//!
//! Bounds: each request `request_timeout`; connection failures are retried by the client
//! within `RETRY_TOTAL` (the caller decides about Kafka errors: a marker writer re-resolves
//! the leader, verification answers the producer a retriable error).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ironlog_protocol::{Client, ClientConfig, ConnectionConfig, RetryPolicy, Target};
use kafka_protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use kafka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, ProducerId, TopicName, TransactionalId, WriteTxnMarkersRequest,
};
use kafka_protocol::protocol::StrBytes;

use crate::error::{ApiError, ResponseError};
use crate::metadata::MetadataQuorum;
use crate::replica::TxnMarker;
use crate::types::TopicPartition;

/// How long one call may retry connection failures in total.
const RETRY_TOTAL: Duration = Duration::from_secs(10);
const RETRY_ATTEMPTS: u32 = 4;

pub(crate) struct InterBrokerClient {
    node_id: i32,
    listener_name: String,
    quorum: Arc<MetadataQuorum>,
    request_timeout: Duration,
    client: Mutex<Option<Client>>,
}

impl std::fmt::Debug for InterBrokerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InterBrokerClient")
            .field("node_id", &self.node_id)
            .field("listener_name", &self.listener_name)
            .finish_non_exhaustive()
    }
}

/// A failed exchange as the coordinators' retry logic sees it: Kafka's error when the peer
/// answered one, NETWORK_EXCEPTION when the last attempt could not reach it (retries used
/// up included: the caller's client may retry later), else UNKNOWN_SERVER_ERROR.
fn protocol_error(node_id: i32, e: &ironlog_protocol::Error) -> ApiError {
    let last = e.last_attempt();
    let code = match last {
        ironlog_protocol::Error::Kafka { error, .. } => *error,
        _ if last.is_retriable() => ResponseError::NetworkException,
        _ => ResponseError::UnknownServerError,
    };
    ApiError::new(code, format!("request to broker {node_id} failed: {e}"))
}

fn code_of(error_code: i16) -> Result<(), ResponseError> {
    if error_code == 0 {
        Ok(())
    } else {
        Err(ResponseError::try_from_code(error_code).unwrap_or(ResponseError::UnknownServerError))
    }
}

impl InterBrokerClient {
    pub(crate) fn new(
        node_id: i32,
        listener_name: String,
        quorum: Arc<MetadataQuorum>,
        request_timeout: Duration,
    ) -> Self {
        Self {
            node_id,
            listener_name,
            quorum,
            request_timeout,
            client: Mutex::new(None),
        }
    }

    /// The client, made from the image's brokers on the inter-broker listener when there
    /// is none yet.
    fn client(&self) -> Result<Client, ApiError> {
        let mut slot = self.client.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(client) = slot.as_ref() {
            return Ok(client.clone());
        }
        let image = self.quorum.image();
        let bootstrap: Vec<String> = image
            .brokers
            .values()
            .filter(|b| !b.fenced)
            .filter_map(|b| b.listeners.iter().find(|l| l.name == self.listener_name))
            .map(|l| {
                if l.host.contains(':') {
                    format!("[{}]:{}", l.host, l.port)
                } else {
                    format!("{}:{}", l.host, l.port)
                }
            })
            .collect();
        let config = ClientConfig {
            bootstrap_servers: bootstrap,
            connection: ConnectionConfig {
                client_id: Some(format!("broker-{}-inter-broker", self.node_id)),
                connect_timeout: self.request_timeout,
                request_timeout: self.request_timeout,
                connector: Arc::clone(&self.quorum.connectors().inter_broker),
                ..ConnectionConfig::default()
            },
            retry: RetryPolicy {
                max_attempts: RETRY_ATTEMPTS,
                total_timeout: RETRY_TOTAL,
                ..RetryPolicy::default()
            },
            // Brokers come and go with the image; a short age keeps addresses fresh.
            metadata_max_age: Duration::from_secs(5),
            ..ClientConfig::default()
        };
        let client = Client::new(config).map_err(|e| {
            ApiError::new(
                ResponseError::CoordinatorNotAvailable,
                format!(
                    "no broker reachable on listener {}: {e}",
                    self.listener_name
                ),
            )
        })?;
        *slot = Some(client.clone());
        Ok(client)
    }

    /// WriteTxnMarkers v1 to `leader` for `markers`; one result per marker partition, in
    /// input order (a failed exchange fails each of them).
    pub(crate) async fn write_txn_markers(
        &self,
        leader: i32,
        markers: &[TxnMarker],
    ) -> Vec<(i64, TopicPartition, Result<(), ApiError>)> {
        let all = || {
            markers.iter().flat_map(|m| {
                m.partitions
                    .iter()
                    .map(move |tp| (m.producer_id, tp.clone()))
            })
        };
        let request = WriteTxnMarkersRequest::default().with_markers(
            markers
                .iter()
                .map(|m| {
                    WritableTxnMarker::default()
                        .with_producer_id(ProducerId(m.producer_id))
                        .with_producer_epoch(m.producer_epoch)
                        .with_transaction_result(m.commit)
                        .with_coordinator_epoch(m.coordinator_epoch)
                        .with_topics(
                            by_topic(&m.partitions)
                                .into_iter()
                                .map(|(t, ps)| {
                                    WritableTxnMarkerTopic::default()
                                        .with_name(TopicName(StrBytes::from_string(t)))
                                        .with_partition_indexes(ps)
                                })
                                .collect(),
                        )
                })
                .collect(),
        );
        let response = match self.client() {
            Ok(client) => client.send(Target::Node(leader), &request).await,
            Err(e) => return all().map(|(pid, tp)| (pid, tp, Err(e.clone()))).collect(),
        };
        let response = match response {
            Ok(r) => r,
            Err(e) => {
                let e = protocol_error(leader, &e);
                return all().map(|(pid, tp)| (pid, tp, Err(e.clone()))).collect();
            }
        };
        all()
            .map(|(producer_id, tp)| {
                let code = response
                    .markers
                    .iter()
                    .filter(|m| m.producer_id.0 == producer_id)
                    .flat_map(|m| m.topics.iter())
                    .filter(|t| t.name.0.as_str() == tp.topic)
                    .flat_map(|t| t.partitions.iter())
                    .find(|p| p.partition_index == tp.partition)
                    .map(|p| p.error_code);
                let result = match code {
                    Some(code) => code_of(code).map_err(|c| {
                        ApiError::new(c, format!("broker {leader} refused the marker on {tp}"))
                    }),
                    None => Err(ApiError::new(
                        ResponseError::UnknownServerError,
                        format!("broker {leader} did not answer for {tp}"),
                    )),
                };
                (producer_id, tp, result)
            })
            .collect()
    }

    /// AddPartitionsToTxn v4 verify-only to the transaction coordinator `coordinator`: is
    /// `tp` part of `transactional_id`'s ongoing transaction at this producer id and epoch?
    /// Kafka's errors come back as the coordinator gave them (top level first).
    pub(crate) async fn verify_partition_in_txn(
        &self,
        coordinator: i32,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        tp: &TopicPartition,
    ) -> Result<(), ApiError> {
        let request = AddPartitionsToTxnRequest::default().with_transactions(vec![
            AddPartitionsToTxnTransaction::default()
                .with_transactional_id(TransactionalId(StrBytes::from_string(
                    transactional_id.to_owned(),
                )))
                .with_producer_id(ProducerId(producer_id))
                .with_producer_epoch(producer_epoch)
                .with_verify_only(true)
                .with_topics(vec![AddPartitionsToTxnTopic::default()
                    .with_name(TopicName(StrBytes::from_string(tp.topic.clone())))
                    .with_partitions(vec![tp.partition])]),
        ]);
        let client = self.client()?;
        let response = client
            .send(Target::Node(coordinator), &request)
            .await
            .map_err(|e| protocol_error(coordinator, &e))?;
        code_of(response.error_code).map_err(|c| ApiError::new(c, "verification refused"))?;
        let code = response
            .results_by_transaction
            .iter()
            .find(|r| r.transactional_id.0.as_str() == transactional_id)
            .and_then(|r| {
                r.topic_results
                    .iter()
                    .find(|t| t.name.0.as_str() == tp.topic)
                    .and_then(|t| {
                        t.results_by_partition
                            .iter()
                            .find(|p| p.partition_index == tp.partition)
                    })
            })
            .map(|p| p.partition_error_code)
            .ok_or_else(|| {
                ApiError::new(
                    ResponseError::UnknownServerError,
                    format!("coordinator {coordinator} did not answer for {tp}"),
                )
            })?;
        code_of(code).map_err(|c| {
            ApiError::new(
                c,
                format!("coordinator {coordinator} did not verify {tp} in {transactional_id}"),
            )
        })
    }
}

/// Partitions grouped by topic, topics in first-seen order.
fn by_topic(partitions: &[TopicPartition]) -> Vec<(String, Vec<i32>)> {
    let mut out: Vec<(String, Vec<i32>)> = Vec::new();
    for tp in partitions {
        match out.iter_mut().find(|(t, _)| *t == tp.topic) {
            Some((_, ps)) => ps.push(tp.partition),
            None => out.push((tp.topic.clone(), vec![tp.partition])),
        }
    }
    out
}
