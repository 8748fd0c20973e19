//! A version upgrade N → N+1 against the real control plane with the test kit's node
//! agent running each pod as a real `ironlog` process and the real operator binary, as a
//! Strimzi user does it: a three-broker cluster created at `metadataVersion: 3.9-IV0`
//! runs there (the brokers' ApiVersions, in `status.metadataVersion`); its `version`
//! changed and changed back rolls the brokers both ways while the metadata version stays
//! (a downgrade before finalization); then the new version with `metadataVersion:
//! 4.1-IV1` rolls again, and the metadata version is finalized only after the roll — never
//! while it is under way — with an Event; a lower `metadataVersion` after that is refused
//! in the condition and changes nothing.

mod common;

use std::time::Duration;

use ironlog_operator::crd::KafkaCluster;
use ironlog_testkit::control_plane::ControlPlaneSpec;
use kube::api::Api;

use common::cluster::{condition, OperatorEnv};
use common::{wait_until, wait_until_saying};

const SPEC: ControlPlaneSpec = ControlPlaneSpec {
    controller_manager: true,
    scheduler: true,
};
const CLUSTER: &str = "upgrader";
const ZONES: [&str; 3] = ["zone-a", "zone-b", "zone-c"];
/// From apply to Ready on a loaded machine.
const READY_TIMEOUT: Duration = Duration::from_secs(300);
/// A whole roll of three brokers.
const ROLL_TIMEOUT: Duration = Duration::from_secs(600);
/// A condition written after a change that needs no restart.
const STEP_TIMEOUT: Duration = Duration::from_secs(120);

fn cluster_manifest(version: &str, metadata_version: &str) -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "ironlog.dev/v1alpha1",
        "kind": "KafkaCluster",
        "metadata": {"name": CLUSTER},
        "spec": {
            "version": version,
            "metadataVersion": metadata_version,
            "nodePools": [{
                "name": "combined",
                "replicas": 3,
                "roles": ["broker", "controller"],
                "storage": {"size": "1Gi"},
            }],
            "listeners": [{"name": "PLAINTEXT", "port": 9092, "type": "internal"}],
            "config": {
                "default.replication.factor": "3",
                "min.insync.replicas": "2",
                "offsets.topic.replication.factor": "3",
            },
        }
    })
}

fn metadata_version(cluster: &KafkaCluster) -> Option<String> {
    cluster.status.as_ref()?.metadata_version.clone()
}

/// Waits until the status at the current generation is Ready, not rolling, and its
/// MetadataVersion condition has `reason`; returns that status.
async fn settled(
    clusters: &Api<KafkaCluster>,
    timeout: Duration,
    reason: &str,
    what: &str,
) -> KafkaCluster {
    let last = std::sync::Mutex::new(String::new());
    wait_until_saying(
        timeout,
        || format!("{what} (last status: {})", last.lock().unwrap()),
        || async {
            let cluster = clusters.get(CLUSTER).await.ok()?;
            *last.lock().unwrap() = serde_json::to_string(&cluster.status).unwrap_or_default();
            let generation = cluster.metadata.generation?;
            let (ready, _, _, at) = condition(&cluster, "Ready")?;
            let (rolling, _, _, rolling_at) = condition(&cluster, "Rolling")?;
            let (_, mv_reason, _, mv_at) = condition(&cluster, "MetadataVersion")?;
            (ready == "True"
                && at == generation
                && rolling == "False"
                && rolling_at == generation
                && mv_reason == reason
                && mv_at == generation)
                .then_some(cluster)
        },
    )
    .await
}

