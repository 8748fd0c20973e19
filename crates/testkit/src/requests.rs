//! `requests`: typed conveniences on [`RawClient`] for the requests tests send most —
//! Produce, Fetch, ListOffsets, WriteTxnMarkers, the transaction and group-offset requests
//! of a transactional client, configs — each answering with what tests assert on (error
//! codes, offsets), and retrying, as clients do, what a loading coordinator answers.

use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use std::collections::HashMap;

use kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::DescribeConfigsResourceResult;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, AlterConfigsRequest, BrokerId,
    CreateTopicsRequest, DescribeConfigsRequest, DescribeTransactionsRequest,
    DescribeTransactionsResponse, EndTxnRequest, FetchRequest, FetchResponse, GroupId,
    IncrementalAlterConfigsRequest, InitProducerIdRequest, ListTransactionsRequest,
    OffsetFetchRequest, ProduceRequest, ProducerId, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;

use crate::batches::{encode_transactional_batch, topic_name_of};
use crate::raw::{codes, versions, RawClient};

/// How long the coordinator retries below keep asking while the answer is retriable.
pub const COORDINATOR_RETRY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long they wait between asks.
const COORDINATOR_RETRY_INTERVAL: Duration = Duration::from_millis(50);

/// What a client retries while a coordinator loads or is not known yet, or while the
/// previous transaction of its id completes.
pub const COORDINATOR_RETRIABLE: &[i16] = &[
    codes::COORDINATOR_LOAD_IN_PROGRESS,
    codes::COORDINATOR_NOT_AVAILABLE,
    codes::CONCURRENT_TRANSACTIONS,
];
/// What a client retries while a coordinator loads.
pub const LOADING: &[i16] = &[codes::COORDINATOR_LOAD_IN_PROGRESS];

/// Calls `attempt` (which returns an error code and a result) every 50 ms while the code
/// is one of `retriable`, for at most [`COORDINATOR_RETRY_TIMEOUT`]; returns the last
/// answer, retriable or not (the caller's assertion says what it expected).
pub fn retry_while<T>(retriable: &[i16], mut attempt: impl FnMut() -> (i16, T)) -> (i16, T) {
    let deadline = Instant::now() + COORDINATOR_RETRY_TIMEOUT;
    loop {
        let (code, value) = attempt();
        if !retriable.contains(&code) || Instant::now() > deadline {
            return (code, value);
        }
        std::thread::sleep(COORDINATOR_RETRY_INTERVAL);
    }
}

/// Per topic, in response order, each partition's `(index, error code)`, of a response's
/// topics that have a `name` and partitions with `partition_index` and `error_code`
/// (OffsetCommit, OffsetDelete, TxnOffsetCommit, ...).
#[macro_export]
macro_rules! partition_codes {
    ($topics:expr) => {
        $topics
            .iter()
            .map(|t| {
                let codes: Vec<(i32, i16)> = t
                    .partitions
                    .iter()
                    .map(|p| (p.partition_index, p.error_code))
                    .collect();
                (t.name.0.to_string(), codes)
            })
            .collect::<Vec<(String, Vec<(i32, i16)>)>>()
    };
}

/// `s` as the codec's string type.
pub fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

pub fn txn_id(s: &str) -> TransactionalId {
    TransactionalId(sb(s))
}

/// A Produce of one batch to `topic`/`partition` (by name, as before v13) with `acks`
/// and a 30 s timeout.
pub fn produce_request(topic: &str, partition: i32, batch: Bytes, acks: i16) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic_name_of(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(batch))])])
}

/// A sessionless Fetch (session 0, epoch -1, read_uncommitted) of one partition of `topic`
/// as a consumer sends it: at least 1 byte, up to 8 MiB, waiting up to `max_wait_ms`.
pub fn fetch_request(topic: &str, partition: i32, offset: i64, max_wait_ms: i32) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(8 * 1024 * 1024)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic_name_of(topic))
            .with_partitions(vec![fetch_partition(partition, offset)])])
}

/// One partition of a Fetch at `offset` (up to 4 MiB, no leader epoch known), as a
/// consumer asks for it.
pub fn fetch_partition(partition: i32, offset: i64) -> FetchPartition {
    FetchPartition::default()
        .with_partition(partition)
        .with_current_leader_epoch(-1)
        .with_fetch_offset(offset)
        .with_last_fetched_epoch(-1)
        .with_log_start_offset(-1)
        .with_partition_max_bytes(4 * 1024 * 1024)
}

