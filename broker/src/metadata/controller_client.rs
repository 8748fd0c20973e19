//! `ControllerClient`: the one way a broker talks to the active controller — registration,
//! heartbeats, producer-id blocks, ISR changes of the partitions it leads (AlterPartition),
//! topic creation for its own needs (auto-creation, internal topics) and forwarding of
//! clients' admin requests (Kafka's Envelope). When this node is the active controller the call is an in-process one to
//! its [`Controller`] (the same decisions, without the network); otherwise it is the Kafka
//! request to the active controller's controller listener (the raft leader; its address is
//! its voter entry) over the protocol crate's [`Connection`].
//!
//! Bounds: a request has `request_timeout` (a heartbeat half `broker.session.timeout.ms`)
//! and is given up as NOT_CONTROLLER the moment an election names another leader (an old
//! controller cut off from the quorum never answers); NOT_CONTROLLER, timeouts and broken
//! connections are retried with backoff (50 ms doubling to 1 s) until `retry_timeout`, the
//! leader looked up again each time. Two connections to the current leader are kept, as
//! Kafka keeps separate channels: one for this broker's lifecycle (registration and
//! heartbeats, whose short bound closes their connection when a heartbeat goes unanswered)
//! and one for everything else, so a missed heartbeat never cuts a forwarded admin request
//! in flight (which, resent, could find its own first attempt done: a CreateTopics would
//! then answer TOPIC_ALREADY_EXISTS).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ironlog_protocol::{
    creatable_topic_configs, Connection, ConnectionConfig, SendOptions, VersionChoice,
};
use kafka_protocol::messages::alter_partition_request::{
    BrokerState, PartitionData as AlterPartitionData, TopicData as AlterPartitionTopic,
};
use kafka_protocol::messages::broker_registration_request::{
    Feature as RegistrationFeature, Listener as RegistrationListener,
};
use kafka_protocol::messages::create_topics_request::{CreatableReplicaAssignment, CreatableTopic};
use kafka_protocol::messages::{
    AllocateProducerIdsRequest, AlterPartitionRequest, ApiKey, BrokerHeartbeatRequest, BrokerId,
    BrokerRegistrationRequest as RegistrationRequest, CreateTopicsRequest, EnvelopeRequest,
    TopicName,
};
use kafka_protocol::protocol::{Request, StrBytes};
use tokio::time::Instant;

use super::controller::{BrokerHeartbeat, CreatedTopic, HeartbeatOutcome};
use super::{
    BrokerRegistrationRequest, Controller, CreateTopicSpec, IsrChange, LeaderAndIsr, MetadataQuorum,
};
use crate::error::{ApiError, ResponseError};
use crate::security::KafkaPrincipal;

/// The tagged field of an EnvelopeResponse in which an Ironlog controller names the
/// metadata offset its answer reflects, so the forwarding broker answers its client only
/// once its own image is as new (a tag far from Kafka's, which start at 0).
pub(crate) const ENVELOPE_METADATA_OFFSET_TAG: i32 = 32_000;

/// The outcome of a forwarded request: the controller's response (header and body) and
/// the metadata offset it reflects.
#[derive(Debug)]
pub(crate) struct Forwarded {
    pub response: Bytes,
    pub metadata_offset: Option<u64>,
}

enum Route {
    Local,
    Remote(RemoteController),
}

/// Which of the two connections to the active controller a call goes out on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Channel {
    /// BrokerRegistration and BrokerHeartbeat.
    Lifecycle,
    /// Forwarded admin requests, topic creation, producer-id blocks, AlterPartition.
    Requests,
}

/// The connection to the active controller `leader` a call goes out on.
struct RemoteController {
    leader: i32,
    connection: Connection,
}

pub(crate) struct ControllerClient {
    node_id: i32,
    quorum: Arc<MetadataQuorum>,
    controller: Arc<Controller>,
    /// The lifecycle channel's connection (leader id, connection).
    lifecycle_connection: tokio::sync::Mutex<Option<(i32, Connection)>>,
    /// The requests channel's connection.
    requests_connection: tokio::sync::Mutex<Option<(i32, Connection)>>,
    request_timeout: Duration,
    /// A heartbeat's bound (half `broker.session.timeout.ms`).
    heartbeat_timeout: Duration,
    retry_timeout: Duration,
    /// This broker's epoch once registered (-1 before).
    broker_epoch: AtomicI64,
}

