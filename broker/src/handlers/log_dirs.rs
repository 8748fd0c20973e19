//! DescribeLogDirs: per log dir, the hosted partitions with their sizes, plus the dir's
//! total and usable bytes (v4+).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName};

use super::{str_bytes, Broker, RequestContext};
use crate::error::ResponseError;
use crate::security::acl::AclOperation;
use crate::types::TopicPartition;

pub(super) async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: DescribeLogDirsRequest,
) -> DescribeLogDirsResponse {
    // As Kafka: DESCRIBE on the cluster, else no dirs and CLUSTER_AUTHORIZATION_FAILED.
    if !broker.authz(ctx).allows_cluster(AclOperation::Describe) {
        return DescribeLogDirsResponse::default()
            .with_error_code(ResponseError::ClusterAuthorizationFailed.code());
    }
    let logs = Arc::clone(broker.replicas.log_manager());
    let wanted: Option<std::collections::HashSet<TopicPartition>> = request.topics.map(|topics| {
        topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(move |&p| TopicPartition::new(t.topic.0.to_string(), p))
            })
            .collect()
    });
    let computed = tokio::task::spawn_blocking(move || {
        let mut by_dir: BTreeMap<PathBuf, BTreeMap<String, Vec<(i32, u64)>>> = BTreeMap::new();
        for dir in logs.log_dirs() {
            by_dir.entry(dir).or_default();
        }
        for (tp, log) in logs.all() {
            if wanted.as_ref().is_some_and(|w| !w.contains(&tp)) {
                continue;
            }
            let Some(dir) = logs.log_dir_of(&tp) else {
                continue;
            };
            by_dir
                .entry(dir)
                .or_default()
                .entry(tp.topic.clone())
                .or_default()
                .push((tp.partition, log.size_bytes()));
        }
        by_dir
            .into_iter()
            .map(|(dir, topics)| {
                let (total, usable) = disk_space(&dir).unwrap_or((-1, -1));
                (dir, topics, total, usable)
            })
            .collect::<Vec<_>>()
    })
    .await;
    let mut response = DescribeLogDirsResponse::default();
    let Ok(dirs) = computed else {
        response.error_code = ResponseError::UnknownServerError.code();
        return response;
    };
    for (dir, topics, total, usable) in dirs {
        let mut r = DescribeLogDirsResult::default();
        r.log_dir = str_bytes(&dir.to_string_lossy());
        r.total_bytes = total;
        r.usable_bytes = usable;
        for (name, mut partitions) in topics {
            partitions.sort_unstable();
            let mut t = DescribeLogDirsTopic::default();
            t.name = TopicName(str_bytes(&name));
            for (index, size) in partitions {
                let mut p = DescribeLogDirsPartition::default();
                p.partition_index = index;
                p.partition_size = size as i64;
                p.offset_lag = 0;
                t.partitions.push(p);
            }
            r.topics.push(t);
        }
        response.results.push(r);
    }
    response
}

/// (total bytes, usable bytes) of the file system holding `dir`.
fn disk_space(dir: &Path) -> Option<(i64, i64)> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: c_path is a valid NUL-terminated string and stat a valid out-pointer.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) };
    if rc != 0 {
        return None;
    }
    let block = stat.f_frsize as i64;
    Some((stat.f_blocks as i64 * block, stat.f_bavail as i64 * block))
}
