//! `Controller`: the active controller's request handling (Kafka's `QuorumController` with
//! its `ReplicationControlManager`, `ClusterControlManager` and `ConfigurationControlManager`
//! checks). Each operation holds one async mutex, validates against the latest image, builds
//! records and proposes them as one atomic batch.
//!
//! The controller decides metadata only: it never touches partition logs (brokers react to
//! the images the quorum publishes).

mod acls;
mod broker_control;
mod client_quotas;
mod elections;
mod features;
mod partition_change;
mod placement;
mod reassignment;
mod scram_credentials;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

pub(crate) use broker_control::{BrokerHeartbeat, HeartbeatOutcome};
pub(crate) use client_quotas::ClientQuotaAlteration;
pub(crate) use elections::ElectionType;
pub(crate) use reassignment::ReassignmentSpec;
pub(crate) use scram_credentials::{ScramDeletion, ScramUpsertion};

use uuid::Uuid;

mod alter_partition;

pub(crate) use alter_partition::{IsrChange, LeaderAndIsr};

use super::features::FeatureRange;
use super::image::MetadataImage;
use super::quorum::{MetadataQuorum, QuorumError};
use super::records::{BrokerEndpoint, ConfigResource, MetadataRecord};
use crate::error::{ApiError, ResponseError};

/// Validates one config `(name, value)`; `Err` carries the message for `INVALID_CONFIG`.
pub(crate) type ConfigValidator = Arc<dyn Fn(&str, &str) -> Result<(), String> + Send + Sync>;

/// Whether a config name is a list type (comma separated), which APPEND/SUBTRACT require.
/// The default value of a config for a resource (`None` = no default).
pub(crate) type ConfigDefaultFn =
    Arc<dyn Fn(&ConfigResource, &str) -> Option<String> + Send + Sync>;
pub(crate) type ListConfigPredicate = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// Longest legal topic name (Kafka's `Topic.MAX_NAME_LENGTH`).
pub(crate) const TOPIC_NAME_LENGTH_MAX: usize = 249;
/// Upper bound on the partitions of one topic, so one request cannot exhaust memory.
pub(crate) const TOPIC_PARTITIONS_MAX: i32 = 100_000;
/// The metadata log's own name; no regular topic may take it.
pub(crate) const CLUSTER_METADATA_TOPIC_NAME: &str = "__cluster_metadata";
/// Kafka's internal topics (`Topic.isInternal`), which cannot be deleted.
pub(crate) const INTERNAL_TOPIC_NAMES: [&str; 3] = [
    "__consumer_offsets",
    "__transaction_state",
    "__share_group_state",
];

