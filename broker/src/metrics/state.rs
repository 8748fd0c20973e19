//! Gauges computed at scrape time from the broker's state: partitions (log size, start
//! and end offsets, high watermark, under-replicated / at-min-ISR / under-min-ISR), the
//! broker (partition and leader counts, active controller, fenced brokers, metadata
//! offsets), log dirs (disk use, offline dirs) and consumer-group lag. Nothing is
//! updated on the hot path for these; each read takes only the lock of the one thing it
//! reads, never one across the scrape.
//!
//! The seam for the cluster: [`PartitionMetricsSource`] is what the scrape asks about
//! hosted partitions. Its implementation for `ReplicaManager` reads each partition's
//! leader, ISR size (the leader's own ISR state) and high watermark from the replica
//! manager and its replicas from the metadata image, so follower replication and ISR
//! changes through AlterPartition show up here without code of their own.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use prometheus::proto::{Gauge, LabelPair, Metric, MetricFamily, MetricType};

use crate::handlers::Broker;
use crate::metadata::MetadataImage;
use crate::replica::ReplicaManager;
use crate::types::TopicPartition;

/// One hosted partition as the scrape sees it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PartitionState {
    pub(crate) tp: TopicPartition,
    /// This broker is the partition's leader.
    pub(crate) leader: bool,
    /// Replicas assigned to the partition.
    pub(crate) replicas: usize,
    /// In-sync replicas, as the leader knows them (meaningful where `leader`).
    pub(crate) isr: usize,
    pub(crate) min_insync_replicas: i32,
    pub(crate) log_size_bytes: u64,
    pub(crate) log_start_offset: i64,
    pub(crate) log_end_offset: i64,
    pub(crate) high_watermark: i64,
    pub(crate) log_dir: Option<PathBuf>,
}

impl PartitionState {
    pub(crate) fn under_replicated(&self) -> bool {
        self.leader && self.isr < self.replicas
    }

    pub(crate) fn under_min_isr(&self) -> bool {
        self.leader && (self.isr as i64) < i64::from(self.min_insync_replicas)
    }

    pub(crate) fn at_min_isr(&self) -> bool {
        self.leader && self.isr as i64 == i64::from(self.min_insync_replicas)
    }
}

/// What the scrape asks about the partitions this broker hosts (see the module header).
pub(crate) trait PartitionMetricsSource {
    fn partition_states(&self, image: &MetadataImage) -> Vec<PartitionState>;
}

impl PartitionMetricsSource for ReplicaManager {
    fn partition_states(&self, image: &MetadataImage) -> Vec<PartitionState> {
        let logs = self.log_manager();
        let mut out = Vec::new();
        for topic in image.topics.values() {
            let mut min_isr: Option<i32> = None;
            for (&index, registration) in &topic.partitions {
                let tp = TopicPartition::new(topic.name.clone(), index);
                let Some(partition) = self.partition(&tp) else {
                    continue;
                };
                let min_insync_replicas =
                    *min_isr.get_or_insert_with(|| self.log_config_for(image, &topic.name).1);
                let log = &partition.log;
                out.push(PartitionState {
                    leader: partition.leader_id() == self.node_id(),
                    replicas: registration.replicas.len(),
                    isr: usize::try_from(partition.isr_len()).unwrap_or(0),
                    min_insync_replicas,
                    log_size_bytes: log.size_bytes(),
                    log_start_offset: log.log_start_offset(),
                    log_end_offset: log.log_end_offset(),
                    high_watermark: partition.high_watermark(),
                    log_dir: logs.log_dir_of(&tp),
                    tp,
                });
            }
        }
        out
    }
}

/// A gauge family built for one scrape.
struct GaugeFamily(MetricFamily);

impl GaugeFamily {
    fn new(name: &str, help: &str) -> Self {
        let mut family = MetricFamily::default();
        family.set_name(name.to_owned());
        family.set_help(help.to_owned());
        family.set_field_type(MetricType::GAUGE);
        GaugeFamily(family)
    }

