//! Unit-test helpers: a KafkaCluster as the API server would hand it over, and snapshot
//! files (`operator/src/cluster/snapshots/`; `UPDATE_SNAPSHOTS=1` writes them anew).

use std::path::PathBuf;

use crate::crd::kafka_cluster::{
    KafkaClusterSpec, ListenerAuthentication, ListenerSpec, ListenerType, NodePool, NodeRole,
    StorageSpec,
};
use crate::crd::KafkaCluster;

/// `kafka/demo`: three combined nodes, one PLAINTEXT listener, RF 3 settings.
pub fn cluster() -> KafkaCluster {
    let mut cluster = KafkaCluster::new(
        "demo",
        KafkaClusterSpec {
            image: None,
            version: Some("0.1.0".to_string()),
            metadata_version: None,
            node_pools: vec![NodePool {
                name: "combined".to_string(),
                replicas: 3,
                node_id_start: None,
                roles: vec![NodeRole::Broker, NodeRole::Controller],
                storage: StorageSpec {
                    size: "10Gi".to_string(),
                    storage_class_name: None,
                    delete_claim: false,
                },
                resources: None,
                rack_topology_key: None,
            }],
            listeners: vec![ListenerSpec {
                name: "plaintext".to_string(),
                port: 9092,
                type_: ListenerType::Internal,
                tls: false,
                authentication: ListenerAuthentication::default(),
            }],
            config: [
                ("default.replication.factor", "3"),
                ("min.insync.replicas", "2"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            authorization: None,
            metrics: None,
            pod_template: None,
            balancing: None,
        },
    );
    cluster.metadata.namespace = Some("kafka".to_string());
    cluster.metadata.uid = Some("6f1c2a4e-3b5d-4c7e-8f90-a1b2c3d4e5f6".to_string());
    cluster.metadata.generation = Some(1);
    cluster
}

/// Compares `text` with the snapshot file `name`; writes it when `UPDATE_SNAPSHOTS=1`.
pub fn snapshot(name: &str, text: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("src/cluster/snapshots")
        .join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().expect("a snapshot dir")).expect("snapshot dir");
        std::fs::write(&path, text).expect("snapshot written");
        return;
    }
    let stored = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "no snapshot {} ({e}): run with UPDATE_SNAPSHOTS=1 and review the file",
            path.display()
        )
    });
    if stored != text {
        let first = stored
            .lines()
            .zip(text.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| stored.lines().count().min(text.lines().count()));
        panic!(
            "{} differs from what is built now, first at line {}:\n  stored: {}\n  built:  {}\n\
             (UPDATE_SNAPSHOTS=1 writes the new one; review the diff before committing)",
            path.display(),
            first + 1,
            stored.lines().nth(first).unwrap_or("<end>"),
            text.lines().nth(first).unwrap_or("<end>"),
        );
    }
}