impl RawClient {
    /// Produce one encoded batch to topic/partition; returns the partition response.
    pub fn produce(
        &mut self,
        topic: &str,
        partition: i32,
        batch: Bytes,
        acks: i16,
    ) -> PartitionProduceResponse {
        self.produce_as(None, topic, partition, batch, acks)
    }

    /// [`RawClient::produce`] with the request's transactional id (as transactional
    /// producers send it).
    pub fn produce_as(
        &mut self,
        transactional_id: Option<&str>,
        topic: &str,
        partition: i32,
        batch: Bytes,
        acks: i16,
    ) -> PartitionProduceResponse {
        let request = produce_request(topic, partition, batch, acks)
            .with_transactional_id(transactional_id.map(|id| TransactionalId(sb(id))));
        self.produce_request_at(versions::PRODUCE, &request, topic, partition)
    }

    /// Produce of one batch to partition 0 at `version`, acks=all.
    pub fn produce_at(
        &mut self,
        version: i16,
        topic: &str,
        batch: Bytes,
    ) -> PartitionProduceResponse {
        let request = produce_request(topic, 0, batch, -1);
        self.produce_request_at(version, &request, topic, 0)
    }

    /// Sends `request` at `version`; returns the response of `topic`/`partition`.
    fn produce_request_at(
        &mut self,
        version: i16,
        request: &ProduceRequest,
        topic: &str,
        partition: i32,
    ) -> PartitionProduceResponse {
        let what = format!("Produce v{version} to {topic}/{partition}");
        self.expect_call(version, request, &what)
            .responses
            .into_iter()
            .flat_map(|t| t.partition_responses)
            .find(|p| p.index == partition)
            .unwrap_or_else(|| panic!("the {what} response has no entry for the partition"))
    }

    /// What a transactional producer of `id` sends: `values` as one transactional batch
    /// ([`crate::encode_transactional_batch`], sequences from `sequence`) to partition 0 of
    /// `topic` with acks=all; returns the partition response.
    pub fn produce_txn(
        &mut self,
        id: &str,
        topic: &str,
        values: &[&[u8]],
        pid: i64,
        epoch: i16,
        sequence: i32,
    ) -> PartitionProduceResponse {
        let batch = encode_transactional_batch(values, pid, epoch, sequence);
        self.produce_as(Some(id), topic, 0, batch, -1)
    }

    /// ListOffsets for one partition at `timestamp` (-1 latest, -2 earliest, -3 max
    /// timestamp, or a time in ms); returns (error code, offset, timestamp).
    pub fn list_offset(&mut self, topic: &str, partition: i32, timestamp: i64) -> (i16, i64, i64) {
        self.list_offset_isolated(topic, partition, timestamp, 0)
    }

