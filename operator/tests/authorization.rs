//! A KafkaCluster with `spec.authorization` against a real control plane, with the test
//! kit's node agent running the pods as real `ironlog` processes and the real operator
//! binary in the cluster's network: three brokers run the ACL authorizer and talk to each
//! other over mTLS with the cluster CA's node certificates; a User's ACLs are enforced for
//! a real client (TOPIC_ / GROUP_AUTHORIZATION_FAILED outside them), a super user from the
//! spec may do everything, Topic CRs converge (replicated three ways) through the
//! operator's own certificate, which no pod mounts, and the REPLICATION listener refuses a
//! client without a certificate of the cluster CA.

mod common;

use std::time::Duration;

use ironlog_operator::crd::KafkaCluster;
use ironlog_testkit::control_plane::ControlPlaneSpec;
use kube::api::Api;
use serde_json::json;

use common::cluster::OperatorEnv;
use common::secured::{client_script, resource_ready, secret_data, user_ready};
use common::{apply, wait_until};

const SPEC: ControlPlaneSpec = ControlPlaneSpec {
    controller_manager: true,
    scheduler: true,
};
/// How long the cluster may take from apply to Ready on a loaded machine.
const READY_TIMEOUT: Duration = Duration::from_secs(300);
const GUARDED: &str = "guarded";
const GUARDED_SCRAM_PORT: u16 = 9095;

