//! The User controller against a real API server and a real SASL broker (started by the
//! test kit, outside Kubernetes: the operator reaches it through its bootstrap override on
//! a PLAINTEXT listener whose anonymous principal is a super user). The provisioned user is
//! then a real librdkafka client on the SASL_PLAINTEXT listener with the credentials from
//! its Secret; ACLs and quotas are checked with raw admin requests of their own.

mod common;

use std::time::Duration;

use ironlog_operator::crd::User;
use ironlog_protocol::kafka_protocol::messages::describe_acls_request::DescribeAclsRequest;
use ironlog_protocol::kafka_protocol::messages::describe_client_quotas_request::ComponentData;
use ironlog_protocol::kafka_protocol::messages::DescribeClientQuotasRequest;
use ironlog_protocol::kafka_protocol::protocol::StrBytes;
use ironlog_testkit::control_plane::ControlPlaneSpec;
use ironlog_testkit::{KafkaClients, TestBroker};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams};
use kube::Client;
use serde_json::{json, Value};
use sha2::Digest;

use common::{apply, broker_binary, plane_with_broker, wait_until};

const SPEC: ControlPlaneSpec = ControlPlaneSpec {
    controller_manager: false,
    scheduler: false,
};
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(60);
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

/// A broker with a PLAINTEXT listener (the operator's, anonymous is a super user) and a
/// SASL_PLAINTEXT one with SCRAM-SHA-512, ACLs enforced.
fn sasl_broker(authorizer: bool) -> TestBroker {
    let listeners = "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0";
    let mut settings = vec![
        ("listeners", listeners),
        ("advertised.listeners", listeners),
        ("sasl.enabled.mechanisms", "SCRAM-SHA-512"),
    ];
    if authorizer {
        settings.extend([
            (
                "authorizer.class.name",
                "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            ),
            ("super.users", "User:ANONYMOUS"),
        ]);
    }
    TestBroker::start_binary(broker_binary(), &settings)
}

async fn setup(prefix: &str) -> (Client, String, TestBroker) {
    setup_with(prefix, true).await
}

async fn setup_with(prefix: &str, authorizer: bool) -> (Client, String, TestBroker) {
    let (client, ns, broker) =
        plane_with_broker(SPEC, prefix, move || sasl_broker(authorizer)).await;
    tokio::spawn(ironlog_operator::user::reconcile::run(
        client.clone(),
        Some(ns.clone()),
        Some(broker.bootstrap().to_string()),
        ironlog_operator::metrics::Metrics::new().expect("metrics register"),
        std::future::pending(),
    ));
    (client, ns, broker)
}

fn user(name: &str, spec: Value) -> Value {
    common::of_my_cluster("User", name, spec)
}

/// Waits until User `name` has `Ready` at `status` with `reason` at its generation.
async fn ready(client: &Client, ns: &str, name: &str, status: &str, reason: &str) -> User {
    common::ready_at_generation(client, ns, name, (status, reason), CONVERGE_TIMEOUT, |_| {
        true
    })
    .await
}

/// The Secret's keys as text.
async fn secret(
    client: &Client,
    ns: &str,
    name: &str,
) -> std::collections::BTreeMap<String, String> {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let secret = api
        .get(name)
        .await
        .unwrap_or_else(|e| panic!("the User's Secret {name}: {e}"));
    secret
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, String::from_utf8(v.0).expect("Secret values are text")))
        .collect()
}

/// librdkafka settings of a SCRAM client on the SASL listener, from the Secret's keys.
fn sasl_settings(
    broker: &TestBroker,
    keys: &std::collections::BTreeMap<String, String>,
) -> Vec<(String, String)> {
    vec![
        (
            "bootstrap.servers".into(),
            broker.listener("SASL_PLAINTEXT").expect("a SASL listener"),
        ),
        ("security.protocol".into(), "sasl_plaintext".into()),
        ("sasl.mechanism".into(), keys["sasl.mechanism"].clone()),
        ("sasl.username".into(), keys["sasl.username"].clone()),
        ("sasl.password".into(), keys["sasl.password"].clone()),
    ]
}