    fn add(&mut self, labels: &[(&str, &str)], value: f64) {
        let mut metric = Metric::default();
        metric.set_label(
            labels
                .iter()
                .map(|(name, value)| {
                    let mut pair = LabelPair::default();
                    pair.set_name((*name).to_owned());
                    pair.set_value((*value).to_owned());
                    pair
                })
                .collect(),
        );
        let mut gauge = Gauge::default();
        gauge.set_value(value);
        metric.set_gauge(gauge);
        self.0.mut_metric().push(metric);
    }

    fn single(name: &str, help: &str, value: f64) -> MetricFamily {
        let mut family = GaugeFamily::new(name, help);
        family.add(&[], value);
        family.0
    }
}

/// Free and total bytes of the file system holding `dir`, or `None` if it cannot be read.
fn disk_space(dir: &Path) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: `path` is a NUL-terminated string and `stat` a valid out-pointer.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
        return None;
    }
    let fragment = stat.f_frsize as u64;
    Some((
        (stat.f_bavail as u64).saturating_mul(fragment),
        (stat.f_blocks as u64).saturating_mul(fragment),
    ))
}

/// A log dir is offline when it is no longer a readable directory.
pub(crate) fn log_dir_online(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok()
}

/// Every scrape-time family, in a stable order.
pub(crate) fn collect(broker: &Broker) -> Vec<MetricFamily> {
    let image = broker.image();
    let partitions = broker.replicas.partition_states(&image);
    let mut families = Vec::new();
    partition_families(&partitions, &mut families);
    broker_families(broker, &image, &partitions, &mut families);
    log_dir_families(broker, &partitions, &mut families);
    lag_families(broker, &image, &partitions, &mut families);
    // A family without samples (no partitions, no committed offsets yet) is left out, as
    // the registry's own families are: the text encoder refuses an empty one.
    families.retain(|family| !family.get_metric().is_empty());
    families
}

fn partition_families(partitions: &[PartitionState], out: &mut Vec<MetricFamily>) {
    let mut size = GaugeFamily::new(
        "kafka_log_log_size",
        "Bytes of a partition's log on this broker (Log.Size).",
    );
    let mut start = GaugeFamily::new(
        "kafka_log_log_logstartoffset",
        "First offset of a partition's log (Log.LogStartOffset).",
    );
    let mut end = GaugeFamily::new(
        "kafka_log_log_logendoffset",
        "Log end offset of a partition's log on this broker (Log.LogEndOffset).",
    );
    let mut hw = GaugeFamily::new(
        "ironlog_partition_high_watermark",
        "High watermark of a partition this broker hosts.",
    );
    let mut under = GaugeFamily::new("kafka_cluster_partition_underreplicated", "1 if a partition this broker leads has fewer in-sync replicas than replicas (Partition.UnderReplicated).");
    let mut under_min = GaugeFamily::new("kafka_cluster_partition_underminisr", "1 if a partition this broker leads has fewer in-sync replicas than min.insync.replicas (Partition.UnderMinIsr).");
    let mut at_min = GaugeFamily::new("kafka_cluster_partition_atminisr", "1 if a partition this broker leads has exactly min.insync.replicas in-sync replicas (Partition.AtMinIsr).");
    let mut current = GaugeFamily::new(
        "kafka_topic_partition_current_offset",
        "High watermark of a partition this broker leads (kafka-exporter's newest offset).",
    );
    let mut oldest = GaugeFamily::new(
        "kafka_topic_partition_oldest_offset",
        "Log start offset of a partition this broker leads (kafka-exporter's oldest offset).",
    );
    for p in partitions {
        let index = p.tp.partition.to_string();
        let labels = [
            ("topic", p.tp.topic.as_str()),
            ("partition", index.as_str()),
        ];
        size.add(&labels, p.log_size_bytes as f64);
        start.add(&labels, p.log_start_offset as f64);
        end.add(&labels, p.log_end_offset as f64);
        hw.add(&labels, p.high_watermark as f64);
        if p.leader {
            under.add(&labels, f64::from(u8::from(p.under_replicated())));
            under_min.add(&labels, f64::from(u8::from(p.under_min_isr())));
            at_min.add(&labels, f64::from(u8::from(p.at_min_isr())));
            current.add(&labels, p.high_watermark as f64);
            oldest.add(&labels, p.log_start_offset as f64);
        }
    }
    out.extend(
        [
            size, start, end, hw, under, under_min, at_min, current, oldest,
        ]
        .into_iter()
        .map(|f| f.0),
    );
}

