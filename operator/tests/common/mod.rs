//! What the operator's integration tests share: the control plane (one per test binary,
//! `TestControlPlane::shared`), the CRDs installed from `crds/`, a namespace per test, and
//! applying YAML documents as a user's `kubectl apply --server-side` would.

#![allow(dead_code)] // each test binary uses its own part of this module

pub mod cluster;
pub mod metric_names;
pub mod scaled;
pub mod secured;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ironlog_testkit::control_plane::{ControlPlaneHandle, ControlPlaneSpec, TestControlPlane};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::discovery;
use kube::discovery::{ApiCapabilities, ApiResource};
use kube::Client;
use serde::Deserialize;

/// The field manager the tests apply with (the operator has its own).
pub const TEST_MANAGER: &str = "ironlog-tests";
/// How long the API server may take to establish a CRD.
pub const CRD_ESTABLISHED_TIMEOUT: Duration = Duration::from_secs(60);
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// The broker binary (`ironlog`) of this build: `IRONLOG_BINARY`, or `ironlog` in the
/// target dir the test binary runs from (`cargo test --workspace` builds it).
pub fn broker_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("IRONLOG_BINARY") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    // <target>/<profile>/deps/<test binary>
    let binary = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|profile| profile.join("ironlog"))
        .expect("the test binary lives in <target>/<profile>/deps");
    assert!(
        binary.is_file(),
        "no broker binary at {}: build it with `cargo build -p ironlog` (cargo test --workspace \
         builds it) or name one in IRONLOG_BINARY",
        binary.display()
    );
    binary
}

/// The repository's root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(|p| p.to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// The test binary's control plane and an admin client for this test.
pub async fn plane(spec: ControlPlaneSpec) -> (&'static ControlPlaneHandle, Client) {
    let handle = TestControlPlane::shared(spec);
    let client = handle.client().await;
    (handle, client)
}

/// The control plane (`spec`) with the CRDs installed, a new namespace named after
/// `prefix`, and a broker `start` starts (outside Kubernetes, off the async runtime).
pub async fn plane_with_broker(
    spec: ControlPlaneSpec,
    prefix: &str,
    start: impl FnOnce() -> ironlog_testkit::TestBroker + Send + 'static,
) -> (Client, String, ironlog_testkit::TestBroker) {
    let (_, client) = plane(spec).await;
    install_crds(&client).await;
    let ns = namespace(&client, prefix).await;
    let broker = tokio::task::spawn_blocking(start)
        .await
        .expect("the broker started");
    (client, ns, broker)
}

/// A `kind` resource (Topic, User) `name` of KafkaCluster `my-cluster` with `spec`.
pub fn of_my_cluster(kind: &str, name: &str, mut spec: serde_json::Value) -> serde_json::Value {
    spec["clusterRef"] = serde_json::json!({"name": "my-cluster"});
    serde_json::json!({"apiVersion": "ironlog.dev/v1alpha1", "kind": kind, "metadata": {"name": name}, "spec": spec})
}

/// Installs the CRDs as `crds/` holds them (what a user applies) and waits until each is
/// established.
pub async fn install_crds(client: &Client) {
    let dir = repo_root().join("crds");
    let paths: Vec<PathBuf> = ironlog_operator::crd::crds()
        .iter()
        .map(|(file, _)| dir.join(file))
        .collect();
    install_crd_files(client, &paths).await;
}

/// Applies the CRDs in `paths` (one per file) and waits until each is established.
pub async fn install_crd_files(client: &Client, paths: &[PathBuf]) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut names = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let crd: CustomResourceDefinition = serde_yaml_ng::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is no CRD: {e}", path.display()));
        let name = crd.metadata.name.clone().expect("a CRD has a name");
        api.patch(
            &name,
            &PatchParams::apply(TEST_MANAGER).force(),
            &Patch::Apply(&crd),
        )
        .await
        .unwrap_or_else(|e| panic!("the API server refused {}: {e}", path.display()));
        names.push(name);
    }
    for name in names {
        wait_until(
            CRD_ESTABLISHED_TIMEOUT,
            &format!("CRD {name} established"),
            || {
                let api = api.clone();
                let name = name.clone();
                async move {
                    let crd = api.get(&name).await.ok()?;
                    let conditions = crd.status?.conditions?;
                    conditions
                        .iter()
                        .any(|c| c.type_ == "Established" && c.status == "True")
                        .then_some(())
                }
            },
        )
        .await;
    }
}

/// A fresh namespace for one test (tests share the API server).
pub async fn namespace(client: &Client, prefix: &str) -> String {
    ironlog_testkit::control_plane::create_namespace(client, prefix).await
}

/// The YAML documents in `text` (`---`-separated), empty ones left out.
pub fn documents(text: &str) -> Vec<serde_json::Value> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|doc| {
            serde_json::Value::deserialize(doc).unwrap_or_else(|e| panic!("invalid YAML: {e}"))
        })
        .filter(|doc| !doc.is_null())
        .collect()
}

