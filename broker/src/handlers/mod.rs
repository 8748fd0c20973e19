//! `handlers`: one function per Kafka API, each taking the decoded request and returning
//! the response. Handlers read metadata from the current `MetadataImage`, send metadata
//! changes to the `Controller`, and partition data to the `ReplicaManager`; they never touch
//! files directly.

mod acls;
pub(crate) mod api_versions;
pub(crate) mod authorization;
mod broker_loggers;
mod client_quotas;
mod configs;
pub(crate) mod controller_apis;
mod describe_quorum;
mod describe_topic_partitions;
mod elect_leaders;
pub(crate) mod fetch;
pub(crate) mod fetch_session;
mod groups;
mod log_dirs;
mod metadata;
mod mutation_quota;
mod offsets;
mod partition_reassignments;
mod produce;
mod producer_id;
mod producers;
mod raft_voters;
mod requested_partitions;
mod scram_credentials;
pub(crate) mod throttle_time;
mod topics;
mod txn;
pub(crate) mod txn_markers;
mod unregister_broker;
mod update_features;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};
use kafka_protocol::protocol::StrBytes;

use crate::group::GroupCoordinator;
use crate::metadata::{
    ConfigResource, Controller, ControllerClient, MetadataImage, MetadataQuorum,
};
use crate::replica::ReplicaManager;
use crate::security::authorizer::Authorizer;
use crate::security::KafkaPrincipal;
use crate::txn::{ProducerIdManager, TransactionCoordinator};
use ironlog_config::{effective_broker_value, BrokerConfig, ConfigLayers, ConfigValue};

/// Everything a handler may use; one per broker process.
pub(crate) struct Broker {
    pub config: BrokerConfig,
    pub node_id: i32,
    pub quorum: Arc<MetadataQuorum>,
    /// This node's controller: the admin handlers' decisions when this node is the active
    /// controller (else the request was forwarded, or is answered NOT_CONTROLLER).
    pub controller: Arc<Controller>,
    /// The way to the active controller, wherever it runs.
    pub controller_client: Arc<ControllerClient>,
    pub replicas: Arc<ReplicaManager>,
    pub fetch_sessions: fetch_session::FetchSessionCache,
    pub groups: Arc<GroupCoordinator>,
    /// This broker's block of idempotent producer ids (InitProducerId).
    pub producer_ids: Arc<ProducerIdManager>,
    /// The transaction coordinator (transactional ids, `__transaction_state`).
    pub txn: Arc<TransactionCoordinator>,
    /// Prometheus metrics (the admin listener serves them).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// `authorizer.class.name`, `super.users`, `allow.everyone.if.no.acl.found`.
    pub authorizer: Arc<Authorizer>,
    /// Client quota sensors (`producer_byte_rate`, `consumer_byte_rate`).
    pub client_quotas: crate::client_quota::ClientQuotaManagers,
}

impl Broker {
    pub(crate) fn image(&self) -> Arc<MetadataImage> {
        self.quorum.image()
    }

    /// The config layers of this broker in `image`: `topic`'s overrides (or `empty`) over
    /// the dynamic per-broker and cluster-default configs over the static ones.
    pub(crate) fn config_layers<'a>(
        &'a self,
        image: &'a MetadataImage,
        topic: &'a BTreeMap<String, String>,
        empty: &'a BTreeMap<String, String>,
    ) -> ConfigLayers<'a> {
        ConfigLayers {
            static_config: &self.config,
            dynamic_cluster: image
                .configs
                .get(&ConfigResource::Broker(None))
                .unwrap_or(empty),
            dynamic_broker: image
                .configs
                .get(&ConfigResource::Broker(Some(self.node_id)))
                .unwrap_or(empty),
            topic,
        }
    }

    /// A boolean broker setting as it is now (dynamic per-broker > dynamic cluster default >
    /// static > default), for settings Kafka lets operators change without a restart.
    pub(crate) fn dynamic_bool(&self, name: &str) -> bool {
        let image = self.image();
        let empty = BTreeMap::new();
        matches!(
            effective_broker_value(&self.config_layers(&image, &empty, &empty), name),
            Some(ConfigValue::Boolean(true))
        )
    }

    /// Waits until partition state reflects metadata at least as new as `offset`, so that a
    /// topic created by this request is usable by the client's next request.
    pub(crate) async fn await_applied(&self, offset: u64) {
        self.replicas
            .await_applied(offset, std::time::Duration::from_secs(30))
            .await;
    }
}

