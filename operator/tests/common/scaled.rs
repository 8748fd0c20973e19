//! The balancer's control-plane tests' cluster (`balance_scale_out`, `balance_scale_in`):
//! one controller and a broker pool of a given size, a topic of {PARTITIONS} partitions
//! at RF 3, acks=all records produced and read back, a consumer group's offsets committed
//! (so `__consumer_offsets` exists, as on any cluster in use), the replicas Metadata lists.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use ironlog_operator::crd::KafkaCluster;
use ironlog_testkit::node_agent::NodeAgent;
use ironlog_testkit::{assign, consumer_for, producer_for, BootstrapServers, KafkaClients};
use kube::api::Api;
use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::FutureRecord;
use rdkafka::{Offset, TopicPartitionList};

use super::{apply, wait_until};

pub const PARTITIONS: i32 = 8;
pub const RECORDS: usize = 400;
pub const ZONES: [&str; 3] = ["zone-a", "zone-b", "zone-c"];
/// From apply to Ready on a loaded machine.
pub const READY_TIMEOUT: Duration = Duration::from_secs(300);
/// One client step (records produced, a partition read to its end).
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// A KafkaCluster named `cluster` holding Topic `topic`.
#[derive(Clone, Copy)]
pub struct Scaled {
    pub cluster: &'static str,
    pub topic: &'static str,
}

/// The condition's (status, observedGeneration).
pub fn condition(cluster: &KafkaCluster, type_: &str) -> Option<(String, i64)> {
    super::cluster::condition(cluster, type_).map(|(status, _, _, at)| (status, at))
}

impl Scaled {
    pub fn cluster_manifest(&self, brokers: i32) -> serde_json::Value {
        serde_json::json!({
            "apiVersion": "ironlog.dev/v1alpha1",
            "kind": "KafkaCluster",
            "metadata": {"name": self.cluster},
            "spec": {
                "version": "0.1.0",
                // the quorum's voters are fixed (a combined pool cannot grow): the brokers'
                // pool is the one scaled
                "nodePools": [{
                    "name": "controllers",
                    "replicas": 1,
                    "nodeIdStart": 0,
                    "roles": ["controller"],
                    "storage": {"size": "1Gi"},
                }, {
                    "name": "brokers",
                    "replicas": brokers,
                    "nodeIdStart": 1,
                    "roles": ["broker"],
                    "storage": {"size": "1Gi"},
                }],
                "listeners": [{"name": "PLAINTEXT", "port": 9092, "type": "internal"}],
                "config": {
                    "default.replication.factor": "3",
                    "min.insync.replicas": "2",
                    "offsets.topic.replication.factor": "3",
                    "transaction.state.log.replication.factor": "3",
                    "transaction.state.log.min.isr": "2",
                },
            }
        })
    }

    pub fn topic_manifest(&self) -> serde_json::Value {
        serde_json::json!({
            "apiVersion": "ironlog.dev/v1alpha1",
            "kind": "Topic",
            "metadata": {"name": self.topic},
            "spec": {
                "clusterRef": {"name": self.cluster},
                "partitions": PARTITIONS,
                "replicationFactor": 3,
                "config": {"min.insync.replicas": "2"},
            }
        })
    }

    /// The cluster's bootstrap address, as clients in its network reach it.
    pub fn bootstrap(&self, ns: &str) -> String {
        format!("{}-bootstrap.{ns}.svc:9092", self.cluster)
    }

    /// Applies the cluster with `brokers` brokers in `ns`, waits until it is Ready, applies
    /// its Topic and, once the topic's partitions are listed, produces to it from the
    /// cluster's network and commits a group's offsets ([`Scaled::commit_group_offsets`]):
    /// the acknowledged records' values.
    pub async fn start_and_produce(
        &self,
        client: &kube::Client,
        ns: &str,
        agent: &NodeAgent,
        brokers: i32,
    ) -> Vec<String> {
        let clusters: Api<KafkaCluster> = Api::namespaced(client.clone(), ns);
        apply(client, ns, &self.cluster_manifest(brokers))
            .await
            .expect("the KafkaCluster is accepted");
        self.ready(&clusters, &format!("the {brokers}-broker cluster is Ready"))
            .await;
        apply(client, ns, &self.topic_manifest())
            .await
            .expect("the Topic is accepted");
        let (scaled, bootstrap) = (*self, self.bootstrap(ns));
        tokio::task::block_in_place(|| {
            agent.on_cluster_thread("client", move || {
                BootstrapServers(bootstrap.clone()).wait_for_topic(scaled.topic, PARTITIONS);
                let acked = scaled.produce_acked(&bootstrap);
                scaled.commit_group_offsets(&bootstrap);
                acked
            })
        })
    }