    /// [`RawClient::list_offset`] with an isolation level (0 read_uncommitted, 1
    /// read_committed: "latest" is then the last stable offset).
    pub fn list_offset_isolated(
        &mut self,
        topic: &str,
        partition: i32,
        timestamp: i64,
        isolation_level: i8,
    ) -> (i16, i64, i64) {
        use kafka_protocol::messages::list_offsets_request::{
            ListOffsetsPartition, ListOffsetsTopic,
        };
        use kafka_protocol::messages::ListOffsetsRequest;
        let request = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_isolation_level(isolation_level)
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(topic_name_of(topic))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(partition)
                    .with_current_leader_epoch(-1)
                    .with_timestamp(timestamp)])]);
        let what = format!("ListOffsets {topic}/{partition}");
        let p = self
            .expect_call(versions::LIST_OFFSETS, &request, &what)
            .topics
            .into_iter()
            .flat_map(|t| t.partitions)
            .find(|p| p.partition_index == partition)
            .unwrap_or_else(|| panic!("ListOffsets response has no partition {partition}"));
        (p.error_code, p.offset, p.timestamp)
    }

    /// Fetch v12 of one partition (sessionless unless `session_id`/`epoch` say otherwise).
    pub fn fetch(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        session_id: i32,
        session_epoch: i32,
        max_wait_ms: i32,
    ) -> FetchResponse {
        let request = fetch_request(topic, partition, offset, max_wait_ms)
            .with_session_id(session_id)
            .with_session_epoch(session_epoch);
        self.expect_call(
            versions::FETCH,
            &request,
            &format!("Fetch {topic}/{partition}"),
        )
    }

    /// The data of `topic`/`partition` from `offset` at an isolation level (0
    /// read_uncommitted, 1 read_committed), fetched without a session and without waiting.
    pub fn fetch_isolated(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        isolation_level: i8,
    ) -> PartitionData {
        let request =
            fetch_request(topic, partition, offset, 0).with_isolation_level(isolation_level);
        let what = format!("Fetch {topic}/{partition} at isolation level {isolation_level}");
        self.expect_call(versions::FETCH, &request, &what)
            .responses
            .into_iter()
            .flat_map(|t| t.partitions)
            .find(|p| p.partition_index == partition)
            .unwrap_or_else(|| panic!("Fetch response has no partition {partition}"))
    }

    /// WriteTxnMarkers v1 for one producer's transaction on `partitions` of `topic`, as the
    /// transaction coordinator sends it; returns the error code per partition.
    pub fn write_txn_marker(
        &mut self,
        topic: &str,
        partitions: &[i32],
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
        commit: bool,
    ) -> Vec<(i32, i16)> {
        use kafka_protocol::messages::write_txn_markers_request::{
            WritableTxnMarker, WritableTxnMarkerTopic,
        };
        use kafka_protocol::messages::{ProducerId, WriteTxnMarkersRequest};
        let request =
            WriteTxnMarkersRequest::default().with_markers(vec![WritableTxnMarker::default()
                .with_producer_id(ProducerId(producer_id))
                .with_producer_epoch(producer_epoch)
                .with_transaction_result(commit)
                .with_coordinator_epoch(coordinator_epoch)
                .with_topics(vec![WritableTxnMarkerTopic::default()
                    .with_name(topic_name_of(topic))
                    .with_partition_indexes(partitions.to_vec())])]);
        self.expect_call(
            versions::WRITE_TXN_MARKERS,
            &request,
            &format!("WriteTxnMarkers for {topic}"),
        )
        .markers
        .into_iter()
        .flat_map(|m| m.topics)
        .flat_map(|t| t.partitions)
        .map(|p| (p.partition_index, p.error_code))
        .collect()
    }

    /// InitProducerId v5 for an idempotent producer (no transactional id); asserts the
    /// broker answered without an error; returns (producer id, epoch).
    pub fn init_idempotent_producer(&mut self) -> (i64, i16) {
        let request = InitProducerIdRequest::default()
            .with_transactional_id(None)
            .with_transaction_timeout_ms(60_000);
        let response = self.expect_call(versions::INIT_PRODUCER_ID, &request, "InitProducerId");
        assert_eq!(
            response.error_code,
            codes::NONE,
            "InitProducerId without a transactional id"
        );
        (response.producer_id.0, response.producer_epoch)
    }

    /// InitProducerId v5 for transactional id `id` (a new producer: id and epoch -1),
    /// retrying while the coordinator loads; returns (error, producer id, epoch).
    pub fn init_txn(&mut self, id: &str, timeout_ms: i32) -> (i16, i64, i16) {
        let request = InitProducerIdRequest::default()
            .with_transactional_id(Some(txn_id(id)))
            .with_transaction_timeout_ms(timeout_ms)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
        let (code, (pid, epoch)) = retry_while(COORDINATOR_RETRIABLE, || {
            let r = self.expect_call(versions::INIT_PRODUCER_ID, &request, "InitProducerId");
            (r.error_code, (r.producer_id.0, r.producer_epoch))
        });
        (code, pid, epoch)
    }

    /// [`RawClient::init_txn`] that must succeed (timeout 60 s); returns (producer id, epoch).
    pub fn init_txn_ok(&mut self, id: &str) -> (i64, i16) {
        let (code, pid, epoch) = self.init_txn(id, 60_000);
        assert_eq!(code, codes::NONE, "InitProducerId of transactional id {id}");
        (pid, epoch)
    }

    /// AddPartitionsToTxn v3 of partition 0 of `topic`; returns its error code.
    pub fn add_partition(&mut self, id: &str, pid: i64, epoch: i16, topic: &str) -> i16 {
        let request = AddPartitionsToTxnRequest::default()
            .with_v3_and_below_transactional_id(txn_id(id))
            .with_v3_and_below_producer_id(ProducerId(pid))
            .with_v3_and_below_producer_epoch(epoch)
            .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
                .with_name(topic_name_of(topic))
                .with_partitions(vec![0])]);
        let r = self.expect_call(3, &request, "AddPartitionsToTxn");
        r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code
    }

    /// EndTxn v4, retrying while the coordinator loads (as clients do); returns the error code.
    pub fn end_txn(&mut self, id: &str, pid: i64, epoch: i16, commit: bool) -> i16 {
        let request = EndTxnRequest::default()
            .with_transactional_id(txn_id(id))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_committed(commit);
        retry_while(LOADING, || {
            (self.expect_call(4, &request, "EndTxn").error_code, ())
        })
        .0
    }

    /// AddOffsetsToTxn v3, retrying what clients retry (a coordinator loading or just
    /// created, a transaction still completing); returns the error code.
    pub fn add_offsets(&mut self, id: &str, pid: i64, epoch: i16, group: &str) -> i16 {
        let request = AddOffsetsToTxnRequest::default()
            .with_transactional_id(txn_id(id))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_group_id(GroupId(sb(group)));
        retry_while(COORDINATOR_RETRIABLE, || {
            (
                self.expect_call(3, &request, "AddOffsetsToTxn").error_code,
                (),
            )
        })
        .0
    }

    /// TxnOffsetCommit v3 of `offset` for partition 0 of `topic` (generation -1), retrying
    /// while the group coordinator loads; returns the partition's error code.
    pub fn txn_commit_offset(
        &mut self,
        id: &str,
        group: &str,
        pid: i64,
        epoch: i16,
        topic: &str,
        offset: i64,
    ) -> i16 {
        let request = kafka_protocol::messages::TxnOffsetCommitRequest::default()
            .with_transactional_id(txn_id(id))
            .with_group_id(GroupId(sb(group)))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_generation_id(-1)
            .with_topics(vec![TxnOffsetCommitRequestTopic::default()
                .with_name(topic_name_of(topic))
                .with_partitions(vec![TxnOffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(offset)
                    .with_committed_leader_epoch(-1)])]);
        retry_while(LOADING, || {
            let r = self.expect_call(3, &request, "TxnOffsetCommit");
            (r.topics[0].partitions[0].error_code, ())
        })
        .0
    }

    /// OffsetFetch v7 of partition 0 of `topic`: (error — the group's or the partition's —,
    /// committed offset).
    pub fn fetch_offset(&mut self, group: &str, topic: &str, require_stable: bool) -> (i16, i64) {
        let request = OffsetFetchRequest::default()
            .with_group_id(GroupId(sb(group)))
            .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                .with_name(topic_name_of(topic))
                .with_partition_indexes(vec![0])]))
            .with_require_stable(require_stable);
        let r = self.expect_call(7, &request, "OffsetFetch");
        if r.error_code != codes::NONE {
            return (r.error_code, -1);
        }
        let p = &r.topics[0].partitions[0];
        (p.error_code, p.committed_offset)
    }

    /// DescribeTransactions v0 of one transactional id.
    pub fn describe_txn(&mut self, id: &str) -> DescribeTransactionsResponse {
        let request =
            DescribeTransactionsRequest::default().with_transactional_ids(vec![txn_id(id)]);
        self.expect_call(0, &request, "DescribeTransactions")
    }

    /// The state DescribeTransactions reports for `id` (e.g. `CompleteCommit`).
    pub fn txn_state(&mut self, id: &str) -> String {
        self.describe_txn(id).transaction_states[0]
            .transaction_state
            .to_string()
    }

    /// The transactional ids ListTransactions v1 reports in `state`.
    pub fn listed_in_state(&mut self, state: &str) -> Vec<String> {
        let request = ListTransactionsRequest::default()
            .with_state_filters(vec![sb(state)])
            .with_duration_filter(-1);
        self.expect_call(1, &request, "ListTransactions")
            .transaction_states
            .iter()
            .map(|t| t.transactional_id.0.to_string())
            .collect()
    }

    /// IncrementalAlterConfigs SET of one config of one resource (`resource_type` 2 a topic,
    /// 4 a broker — with an empty name the cluster-wide broker default); returns the
    /// resource's error code.
    pub fn set_config(&mut self, resource_type: i8, name: &str, key: &str, value: &str) -> i16 {
        self.incremental_alter_configs(resource_type, name, &[(key, 0, Some(value))], false)
            .0
    }

    /// CreateTopics v7 of one topic (`assignments`: explicit replicas per partition,
    /// otherwise `partitions` and `replication_factor`); returns (error code, message).
    pub fn create_topic(
        &mut self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        assignments: &[(i32, &[i32])],
        configs: &[(&str, &str)],
        validate_only: bool,
    ) -> (i16, Option<String>) {
        let assignments = assignments.iter().map(|(p, ids)| {
            CreatableReplicaAssignment::default()
                .with_partition_index(*p)
                .with_broker_ids(ids.iter().map(|i| BrokerId(*i)).collect())
        });
        let configs = configs.iter().map(|(k, v)| {
            CreatableTopicConfig::default()
                .with_name(sb(k))
                .with_value(Some(sb(v)))
        });
        let topic = CreatableTopic::default()
            .with_name(topic_name_of(name))
            .with_num_partitions(partitions)
            .with_replication_factor(replication_factor)
            .with_assignments(assignments.collect())
            .with_configs(configs.collect());
        let request = CreateTopicsRequest::default()
            .with_topics(vec![topic])
            .with_timeout_ms(30_000)
            .with_validate_only(validate_only);
        let what = format!("CreateTopics {name}");
        let result = self
            .expect_call(versions::CREATE_TOPICS, &request, &what)
            .topics;
        let result = one(result, &what);
        (
            result.error_code,
            result.error_message.map(|m| m.to_string()),
        )
    }

    /// IncrementalAlterConfigs v1 of one resource: `ops` are (name, operation — 0 SET, 1
    /// DELETE, 2 APPEND, 3 SUBTRACT —, value); returns (error code, message).
    pub fn incremental_alter_configs(
        &mut self,
        resource_type: i8,
        resource_name: &str,
        ops: &[(&str, i8, Option<&str>)],
        validate_only: bool,
    ) -> (i16, Option<String>) {
        let configs = ops.iter().map(|(name, op, value)| {
            AlterableConfig::default()
                .with_name(sb(name))
                .with_config_operation(*op)
                .with_value(value.map(sb))
        });
        let resource = AlterConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(sb(resource_name))
            .with_configs(configs.collect());
        let request = IncrementalAlterConfigsRequest::default()
            .with_resources(vec![resource])
            .with_validate_only(validate_only);
        let what = "IncrementalAlterConfigs";
        let responses = self
            .expect_call(versions::INCREMENTAL_ALTER_CONFIGS, &request, what)
            .responses;
        let r = one(responses, what);
        (r.error_code, r.error_message.map(|m| m.to_string()))
    }

    /// Legacy AlterConfigs v2 of one resource: replaces its dynamic configs with `configs`;
    /// returns (error code, message).
    pub fn alter_configs(
        &mut self,
        resource_type: i8,
        resource_name: &str,
        configs: &[(&str, &str)],
    ) -> (i16, Option<String>) {
        use kafka_protocol::messages::alter_configs_request as legacy;
        let configs = configs.iter().map(|(k, v)| {
            legacy::AlterableConfig::default()
                .with_name(sb(k))
                .with_value(Some(sb(v)))
        });
        let resource = legacy::AlterConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(sb(resource_name))
            .with_configs(configs.collect());
        let request = AlterConfigsRequest::default().with_resources(vec![resource]);
        let r = one(
            self.expect_call(2, &request, "AlterConfigs").responses,
            "AlterConfigs",
        );
        (r.error_code, r.error_message.map(|m| m.to_string()))
    }

    /// DescribeConfigs v4 (synonyms included) of one resource, all its configs or `keys`:
    /// (error code, message, configs by name).
    pub fn describe_configs(
        &mut self,
        resource_type: i8,
        resource_name: &str,
        keys: Option<&[&str]>,
    ) -> (
        i16,
        Option<String>,
        HashMap<String, DescribeConfigsResourceResult>,
    ) {
        let request = DescribeConfigsRequest::default()
            .with_include_synonyms(true)
            .with_resources(vec![DescribeConfigsResource::default()
                .with_resource_type(resource_type)
                .with_resource_name(sb(resource_name))
                .with_configuration_keys(
                    keys.map(|k| k.iter().copied().map(sb).collect()),
                )]);
        let what = "DescribeConfigs";
        let results = self
            .expect_call(versions::DESCRIBE_CONFIGS, &request, what)
            .results;
        let result = one(results, what);
        let configs = result
            .configs
            .into_iter()
            .map(|c| (c.name.to_string(), c))
            .collect();
        (
            result.error_code,
            result.error_message.map(|m| m.to_string()),
            configs,
        )
    }
}

/// The one entry a single-resource request's response holds.
fn one<T>(entries: Vec<T>, what: &str) -> T {
    entries
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("the {what} response has no entry"))
}