/// Per-request facts from the connection and the header.
#[derive(Debug, Clone)]
pub(crate) struct RequestContext {
    pub api: ApiKey,
    pub version: i16,
    pub client_id: Option<String>,
    pub peer: SocketAddr,
    pub listener_name: Arc<str>,
    /// Who sent the request: what the listener's TLS or SASL proved, else ANONYMOUS.
    pub principal: Arc<KafkaPrincipal>,
    /// The request came in on the controller listener.
    pub controller_listener: bool,
    /// The request came inside an Envelope: the broker that forwarded it checked it as
    /// Kafka's brokers check before forwarding (e.g. that a BROKER config resource names
    /// that broker).
    pub forwarded: bool,
}

/// What the connection does after a handler ran.
pub(crate) enum Outcome {
    Respond(Box<ResponseKind>),
    /// A Fetch response some of whose `records` are placeholders of these segment file
    /// slices (`crate::frame`), which the connection sends from the files.
    RespondWithFiles(Box<ResponseKind>, Vec<crate::frame::FileRecords>),
    /// Kafka sends no response (produce with acks=0).
    NoResponse,
    /// Kafka closes the connection (e.g. acks=0 produce that failed).
    Close(String),
}

/// Matches `request` against one arm per API: the table's APIs answer with their
/// handler's response (`Api => call` runs `call` with the request bound to `$r` and wraps
/// the result in `ResponseKind::Api`); the arms after it return an `Outcome` themselves.
macro_rules! dispatch {
    ($request:expr, |$r:ident| { $($api:ident => $call:expr,)* } $($arms:tt)*) => {
        match $request {
            $(RequestKind::$api($r) => Outcome::Respond(Box::new(ResponseKind::$api($call))),)*
            $($arms)*
        }
    };
}