/// Waits for a status at the current generation that shows the roll under way.
async fn rolling(clusters: &Api<KafkaCluster>, what: &str) -> KafkaCluster {
    wait_until(ROLL_TIMEOUT, what, || async {
        let cluster = clusters.get(CLUSTER).await.ok()?;
        let generation = cluster.metadata.generation?;
        let (rolling, _, _, at) = condition(&cluster, "Rolling")?;
        (rolling == "True" && at == generation).then_some(cluster)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_upgrade_rolls_first_and_finalizes_the_metadata_version_after() {
    let env = OperatorEnv::start(SPEC, "upgrade", &ZONES).await;
    let (client, ns) = (&env.client, &env.ns);
    let clusters: Api<KafkaCluster> = Api::namespaced(client.clone(), ns);

    // a new cluster starts at the spec's metadata version
    common::apply(client, ns, &cluster_manifest("0.1.0", "3.9-IV0"))
        .await
        .expect("the KafkaCluster is accepted");
    let created = settled(
        &clusters,
        READY_TIMEOUT,
        "Finalized",
        "the new cluster is Ready at 3.9-IV0",
    )
    .await;
    assert_eq!(
        metadata_version(&created).as_deref(),
        Some("3.9-IV0"),
        "the brokers were bootstrapped at the spec's metadata version"
    );

    // the new version and back, before any finalization: both ways roll and run
    for (version, step) in [("0.2.0", "upgraded"), ("0.1.0", "downgraded again")] {
        common::apply(client, ns, &cluster_manifest(version, "3.9-IV0"))
            .await
            .expect("the version change is accepted");
        rolling(&clusters, &format!("a roll to {version} starts")).await;
        let rolled = settled(
            &clusters,
            ROLL_TIMEOUT,
            "Finalized",
            &format!("the cluster {step} to {version} is Ready and rolled"),
        )
        .await;
        assert_eq!(
            metadata_version(&rolled).as_deref(),
            Some("3.9-IV0"),
            "a version change alone leaves the metadata version ({step})"
        );
    }

    // the upgrade: roll first, finalize after
    common::apply(client, ns, &cluster_manifest("0.2.0", "4.1-IV1"))
        .await
        .expect("the upgrade is accepted");
    let during = wait_until(
        ROLL_TIMEOUT,
        "the roll to 0.2.0 runs and the metadata version waits for it",
        || async {
            let cluster = clusters.get(CLUSTER).await.ok()?;
            let generation = cluster.metadata.generation?;
            let (rolling, _, _, at) = condition(&cluster, "Rolling")?;
            let (_, reason, _, mv_at) = condition(&cluster, "MetadataVersion")?;
            (rolling == "True" && at == generation && reason == "Waiting" && mv_at == generation)
                .then_some(cluster)
        },
    )
    .await;
    let (_, _, message, _) =
        condition(&during, "MetadataVersion").expect("a MetadataVersion condition");
    assert_eq!(
        metadata_version(&during).as_deref(),
        Some("3.9-IV0"),
        "nothing is finalized while the roll runs: {message}"
    );
    assert!(
        message.contains("4.1-IV1 is finalized once the roll is done"),
        "the condition says what it waits for: {message}"
    );
    // every status written while the roll runs keeps the old version
    let finalized = wait_until(ROLL_TIMEOUT, "4.1-IV1 is finalized", || async {
        let cluster = clusters.get(CLUSTER).await.ok()?;
        let (rolling, _, _, _) = condition(&cluster, "Rolling")?;
        let version = metadata_version(&cluster);
        if rolling == "True" {
            assert_eq!(
                version.as_deref(),
                Some("3.9-IV0"),
                "finalized while the roll was under way"
            );
        }
        (version.as_deref() == Some("4.1-IV1")).then_some(cluster)
    })
    .await;
    let (rolling_status, _, _, _) = condition(&finalized, "Rolling").expect("Rolling");
    assert_eq!(rolling_status, "False", "finalized only after the roll");
    let (status, reason, message, _) =
        condition(&finalized, "MetadataVersion").expect("a MetadataVersion condition");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("True", "Finalized"),
        "{message}"
    );
    let note = common::event(client, ns, CLUSTER, "MetadataVersionFinalized").await;
    assert!(
        note.contains("4.1-IV1") && note.contains("3.9-IV0"),
        "the Event names both versions: {note}"
    );

    // no way back below a finalized version: the condition says so, nothing changes
    common::apply(client, ns, &cluster_manifest("0.2.0", "3.9-IV0"))
        .await
        .expect("the lower metadataVersion is accepted by the schema");
    let refused = settled(
        &clusters,
        STEP_TIMEOUT,
        "DowngradeRefused",
        "the lower metadata version is refused",
    )
    .await;
    let (status, _, message, _) =
        condition(&refused, "MetadataVersion").expect("a MetadataVersion condition");
    assert_eq!(status, "False");
    assert!(
        message.contains("Kafka refuses metadata.version downgrades"),
        "the condition says why: {message}"
    );
    assert_eq!(metadata_version(&refused).as_deref(), Some("4.1-IV1"));
}