fn guarded_manifest() -> serde_json::Value {
    json!({
        "apiVersion": "ironlog.dev/v1alpha1",
        "kind": "KafkaCluster",
        "metadata": {"name": GUARDED},
        "spec": {
            "version": "0.1.0",
            "nodePools": [{
                "name": "combined", "replicas": 3, "roles": ["broker", "controller"],
                "storage": {"size": "1Gi"}
            }],
            "listeners": [
                {"name": "scram", "port": GUARDED_SCRAM_PORT, "type": "internal",
                 "authentication": {"type": "scram-sha-512"}}
            ],
            "authorization": {"type": "simple", "superUsers": ["User:admin"]},
            "config": {"min.insync.replicas": "2"}
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_authorization_user_acls_are_enforced_and_the_operator_keeps_working() {
    let env = OperatorEnv::start(SPEC, "authz", &["zone-a"]).await;
    let (client, ns, agent) = (&env.client, &env.ns, &env.agent);
    apply(client, ns, &guarded_manifest())
        .await
        .expect("the API server takes the cluster with authorization");
    // Ready: three nodes that formed their quorum and registered over mTLS
    let ready_generation = {
        let api: Api<KafkaCluster> = Api::namespaced(client.clone(), ns);
        wait_until(READY_TIMEOUT, "KafkaCluster guarded Ready", || {
            let api = api.clone();
            async move {
                let cluster = api.get(GUARDED).await.ok()?;
                let generation = cluster.metadata.generation?;
                let status = cluster.status?;
                let ready = ironlog_operator::cluster::reconcile::condition(&status, "Ready")?;
                (ready.status == "True" && status.observed_generation == Some(generation))
                    .then_some(generation)
            }
        })
        .await
    };

    // the operator's identity is its own Secret, mounted into no pod
    let operator_cert = secret_data(client, ns, "guarded-operator-cert").await;
    let keys: Vec<&str> = operator_cert.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["ca.crt", "tls.crt", "tls.key"],
        "the operator's Secret"
    );
    for pod in common::cluster::pods(client, ns, GUARDED).await {
        let mounted: Vec<String> = pod
            .spec
            .iter()
            .flat_map(|s| s.volumes.iter().flatten())
            .filter_map(|v| v.secret.as_ref()?.secret_name.clone())
            .collect();
        assert!(
            !mounted.iter().any(|m| m == "guarded-operator-cert"),
            "pod {:?} mounts the operator's certificate: {mounted:?}",
            pod.metadata.name
        );
    }

    // Topic CRs converge through the operator's certificate, replicated across the nodes'
    // mTLS links
    for topic in ["orders-1", "payments"] {
        apply(
            client,
            ns,
            &json!({
                "apiVersion": "ironlog.dev/v1alpha1",
                "kind": "Topic",
                "metadata": {"name": topic},
                "spec": {"clusterRef": {"name": GUARDED}, "partitions": 1,
                         "replicationFactor": 3}
            }),
        )
        .await
        .expect("the API server takes the Topic");
    }
    for topic in ["orders-1", "payments"] {
        resource_ready::<ironlog_operator::crd::Topic>(client, ns, topic).await;
    }

    // alice may use the `orders` topics and group `g`; admin is a super user by the spec
    apply(
        client,
        ns,
        &json!({
            "apiVersion": "ironlog.dev/v1alpha1",
            "kind": "User",
            "metadata": {"name": "alice"},
            "spec": {
                "clusterRef": {"name": GUARDED},
                "authentication": {"type": "scram-sha-512"},
                "authorization": {"acls": [
                    {"resource": {"type": "topic", "name": "orders", "patternType": "prefixed"},
                     "operations": ["Write", "Read", "Describe"]},
                    {"resource": {"type": "group", "name": "g"}, "operations": ["Read"]}
                ]}
            }
        }),
    )
    .await
    .expect("the API server takes alice");
    apply(
        client,
        ns,
        &json!({
            "apiVersion": "ironlog.dev/v1alpha1",
            "kind": "User",
            "metadata": {"name": "admin"},
            "spec": {"clusterRef": {"name": GUARDED},
                     "authentication": {"type": "scram-sha-512"}}
        }),
    )
    .await
    .expect("the API server takes admin");
    user_ready(client, ns, "alice").await;
    user_ready(client, ns, "admin").await;
    let scram = |user: &str, password: &str| {
        vec![
            (
                "bootstrap.servers",
                format!("guarded-bootstrap.{ns}.svc:{GUARDED_SCRAM_PORT}"),
            ),
            ("security.protocol", "SASL_PLAINTEXT".to_string()),
            ("sasl.mechanism", "SCRAM-SHA-512".to_string()),
            ("sasl.username", user.to_string()),
            ("sasl.password", password.to_string()),
        ]
    };
    let alice = scram("alice", &secret_data(client, ns, "alice").await["password"]);
    let admin = scram("admin", &secret_data(client, ns, "admin").await["password"]);

    assert_eq!(
        client_script(agent, &alice, &["produce", "orders-1", "first-order"]).await,
        "OK",
        "alice writes to orders-1 (WRITE on the prefix orders)"
    );
    assert_eq!(
        client_script(agent, &alice, &["consume", "orders-1", "g", "first-order"]).await,
        "OK",
        "alice reads orders-1 in group g"
    );
    assert_eq!(
        client_script(agent, &alice, &["produce", "payments", "not-hers"]).await,
        "TOPIC_AUTHORIZATION_FAILED",
        "alice has no ACL on payments"
    );
    assert_eq!(
        client_script(
            agent,
            &alice,
            &["consume", "orders-1", "other-group", "first-order"]
        )
        .await,
        "GROUP_AUTHORIZATION_FAILED",
        "alice has no ACL on group other-group"
    );
    assert_eq!(
        client_script(agent, &admin, &["produce", "payments", "paid"]).await,
        "OK",
        "the spec's super user writes anywhere without an ACL"
    );
    assert_eq!(
        client_script(agent, &admin, &["consume", "payments", "any-group", "paid"]).await,
        "OK",
        "the spec's super user reads anywhere without an ACL"
    );

    // the REPLICATION listener is the nodes' and the operator's: no certificate, no entry
    let ca_file = tempfile::NamedTempFile::new().expect("a file for the CA");
    std::fs::write(ca_file.path(), &operator_cert["ca.crt"]).expect("the CA file");
    let replication = vec![
        (
            "bootstrap.servers",
            format!("guarded-combined-0.guarded-nodes.{ns}.svc:9091"),
        ),
        ("security.protocol", "SSL".to_string()),
        (
            "ssl.ca.location",
            ca_file.path().to_string_lossy().into_owned(),
        ),
    ];
    assert_ne!(
        client_script(agent, &replication, &["produce", "payments", "sneaked"]).await,
        "OK",
        "the REPLICATION listener must refuse a client without a cluster CA certificate"
    );

    // the cluster stays Ready at the generation it reached
    let api: Api<KafkaCluster> = Api::namespaced(client.clone(), ns);
    let status = api
        .get(GUARDED)
        .await
        .expect("the cluster")
        .status
        .expect("a status");
    let ready = ironlog_operator::cluster::reconcile::condition(&status, "Ready")
        .expect("a Ready condition");
    assert_eq!(
        (ready.status.as_str(), status.observed_generation),
        ("True", Some(ready_generation)),
        "the cluster is still Ready: {}",
        ready.message
    );
}