pub(crate) async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: RequestKind,
) -> Outcome {
    #[allow(non_snake_case)]
    fn Respond(r: ResponseKind) -> Outcome {
        Outcome::Respond(Box::new(r))
    }
    // network.rs only lets through APIs that api_versions::supported_range advertises.
    dispatch!(request, |r| {
        ApiVersions => api_versions::handle(ctx, r, &broker.image(), broker.quorum.kraft_version()),
        Metadata => metadata::handle_metadata(broker, ctx, r).await,
        DescribeCluster => metadata::handle_describe_cluster(broker, ctx, r),
        DescribeTopicPartitions => describe_topic_partitions::handle(broker, ctx, r),
        ListOffsets => offsets::handle_list_offsets(broker, ctx, r).await,
        OffsetForLeaderEpoch => offsets::handle_offset_for_leader_epoch(broker, ctx, r),
        DeleteRecords => offsets::handle_delete_records(broker, ctx, r).await,
        CreateTopics => topics::handle_create_topics(broker, ctx, r).await,
        DeleteTopics => topics::handle_delete_topics(broker, ctx, r).await,
        CreatePartitions => topics::handle_create_partitions(broker, ctx, r).await,
        ElectLeaders => elect_leaders::handle(broker, ctx, r).await,
        AlterPartitionReassignments => partition_reassignments::handle_alter(broker, ctx, r).await,
        ListPartitionReassignments => partition_reassignments::handle_list(broker, ctx, r),
        DescribeConfigs => configs::handle_describe(broker, ctx, r),
        AlterConfigs => configs::handle_alter(broker, ctx, r).await,
        IncrementalAlterConfigs => configs::handle_incremental_alter(broker, ctx, r).await,
        ListConfigResources => configs::handle_list_config_resources(broker, ctx, r),
        DescribeLogDirs => log_dirs::handle(broker, ctx, r).await,
        FindCoordinator => groups::handle_find_coordinator(broker, ctx, r).await,
        JoinGroup => groups::handle_join_group(broker, ctx, r).await,
        SyncGroup => groups::handle_sync_group(broker, ctx, r).await,
        Heartbeat => groups::handle_heartbeat(broker, ctx, r),
        LeaveGroup => groups::handle_leave_group(broker, ctx, r).await,
        OffsetCommit => groups::handle_offset_commit(broker, ctx, r).await,
        OffsetFetch => groups::handle_offset_fetch(broker, ctx, r),
        ListGroups => groups::handle_list_groups(broker, ctx, r),
        DescribeGroups => groups::handle_describe_groups(broker, ctx, r),
        DeleteGroups => groups::handle_delete_groups(broker, ctx, r).await,
        OffsetDelete => groups::handle_offset_delete(broker, ctx, r).await,
        ConsumerGroupHeartbeat => groups::handle_consumer_group_heartbeat(broker, ctx, r).await,
        ConsumerGroupDescribe => groups::handle_consumer_group_describe(broker, ctx, r),
        InitProducerId => producer_id::handle_init_producer_id(broker, ctx, r).await,
        AddPartitionsToTxn => txn::handle_add_partitions_to_txn(broker, ctx, r).await,
        AddOffsetsToTxn => txn::handle_add_offsets_to_txn(broker, ctx, r).await,
        EndTxn => txn::handle_end_txn(broker, ctx, r).await,
        TxnOffsetCommit => txn::handle_txn_offset_commit(broker, ctx, r).await,
        DescribeTransactions => txn::handle_describe_transactions(broker, ctx, r),
        ListTransactions => txn::handle_list_transactions(broker, ctx, r),
        WriteTxnMarkers => txn_markers::handle(broker, ctx, r).await,
        DescribeProducers => producers::handle_describe_producers(broker, ctx, r),
        DescribeQuorum => handle_describe_quorum(broker, ctx, r),
        AlterUserScramCredentials => scram_credentials::handle_alter(broker, ctx, r).await,
        DescribeUserScramCredentials => scram_credentials::handle_describe(broker, ctx, r),
        AlterClientQuotas => client_quotas::handle_alter(broker, ctx, r).await,
        DescribeClientQuotas => client_quotas::handle_describe(broker, ctx, r),
        UnregisterBroker => unregister_broker::handle(broker, ctx, r).await,
        UpdateFeatures => update_features::handle(broker, ctx, r).await,
        AddRaftVoter => raft_voters::handle_add(
            &broker.quorum,
            broker.authz(ctx).allows_cluster(crate::security::acl::AclOperation::Alter),
            r,
        )
        .await,
        RemoveRaftVoter => raft_voters::handle_remove(
            &broker.quorum,
            broker.authz(ctx).allows_cluster(crate::security::acl::AclOperation::Alter),
            r,
        )
        .await,
    }
        RequestKind::Fetch(r) => {
            let (response, files) = fetch::handle(broker, ctx, r).await;
            Outcome::RespondWithFiles(Box::new(ResponseKind::Fetch(response)), files)
        }
        RequestKind::Produce(r) => produce::handle(broker, ctx, r).await,
        RequestKind::CreateAcls(r) => acls::handle_create(broker, ctx, r).await,
        RequestKind::DescribeAcls(r) => acls::handle_describe(broker, ctx, r),
        RequestKind::DeleteAcls(r) => acls::handle_delete(broker, ctx, r).await,
        // A SASL exchange happens before any other request (`security::sasl`); one after
        // it, or on a listener without SASL, is out of place (Kafka's answer).
        RequestKind::SaslHandshake(_) => Respond(ResponseKind::SaslHandshake(
            kafka_protocol::messages::SaslHandshakeResponse::default()
                .with_error_code(crate::error::ResponseError::IllegalSaslState.code()),
        )),
        RequestKind::SaslAuthenticate(_) => Respond(ResponseKind::SaslAuthenticate(
            kafka_protocol::messages::SaslAuthenticateResponse::default()
                .with_error_code(crate::error::ResponseError::IllegalSaslState.code())
                .with_error_message(Some(str_bytes(
                    "SaslAuthenticate is only valid during a SASL exchange on a SASL listener",
                ))),
        )),
        other => Outcome::Close(format!("no handler for {:?}", api_of(&other))),
    )
}

/// DescribeQuorum needs DESCRIBE on the cluster.
fn handle_describe_quorum(
    broker: &Broker,
    ctx: &RequestContext,
    request: kafka_protocol::messages::DescribeQuorumRequest,
) -> kafka_protocol::messages::DescribeQuorumResponse {
    if !broker
        .authz(ctx)
        .allows_cluster(crate::security::acl::AclOperation::Describe)
    {
        return kafka_protocol::messages::DescribeQuorumResponse::default()
            .with_error_code(crate::error::ResponseError::ClusterAuthorizationFailed.code());
    }
    describe_quorum::handle(
        &broker.quorum,
        &broker.config.controller_listener_name(),
        request,
    )
}

fn api_of(request: &RequestKind) -> &'static str {
    match request {
        RequestKind::Produce(_) => "Produce",
        _ => "an API that is not advertised",
    }
}

pub(crate) fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

/// Kafka's "authorized operations not requested" marker.
pub(crate) const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;