impl std::fmt::Debug for ControllerClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControllerClient")
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

/// Bounded retries of one call.
struct Retry {
    deadline: Instant,
    backoff: Duration,
}

impl Retry {
    fn new(total: Duration) -> Self {
        Self {
            deadline: Instant::now() + total,
            backoff: Duration::from_millis(50),
        }
    }

    /// Whether to try `e` again (after a backoff); false once the time is up.
    async fn again(&mut self, e: &ApiError) -> bool {
        let retriable = matches!(
            e.code,
            ResponseError::NotController
                | ResponseError::RequestTimedOut
                | ResponseError::NetworkException
                | ResponseError::UnknownServerError
        ) && e.message.as_deref() != Some(NOT_RETRIED);
        if !retriable || Instant::now() + self.backoff >= self.deadline {
            return false;
        }
        tokio::time::sleep(self.backoff).await;
        self.backoff = (self.backoff * 2).min(Duration::from_secs(1));
        true
    }
}

const NOT_RETRIED: &str = "the controller's answer could not be read";

fn check(error_code: i16, message: Option<&StrBytes>) -> Result<(), ApiError> {
    if error_code == 0 {
        return Ok(());
    }
    let code =
        ResponseError::try_from_code(error_code).unwrap_or(ResponseError::UnknownServerError);
    Err(match message {
        Some(m) => ApiError::new(code, m.to_string()),
        None => ApiError::code_only(code),
    })
}

impl ControllerClient {
    pub(crate) fn new(
        node_id: i32,
        quorum: Arc<MetadataQuorum>,
        controller: Arc<Controller>,
        request_timeout: Duration,
        heartbeat_timeout: Duration,
        retry_timeout: Duration,
    ) -> Self {
        Self {
            node_id,
            quorum,
            controller,
            lifecycle_connection: tokio::sync::Mutex::new(None),
            requests_connection: tokio::sync::Mutex::new(None),
            request_timeout,
            heartbeat_timeout,
            retry_timeout,
            broker_epoch: AtomicI64::new(-1),
        }
    }

    /// This broker's epoch (-1 until registered).
    pub(crate) fn broker_epoch(&self) -> i64 {
        self.broker_epoch.load(Ordering::Acquire)
    }