fn broker_families(
    broker: &Broker,
    image: &MetadataImage,
    partitions: &[PartitionState],
    out: &mut Vec<MetricFamily>,
) {
    let count = |f: fn(&PartitionState) -> bool| partitions.iter().filter(|p| f(p)).count() as f64;
    out.push(GaugeFamily::single(
        "kafka_server_replicamanager_partitioncount",
        "Partitions hosted by this broker (ReplicaManager.PartitionCount).",
        partitions.len() as f64,
    ));
    out.push(GaugeFamily::single(
        "kafka_server_replicamanager_leadercount",
        "Partitions this broker leads (ReplicaManager.LeaderCount).",
        count(|p| p.leader),
    ));
    out.push(GaugeFamily::single("kafka_server_replicamanager_underreplicatedpartitions", "Partitions this broker leads with fewer in-sync replicas than replicas (ReplicaManager.UnderReplicatedPartitions).", count(PartitionState::under_replicated)));
    out.push(GaugeFamily::single("kafka_server_replicamanager_underminisrpartitioncount", "Partitions this broker leads below min.insync.replicas (ReplicaManager.UnderMinIsrPartitionCount).", count(PartitionState::under_min_isr)));
    out.push(GaugeFamily::single("kafka_server_replicamanager_atminisrpartitioncount", "Partitions this broker leads at exactly min.insync.replicas (ReplicaManager.AtMinIsrPartitionCount).", count(PartitionState::at_min_isr)));

    out.push(GaugeFamily::single(
        "kafka_server_authorizer_metrics_acls",
        "ACL bindings in this broker's metadata image (acls-total-count).",
        image.acls.len() as f64,
    ));

    // Controller metrics: as in Kafka, only the active controller reports the cluster's
    // counts (others report 0), so a sum over brokers is the cluster's value.
    let active = broker.quorum.is_active_controller();
    let if_active = |v: usize| if active { v as f64 } else { 0.0 };
    let all_partitions = image.topics.values().flat_map(|t| t.partitions.values());
    let offline = all_partitions.clone().filter(|p| p.leader < 0).count();
    let global_partitions = all_partitions.count();
    let fenced = image.brokers.values().filter(|b| b.fenced).count();
    out.push(GaugeFamily::single(
        "kafka_controller_kafkacontroller_activecontrollercount",
        "1 on the active controller, else 0 (KafkaController.ActiveControllerCount).",
        f64::from(u8::from(active)),
    ));
    out.push(GaugeFamily::single("kafka_controller_kafkacontroller_offlinepartitionscount", "Partitions without a leader, on the active controller (KafkaController.OfflinePartitionsCount).", if_active(offline)));
    out.push(GaugeFamily::single("kafka_controller_kafkacontroller_globalpartitioncount", "Partitions in the cluster, on the active controller (KafkaController.GlobalPartitionCount).", if_active(global_partitions)));
    out.push(GaugeFamily::single(
        "kafka_controller_kafkacontroller_globaltopiccount",
        "Topics in the cluster, on the active controller (KafkaController.GlobalTopicCount).",
        if_active(image.topics.len()),
    ));
    out.push(GaugeFamily::single("kafka_controller_kafkacontroller_fencedbrokercount", "Registered brokers that are fenced, on the active controller (KafkaController.FencedBrokerCount).", if_active(fenced)));
    out.push(GaugeFamily::single("kafka_controller_kafkacontroller_activebrokercount", "Registered brokers that are not fenced, on the active controller (KafkaController.ActiveBrokerCount).", if_active(image.brokers.len() - fenced)));
    out.push(GaugeFamily::single(
        "kafka_server_raft_metrics_high_watermark",
        "Committed offset of the metadata log as this node knows it (raft-metrics high-watermark).",
        image.offset as f64,
    ));
    out.push(GaugeFamily::single("kafka_server_broker_metadata_metrics_last_applied_record_offset", "Offset of the last metadata record applied to this broker's partitions (broker-metadata-metrics last-applied-record-offset).", broker.replicas.applied_offset() as f64));
    let mut info = GaugeFamily::new(
        "ironlog_broker_info",
        "1, labelled with this broker's id and version.",
    );
    info.add(
        &[
            ("node_id", &broker.node_id.to_string()),
            ("version", env!("CARGO_PKG_VERSION")),
        ],
        1.0,
    );
    out.push(info.0);
}