/// Server-side applies one object (any kind the API server knows) into `namespace`, as
/// `kubectl apply --server-side` does. Returns the API server's answer.
pub async fn apply(
    client: &Client,
    namespace: &str,
    object: &serde_json::Value,
) -> Result<DynamicObject, kube::Error> {
    let (object, resource, _) = discovered(client, object).await;
    let name = object
        .metadata
        .name
        .clone()
        .unwrap_or_else(|| panic!("object without a name: {object:?}"));
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
    // kubectl's default: unknown and duplicate fields are errors, not warnings
    let mut params = PatchParams::apply(TEST_MANAGER);
    params.field_validation = Some(kube::api::ValidationDirective::Strict);
    api.patch(&name, &params, &Patch::Apply(&object)).await
}

/// `object` as a [`DynamicObject`], with its kind's resource and capabilities as the API
/// server's discovery names them; panics when it is not an object of a kind the API server
/// knows.
pub async fn discovered(
    client: &Client,
    object: &serde_json::Value,
) -> (DynamicObject, ApiResource, ApiCapabilities) {
    let object: DynamicObject = serde_json::from_value(object.clone())
        .unwrap_or_else(|e| panic!("not a Kubernetes object: {e}: {object}"));
    let types = object
        .types
        .clone()
        .unwrap_or_else(|| panic!("object without apiVersion/kind: {object:?}"));
    let gvk = GroupVersionKind::try_from(&types)
        .unwrap_or_else(|e| panic!("bad apiVersion {}: {e}", types.api_version));
    let (resource, capabilities) = discovery::pinned_kind(client, &gvk)
        .await
        .unwrap_or_else(|e| panic!("the API server does not know {gvk:?}: {e}"));
    (object, resource, capabilities)
}

/// Polls `check` until it returns `Some`, or panics saying `what` did not happen within
/// `timeout`.
pub async fn wait_until<T, F, Fut>(timeout: Duration, what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    wait_until_saying(timeout, || what.to_string(), check).await
}

/// [`wait_until`] whose failure says `what()` at the deadline (e.g. the last state seen).
pub async fn wait_until_saying<T, F, Fut>(
    timeout: Duration,
    what: impl Fn() -> String,
    mut check: F,
) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if Instant::now() >= deadline {
            panic!("{}: did not happen within {timeout:?}", what());
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// A namespaced resource of a static type, which the helpers read as JSON (its status
/// conditions).
pub trait NamespacedResource:
    kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
    + Clone
    + serde::de::DeserializeOwned
    + std::fmt::Debug
    + serde::Serialize
{
}

impl<K> NamespacedResource for K where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + serde::Serialize
{
}

/// Waits until the `kind` resource `name` has condition Ready at `status` with `reason`,
/// its status observed at its current generation, and `check` holds; returns it.
pub async fn ready_at_generation<K>(
    client: &Client,
    ns: &str,
    name: &str,
    (status, reason): (&str, &str),
    timeout: Duration,
    check: impl Fn(&K) -> bool,
) -> K
where
    K: NamespacedResource,
{
    wait_for_ready(
        client,
        ns,
        name,
        timeout,
        &format!("Ready={status} ({reason}) at its generation"),
        |ready, found, object| {
            ready["status"] == status
                && ready["reason"] == reason
                && found["status"]["observedGeneration"] == found["metadata"]["generation"]
                && check(object)
        },
    )
    .await
}

/// Waits until the `kind` resource `name` has a Ready condition that `accept` takes (given
/// the condition, the whole resource as JSON and the resource); returns it. `what` says
/// what is awaited, for the timeout's message.
pub async fn wait_for_ready<K>(
    client: &Client,
    ns: &str,
    name: &str,
    timeout: Duration,
    what: &str,
    accept: impl Fn(&serde_json::Value, &serde_json::Value, &K) -> bool,
) -> K
where
    K: NamespacedResource,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    let kind = K::kind(&()).to_string();
    let accept = &accept;
    wait_until(timeout, &format!("{kind} {name} is {what}"), || {
        let api = api.clone();
        async move {
            let object = api.get(name).await.ok()?;
            let found = serde_json::to_value(&object).ok()?;
            let ready = found["status"]["conditions"]
                .as_array()?
                .iter()
                .find(|c| c["type"] == "Ready")?;
            accept(ready, &found, &object).then_some(object)
        }
    })
    .await
}

/// How long an Event may take to appear after what it reports.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(30);

/// Waits until an Event with `reason` about object `name` exists in `namespace`; returns
/// its note.
pub async fn event(client: &Client, namespace: &str, name: &str, reason: &str) -> String {
    use k8s_openapi::api::events::v1::Event;
    let api: Api<Event> = Api::namespaced(client.clone(), namespace);
    wait_until(
        EVENT_TIMEOUT,
        &format!("an Event {reason} about {name} in {namespace}"),
        || {
            let api = api.clone();
            async move {
                let events = api.list(&ListParams::default()).await.ok()?;
                events
                    .items
                    .into_iter()
                    .find(|e| {
                        e.reason.as_deref() == Some(reason)
                            && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
                    })
                    .map(|e| e.note.unwrap_or_default())
            }
        },
    )
    .await
}