    /// Where a call goes now: in-process when this node leads, else `channel`'s connection
    /// to the leader (waiting, until `deadline`, while no leader is known).
    async fn route(&self, channel: Channel, deadline: Instant) -> Result<Route, ApiError> {
        loop {
            if self.quorum.is_active_controller() {
                return Ok(Route::Local);
            }
            let mut failure = None;
            if let Some(leader) = self.quorum.leader_id().filter(|l| *l != self.node_id) {
                // the leader named may be gone (until an election names another): retried,
                // and a connect to it given up at the call's deadline or as soon as an
                // election names another leader (or this node)
                let remaining = deadline.saturating_duration_since(Instant::now());
                tokio::select! {
                    connected = tokio::time::timeout(remaining, self.connection_to(channel, leader)) => {
                        match connected {
                            Ok(Ok(Some(connection))) => {
                                return Ok(Route::Remote(RemoteController { leader, connection }))
                            }
                            Ok(Ok(None)) => {}
                            Ok(Err(e)) => failure = Some(e),
                            Err(_) => {
                                failure = Some(ApiError::new(
                                    ResponseError::NetworkException,
                                    format!("no connection to the active controller {leader} in time"),
                                ))
                            }
                        }
                    }
                    () = self.quorum.leader_changed_from(leader) => continue,
                }
            }
            if Instant::now() + Duration::from_millis(50) >= deadline {
                return Err(failure.unwrap_or_else(|| {
                    ApiError::new(
                        ResponseError::NotController,
                        "no active controller is known",
                    )
                }));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn connection_to(
        &self,
        channel: Channel,
        leader: i32,
    ) -> Result<Option<Connection>, ApiError> {
        let mut cached = match channel {
            Channel::Lifecycle => self.lifecycle_connection.lock().await,
            Channel::Requests => self.requests_connection.lock().await,
        };
        if let Some((id, connection)) = cached.as_ref() {
            if *id == leader && connection.is_open() {
                return Ok(Some(connection.clone()));
            }
        }
        *cached = None;
        let Some(address) = self.quorum.voter_address(leader) else {
            return Ok(None);
        };
        let config = ConnectionConfig {
            client_id: Some(format!("ironlog-broker-{}", self.node_id)),
            connect_timeout: self.request_timeout.min(Duration::from_secs(5)),
            request_timeout: self.request_timeout,
            max_in_flight: 16,
            connector: Arc::clone(&self.quorum.connectors().controller),
            ..ConnectionConfig::default()
        };
        match Connection::connect(&address, config).await {
            Ok(connection) => {
                *cached = Some((leader, connection.clone()));
                Ok(Some(connection))
            }
            Err(e) => {
                // each failed attempt is logged: the call's own error names only the last
                // one, and a slow last attempt ends as a timeout (an authentication refusal
                // or an untrusted certificate must show in the log either way)
                tracing::warn!(leader, %address, error = %e, "cannot connect to the active controller");
                Err(ApiError::new(
                    ResponseError::NetworkException,
                    format!("cannot reach the active controller {leader} at {address}: {e}"),
                ))
            }
        }
    }

    async fn send<R: Request + 'static>(
        &self,
        remote: &RemoteController,
        request: &R,
    ) -> Result<R::Response, ApiError> {
        self.send_within(remote, request, self.request_timeout)
            .await
    }

    /// One request to the active controller, answered within `timeout` — or given up as
    /// NOT_CONTROLLER (retried at the new one) as soon as an election names another
    /// leader: a controller cut off from the quorum never answers, and its successor
    /// should not wait for a request timeout (Kafka's channel to the controller, too,
    /// drops its requests to the old one when the controller changes).
    async fn send_within<R: Request + 'static>(
        &self,
        remote: &RemoteController,
        request: &R,
        timeout: Duration,
    ) -> Result<R::Response, ApiError> {
        let connection = &remote.connection;
        let answer = tokio::select! {
            answer = connection.send_with(request, SendOptions::default().timeout(timeout)) => answer,
            () = self.quorum.leader_changed_from(remote.leader) => {
                connection.close();
                return Err(ApiError::new(
                    ResponseError::NotController,
                    format!("controller {} is no longer the active controller", remote.leader),
                ));
            }
        };
        answer.map_err(|e| {
            connection.close();
            ApiError::new(
                ResponseError::NetworkException,
                format!("controller request failed: {e}"),
            )
        })
    }

    /// BrokerRegistration; returns the broker epoch.
    pub(crate) async fn register_broker(
        &self,
        reg: &BrokerRegistrationRequest,
        cluster_id: &str,
    ) -> Result<i64, ApiError> {
        let mut retry = Retry::new(self.retry_timeout);
        loop {
            let result = match self.route(Channel::Lifecycle, retry.deadline).await? {
                Route::Local => self.controller.register_broker(reg.clone()).await,
                Route::Remote(connection) => {
                    let request = RegistrationRequest::default()
                        .with_broker_id(BrokerId(reg.broker_id))
                        .with_cluster_id(StrBytes::from_string(cluster_id.to_string()))
                        .with_incarnation_id(reg.incarnation_id)
                        .with_rack(reg.rack.clone().map(StrBytes::from_string))
                        .with_features(
                            reg.features
                                .iter()
                                .flatten()
                                .map(|(name, range)| {
                                    RegistrationFeature::default()
                                        .with_name(StrBytes::from_string(name.clone()))
                                        .with_min_supported_version(range.min)
                                        .with_max_supported_version(range.max)
                                })
                                .collect(),
                        )
                        .with_listeners(
                            reg.listeners
                                .iter()
                                .map(|l| {
                                    RegistrationListener::default()
                                        .with_name(StrBytes::from_string(l.name.clone()))
                                        .with_host(StrBytes::from_string(l.host.clone()))
                                        .with_port(l.port)
                                        .with_security_protocol(
                                            ironlog_config::SecurityProtocol::from_name(
                                                &l.security_protocol,
                                            )
                                            .map_or(0, |p| p.id()),
                                        )
                                })
                                .collect(),
                        );
                    match self.send(&connection, &request).await {
                        Ok(response) => {
                            check(response.error_code, None).map(|()| response.broker_epoch)
                        }
                        Err(e) => Err(e),
                    }
                }
            };
            match result {
                Ok(epoch) => {
                    self.broker_epoch.store(epoch, Ordering::Release);
                    return Ok(epoch);
                }
                Err(e) if retry.again(&e).await => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// BrokerHeartbeat (one attempt per leader lookup, bounded by the heartbeat timeout —
    /// half the broker session, as Kafka's KAFKA-14392, so a lost heartbeat leaves time
    /// for the next one before the session expires: the next heartbeat is the retry).
    pub(crate) async fn heartbeat(
        &self,
        heartbeat: &BrokerHeartbeat,
    ) -> Result<HeartbeatOutcome, ApiError> {
        let deadline = Instant::now() + self.heartbeat_timeout;
        match self.route(Channel::Lifecycle, deadline).await? {
            Route::Local => self.controller.heartbeat(heartbeat.clone()).await,
            Route::Remote(connection) => {
                let request = BrokerHeartbeatRequest::default()
                    .with_broker_id(BrokerId(heartbeat.broker_id))
                    .with_broker_epoch(heartbeat.broker_epoch)
                    .with_current_metadata_offset(heartbeat.current_metadata_offset)
                    .with_want_fence(heartbeat.want_fence)
                    .with_want_shut_down(heartbeat.want_shut_down);
                let response = self
                    .send_within(&connection, &request, self.heartbeat_timeout)
                    .await?;
                check(response.error_code, None)?;
                Ok(HeartbeatOutcome {
                    is_caught_up: response.is_caught_up,
                    is_fenced: response.is_fenced,
                    should_shut_down: response.should_shut_down,
                })
            }
        }
    }

    /// AllocateProducerIds: a new block of producer ids for this broker, as (first id,
    /// length); the controller decides the length (`block_size` in process).
    pub(crate) async fn allocate_producer_ids(
        &self,
        block_size: i64,
    ) -> Result<(i64, i64), ApiError> {
        let broker_epoch = self.broker_epoch();
        let mut retry = Retry::new(self.retry_timeout);
        loop {
            let result = match self.route(Channel::Requests, retry.deadline).await? {
                Route::Local => self
                    .controller
                    .allocate_producer_ids(self.node_id, block_size)
                    .await
                    .map(|start| (start, block_size)),
                Route::Remote(connection) => {
                    let request = AllocateProducerIdsRequest::default()
                        .with_broker_id(BrokerId(self.node_id))
                        .with_broker_epoch(broker_epoch);
                    match self.send(&connection, &request).await {
                        Ok(response) => check(response.error_code, None).map(|()| {
                            (
                                response.producer_id_start.0,
                                i64::from(response.producer_id_len),
                            )
                        }),
                        Err(e) => Err(e),
                    }
                }
            };
            match result {
                Ok(block) => return Ok(block),
                Err(e) if retry.again(&e).await => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// AlterPartition for one partition this broker leads (Kafka's `AlterPartitionManager`
    /// sends batches; one partition per call here, the caller keeps one in flight per
    /// partition). NOT_CONTROLLER, timeouts and broken connections are retried against the
    /// controller active then; the partition's own refusals (FENCED_LEADER_EPOCH,
    /// INVALID_UPDATE_VERSION, INELIGIBLE_REPLICA, ...) and STALE_BROKER_EPOCH are returned.
    pub(crate) async fn alter_partition(
        &self,
        change: IsrChange,
    ) -> Result<LeaderAndIsr, ApiError> {
        let mut retry = Retry::new(self.retry_timeout);
        loop {
            let result = match self.route(Channel::Requests, retry.deadline).await? {
                Route::Local => self.controller.alter_partition(change.clone()).await,
                Route::Remote(connection) => {
                    self.alter_partition_remotely(&connection, &change).await
                }
            };
            match result {
                Ok(altered) => return Ok(altered),
                Err(e) if retry.again(&e).await => continue,
                Err(e) => return Err(e),
            }
        }
    }

    async fn alter_partition_remotely(
        &self,
        connection: &RemoteController,
        change: &IsrChange,
    ) -> Result<LeaderAndIsr, ApiError> {
        let version = connection
            .connection
            .version_for(ApiKey::AlterPartition, VersionChoice::default())
            .map_err(|e| {
                ApiError::new(
                    ResponseError::UnsupportedVersion,
                    format!("the active controller does not take AlterPartition: {e}"),
                )
            })?;
        let mut partition = AlterPartitionData::default()
            .with_partition_index(change.partition)
            .with_leader_epoch(change.leader_epoch)
            .with_partition_epoch(change.partition_epoch);
        if version >= 3 {
            partition.new_isr_with_epochs = change
                .new_isr
                .iter()
                .map(|r| {
                    BrokerState::default()
                        .with_broker_id(BrokerId(*r))
                        .with_broker_epoch(
                            change.new_isr_broker_epochs.get(r).copied().unwrap_or(-1),
                        )
                })
                .collect();
        } else {
            partition.new_isr = change.new_isr.iter().map(|r| BrokerId(*r)).collect();
        }
        let request = AlterPartitionRequest::default()
            .with_broker_id(BrokerId(change.broker_id))
            .with_broker_epoch(change.broker_epoch)
            .with_topics(vec![AlterPartitionTopic::default()
                .with_topic_id(change.topic_id)
                .with_partitions(vec![partition])]);
        let response = self.send(connection, &request).await?;
        check(response.error_code, None)?;
        let answered = response
            .topics
            .iter()
            .filter(|t| t.topic_id == change.topic_id)
            .flat_map(|t| t.partitions.iter())
            .find(|p| p.partition_index == change.partition)
            .ok_or_else(|| {
                ApiError::new(
                    ResponseError::UnknownServerError,
                    "the controller did not answer for this partition",
                )
            })?;
        check(answered.error_code, None)?;
        Ok(LeaderAndIsr {
            leader: answered.leader_id.0,
            leader_epoch: answered.leader_epoch,
            isr: answered.isr.iter().map(|b| b.0).collect(),
            partition_epoch: answered.partition_epoch,
        })
    }

    /// CreateTopics for this broker's own needs; results in request order. A remote
    /// creation returns once this node's image holds the created topics (bounded by the
    /// request timeout), as the in-process one does.
    pub(crate) async fn create_topics(
        &self,
        topics: Vec<CreateTopicSpec>,
        validate_only: bool,
    ) -> Vec<Result<CreatedTopic, ApiError>> {
        let mut retry = Retry::new(self.retry_timeout);
        loop {
            let results = match self.route(Channel::Requests, retry.deadline).await {
                Err(e) => return topics.iter().map(|_| Err(e.clone())).collect(),
                Ok(Route::Local) => {
                    self.controller
                        .create_topics(topics.clone(), validate_only)
                        .await
                }
                Ok(Route::Remote(connection)) => {
                    match self
                        .create_remotely(&connection, &topics, validate_only)
                        .await
                    {
                        Ok(results) => results,
                        Err(e) => topics.iter().map(|_| Err(e.clone())).collect(),
                    }
                }
            };
            let not_controller = results
                .iter()
                .find_map(|r| {
                    r.as_ref().err().filter(|e| {
                        e.code == ResponseError::NotController
                            || e.code == ResponseError::NetworkException
                    })
                })
                .cloned();
            match not_controller {
                Some(e) if retry.again(&e).await => continue,
                _ => return results,
            }
        }
    }

    async fn create_remotely(
        &self,
        connection: &RemoteController,
        topics: &[CreateTopicSpec],
        validate_only: bool,
    ) -> Result<Vec<Result<CreatedTopic, ApiError>>, ApiError> {
        let request = CreateTopicsRequest::default()
            .with_timeout_ms(i32::try_from(self.request_timeout.as_millis()).unwrap_or(i32::MAX))
            .with_validate_only(validate_only)
            .with_topics(
                topics
                    .iter()
                    .map(|t| {
                        CreatableTopic::default()
                            .with_name(TopicName(StrBytes::from_string(t.name.clone())))
                            .with_num_partitions(t.num_partitions)
                            .with_replication_factor(t.replication_factor)
                            .with_assignments(
                                t.assignments
                                    .iter()
                                    .map(|(p, replicas)| {
                                        CreatableReplicaAssignment::default()
                                            .with_partition_index(*p)
                                            .with_broker_ids(
                                                replicas.iter().map(|r| BrokerId(*r)).collect(),
                                            )
                                    })
                                    .collect(),
                            )
                            .with_configs(creatable_topic_configs(&t.configs))
                    })
                    .collect(),
            );
        let response = self.send(connection, &request).await?;
        let by_name: BTreeMap<String, _> = response
            .topics
            .into_iter()
            .map(|t| (t.name.0.to_string(), t))
            .collect();
        let results: Vec<Result<CreatedTopic, ApiError>> = topics
            .iter()
            .map(|spec| {
                let result = by_name.get(&spec.name).ok_or_else(|| {
                    ApiError::new(
                        ResponseError::UnknownServerError,
                        "the controller did not answer for this topic",
                    )
                })?;
                check(result.error_code, result.error_message.as_ref())?;
                Ok(CreatedTopic {
                    name: spec.name.clone(),
                    topic_id: result.topic_id,
                    num_partitions: result.num_partitions,
                    replication_factor: result.replication_factor,
                    configs: spec.configs.clone(),
                })
            })
            .collect();
        if !validate_only {
            let created: Vec<String> = results.iter().flatten().map(|t| t.name.clone()).collect();
            self.await_image(|image| created.iter().all(|name| image.topic(name).is_some()))
                .await;
        }
        Ok(results)
    }

    /// Forwards a client's request frame (header and body) to the active controller in an
    /// Envelope, with the client's principal and address. `None` when this node is the
    /// active controller (the caller handles the request itself) or no controller answered
    /// in time (the caller's own handling then answers NOT_CONTROLLER).
    pub(crate) async fn forward(
        &self,
        request: Bytes,
        principal: &KafkaPrincipal,
        client: IpAddr,
    ) -> Option<Forwarded> {
        let principal = principal.serialize();
        let mut retry = Retry::new(self.request_timeout);
        loop {
            let connection = match self.route(Channel::Requests, retry.deadline).await {
                Ok(Route::Local) => return None,
                Ok(Route::Remote(connection)) => connection,
                Err(_) => return None,
            };
            let envelope = EnvelopeRequest::default()
                .with_request_data(request.clone())
                .with_request_principal(Some(principal.clone()))
                .with_client_host_address(Bytes::from(match client {
                    IpAddr::V4(v4) => v4.octets().to_vec(),
                    IpAddr::V6(v6) => v6.octets().to_vec(),
                }));
            let result: Result<(), ApiError> = match self.send(&connection, &envelope).await {
                Ok(response) => match check(response.error_code, None) {
                    Ok(()) => match response.response_data {
                        Some(data) => {
                            let metadata_offset = response
                                .unknown_tagged_fields
                                .get(&ENVELOPE_METADATA_OFFSET_TAG)
                                .and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok())
                                .map(u64::from_be_bytes);
                            return Some(Forwarded {
                                response: data,
                                metadata_offset,
                            });
                        }
                        None => Err(ApiError::new(
                            ResponseError::UnknownServerError,
                            NOT_RETRIED,
                        )),
                    },
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                if !retry.again(&e).await {
                    tracing::warn!(error = %e, "forwarding to the active controller failed");
                    return None;
                }
            }
        }
    }

    /// Waits (at most the request timeout) until this node's image satisfies `ready`.
    pub(crate) async fn await_image(&self, ready: impl Fn(&super::MetadataImage) -> bool) {
        let mut images = self.quorum.subscribe();
        let _ = tokio::time::timeout(self.request_timeout, async {
            loop {
                if ready(&images.borrow_and_update()) {
                    return;
                }
                if images.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
    }
}