fn log_dir_families(broker: &Broker, partitions: &[PartitionState], out: &mut Vec<MetricFamily>) {
    let mut used: BTreeMap<&Path, u64> = BTreeMap::new();
    for p in partitions {
        if let Some(dir) = &p.log_dir {
            *used.entry(dir.as_path()).or_default() += p.log_size_bytes;
        }
    }
    let dirs = broker.replicas.log_manager().log_dirs();
    let mut free = GaugeFamily::new(
        "ironlog_log_dir_free_bytes",
        "Bytes available to the broker on a log dir's file system.",
    );
    let mut total = GaugeFamily::new(
        "ironlog_log_dir_total_bytes",
        "Size in bytes of a log dir's file system.",
    );
    let mut logs = GaugeFamily::new(
        "ironlog_log_dir_partitions_bytes",
        "Bytes of the partition logs in a log dir.",
    );
    let mut offline = 0usize;
    for dir in &dirs {
        let name = dir.display().to_string();
        let labels = [("dir", name.as_str())];
        if !log_dir_online(dir) {
            offline += 1;
        }
        if let Some((available, size)) = disk_space(dir) {
            free.add(&labels, available as f64);
            total.add(&labels, size as f64);
        }
        logs.add(
            &labels,
            used.get(dir.as_path()).copied().unwrap_or(0) as f64,
        );
    }
    out.extend([free.0, total.0, logs.0]);
    out.push(GaugeFamily::single(
        "kafka_log_logmanager_offlinelogdirectorycount",
        "Log dirs that are not readable directories (LogManager.OfflineLogDirectoryCount).",
        offline as f64,
    ));
}

/// Consumer lag as kafka-exporter computes it: per group and partition, the partition's
/// newest offset (the high watermark: what ListOffsets answers and kafka-consumer-groups
/// shows as LOG-END-OFFSET) minus the group's committed offset. Groups coordinated here,
/// partitions hosted here. (kafka-exporter's `kafka_consumergroup_lag_sum` is
/// `sum by (consumergroup, topic) (kafka_consumergroup_lag)`: a gauge ending in `_sum`
/// reads as a histogram's to Prometheus tooling.)
fn lag_families(
    broker: &Broker,
    image: &MetadataImage,
    partitions: &[PartitionState],
    out: &mut Vec<MetricFamily>,
) {
    let newest: HashMap<&TopicPartition, i64> = partitions
        .iter()
        .map(|p| (&p.tp, p.high_watermark))
        .collect();
    let mut committed = GaugeFamily::new(
        "kafka_consumergroup_current_offset",
        "Offset a consumer group committed for a partition.",
    );
    let mut lag = GaugeFamily::new("kafka_consumergroup_lag", "Records a consumer group has yet to consume in a partition: the high watermark minus the committed offset.");
    let mut offsets = broker.groups.committed_offsets();
    offsets.sort();
    for (group, tp, offset) in &offsets {
        if offset < &0 || !image.has_partition(&tp.topic, tp.partition) {
            continue;
        }
        let Some(&hw) = newest.get(tp) else {
            continue;
        };
        let index = tp.partition.to_string();
        let labels = [
            ("consumergroup", group.as_str()),
            ("topic", tp.topic.as_str()),
            ("partition", index.as_str()),
        ];
        let behind = hw - offset;
        committed.add(&labels, *offset as f64);
        lag.add(&labels, behind as f64);
    }
    out.extend([committed.0, lag.0]);
}
