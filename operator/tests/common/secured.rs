//! What the tests of secured clusters share: a Secret's data as text, waiting for a
//! resource's Ready condition, and a real client (confluent-kafka: librdkafka with SSL and
//! SASL) run in the cluster's network.

use std::collections::BTreeMap;
use std::time::Duration;

use ironlog_testkit::node_agent::NodeAgent;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::Client;

use super::wait_until;

/// How long a Secret or a resource may take to appear or become Ready.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(120);

/// The data of Secret `name` (waited for), each value as text.
pub async fn secret_data(client: &Client, ns: &str, name: &str) -> BTreeMap<String, String> {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let secret = wait_until(STEP_TIMEOUT, &format!("Secret {name} exists"), || {
        let api = api.clone();
        async move { api.get_opt(name).await.ok().flatten() }
    })
    .await;
    secret
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| {
            let text = String::from_utf8(v.0)
                .unwrap_or_else(|e| panic!("Secret {name} key {k} is not text: {e}"));
            (k, text)
        })
        .collect()
}

/// Waits until the `kind` resource `name` has condition Ready=True.
pub async fn resource_ready<K>(client: &Client, ns: &str, name: &str)
where
    K: super::NamespacedResource,
{
    super::wait_for_ready::<K>(client, ns, name, STEP_TIMEOUT, "Ready", |ready, _, _| {
        ready["status"] == "True"
    })
    .await;
}

/// Waits until User `name` is Ready.
pub async fn user_ready(client: &Client, ns: &str, name: &str) {
    resource_ready::<ironlog_operator::crd::User>(client, ns, name).await
}

/// How long one run of the client script may take.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs `tests/clients/scram_client.py` (confluent-kafka: librdkafka with SSL and SASL) in
/// the cluster's network with `settings` and `args`; its one-line verdict (`OK` or the
/// Kafka error's name).
pub async fn client_script(
    agent: &NodeAgent,
    settings: &[(&str, String)],
    args: &[&str],
) -> String {
    let json: serde_json::Map<String, serde_json::Value> = settings
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::Value::String(v.clone())))
        .collect();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/scram_client.py");
    let mut command = agent.in_cluster_command(
        "client",
        std::path::Path::new(&ironlog_testkit::tools::python()),
    );
    command
        .arg(script)
        .arg(serde_json::Value::Object(json).to_string())
        .args(args)
        .env("PYTHONDONTWRITEBYTECODE", "1");
    let mut command = tokio::process::Command::from(command);
    command.kill_on_drop(true);
    let output = tokio::time::timeout(SCRIPT_TIMEOUT, command.output())
        .await
        .unwrap_or_else(|_| panic!("the client script {args:?} ran over {SCRIPT_TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("cannot run the client script: {e}"));
    assert!(
        output.status.success(),
        "the client script {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}