    /// Waits until the cluster is Ready at its current generation.
    pub async fn ready(&self, clusters: &Api<KafkaCluster>, what: &str) {
        wait_until(READY_TIMEOUT, what, || async {
            let cluster = clusters.get(self.cluster).await.ok()?;
            let generation = cluster.metadata.generation?;
            let (ready, at) = condition(&cluster, "Ready")?;
            (ready == "True" && at == generation).then_some(())
        })
        .await;
    }

    /// `RECORDS` records produced with acks=all, each acknowledged; their values.
    pub fn produce_acked(&self, bootstrap: &str) -> Vec<String> {
        let producer = producer_for(
            bootstrap,
            &[("acks", "all"), ("enable.idempotence", "true")],
        );
        let values: Vec<String> = (0..RECORDS).map(|i| format!("record-{i}")).collect();
        ironlog_testkit::block_on(async {
            for (i, v) in values.iter().enumerate() {
                let key = i.to_string();
                producer
                    .send(
                        FutureRecord::to(self.topic).key(&key).payload(v),
                        CLIENT_TIMEOUT,
                    )
                    .await
                    .unwrap_or_else(|(e, _)| panic!("record {i} was not acknowledged: {e}"));
            }
        });
        values
    }

    /// Commits an offset of the topic for a consumer group, retried until the group
    /// coordinator (and with it `__consumer_offsets`, 50 partitions at RF 3 here) is there:
    /// the balancer then weighs an internal topic beside the test's, as on a real cluster.
    pub fn commit_group_offsets(&self, bootstrap: &str) {
        let consumer = consumer_for(bootstrap, &[("group.id", "scaled-offsets")]);
        let mut offsets = TopicPartitionList::new();
        offsets
            .add_partition_offset(self.topic, 0, Offset::Offset(1))
            .expect("a valid offset");
        let deadline = Instant::now() + CLIENT_TIMEOUT;
        loop {
            match consumer.commit(&offsets, CommitMode::Sync) {
                Ok(()) => return,
                Err(e) => assert!(
                    Instant::now() < deadline,
                    "the group's offsets were not committed within {CLIENT_TIMEOUT:?}: {e}"
                ),
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Every value in the topic's partitions, each read to its end.
    pub fn records_in(&self, bootstrap: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        for partition in 0..PARTITIONS {
            let consumer = consumer_for(bootstrap, &[]);
            assign(&consumer, self.topic, partition, Offset::Beginning);
            let deadline = Instant::now() + CLIENT_TIMEOUT;
            loop {
                assert!(
                    Instant::now() < deadline,
                    "partition {partition} of {} did not reach its end within {CLIENT_TIMEOUT:?}",
                    self.topic
                );
                match consumer.poll(Duration::from_millis(500)) {
                    Some(Ok(m)) => {
                        if let Some(v) = m.payload_view::<str>().and_then(Result::ok) {
                            seen.insert(v.to_string());
                        }
                    }
                    Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => break,
                    Some(Err(e)) => panic!("consuming {}-{partition}: {e}", self.topic),
                    None => {}
                }
            }
            consumer.unassign().ok();
        }
        seen
    }

    /// Every partition's replicas, as Metadata lists them.
    pub fn replicas_of(&self, bootstrap: &str) -> Option<BTreeMap<i32, Vec<i32>>> {
        let consumer = BootstrapServers(bootstrap.to_string()).consumer();
        let metadata = consumer
            .fetch_metadata(Some(self.topic), Duration::from_secs(10))
            .ok()?;
        let topic = metadata.topics().first()?;
        (topic.partitions().len() == PARTITIONS as usize).then(|| {
            topic
                .partitions()
                .iter()
                .map(|p| (p.id(), p.replicas().to_vec()))
                .collect()
        })
    }

    /// Replicas per broker of the topic, as Metadata lists them.
    pub fn replica_counts(&self, bootstrap: &str) -> Option<BTreeMap<i32, usize>> {
        let consumer = BootstrapServers(bootstrap.to_string()).consumer();
        let metadata = consumer
            .fetch_metadata(Some(self.topic), Duration::from_secs(10))
            .ok()?;
        let mut counts: BTreeMap<i32, usize> =
            metadata.brokers().iter().map(|b| (b.id(), 0)).collect();
        for p in metadata.topics().first()?.partitions() {
            for &b in p.replicas() {
                *counts.entry(b).or_default() += 1;
            }
        }
        Some(counts)
    }
}