/// Runs the SCRAM client script (confluent-kafka: librdkafka with SCRAM) with `settings`
/// and `args`; returns its one-line verdict (`OK` or the Kafka error's name).
async fn scram_client(settings: &[(String, String)], args: &[&str]) -> String {
    let json: serde_json::Map<String, Value> = settings
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/scram_client.py");
    let mut command = tokio::process::Command::new(ironlog_testkit::tools::python());
    command
        .arg(script)
        .arg(Value::Object(json).to_string())
        .args(args)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .kill_on_drop(true);
    let output = tokio::time::timeout(SCRIPT_TIMEOUT, command.output())
        .await
        .unwrap_or_else(|_| panic!("the SCRAM client {args:?} ran over {SCRIPT_TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("cannot run the SCRAM client: {e}"));
    assert!(
        output.status.success(),
        "the SCRAM client {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

async fn produce(settings: &[(String, String)], topic: &str, value: &str) -> String {
    scram_client(settings, &["produce", topic, value]).await
}

async fn consume(settings: &[(String, String)], topic: &str, group: &str, value: &str) -> String {
    scram_client(settings, &["consume", topic, group, value]).await
}

fn admin_client(broker: &TestBroker) -> ironlog_protocol::Client {
    ironlog_protocol::Client::new(ironlog_protocol::ClientConfig::new([broker.bootstrap()]))
        .expect("a protocol client")
}

/// `(resource name, operation code)` of every ACL of `principal`, as DescribeAcls answers.
async fn acls_of(broker: &TestBroker, principal: &str) -> Vec<(String, i8)> {
    let request = DescribeAclsRequest::default()
        .with_resource_type_filter(1)
        .with_resource_name_filter(None)
        .with_pattern_type_filter(1)
        .with_host_filter(None)
        .with_principal_filter(Some(StrBytes::from_string(principal.to_string())))
        .with_operation(1)
        .with_permission_type(1);
    let response = admin_client(broker)
        .send(ironlog_protocol::Target::AnyBroker, &request)
        .await
        .expect("DescribeAcls");
    assert_eq!(
        response.error_code, 0,
        "DescribeAcls: {:?}",
        response.error_message
    );
    let mut out: Vec<(String, i8)> = response
        .resources
        .iter()
        .flat_map(|r| {
            r.acls
                .iter()
                .map(|a| (r.resource_name.to_string(), a.operation))
        })
        .collect();
    out.sort();
    out
}

/// The client quotas of user `name`, as DescribeClientQuotas answers.
async fn quotas_of(broker: &TestBroker, name: &str) -> Vec<(String, f64)> {
    let request = DescribeClientQuotasRequest::default()
        .with_components(vec![ComponentData::default()
            .with_entity_type(StrBytes::from_static_str("user"))
            .with_match_type(0)
            .with_match(Some(StrBytes::from_string(name.to_string())))])
        .with_strict(true);
    let response = admin_client(broker)
        .send(ironlog_protocol::Target::AnyBroker, &request)
        .await
        .expect("DescribeClientQuotas");
    assert_eq!(
        response.error_code, 0,
        "DescribeClientQuotas: {:?}",
        response.error_message
    );
    let mut out: Vec<(String, f64)> = response
        .entries
        .unwrap_or_default()
        .into_iter()
        .flat_map(|e| e.values)
        .map(|v| (v.key.to_string(), v.value))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

const READ: i8 = 3;
const WRITE: i8 = 4;
const DESCRIBE: i8 = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scram_user_gets_its_secret_acls_and_quotas_and_loses_them_with_the_resource() {
    let (client, ns, broker) = setup("user").await;
    let broker = std::sync::Arc::new(broker);
    {
        let broker = std::sync::Arc::clone(&broker);
        tokio::task::spawn_blocking(move || {
            broker.create_topic("allowed", 1, &[]);
            broker.create_topic("denied", 1, &[]);
        })
        .await
        .expect("topics created");
    }
    let spec = json!({
        "authentication": {"type": "scram-sha-512"},
        "authorization": {"acls": [
            {"resource": {"type": "topic", "name": "allowed"}, "operations": ["Read", "Write", "Describe"]},
            {"resource": {"type": "group", "name": "app-", "patternType": "prefixed"}, "operations": ["Read"]},
        ]},
        "quotas": {"producerByteRate": 1048576, "requestPercentage": 50},
    });
    apply(&client, &ns, &user("alice", spec))
        .await
        .unwrap_or_else(|e| panic!("refused: {e}"));
    let alice = ready(&client, &ns, "alice", "True", "InSync").await;
    let status = alice.status.expect("a status");
    assert_eq!(status.principal.as_deref(), Some("User:alice"));
    assert_eq!(status.secret.as_deref(), Some("alice"));

    let keys = secret(&client, &ns, "alice").await;
    assert_eq!(keys["sasl.mechanism"], "SCRAM-SHA-512");
    assert_eq!(keys["sasl.username"], "alice");
    assert_eq!(
        keys["password"].len(),
        32,
        "a generated 32-character password"
    );
    assert_eq!(keys["sasl.password"], keys["password"]);
    assert_eq!(
        keys["sasl.jaas.config"],
        format!(
            "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"alice\" password=\"{}\";",
            keys["password"]
        )
    );
    let settings = sasl_settings(&broker, &keys);

    assert_eq!(produce(&settings, "allowed", "hello").await, "OK");
    assert_eq!(
        produce(&settings, "denied", "nope").await,
        "TOPIC_AUTHORIZATION_FAILED",
        "alice has no ACL on topic denied"
    );
    assert_eq!(
        consume(&settings, "allowed", "app-1", "hello").await,
        "OK",
        "alice consumes in a group her prefixed ACL allows"
    );
    assert_eq!(
        consume(&settings, "allowed", "other-1", "hello").await,
        "GROUP_AUTHORIZATION_FAILED",
        "alice has no ACL on group other-1"
    );
    assert_eq!(
        acls_of(&broker, "User:alice").await,
        [
            ("allowed".to_string(), READ),
            ("allowed".to_string(), WRITE),
            ("allowed".to_string(), DESCRIBE),
            ("app-".to_string(), READ),
        ]
        .into_iter()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>()
    );
    assert_eq!(
        quotas_of(&broker, "alice").await,
        [
            ("producer_byte_rate".to_string(), 1048576.0),
            ("request_percentage".to_string(), 50.0)
        ]
    );

    // the spec changes: the ACLs and quotas follow, the password stays
    let changed = json!({
        "authentication": {"type": "scram-sha-512"},
        "authorization": {"acls": [
            {"resource": {"type": "topic", "name": "denied"}, "operations": ["Write", "Describe"]},
        ]},
        "quotas": {"consumerByteRate": 2048},
    });
    apply(&client, &ns, &user("alice", changed))
        .await
        .unwrap_or_else(|e| panic!("refused: {e}"));
    ready(&client, &ns, "alice", "True", "InSync").await;
    assert_eq!(
        acls_of(&broker, "User:alice").await,
        [
            ("denied".to_string(), WRITE),
            ("denied".to_string(), DESCRIBE)
        ]
        .into_iter()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>()
    );
    assert_eq!(
        quotas_of(&broker, "alice").await,
        [("consumer_byte_rate".to_string(), 2048.0)],
        "the dropped quotas are removed"
    );
    assert_eq!(
        secret(&client, &ns, "alice").await["password"],
        keys["password"],
        "a spec change keeps the generated password"
    );
    assert_eq!(produce(&settings, "denied", "now allowed").await, "OK");
    assert_eq!(
        produce(&settings, "allowed", "no longer").await,
        "TOPIC_AUTHORIZATION_FAILED",
        "the ACL dropped from the spec is deleted"
    );

    // deleting the User removes its credential and its ACLs
    let api: Api<User> = Api::namespaced(client.clone(), &ns);
    api.delete("alice", &DeleteParams::default())
        .await
        .expect("delete the User");
    wait_until(
        CONVERGE_TIMEOUT,
        "User alice is deleted (its finalizer ran)",
        || {
            let api = api.clone();
            async move { api.get_opt("alice").await.ok()?.is_none().then_some(()) }
        },
    )
    .await;
    assert!(
        acls_of(&broker, "User:alice").await.is_empty(),
        "alice's ACLs are deleted"
    );
    assert!(
        quotas_of(&broker, "alice").await.is_empty(),
        "alice's quotas are removed"
    );
    assert_eq!(
        produce(&settings, "denied", "after deletion").await,
        "_AUTHENTICATION",
        "with its credential deleted alice cannot authenticate"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_referenced_password_is_used_and_a_bad_acl_applies_nothing() {
    let (client, ns, broker) = setup("user-ref").await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let given = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bob-password"},
        "stringData": {"pw": "bob-chosen-secret"}});
    apply(&client, &ns, &given)
        .await
        .expect("the password Secret");

    // a group has no Write operation: the spec is refused, nothing applied
    let bad = json!({
        "authentication": {"type": "scram-sha-512", "password": {"secretKeyRef": {"name": "bob-password", "key": "pw"}}},
        "authorization": {"acls": [
            {"resource": {"type": "topic", "name": "t"}, "operations": ["Read"]},
            {"resource": {"type": "group", "name": "g"}, "operations": ["Write"]},
        ]},
    });
    apply(&client, &ns, &user("bob", bad))
        .await
        .expect("applied");
    let refused = ready(&client, &ns, "bob", "False", "InvalidSpec").await;
    let degraded = refused
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Degraded"))
        .expect("a Degraded condition");
    assert_eq!(degraded.status, "True");
    assert!(
        degraded
            .message
            .contains("Write is no operation on a Group"),
        "the condition names the problem: {}",
        degraded.message
    );
    assert!(
        acls_of(&broker, "User:bob").await.is_empty(),
        "no ACL of a refused spec"
    );
    assert!(
        secrets.get_opt("bob").await.expect("get").is_none(),
        "no Secret for a refused spec"
    );

    // fixed: bob authenticates with the password from the referenced Secret
    let fixed = json!({
        "authentication": {"type": "scram-sha-512", "password": {"secretKeyRef": {"name": "bob-password", "key": "pw"}}},
        "authorization": {"acls": [
            {"resource": {"type": "topic", "name": "t"}, "operations": ["Write", "Describe"]},
        ]},
    });
    apply(&client, &ns, &user("bob", fixed))
        .await
        .expect("applied");
    ready(&client, &ns, "bob", "True", "InSync").await;
    let keys = secret(&client, &ns, "bob").await;
    assert_eq!(keys["password"], "bob-chosen-secret");
    {
        let broker = std::sync::Arc::new(broker);
        let b = std::sync::Arc::clone(&broker);
        tokio::task::spawn_blocking(move || b.create_topic("t", 1, &[]))
            .await
            .expect("topic t");
        let settings = sasl_settings(&broker, &keys);
        assert_eq!(produce(&settings, "t", "from bob").await, "OK");

        // the referenced password changes: the credential follows
        let changed = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bob-password"},
            "stringData": {"pw": "bob-new-secret"}});
        apply(&client, &ns, &changed)
            .await
            .expect("the password Secret changed");
        let hash: String = sha2::Sha256::digest(b"bob-new-secret")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        wait_until(
            CONVERGE_TIMEOUT,
            "bob's Secret records the new password as applied",
            || {
                let secrets = secrets.clone();
                let hash = hash.clone();
                async move {
                    let secret = secrets.get("bob").await.ok()?;
                    let applied = secret
                        .metadata
                        .annotations?
                        .get("ironlog.dev/password-sha256")?
                        .clone();
                    (applied == hash).then_some(())
                }
            },
        )
        .await;
        assert_eq!(
            secret(&client, &ns, "bob").await["sasl.password"],
            "bob-new-secret"
        );
        let mut new_settings = settings.clone();
        new_settings.retain(|(k, _)| k != "sasl.password");
        new_settings.push(("sasl.password".into(), "bob-new-secret".into()));
        assert_eq!(
            produce(&new_settings, "t", "new password").await,
            "OK",
            "bob authenticates with the changed password"
        );
        assert_eq!(
            produce(&settings, "t", "old password").await,
            "_AUTHENTICATION",
            "the old password no longer authenticates"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_authorizer_a_user_gets_credentials_and_acls_are_refused_whole() {
    let (client, ns, broker) = setup_with("user-noauthz", false).await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let spec = json!({
        "authentication": {"type": "scram-sha-512"},
        "quotas": {"producerByteRate": 4096},
    });
    apply(&client, &ns, &user("carol", spec))
        .await
        .expect("applied");
    ready(&client, &ns, "carol", "True", "InSync").await;
    let keys = secret(&client, &ns, "carol").await;
    let broker = std::sync::Arc::new(broker);
    {
        let b = std::sync::Arc::clone(&broker);
        tokio::task::spawn_blocking(move || b.create_topic("open", 1, &[]))
            .await
            .expect("topic open");
    }
    assert_eq!(
        produce(&sasl_settings(&broker, &keys), "open", "from carol").await,
        "OK",
        "without an authorizer an authenticated user may produce"
    );
    assert_eq!(
        quotas_of(&broker, "carol").await,
        [("producer_byte_rate".to_string(), 4096.0)]
    );

    let with_acls = json!({
        "authentication": {"type": "scram-sha-512"},
        "authorization": {"acls": [
            {"resource": {"type": "topic", "name": "open"}, "operations": ["Read"]},
        ]},
    });
    apply(&client, &ns, &user("dave", with_acls))
        .await
        .expect("applied");
    let refused = ready(&client, &ns, "dave", "False", "AuthorizationDisabled").await;
    assert!(
        refused
            .status
            .as_ref()
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Degraded"))
            .is_some_and(|c| c.status == "True" && c.message.contains("no authorizer")),
        "Degraded says the cluster has no authorizer: {:?}",
        refused.status
    );
    assert!(
        secrets.get_opt("dave").await.expect("get").is_none(),
        "nothing is applied for a spec the cluster cannot honour"
    );
}