#[derive(Debug, Clone)]
pub(crate) struct ControllerDefaults {
    /// `num.partitions`, used when a request asks for -1.
    pub num_partitions: i32,
    /// `default.replication.factor`, used when a request asks for -1.
    pub default_replication_factor: i16,
    /// This node's `node.id` (a valid target for broker config changes even if unregistered).
    pub node_id: i32,
    /// `broker.session.timeout.ms`: a broker without a heartbeat for this long is fenced.
    pub broker_session_timeout_ms: u64,
    /// `unclean.leader.election.enable` (the cluster default).
    pub unclean_leader_election_enable: bool,
    /// The static `min.insync.replicas`: topics' default where no dynamic config sets it,
    /// written as the cluster-level config at activation (KIP-966).
    pub min_insync_replicas: i32,
    /// `auto.leader.rebalance.enable`: the periodic pass moves leadership back to
    /// preferred replicas.
    pub auto_leader_rebalance_enable: bool,
    /// `leader.imbalance.per.broker.percentage`: the share of a broker's preferred
    /// partitions led elsewhere it tolerates before they are moved back.
    pub leader_imbalance_per_broker_percentage: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BrokerRegistrationRequest {
    pub broker_id: i32,
    pub incarnation_id: Uuid,
    pub listeners: Vec<BrokerEndpoint>,
    pub rack: Option<String>,
    /// The feature levels the broker supports; `None` from a build before feature records
    /// (a registration request without features).
    pub features: Option<BTreeMap<String, FeatureRange>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct CreateTopicSpec {
    pub name: String,
    /// -1 = `num.partitions`.
    pub num_partitions: i32,
    /// -1 = `default.replication.factor`.
    pub replication_factor: i16,
    /// Manual assignment: partition index → replicas. Requires both counts to be -1.
    pub assignments: BTreeMap<i32, Vec<i32>>,
    pub configs: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CreatedTopic {
    pub name: String,
    pub topic_id: Uuid,
    pub num_partitions: i32,
    pub replication_factor: i16,
    /// The topic's config overrides as created (defaults are the config module's business).
    pub configs: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum TopicRef {
    Name(String),
    Id(Uuid),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CreatePartitionsSpec {
    pub name: String,
    /// The new total partition count.
    pub count: i32,
    /// Replicas of each new partition, in order; `None` = placed by the controller.
    pub assignments: Option<Vec<Vec<i32>>>,
}

/// One IncrementalAlterConfigs operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AlterOp {
    Set(String),
    Delete,
    /// Adds the comma-separated values missing from a list config.
    Append(String),
    /// Removes the comma-separated values from a list config.
    Subtract(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfigChangeSpec {
    pub resource: ConfigResource,
    pub ops: Vec<(String, AlterOp)>,
}

/// Legacy AlterConfigs ("replace the whole set") as incremental ops: `Set` for every given
/// key, `Delete` for every existing key not given.
pub(crate) fn legacy_replace_ops(
    image: &MetadataImage,
    resource: &ConfigResource,
    new: BTreeMap<String, String>,
) -> Vec<(String, AlterOp)> {
    let existing = image.configs.get(resource);
    let deletes: Vec<(String, AlterOp)> = existing
        .into_iter()
        .flat_map(|configs| configs.keys())
        .filter(|key| !new.contains_key(*key))
        .map(|key| (key.clone(), AlterOp::Delete))
        .collect();
    new.into_iter()
        .map(|(key, value)| (key, AlterOp::Set(value)))
        .chain(deletes)
        .collect()
}

/// Kafka's topic name rules (`Topic.validate`).
pub(crate) fn validate_topic_name(name: &str) -> Result<(), ApiError> {
    let invalid =
        |message: String| Err(ApiError::new(ResponseError::InvalidTopicException, message));
    if name.is_empty() {
        return invalid("Topic name is illegal, it can't be empty".into());
    }
    if name == "." || name == ".." {
        return invalid("Topic name cannot be \".\" or \"..\"".into());
    }
    if name.len() > TOPIC_NAME_LENGTH_MAX {
        return invalid(format!(
            "Topic name is illegal, it can't be longer than {TOPIC_NAME_LENGTH_MAX} characters, topic name: {name}"
        ));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-')
    {
        return invalid(format!(
            "Topic name {name} is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}

/// Kafka's collision rule: '.' and '_' are the same character in metric names.
fn unify_collision_chars(name: &str) -> String {
    name.replace('.', "_")
}

/// A new topic's name is valid, not the metadata topic's, not taken, and does not collide
/// (`.` vs `_`) with an existing topic or another one of the same request.
fn check_new_topic_name(
    image: &MetadataImage,
    spec: &CreateTopicSpec,
    unified_in_request: &HashMap<String, String>,
) -> Result<(), ApiError> {
    validate_topic_name(&spec.name)?;
    if spec.name == CLUSTER_METADATA_TOPIC_NAME {
        return Err(invalid_request(format!(
            "Creation of internal topic {CLUSTER_METADATA_TOPIC_NAME} is prohibited."
        )));
    }
    if image.topic(&spec.name).is_some() {
        return Err(ApiError::new(
            ResponseError::TopicAlreadyExists,
            format!("Topic '{}' already exists.", spec.name),
        ));
    }
    let unified = unify_collision_chars(&spec.name);
    let colliding = image
        .topics
        .keys()
        .find(|existing| unify_collision_chars(existing) == unified)
        .or_else(|| unified_in_request.get(&unified));
    if let Some(existing) = colliding {
        return Err(ApiError::new(
            ResponseError::InvalidTopicException,
            format!(
                "Topic '{}' collides with existing topic: {existing}",
                spec.name
            ),
        ));
    }

    Ok(())
}

/// Per partition, its replicas and its initial ISR.
type ReplicasAndIsrs = (Vec<Vec<i32>>, Vec<Vec<i32>>);

/// A CreateTopics manual assignment, checked as Kafka checks it: replicas and the initial
/// ISR per partition.
fn manual_assignment(
    image: &MetadataImage,
    spec: &CreateTopicSpec,
) -> Result<ReplicasAndIsrs, ApiError> {
    if spec.replication_factor != -1 {
        return Err(invalid_request(
            "A manual partition assignment was specified, but replication factor was not set to -1.",
        ));
    }
    if spec.num_partitions != -1 {
        return Err(invalid_request(
            "A manual partition assignment was specified, but numPartitions was not set to -1.",
        ));
    }
    if spec.assignments.len() > TOPIC_PARTITIONS_MAX as usize {
        return Err(ApiError::new(
            ResponseError::InvalidPartitions,
            format!("A topic may have at most {TOPIC_PARTITIONS_MAX} partitions."),
        ));
    }
    let mut lists = Vec::new();
    let mut isrs = Vec::new();
    let mut rf = None;
    for (expected, (partition, replicas)) in (0i32..).zip(&spec.assignments) {
        if *partition != expected {
            return Err(invalid_assignment(
                "partitions should be a consecutive 0-based integer sequence",
            ));
        }
        isrs.push(validate_manual_assignment(image, *partition, replicas, rf)?);
        rf = Some(replicas.len());
        lists.push(replicas.clone());
    }
    Ok((lists, isrs))
}

fn quorum_error(e: QuorumError) -> ApiError {
    match e {
        QuorumError::NotController { .. } | QuorumError::ShutDown => {
            ApiError::new(ResponseError::NotController, e.to_string())
        }
        QuorumError::Timeout { .. } => ApiError::new(ResponseError::RequestTimedOut, e.to_string()),
        other => ApiError::new(ResponseError::UnknownServerError, other.to_string()),
    }
}

fn invalid_request(message: impl Into<String>) -> ApiError {
    ApiError::new(ResponseError::InvalidRequest, message)
}

fn invalid_assignment(message: impl Into<String>) -> ApiError {
    ApiError::new(ResponseError::InvalidReplicaAssignment, message)
}

/// Kafka's `validateManualPartitionAssignment`, plus the ISR the partition starts with.
fn validate_manual_assignment(
    image: &MetadataImage,
    partition: i32,
    replicas: &[i32],
    replication_factor: Option<usize>,
) -> Result<Vec<i32>, ApiError> {
    if replicas.is_empty() {
        return Err(invalid_assignment(
            "The manual partition assignment includes an empty replica list.",
        ));
    }
    let mut seen = HashSet::new();
    for broker_id in replicas {
        if !seen.insert(broker_id) {
            return Err(invalid_assignment(format!(
                "The manual partition assignment includes the broker {broker_id} more than once."
            )));
        }
        if !image.brokers.contains_key(broker_id) {
            return Err(invalid_assignment(format!(
                "The manual partition assignment includes broker {broker_id}, but no such broker is registered."
            )));
        }
    }
    if let Some(expected) = replication_factor {
        if replicas.len() != expected {
            return Err(invalid_assignment(format!(
                "The manual partition assignment includes a partition with {} replica(s), but this is not \
                 consistent with previous partitions, which have {expected} replica(s).",
                replicas.len()
            )));
        }
    }
    let isr: Vec<i32> = replicas
        .iter()
        .copied()
        .filter(|id| image.brokers.get(id).is_some_and(|b| !b.fenced))
        .collect();
    if isr.is_empty() {
        return Err(invalid_assignment(format!(
            "All brokers specified in the manual partition assignment for partition {partition} are fenced."
        )));
    }
    Ok(isr)
}

/// The brokers new replicas may go to: the unfenced ones, with their racks.
fn usable_brokers(image: &MetadataImage) -> Vec<placement::UsableBroker> {
    image
        .brokers
        .values()
        .filter(|b| !b.fenced)
        .map(|b| placement::UsableBroker {
            id: b.broker_id,
            rack: b.rack.clone(),
        })
        .collect()
}

fn partition_record(
    topic_id: Uuid,
    partition: i32,
    replicas: Vec<i32>,
    isr: Vec<i32>,
) -> MetadataRecord {
    let leader = isr.first().copied().unwrap_or(super::records::NO_LEADER);
    MetadataRecord::Partition {
        topic_id,
        partition,
        replicas,
        isr,
        leader,
        leader_epoch: 0,
        partition_epoch: 0,
        adding_replicas: vec![],
        removing_replicas: vec![],
    }
}

fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Marks every name occurring more than once.
fn duplicates<T: Eq + std::hash::Hash + Clone>(items: impl Iterator<Item = T>) -> HashSet<T> {
    let mut counts: HashMap<T, usize> = HashMap::new();
    for item in items {
        *counts.entry(item).or_default() += 1;
    }
    counts
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(item, _)| item)
        .collect()
}

/// The active controller.
pub(crate) struct Controller {
    quorum: Arc<MetadataQuorum>,
    defaults: ControllerDefaults,
    topic_config_validator: ConfigValidator,
    broker_config_validator: ConfigValidator,
    is_list_config: ListConfigPredicate,
    config_default: ConfigDefaultFn,
    /// Serializes operations: each sees the image the previous one produced.
    operation_lock: tokio::sync::Mutex<()>,
    /// Brokers' heartbeat sessions, kept by the active controller only (in memory, as
    /// Kafka's `BrokerHeartbeatManager`).
    sessions: std::sync::Mutex<broker_control::BrokerSessions>,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("defaults", &self.defaults)
            .finish_non_exhaustive()
    }
}

impl Controller {
    /// A controller accepting every config value; the config module supplies real validators
    /// through [`Controller::with_config_validators`].
    pub(crate) fn new(quorum: Arc<MetadataQuorum>, defaults: ControllerDefaults) -> Self {
        let accept_all: ConfigValidator = Arc::new(|_, _| Ok(()));
        Self {
            quorum,
            topic_config_validator: accept_all.clone(),
            broker_config_validator: accept_all,
            is_list_config: Arc::new(|_| true),
            config_default: Arc::new(|_, _| None),
            operation_lock: tokio::sync::Mutex::new(()),
            sessions: std::sync::Mutex::new(broker_control::BrokerSessions::new(
                std::time::Duration::from_millis(defaults.broker_session_timeout_ms),
            )),
            defaults,
        }
    }

    pub(crate) fn with_config_validators(
        mut self,
        topic: ConfigValidator,
        broker: ConfigValidator,
    ) -> Self {
        self.topic_config_validator = topic;
        self.broker_config_validator = broker;
        self
    }

    /// Which configs are lists (APPEND/SUBTRACT on others is `INVALID_CONFIG`). Default: all.
    pub(crate) fn with_list_config_predicate(
        mut self,
        is_list_config: ListConfigPredicate,
    ) -> Self {
        self.is_list_config = is_list_config;
        self
    }

    /// The default value of a config, which APPEND/SUBTRACT start from when the resource
    /// has no dynamic value (as Kafka's controller does). Default: none (start empty).
    pub(crate) fn with_config_defaults(mut self, config_default: ConfigDefaultFn) -> Self {
        self.config_default = config_default;
        self
    }

    #[cfg(test)]
    pub(crate) fn quorum(&self) -> &Arc<MetadataQuorum> {
        &self.quorum
    }

    fn ensure_active(&self) -> Result<(), ApiError> {
        if self.quorum.is_active_controller() {
            Ok(())
        } else {
            Err(ApiError::new(
                ResponseError::NotController,
                "this node is not the active controller",
            ))
        }
    }

    async fn propose(&self, records: Vec<MetadataRecord>) -> Result<u64, ApiError> {
        self.quorum.propose(records).await.map_err(quorum_error)
    }

    /// AllocateProducerIds: hands `broker_id` the next block of `block_size` producer ids
    /// through the quorum (a `ProducerIds` record). Returns the block's first id.
    pub(crate) async fn allocate_producer_ids(
        &self,
        broker_id: i32,
        block_size: i64,
    ) -> Result<i64, ApiError> {
        let _guard = self.operation_lock.lock().await;
        self.ensure_active()?;
        if block_size <= 0 {
            return Err(invalid_request(format!(
                "Invalid producer id block size {block_size}"
            )));
        }
        let start = self.quorum.image().next_producer_id;
        let next_block_start = start.checked_add(block_size).ok_or_else(|| {
            ApiError::new(
                ResponseError::UnknownServerError,
                "producer ids are exhausted",
            )
        })?;
        self.propose(vec![MetadataRecord::ProducerIds {
            broker_id,
            next_block_start,
            block_size,
        }])
        .await?;
        tracing::info!(
            broker_id,
            first_producer_id = start,
            block_size,
            "allocated producer id block"
        );
        Ok(start)
    }

    /// CreateTopics. Results come back in request order; all created topics are proposed as
    /// one atomic batch.
    pub(crate) async fn create_topics(
        &self,
        topics: Vec<CreateTopicSpec>,
        validate_only: bool,
    ) -> Vec<Result<CreatedTopic, ApiError>> {
        let _guard = self.operation_lock.lock().await;
        if let Err(e) = self.ensure_active() {
            return topics.iter().map(|_| Err(e.clone())).collect();
        }
        let image = self.quorum.image();
        let duplicate_names = duplicates(topics.iter().map(|t| t.name.clone()));
        let mut unified_in_request: HashMap<String, String> = HashMap::new();
        let mut records = Vec::new();
        let mut results = Vec::with_capacity(topics.len());
        for spec in topics {
            if duplicate_names.contains(&spec.name) {
                results.push(Err(invalid_request("Duplicate topic name.")));
                continue;
            }
            match self.plan_topic(&image, &spec, &unified_in_request) {
                Ok((created, topic_records)) => {
                    unified_in_request
                        .insert(unify_collision_chars(&created.name), created.name.clone());
                    records.extend(topic_records);
                    results.push(Ok(created));
                }
                Err(e) => results.push(Err(e)),
            }
        }
        if validate_only || records.is_empty() {
            return results;
        }
        crate::crash::point("controller.create_topics.planned");
        if let Err(e) = self.propose(records).await {
            return results.into_iter().map(|r| r.and(Err(e.clone()))).collect();
        }
        crate::crash::point("controller.create_topics.committed");
        for created in results.iter().flatten() {
            tracing::info!(topic = %created.name, topic_id = %created.topic_id, partitions = created.num_partitions, "created topic");
        }
        results
    }

    fn plan_topic(
        &self,
        image: &MetadataImage,
        spec: &CreateTopicSpec,
        unified_in_request: &HashMap<String, String>,
    ) -> Result<(CreatedTopic, Vec<MetadataRecord>), ApiError> {
        check_new_topic_name(image, spec, unified_in_request)?;
        let (replica_lists, isrs) = if spec.assignments.is_empty() {
            let lists = self.place_new_topic(image, spec)?;
            let isrs = lists.clone();
            (lists, isrs)
        } else {
            manual_assignment(image, spec)?
        };
        for (name, value) in &spec.configs {
            (self.topic_config_validator)(name, value)
                .map_err(|message| ApiError::new(ResponseError::InvalidConfig, message))?;
        }

        let topic_id = Uuid::new_v4();
        let replication_factor = replica_lists.first().map(|r| r.len()).unwrap_or(0) as i16;
        let num_partitions = replica_lists.len() as i32;
        let mut records = Vec::with_capacity(replica_lists.len() + spec.configs.len() + 1);
        records.push(MetadataRecord::Topic {
            name: spec.name.clone(),
            topic_id,
        });
        for (partition, (replicas, isr)) in (0i32..).zip(replica_lists.into_iter().zip(isrs)) {
            records.push(partition_record(topic_id, partition, replicas, isr));
        }
        for (name, value) in &spec.configs {
            records.push(MetadataRecord::Config {
                resource: ConfigResource::Topic(spec.name.clone()),
                name: name.clone(),
                value: Some(value.clone()),
            });
        }
        let created = CreatedTopic {
            name: spec.name.clone(),
            topic_id,
            num_partitions,
            replication_factor,
            configs: spec.configs.clone(),
        };
        Ok((created, records))
    }

    /// The replicas of a new topic without a manual assignment: the request's (or the
    /// default) partition count and replication factor, spread over the unfenced brokers.
    fn place_new_topic(
        &self,
        image: &MetadataImage,
        spec: &CreateTopicSpec,
    ) -> Result<Vec<Vec<i32>>, ApiError> {
        let unfenced = usable_brokers(image);
        let num_partitions = if spec.num_partitions == -1 {
            self.defaults.num_partitions
        } else {
            spec.num_partitions
        };
        let rf = if spec.replication_factor == -1 {
            self.defaults.default_replication_factor
        } else {
            spec.replication_factor
        };
        if num_partitions <= 0 {
            return Err(ApiError::new(
                ResponseError::InvalidPartitions,
                "Number of partitions was set to an invalid non-positive value.",
            ));
        }
        if num_partitions > TOPIC_PARTITIONS_MAX {
            return Err(ApiError::new(
                ResponseError::InvalidPartitions,
                format!("A topic may have at most {TOPIC_PARTITIONS_MAX} partitions."),
            ));
        }
        if rf <= 0 {
            return Err(ApiError::new(
                ResponseError::InvalidReplicationFactor,
                "Replication factor must be larger than 0.",
            ));
        }
        if rf as usize > unfenced.len() {
            return Err(ApiError::new(
                ResponseError::InvalidReplicationFactor,
                format!(
                    "Unable to replicate the partition {rf} time(s): The target replication factor of {rf} \
                     cannot be reached because only {} broker(s) are registered.",
                    unfenced.len()
                ),
            ));
        }
        Ok(placement::place_replicas(
            &mut rand::thread_rng(),
            &unfenced,
            num_partitions,
            rf as usize,
        ))
    }

    /// DeleteTopics by name or id; results in request order, `(name, topic_id)` on success.
    pub(crate) async fn delete_topics(
        &self,
        topics: Vec<TopicRef>,
    ) -> Vec<Result<(String, Uuid), ApiError>> {
        let _guard = self.operation_lock.lock().await;
        if let Err(e) = self.ensure_active() {
            return topics.iter().map(|_| Err(e.clone())).collect();
        }
        let image = self.quorum.image();
        let resolved: Vec<Result<(String, Uuid), ApiError>> = topics
            .iter()
            .map(|topic| match topic {
                TopicRef::Name(name) => image
                    .topic(name)
                    .map(|t| (t.name.clone(), t.topic_id))
                    .ok_or_else(|| {
                        ApiError::new(
                            ResponseError::UnknownTopicOrPartition,
                            format!("Topic '{name}' does not exist."),
                        )
                    }),
                TopicRef::Id(id) => image
                    .topic_by_id(*id)
                    .map(|t| (t.name.clone(), t.topic_id))
                    .ok_or_else(|| {
                        ApiError::new(
                            ResponseError::UnknownTopicId,
                            format!("Topic id {id} does not exist."),
                        )
                    }),
            })
            .collect();
        let duplicate_ids = duplicates(
            resolved
                .iter()
                .filter_map(|r| r.as_ref().ok().map(|(_, id)| *id)),
        );
        let results: Vec<Result<(String, Uuid), ApiError>> = resolved
            .into_iter()
            .map(|r| {
                let (name, id) = r?;
                if duplicate_ids.contains(&id) {
                    return Err(invalid_request(format!(
                        "Topic '{name}' ({id}) was named more than once."
                    )));
                }
                if INTERNAL_TOPIC_NAMES.contains(&name.as_str()) {
                    return Err(invalid_request(format!(
                        "Internal topic '{name}' cannot be deleted."
                    )));
                }
                Ok((name, id))
            })
            .collect();
        let records: Vec<MetadataRecord> = results
            .iter()
            .flatten()
            .map(|(_, topic_id)| MetadataRecord::RemoveTopic {
                topic_id: *topic_id,
            })
            .collect();
        if records.is_empty() {
            return results;
        }
        if let Err(e) = self.propose(records).await {
            return results.into_iter().map(|r| r.and(Err(e.clone()))).collect();
        }
        for (name, topic_id) in results.iter().flatten() {
            tracing::info!(topic = %name, %topic_id, "deleted topic");
        }
        results
    }

    /// CreatePartitions: grows topics to `count` partitions.
    pub(crate) async fn create_partitions(
        &self,
        reqs: Vec<CreatePartitionsSpec>,
        validate_only: bool,
    ) -> Vec<Result<(), ApiError>> {
        self.plan_each_and_commit(
            &reqs,
            |r| r.name.clone(),
            "Duplicate topic name.",
            |image, req| self.plan_partitions(image, req),
            validate_only,
        )
        .await
    }

    /// The shared shape of per-item metadata changes: under the operation lock, items named
    /// twice in one request fail with INVALID_REQUEST, every other item is planned against
    /// the same image, and all planned records are proposed as one batch (unless
    /// `validate_only`). A failed proposal fails every item that had succeeded.
    async fn plan_each_and_commit<T, K: Eq + std::hash::Hash + Clone>(
        &self,
        items: &[T],
        key: impl Fn(&T) -> K,
        duplicate_message: &str,
        plan: impl Fn(&MetadataImage, &T) -> Result<Vec<MetadataRecord>, ApiError>,
        validate_only: bool,
    ) -> Vec<Result<(), ApiError>> {
        let _guard = self.operation_lock.lock().await;
        if let Err(e) = self.ensure_active() {
            return items.iter().map(|_| Err(e.clone())).collect();
        }
        let image = self.quorum.image();
        let duplicate_keys = duplicates(items.iter().map(&key));
        let mut records = Vec::new();
        let mut results = Vec::with_capacity(items.len());
        for item in items {
            if duplicate_keys.contains(&key(item)) {
                results.push(Err(invalid_request(duplicate_message)));
                continue;
            }
            match plan(&image, item) {
                Ok(new_records) => {
                    records.extend(new_records);
                    results.push(Ok(()));
                }
                Err(e) => results.push(Err(e)),
            }
        }
        if validate_only || records.is_empty() {
            return results;
        }
        if let Err(e) = self.propose(records).await {
            return results.into_iter().map(|r| r.and(Err(e.clone()))).collect();
        }
        results
    }

    fn plan_partitions(
        &self,
        image: &MetadataImage,
        req: &CreatePartitionsSpec,
    ) -> Result<Vec<MetadataRecord>, ApiError> {
        let topic = image.topic(&req.name).ok_or_else(|| {
            ApiError::new(
                ResponseError::UnknownTopicOrPartition,
                format!("Topic '{}' does not exist.", req.name),
            )
        })?;
        let current = topic.partitions.len() as i32;
        if req.count < current {
            return Err(ApiError::new(
                ResponseError::InvalidPartitions,
                format!("The topic {} currently has {current} partition(s); {} would not be an increase.", req.name, req.count),
            ));
        }
        if req.count == current {
            return Err(ApiError::new(
                ResponseError::InvalidPartitions,
                format!("Topic already has {current} partition(s)."),
            ));
        }
        if req.count > TOPIC_PARTITIONS_MAX {
            return Err(ApiError::new(
                ResponseError::InvalidPartitions,
                format!("A topic may have at most {TOPIC_PARTITIONS_MAX} partitions."),
            ));
        }
        let additional = req.count - current;
        let rf = topic
            .partitions
            .values()
            .next()
            .map(|p| p.replicas.len())
            .unwrap_or(1)
            .max(1);
        let mut records = Vec::with_capacity(additional as usize);
        match &req.assignments {
            Some(assignments) => {
                if assignments.len() != additional as usize {
                    return Err(invalid_assignment(format!(
                        "Attempted to add {additional} additional partition(s), but only {} assignment(s) were specified.",
                        assignments.len()
                    )));
                }
                for (partition, replicas) in (current..).zip(assignments) {
                    let isr = validate_manual_assignment(image, partition, replicas, Some(rf))?;
                    records.push(partition_record(
                        topic.topic_id,
                        partition,
                        replicas.clone(),
                        isr,
                    ));
                }
            }
            None => {
                let unfenced = usable_brokers(image);
                if rf > unfenced.len() {
                    return Err(ApiError::new(
                        ResponseError::InvalidReplicationFactor,
                        format!(
                            "Unable to replicate the partition {rf} time(s): The target replication factor of {rf} \
                             cannot be reached because only {} broker(s) are registered.",
                            unfenced.len()
                        ),
                    ));
                }
                let lists =
                    placement::place_replicas(&mut rand::thread_rng(), &unfenced, additional, rf);
                for (partition, replicas) in (current..).zip(lists) {
                    records.push(partition_record(
                        topic.topic_id,
                        partition,
                        replicas.clone(),
                        replicas,
                    ));
                }
            }
        }
        Ok(records)
    }

    /// IncrementalAlterConfigs (and legacy AlterConfigs via [`legacy_replace_ops`]).
    pub(crate) async fn alter_configs(
        &self,
        changes: Vec<ConfigChangeSpec>,
        validate_only: bool,
    ) -> Vec<Result<(), ApiError>> {
        self.plan_each_and_commit(
            &changes,
            |c| c.resource.clone(),
            "Each resource must appear at most once.",
            |image, change| self.plan_config_change(image, change),
            validate_only,
        )
        .await
    }

    fn plan_config_change(
        &self,
        image: &MetadataImage,
        change: &ConfigChangeSpec,
    ) -> Result<Vec<MetadataRecord>, ApiError> {
        let validator = match &change.resource {
            ConfigResource::Topic(name) => {
                if image.topic(name).is_none() {
                    return Err(ApiError::new(
                        ResponseError::UnknownTopicOrPartition,
                        format!("The topic '{name}' does not exist."),
                    ));
                }
                &self.topic_config_validator
            }
            ConfigResource::Broker(None) => &self.broker_config_validator,
            ConfigResource::Broker(Some(id)) => {
                if *id < 0 {
                    return Err(invalid_request(format!("Invalid broker name {id}")));
                }
                if !image.brokers.contains_key(id) && *id != self.defaults.node_id {
                    return Err(ApiError::new(
                        ResponseError::BrokerIdNotRegistered,
                        format!("No broker with id {id} found."),
                    ));
                }
                &self.broker_config_validator
            }
        };
        let duplicate_keys = duplicates(change.ops.iter().map(|(name, _)| name.clone()));
        if let Some(key) = duplicate_keys.iter().min() {
            return Err(invalid_request(format!(
                "Error due to duplicate config keys: {key}"
            )));
        }
        let current = image.configs.get(&change.resource);
        let mut records = Vec::with_capacity(change.ops.len());
        for (name, op) in &change.ops {
            let existing = current.and_then(|c| c.get(name));
            let new_value = match op {
                AlterOp::Set(value) => Some(value.clone()),
                AlterOp::Delete => {
                    if existing.is_none() {
                        continue;
                    }
                    None
                }
                AlterOp::Append(values) | AlterOp::Subtract(values) => {
                    if !(self.is_list_config)(name) {
                        let verb = if matches!(op, AlterOp::Append(_)) {
                            "APPEND"
                        } else {
                            "SUBTRACT"
                        };
                        return Err(ApiError::new(
                            ResponseError::InvalidConfig,
                            format!("Can't {verb} to key {name} because its type is not LIST."),
                        ));
                    }
                    let mut list = match existing {
                        Some(v) => split_list(v),
                        None => (self.config_default)(&change.resource, name)
                            .map(|v| split_list(&v))
                            .unwrap_or_default(),
                    };
                    let operands = split_list(values);
                    if matches!(op, AlterOp::Append(_)) {
                        for value in operands {
                            if !list.contains(&value) {
                                list.push(value);
                            }
                        }
                    } else {
                        let remove: BTreeSet<String> = operands.into_iter().collect();
                        list.retain(|v| !remove.contains(v));
                    }
                    Some(list.join(","))
                }
            };
            if name == "min.insync.replicas" {
                // KIP-966: ELR is tracked with the topic's or the cluster's value; Kafka
                // refuses what would make a broker's own value matter, or remove the
                // cluster's.
                match (&change.resource, &new_value) {
                    (ConfigResource::Broker(Some(_)), _) => return Err(ApiError::new(
                        ResponseError::InvalidConfig,
                        "Broker-level min.insync.replicas cannot be altered while ELR is enabled.",
                    )),
                    (ConfigResource::Broker(None), None) => return Err(ApiError::new(
                        ResponseError::InvalidConfig,
                        "Cluster-level min.insync.replicas cannot be removed while ELR is enabled.",
                    )),
                    _ => {}
                }
            }
            if let Some(value) = &new_value {
                // Kafka answers a broker config that fails validation with INVALID_REQUEST
                // (KAFKA-13609), a topic config with INVALID_CONFIG.
                let code = match change.resource {
                    ConfigResource::Topic(_) => ResponseError::InvalidConfig,
                    ConfigResource::Broker(_) => ResponseError::InvalidRequest,
                };
                validator(name, value).map_err(|message| ApiError::new(code, message))?;
            }
            records.push(MetadataRecord::Config {
                resource: change.resource.clone(),
                name: name.clone(),
                value: new_value,
            });
        }
        Ok(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::quorum::QuorumConfig;

    pub(super) struct Fixture {
        _dir: tempfile::TempDir,
        pub(super) controller: Controller,
    }

    impl Fixture {
        pub(super) fn image(&self) -> Arc<MetadataImage> {
            self.controller.quorum().image()
        }
    }

    pub(super) async fn fixture(brokers: &[i32]) -> Fixture {
        fixture_with(brokers, |_| {}).await
    }

    /// A fixture whose controller defaults `adjust` changed first.
    pub(super) async fn fixture_with(
        brokers: &[i32],
        adjust: impl FnOnce(&mut ControllerDefaults),
    ) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let quorum = MetadataQuorum::start(QuorumConfig {
            node_id: 1,
            metadata_dir: dir.path().join("__cluster_metadata-0"),
            cluster_id: None,
            voters: Default::default(),
            learner_address: None,
            bootstrap_servers: Vec::new(),
            controller: None,
            standalone: false,
            connectors: crate::security::NodeConnectors::plaintext(),
            bootstrap_records: Vec::new(),
        })
        .await
        .unwrap();
        let mut defaults = ControllerDefaults {
            num_partitions: 3,
            default_replication_factor: 1,
            node_id: 1,
            broker_session_timeout_ms: 60_000,
            unclean_leader_election_enable: false,
            min_insync_replicas: 1,
            auto_leader_rebalance_enable: true,
            leader_imbalance_per_broker_percentage: 10,
        };
        adjust(&mut defaults);
        let validator: ConfigValidator = Arc::new(|name, value| {
            if name == "retention.ms" && value.parse::<i64>().is_err() {
                Err(format!(
                    "Invalid value {value} for configuration retention.ms"
                ))
            } else {
                Ok(())
            }
        });
        let controller = Controller::new(Arc::new(quorum), defaults)
            .with_config_validators(validator.clone(), validator)
            .with_list_config_predicate(Arc::new(|name| {
                name == "cleanup.policy" || name.ends_with(".list")
            }));
        for id in brokers {
            let epoch = controller
                .register_broker(BrokerRegistrationRequest {
                    broker_id: *id,
                    incarnation_id: Uuid::from_u128(*id as u128),
                    listeners: vec![],
                    rack: None,
                    features: Some(crate::metadata::features::supported()),
                })
                .await
                .unwrap();
            let outcome = controller
                .heartbeat(BrokerHeartbeat {
                    broker_id: *id,
                    broker_epoch: epoch,
                    current_metadata_offset: epoch,
                    want_fence: false,
                    want_shut_down: false,
                })
                .await
                .unwrap();
            assert!(!outcome.is_fenced, "a caught-up broker is unfenced");
        }
        Fixture {
            _dir: dir,
            controller,
        }
    }

    pub(super) fn spec(name: &str, partitions: i32, rf: i16) -> CreateTopicSpec {
        CreateTopicSpec {
            name: name.into(),
            num_partitions: partitions,
            replication_factor: rf,
            ..Default::default()
        }
    }

    pub(super) fn code<T: std::fmt::Debug>(result: &Result<T, ApiError>) -> ResponseError {
        match result {
            Err(e) => e.code,
            Ok(v) => panic!("expected an error, got {v:?}"),
        }
    }

    #[tokio::test]
    async fn register_broker_is_idempotent() {
        let f = fixture(&[1]).await;
        let offset = f.image().offset;
        let reg = BrokerRegistrationRequest {
            broker_id: 1,
            incarnation_id: Uuid::from_u128(1),
            listeners: vec![],
            rack: None,
            features: Some(crate::metadata::features::supported()),
        };
        f.controller.register_broker(reg.clone()).await.unwrap();
        assert_eq!(
            f.image().offset,
            offset,
            "an identical registration proposes nothing"
        );
        f.controller
            .register_broker(BrokerRegistrationRequest {
                rack: Some("r1".into()),
                ..reg
            })
            .await
            .unwrap();
        assert_eq!(
            f.image().brokers[&1].rack.as_deref(),
            Some("r1"),
            "a changed registration is recorded"
        );
    }

    #[tokio::test]
    async fn create_topics_places_replicas_and_applies_defaults() {
        let f = fixture(&[1, 2, 3]).await;
        let mut with_config = spec("orders", 6, 3);
        with_config
            .configs
            .insert("retention.ms".into(), "1000".into());
        let results = f
            .controller
            .create_topics(vec![with_config, spec("defaults", -1, -1)], false)
            .await;
        let created = results[0].as_ref().unwrap();
        assert_eq!((created.num_partitions, created.replication_factor), (6, 3));
        let image = f.image();
        let topic = image.topic("orders").expect("orders created");
        assert_eq!(topic.topic_id, created.topic_id);
        let leaders: BTreeSet<i32> = topic.partitions.values().map(|p| p.leader).collect();
        assert_eq!(
            leaders,
            BTreeSet::from([1, 2, 3]),
            "round-robin spreads leaders over all brokers"
        );
        for p in topic.partitions.values() {
            assert_eq!(p.isr, p.replicas);
            assert_eq!(p.leader, p.replicas[0]);
            assert_eq!(
                BTreeSet::from_iter(p.replicas.iter()).len(),
                3,
                "replicas are distinct brokers"
            );
            assert_eq!((p.leader_epoch, p.partition_epoch), (0, 0));
        }
        assert_eq!(
            image
                .topic_config("orders")
                .get("retention.ms")
                .map(String::as_str),
            Some("1000")
        );
        let defaults = results[1].as_ref().unwrap();
        assert_eq!(
            (defaults.num_partitions, defaults.replication_factor),
            (3, 1),
            "-1 takes the defaults"
        );
    }

    #[tokio::test]
    async fn create_topics_refuses_with_kafkas_codes() {
        let f = fixture(&[1, 2]).await;
        f.controller
            .create_topics(vec![spec("exists", 1, 1), spec("a_b", 1, 1)], false)
            .await;
        let offset = f.image().offset;
        let long = "x".repeat(250);
        let manual =
            |assignments: Vec<(i32, Vec<i32>)>, partitions: i32, rf: i16| CreateTopicSpec {
                name: "manual".into(),
                num_partitions: partitions,
                replication_factor: rf,
                assignments: assignments.into_iter().collect(),
                configs: BTreeMap::new(),
            };
        let mut bad_config = spec("badconfig", 1, 1);
        bad_config
            .configs
            .insert("retention.ms".into(), "soon".into());
        let cases: Vec<(CreateTopicSpec, ResponseError, &str)> = vec![
            (
                spec("", 1, 1),
                ResponseError::InvalidTopicException,
                "empty name",
            ),
            (spec(".", 1, 1), ResponseError::InvalidTopicException, "dot"),
            (
                spec("..", 1, 1),
                ResponseError::InvalidTopicException,
                "dot dot",
            ),
            (
                spec(&long, 1, 1),
                ResponseError::InvalidTopicException,
                "250 chars",
            ),
            (
                spec("bad name", 1, 1),
                ResponseError::InvalidTopicException,
                "space",
            ),
            (
                spec("exists", 1, 1),
                ResponseError::TopicAlreadyExists,
                "exists",
            ),
            (
                spec("a.b", 1, 1),
                ResponseError::InvalidTopicException,
                "collides with a_b",
            ),
            (
                spec("zero", 0, 1),
                ResponseError::InvalidPartitions,
                "zero partitions",
            ),
            (
                spec("neg", -2, 1),
                ResponseError::InvalidPartitions,
                "negative partitions",
            ),
            (
                spec("rf0", 1, 0),
                ResponseError::InvalidReplicationFactor,
                "rf 0",
            ),
            (
                spec("rf3", 1, 3),
                ResponseError::InvalidReplicationFactor,
                "rf above broker count",
            ),
            (
                manual(vec![(0, vec![1])], 1, -1),
                ResponseError::InvalidRequest,
                "assignment with partitions",
            ),
            (
                manual(vec![(0, vec![1])], -1, 1),
                ResponseError::InvalidRequest,
                "assignment with rf",
            ),
            (
                manual(vec![(0, vec![1]), (2, vec![2])], -1, -1),
                ResponseError::InvalidReplicaAssignment,
                "gap",
            ),
            (
                manual(vec![(0, vec![1, 1])], -1, -1),
                ResponseError::InvalidReplicaAssignment,
                "duplicate broker",
            ),
            (
                manual(vec![(0, vec![7])], -1, -1),
                ResponseError::InvalidReplicaAssignment,
                "unknown broker",
            ),
            (
                manual(vec![(0, vec![])], -1, -1),
                ResponseError::InvalidReplicaAssignment,
                "empty replicas",
            ),
            (
                manual(vec![(0, vec![1]), (1, vec![1, 2])], -1, -1),
                ResponseError::InvalidReplicaAssignment,
                "rf differs",
            ),
            (bad_config, ResponseError::InvalidConfig, "config validator"),
            (
                spec(CLUSTER_METADATA_TOPIC_NAME, 1, 1),
                ResponseError::InvalidRequest,
                "metadata topic",
            ),
        ];
        for (spec, expected, what) in cases {
            let results = f.controller.create_topics(vec![spec], false).await;
            assert_eq!(
                code(&results[0]),
                expected,
                "case '{what}' must fail with {expected:?}"
            );
        }
        let results = f
            .controller
            .create_topics(
                vec![spec("dup", 1, 1), spec("ok", 1, 1), spec("dup", 1, 1)],
                false,
            )
            .await;
        assert_eq!(
            code(&results[0]),
            ResponseError::InvalidRequest,
            "duplicate names fail each occurrence"
        );
        assert_eq!(code(&results[2]), ResponseError::InvalidRequest);
        assert!(
            results[1].is_ok(),
            "a valid topic next to duplicates is still created"
        );
        let results = f
            .controller
            .create_topics(vec![spec("x.y", 1, 1), spec("x_y", 1, 1)], false)
            .await;
        assert!(results[0].is_ok());
        assert_eq!(
            code(&results[1]),
            ResponseError::InvalidTopicException,
            "collision within one request"
        );
        assert!(f.image().offset > offset);

        let manual_ok = manual(vec![(0, vec![2, 1]), (1, vec![1, 2])], -1, -1);
        let results = f.controller.create_topics(vec![manual_ok], false).await;
        assert_eq!(results[0].as_ref().unwrap().replication_factor, 2);
        let image = f.image();
        let p0 = &image.topic("manual").unwrap().partitions[&0];
        assert_eq!(
            (p0.leader, p0.replicas.clone()),
            (2, vec![2, 1]),
            "manual assignment is kept, leader first"
        );
    }

    /// A manual assignment is recorded as given — replica order (leader first) and all —
    /// even where placement would not produce it (partitions 0 and 1 share a leader).
    #[tokio::test]
    async fn a_manual_assignment_unlike_any_placement_is_kept() {
        let f = fixture(&[1, 2, 3]).await;
        let assignment = vec![(0, vec![3, 1]), (1, vec![3, 2]), (2, vec![1, 2])];
        let results = f
            .controller
            .create_topics(
                vec![CreateTopicSpec {
                    name: "placed".into(),
                    num_partitions: -1,
                    replication_factor: -1,
                    assignments: assignment.clone().into_iter().collect(),
                    ..Default::default()
                }],
                false,
            )
            .await;
        let created = results[0].as_ref().expect("manual assignment accepted");
        assert_eq!((created.num_partitions, created.replication_factor), (3, 2));
        let image = f.image();
        let topic = image.topic("placed").expect("topic created");
        let described: Vec<(i32, Vec<i32>, Vec<i32>, i32)> = topic
            .partitions
            .iter()
            .map(|(p, r)| (*p, r.replicas.clone(), r.isr.clone(), r.leader))
            .collect();
        assert_eq!(
            described,
            vec![
                (0, vec![3, 1], vec![3, 1], 3),
                (1, vec![3, 2], vec![3, 2], 3),
                (2, vec![1, 2], vec![1, 2], 1),
            ],
            "(partition, replicas, isr, leader) as assigned"
        );
    }

    #[tokio::test]
    async fn validate_only_proposes_nothing() {
        let f = fixture(&[1]).await;
        let offset = f.image().offset;
        let results = f
            .controller
            .create_topics(vec![spec("dry", 2, 1)], true)
            .await;
        assert_eq!(results[0].as_ref().unwrap().num_partitions, 2);
        assert!(
            f.image().topic("dry").is_none(),
            "validate_only must not create the topic"
        );
        assert_eq!(f.image().offset, offset);
    }

    #[tokio::test]
    async fn delete_topics_by_name_and_id() {
        let f = fixture(&[1]).await;
        let created = f
            .controller
            .create_topics(
                vec![
                    spec("a", 1, 1),
                    spec("b", 1, 1),
                    spec("__consumer_offsets", 1, 1),
                ],
                false,
            )
            .await;
        let b_id = created[1].as_ref().unwrap().topic_id;
        let results = f
            .controller
            .delete_topics(vec![
                TopicRef::Name("a".into()),
                TopicRef::Id(b_id),
                TopicRef::Name("missing".into()),
                TopicRef::Id(Uuid::from_u128(99)),
                TopicRef::Name("__consumer_offsets".into()),
            ])
            .await;
        assert_eq!(results[0].as_ref().unwrap().0, "a");
        assert_eq!(results[1].as_ref().unwrap(), &("b".to_string(), b_id));
        assert_eq!(code(&results[2]), ResponseError::UnknownTopicOrPartition);
        assert_eq!(code(&results[3]), ResponseError::UnknownTopicId);
        assert_eq!(
            code(&results[4]),
            ResponseError::InvalidRequest,
            "internal topics cannot be deleted"
        );
        let image = f.image();
        assert!(
            image.topic("a").is_none() && image.topic("b").is_none(),
            "deleted topics are gone"
        );
        assert!(image.topic("__consumer_offsets").is_some());

        let c = f
            .controller
            .create_topics(vec![spec("c", 1, 1)], false)
            .await;
        let c_id = c[0].as_ref().unwrap().topic_id;
        let results = f
            .controller
            .delete_topics(vec![TopicRef::Name("c".into()), TopicRef::Id(c_id)])
            .await;
        assert_eq!(
            code(&results[0]),
            ResponseError::InvalidRequest,
            "the same topic twice is refused"
        );
        assert_eq!(code(&results[1]), ResponseError::InvalidRequest);
        assert!(f.image().topic("c").is_some());
    }

    #[tokio::test]
    async fn create_partitions_grows_topics() {
        let f = fixture(&[1, 2]).await;
        f.controller
            .create_topics(vec![spec("t", 2, 2)], false)
            .await;
        let req = |count: i32, assignments: Option<Vec<Vec<i32>>>| CreatePartitionsSpec {
            name: "t".into(),
            count,
            assignments,
        };
        let results = f
            .controller
            .create_partitions(
                vec![
                    CreatePartitionsSpec {
                        name: "missing".into(),
                        count: 3,
                        assignments: None,
                    },
                    CreatePartitionsSpec {
                        name: "t".into(),
                        count: 1,
                        assignments: None,
                    },
                ],
                false,
            )
            .await;
        assert_eq!(code(&results[0]), ResponseError::UnknownTopicOrPartition);
        assert_eq!(
            code(&results[1]),
            ResponseError::InvalidPartitions,
            "decrease"
        );
        let cases = vec![
            (req(2, None), ResponseError::InvalidPartitions, "equal"),
            (
                req(4, Some(vec![vec![1, 2]])),
                ResponseError::InvalidReplicaAssignment,
                "too few assignments",
            ),
            (
                req(3, Some(vec![vec![1]])),
                ResponseError::InvalidReplicaAssignment,
                "rf differs",
            ),
            (
                req(3, Some(vec![vec![1, 9]])),
                ResponseError::InvalidReplicaAssignment,
                "unknown broker",
            ),
            (
                req(3, Some(vec![vec![1, 1]])),
                ResponseError::InvalidReplicaAssignment,
                "duplicate broker",
            ),
        ];
        for (spec, expected, what) in cases {
            let results = f.controller.create_partitions(vec![spec], false).await;
            assert_eq!(
                code(&results[0]),
                expected,
                "case '{what}' must fail with {expected:?}"
            );
        }
        let results = f
            .controller
            .create_partitions(vec![req(3, None)], true)
            .await;
        assert!(results[0].is_ok());
        assert_eq!(
            f.image().topic("t").unwrap().partitions.len(),
            2,
            "validate_only adds nothing"
        );
        let results = f
            .controller
            .create_partitions(vec![req(4, Some(vec![vec![2, 1], vec![1, 2]]))], false)
            .await;
        assert!(results[0].is_ok(), "{results:?}");
        let image = f.image();
        let topic = image.topic("t").unwrap();
        assert_eq!(topic.partitions.len(), 4);
        assert_eq!(topic.partitions[&2].replicas, vec![2, 1]);
        let results = f
            .controller
            .create_partitions(vec![req(6, None)], false)
            .await;
        assert!(results[0].is_ok());
        let image = f.image();
        assert!(
            image
                .topic("t")
                .unwrap()
                .partitions
                .values()
                .all(|p| p.replicas.len() == 2),
            "new partitions keep rf"
        );
    }

    #[tokio::test]
    async fn alter_configs_incremental_and_legacy() {
        let f = fixture(&[1]).await;
        f.controller
            .create_topics(vec![spec("t", 1, 1)], false)
            .await;
        let topic = ConfigResource::Topic("t".into());
        let change = |ops: Vec<(&str, AlterOp)>| ConfigChangeSpec {
            resource: topic.clone(),
            ops: ops.into_iter().map(|(k, op)| (k.to_string(), op)).collect(),
        };
        let results = f
            .controller
            .alter_configs(
                vec![change(vec![
                    ("retention.ms", AlterOp::Set("100".into())),
                    ("cleanup.policy", AlterOp::Append("delete".into())),
                ])],
                false,
            )
            .await;
        assert!(results[0].is_ok(), "{results:?}");
        f.controller
            .alter_configs(
                vec![change(vec![(
                    "cleanup.policy",
                    AlterOp::Append("compact,delete".into()),
                )])],
                false,
            )
            .await;
        assert_eq!(
            f.image().topic_config("t")["cleanup.policy"],
            "delete,compact",
            "append adds only missing values"
        );
        f.controller
            .alter_configs(
                vec![change(vec![(
                    "cleanup.policy",
                    AlterOp::Subtract("delete".into()),
                )])],
                false,
            )
            .await;
        assert_eq!(f.image().topic_config("t")["cleanup.policy"], "compact");

        let cases: Vec<(ConfigChangeSpec, ResponseError, &str)> = vec![
            (
                change(vec![("retention.ms", AlterOp::Set("x".into()))]),
                ResponseError::InvalidConfig,
                "validator",
            ),
            (
                change(vec![("retention.ms", AlterOp::Append("1".into()))]),
                ResponseError::InvalidConfig,
                "append non-list",
            ),
            (
                change(vec![
                    ("a", AlterOp::Delete),
                    ("a", AlterOp::Set("1".into())),
                ]),
                ResponseError::InvalidRequest,
                "duplicate key",
            ),
            (
                ConfigChangeSpec {
                    resource: ConfigResource::Topic("nope".into()),
                    ops: vec![],
                },
                ResponseError::UnknownTopicOrPartition,
                "unknown topic",
            ),
            (
                ConfigChangeSpec {
                    resource: ConfigResource::Broker(Some(5)),
                    ops: vec![],
                },
                ResponseError::BrokerIdNotRegistered,
                "unknown broker",
            ),
            (
                ConfigChangeSpec {
                    resource: ConfigResource::Broker(Some(-3)),
                    ops: vec![],
                },
                ResponseError::InvalidRequest,
                "negative broker",
            ),
        ];
        for (spec, expected, what) in cases {
            let results = f.controller.alter_configs(vec![spec], false).await;
            assert_eq!(
                code(&results[0]),
                expected,
                "case '{what}' must fail with {expected:?}"
            );
        }
        assert_eq!(
            f.image().topic_config("t")["retention.ms"],
            "100",
            "failed changes leave configs alone"
        );

        let results = f
            .controller
            .alter_configs(
                vec![
                    change(vec![("retention.ms", AlterOp::Set("5".into()))]),
                    change(vec![]),
                ],
                false,
            )
            .await;
        assert_eq!(
            code(&results[0]),
            ResponseError::InvalidRequest,
            "duplicate resources are refused"
        );

        let ops = legacy_replace_ops(
            &f.image(),
            &topic,
            BTreeMap::from([("segment.ms".to_string(), "9".to_string())]),
        );
        assert!(ops.contains(&("retention.ms".to_string(), AlterOp::Delete)));
        assert!(ops.contains(&("cleanup.policy".to_string(), AlterOp::Delete)));
        let results = f
            .controller
            .alter_configs(
                vec![ConfigChangeSpec {
                    resource: topic.clone(),
                    ops,
                }],
                true,
            )
            .await;
        assert!(results[0].is_ok());
        assert!(
            f.image().topic_config("t").contains_key("retention.ms"),
            "validate_only changes nothing"
        );
        let ops = legacy_replace_ops(
            &f.image(),
            &topic,
            BTreeMap::from([("segment.ms".to_string(), "9".to_string())]),
        );
        f.controller
            .alter_configs(
                vec![ConfigChangeSpec {
                    resource: topic.clone(),
                    ops,
                }],
                false,
            )
            .await;
        assert_eq!(
            f.image().topic_config("t"),
            BTreeMap::from([("segment.ms".to_string(), "9".to_string())]),
            "legacy alter replaces the whole set"
        );

        let cluster = ConfigChangeSpec {
            resource: ConfigResource::Broker(None),
            ops: vec![("log.retention.ms".into(), AlterOp::Set("7".into()))],
        };
        let this_broker = ConfigChangeSpec {
            resource: ConfigResource::Broker(Some(1)),
            ops: vec![("log.retention.ms".into(), AlterOp::Set("8".into()))],
        };
        let results = f
            .controller
            .alter_configs(vec![cluster, this_broker], false)
            .await;
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        assert_eq!(f.image().broker_config(None)["log.retention.ms"], "7");
        assert_eq!(f.image().broker_config(Some(1))["log.retention.ms"], "8");
    }

    #[tokio::test]
    async fn a_stopped_quorum_answers_not_controller() {
        let f = fixture(&[1]).await;
        f.controller.quorum().shutdown().await.unwrap();
        let results = f
            .controller
            .create_topics(vec![spec("t", 1, 1)], false)
            .await;
        assert_eq!(code(&results[0]), ResponseError::NotController);
    }
}
