//! The chart (`charts/ironlog-operator`), the examples (`examples/`) and the CRDs (`crds/`)
//! against the real API server: what `helm template` renders, with the default values and
//! with every option on, and every example pass server-side dry-run (`dryRun=All`, field
//! validation Strict, as `kubectl apply --server-side --dry-run=server` sends them); `helm
//! install` creates the operator's objects and `helm uninstall` removes them; and the
//! operator, running as the chart's ServiceAccount with only the chart's RBAC, reconciles a
//! KafkaCluster and a Topic (against a real broker) without one refused API call — the
//! chart's Role grants what the operator uses.
//!
//! The chart's ServiceMonitor and PrometheusRule are dry-run too, against the Prometheus
//! Operator's own CRDs installed for the test.
//!
//! helm is built from its Go module by `operator/tests/k8s/build.sh` (test.sh runs it when
//! absent), which also fetches those CRDs from the Prometheus Operator's Go module; a missing
//! helm or CRD fails these tests, saying how to get it.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use ironlog_testkit::control_plane::{
    helm_binary, prometheus_operator_crds, ControlPlaneHandle, ControlPlaneSpec,
};
use ironlog_testkit::TestBroker;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{Service, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::discovery::Scope;
use kube::Client;
use serde_json::{json, Value};

use common::{
    apply, broker_binary, documents, install_crd_files, install_crds, namespace, plane, repo_root,
    wait_until, TEST_MANAGER,
};

/// Only the API server: nothing here needs pods.
const SPEC: ControlPlaneSpec = ControlPlaneSpec {
    controller_manager: false,
    scheduler: false,
};
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(90);
/// Bound on one helm command.
const HELM_TIMEOUT: Duration = Duration::from_secs(120);

fn chart() -> PathBuf {
    repo_root().join("charts/ironlog-operator")
}

/// Every value the chart has switched on or set away from its default.
fn all_options(watch_namespace: &str) -> Vec<String> {
    [
        format!("watchNamespace={watch_namespace}"),
        "image.repository=registry.example.com/ironlog-operator".to_string(),
        "image.tag=9.9.9".to_string(),
        "image.pullPolicy=Always".to_string(),
        "imagePullSecrets[0].name=registry".to_string(),
        "fullnameOverride=ironlog-op".to_string(),
        "logLevel=debug".to_string(),
        "extraArgs[0]=--kafka-bootstrap=kafka:9092".to_string(),
        "extraEnv[0].name=TZ".to_string(),
        "extraEnv[0].value=UTC".to_string(),
        "serviceAccount.name=ironlog-op-sa".to_string(),
        "serviceAccount.annotations.example\\.com/role=operator".to_string(),
        "podAnnotations.example\\.com/scrape=true".to_string(),
        "podLabels.team=streaming".to_string(),
        "nodeSelector.kubernetes\\.io/os=linux".to_string(),
        "tolerations[0].key=dedicated".to_string(),
        "tolerations[0].operator=Exists".to_string(),
        "priorityClassName=system-cluster-critical".to_string(),
        "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key=kubernetes.io/arch".to_string(),
        "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator=In".to_string(),
        "affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values[0]=amd64".to_string(),
        "metrics.port=9090".to_string(),
        "metrics.service.type=NodePort".to_string(),
        "metrics.service.port=9090".to_string(),
        "metrics.service.annotations.example\\.com/note=metrics".to_string(),
        "metrics.serviceMonitor.enabled=true".to_string(),
        "metrics.serviceMonitor.labels.release=prometheus".to_string(),
        "metrics.prometheusRule.enabled=true".to_string(),
        "metrics.prometheusRule.labels.release=prometheus".to_string(),
        "metrics.dashboard.enabled=true".to_string(),
    ]
    .to_vec()
}

/// Runs helm with `args` (bounded by [`HELM_TIMEOUT`]); its stdout, or a panic with its
/// output.
fn helm(args: &[&str]) -> String {
    let output = Command::new("timeout")
        .arg(HELM_TIMEOUT.as_secs().to_string())
        .arg(helm_binary())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run helm: {e}"));
    assert!(
        output.status.success(),
        "helm {} failed ({}):\n{}{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `helm template RELEASE chart --namespace NS --set ...`: the rendered objects.
fn render(release: &str, namespace: &str, sets: &[String]) -> Vec<Value> {
    let chart = chart();
    let mut args = vec![
        "template".to_string(),
        release.to_string(),
        chart.display().to_string(),
        "--namespace".to_string(),
        namespace.to_string(),
    ];
    for set in sets {
        args.push("--set".to_string());
        args.push(set.clone());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    documents(&helm(&args))
}

fn kind_and_name(object: &Value) -> String {
    format!(
        "{} {}",
        object["kind"].as_str().unwrap_or("?"),
        object["metadata"]["name"].as_str().unwrap_or("?")
    )
}

/// Server-side dry-run of one object as `kubectl apply --server-side --dry-run=server`
/// sends it (Strict field validation), in its own namespace or `namespace`.
async fn dry_run(
    client: &Client,
    namespace: &str,
    object: &Value,
) -> Result<DynamicObject, kube::Error> {
    let (object, resource, capabilities) = common::discovered(client, object).await;
    let name = object.metadata.name.clone().unwrap_or_default();
    let api: Api<DynamicObject> = match capabilities.scope {
        Scope::Cluster => Api::all_with(client.clone(), &resource),
        Scope::Namespaced => Api::namespaced_with(
            client.clone(),
            object.metadata.namespace.as_deref().unwrap_or(namespace),
            &resource,
        ),
    };
    let mut params = PatchParams::apply(TEST_MANAGER).dry_run();
    params.field_validation = Some(kube::api::ValidationDirective::Strict);
    api.patch(&name, &params, &Patch::Apply(&object)).await
}

/// Dry-runs every object of `objects` (the Prometheus Operator's kinds included: the test
/// installs their CRDs).
async fn dry_run_all(client: &Client, namespace: &str, objects: &[Value], what: &str) {
    for object in objects {
        let answer = dry_run(client, namespace, object)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "server-side dry-run of {} ({what}) was refused: {e}\n{}",
                    kind_and_name(object),
                    serde_yaml_ng::to_string(object).unwrap_or_default()
                )
            });
        assert!(
            answer.metadata.uid.is_some(),
            "the dry-run of {} ({what}) answered no object",
            kind_and_name(object)
        );
    }
}

fn find<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind)
        .unwrap_or_else(|| {
            panic!(
                "the chart rendered no {kind}: {:?}",
                objects.iter().map(kind_and_name).collect::<Vec<_>>()
            )
        })
}

/// What the dry-run cannot tell: the ServiceMonitor selects the metrics Service by its
/// labels and scrapes its port by name; the PrometheusRule's groups are the rules file's
/// (which promtool tests).
fn check_prometheus_operator_objects(objects: &[Value]) {
    let monitor = find(objects, "ServiceMonitor");
    let service = objects
        .iter()
        .find(|o| {
            o["kind"] == "Service"
                && o["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.ends_with("-metrics"))
        })
        .expect("the chart renders the metrics Service");
    let selector = monitor["spec"]["selector"]["matchLabels"]
        .as_object()
        .expect("the ServiceMonitor selects by labels");
    for (key, value) in selector {
        assert_eq!(
            &service["metadata"]["labels"][key], value,
            "the ServiceMonitor selects {key}={value}, which the metrics Service lacks"
        );
    }
    let port = &monitor["spec"]["endpoints"][0]["port"];
    assert!(
        service["spec"]["ports"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|p| &p["name"] == port),
        "the ServiceMonitor scrapes port {port}, which the metrics Service does not name"
    );
    let job_label = monitor["spec"]["jobLabel"].as_str().expect("a jobLabel");
    assert_eq!(
        service["metadata"]["labels"][job_label], "ironlog-operator",
        "the alert rules expect job=\"ironlog-operator\", the ServiceMonitor's jobLabel {job_label}"
    );

    let rule = find(objects, "PrometheusRule");
    let rules_file = chart().join("files/ironlog-operator-rules.yml");
    let file: Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(&rules_file).expect("the rules file"))
            .expect("the rules file is YAML");
    assert_eq!(
        rule["spec"],
        file,
        "the PrometheusRule does not carry {} as it is",
        rules_file.display()
    );
}

#[test]
fn the_charts_crds_are_the_repositorys() {
    let ours = repo_root().join("crds");
    let charts = chart().join("crds");
    let names = |dir: &Path| {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
            .map(|e| {
                e.expect("a dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    };
    assert_eq!(
        names(&charts),
        names(&ours),
        "charts/ironlog-operator/crds/ holds other files than crds/: copy crds/*.yaml there"
    );
    for name in names(&ours) {
        let a = std::fs::read(ours.join(&name)).expect("read a CRD");
        let b = std::fs::read(charts.join(&name)).expect("read the chart's CRD");
        assert!(
            a == b,
            "charts/ironlog-operator/crds/{name} is stale: copy crds/{name} over it \
             (`cp crds/*.yaml charts/ironlog-operator/crds/`)"
        );
    }
}

#[test]
fn the_chart_renders_its_dashboard_and_rules_as_the_files_are() {
    let objects = render("t", "ops", &all_options("kafka"));
    let dashboard = objects
        .iter()
        .find(|o| o["kind"] == "ConfigMap")
        .expect("the dashboard ConfigMap");
    let json = dashboard["data"]["ironlog-operator.json"]
        .as_str()
        .expect("the dashboard's JSON");
    let file = std::fs::read_to_string(chart().join("dashboards/ironlog-operator.json"))
        .expect("the dashboard file");
    let rendered: Value = serde_json::from_str(json).expect("the rendered dashboard is JSON");
    let expected: Value = serde_json::from_str(&file).expect("the dashboard file is JSON");
    assert_eq!(
        rendered, expected,
        "the ConfigMap does not carry the dashboard file"
    );
    assert_eq!(dashboard["metadata"]["labels"]["grafana_dashboard"], "1");

    check_prometheus_operator_objects(&objects);

    // watchNamespace: a Role there, no cluster-wide rights, and the operator told so
    let kinds: Vec<&str> = objects.iter().filter_map(|o| o["kind"].as_str()).collect();
    assert!(
        kinds.contains(&"Role") && kinds.contains(&"RoleBinding"),
        "{kinds:?}"
    );
    assert!(
        !kinds.contains(&"ClusterRole") && !kinds.contains(&"ClusterRoleBinding"),
        "{kinds:?}"
    );
    let deployment = find(&objects, "Deployment");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<&str> = container["args"]
        .as_array()
        .expect("args")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        args,
        [
            "run",
            "--metrics-address=0.0.0.0:9090",
            "--namespace=kafka",
            "--kafka-bootstrap=kafka:9092"
        ]
    );
    assert_eq!(
        container["image"],
        "registry.example.com/ironlog-operator:9.9.9"
    );

    // the defaults: cluster-wide, the appVersion's image, hardened
    let objects = render("t", "ops", &[]);
    let kinds: Vec<&str> = objects.iter().filter_map(|o| o["kind"].as_str()).collect();
    assert_eq!(
        kinds,
        [
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Service",
            "Deployment"
        ],
        "the default values render exactly these objects"
    );
    let deployment = find(&objects, "Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(container["image"], "ironlog-operator:0.1.0");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(
        container["securityContext"]["allowPrivilegeEscalation"],
        false
    );
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/health");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/health");
    assert!(container["resources"]["limits"]["memory"].is_string());
    assert_eq!(deployment["spec"]["replicas"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rendered_manifest_example_and_crd_passes_server_side_dry_run() {
    let (_, client) = plane(SPEC).await;
    install_crds(&client).await;
    // the chart's ServiceMonitor and PrometheusRule go through the same dry-run
    install_crd_files(&client, &prometheus_operator_crds()).await;
    let ns = namespace(&client, "dry-run").await;

    // the CRDs as a user applies them (already there: the dry-run is an update)
    let mut crds = Vec::new();
    for file in ironlog_operator::crd::crds().iter().map(|(file, _)| file) {
        let path = repo_root().join("crds").join(file);
        crds.extend(documents(
            &std::fs::read_to_string(&path).expect("a CRD file"),
        ));
    }
    assert_eq!(crds.len(), 4, "four CRDs");
    dry_run_all(&client, &ns, &crds, "crds/").await;

    let mut examples = 0;
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo_root().join("examples"))
        .expect("examples/")
        .map(|e| e.expect("an examples/ entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    for path in files {
        let objects = documents(&std::fs::read_to_string(&path).expect("an example"));
        examples += objects.len();
        let what = path.display().to_string();
        dry_run_all(&client, &ns, &objects, &what).await;
    }
    assert!(
        examples >= 5,
        "examples/ holds the examples: {examples} objects"
    );

    // the chart with the defaults, and with every option (its Role in the test's namespace)
    let defaults = render("dry", &ns, &[]);
    dry_run_all(&client, &ns, &defaults, "helm template (defaults)").await;
    let everything = render("dry", &ns, &all_options(&ns));
    dry_run_all(&client, &ns, &everything, "helm template (every option)").await;
    check_prometheus_operator_objects(&everything);
}

/// The operator binary a test started: stopped (SIGTERM, then kill) when dropped, its log
/// printed when the test fails.
struct Operator {
    child: std::process::Child,
    log: PathBuf,
}

impl Operator {
    fn stop(&mut self) {
        // SAFETY: kill(2) on the pid of a child this test started and has not reaped.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "----- operator log {} -----\n{}",
                self.log.display(),
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}

/// `GET /metrics` of the operator on `port` (plain HTTP/1.1).
async fn scrape(port: u16) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap_or_else(|e| panic!("the operator's metrics port {port} does not answer: {e}"));
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .await
        .expect("send the request");
    let mut response = String::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        stream.read_to_string(&mut response),
    )
    .await
    .expect("the metrics answer within 10 s")
    .expect("read the metrics");
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "GET /metrics: {head}");
    body.to_string()
}

/// The token of ServiceAccount `name` (TokenRequest), as a kubeconfig file in the plane's
/// directory: the operator then has exactly the rights the chart bound to it.
async fn service_account_kubeconfig(
    handle: &ControlPlaneHandle,
    client: &Client,
    namespace: &str,
    name: &str,
) -> PathBuf {
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    let request = json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"expirationSeconds": 3600}
    });
    let token: TokenRequest = accounts
        .create_subresource("token", name, &PostParams::default(), &request)
        .await
        .unwrap_or_else(|e| panic!("no token for ServiceAccount {namespace}/{name}: {e}"));
    let token = token.status.expect("a token").token;
    let kubeconfig = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "test", "cluster": {
            "server": handle.server_url,
            "certificate-authority": handle.credentials.ca_certificate,
        }}],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [{"name": "operator", "context": {"cluster": "test", "user": name}}],
        "current-context": "operator",
    });
    let path = handle.dir.join(format!("kubeconfig-{namespace}-{name}"));
    std::fs::write(&path, serde_yaml_ng::to_string(&kubeconfig).expect("YAML"))
        .expect("write the kubeconfig");
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_install_runs_the_operator_with_only_the_charts_rights_and_uninstall_removes_it() {
    let (handle, client) = plane(SPEC).await;
    let ns = namespace(&client, "helm").await;
    let release = "ironlog-operator";
    helm(&[
        "install",
        release,
        &chart().display().to_string(),
        "--namespace",
        &ns,
        "--kubeconfig",
        &handle.kubeconfig.display().to_string(),
    ]);
    // the chart's crds/ were installed (or were there): established before CRs are applied
    install_crds(&client).await;

    let name = "ironlog-operator";
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let deployment = deployments
        .get(name)
        .await
        .unwrap_or_else(|e| panic!("helm install created no Deployment {name}: {e}"));
    let pod = deployment
        .spec
        .and_then(|s| s.template.spec)
        .expect("a pod template");
    assert_eq!(pod.service_account_name.as_deref(), Some(name));
    Api::<ServiceAccount>::namespaced(client.clone(), &ns)
        .get(name)
        .await
        .expect("the ServiceAccount");
    Api::<Service>::namespaced(client.clone(), &ns)
        .get(&format!("{name}-metrics"))
        .await
        .expect("the metrics Service");
    let role = Api::<ClusterRole>::all(client.clone())
        .get(name)
        .await
        .expect("the ClusterRole");
    let binding = Api::<ClusterRoleBinding>::all(client.clone())
        .get(name)
        .await
        .expect("the ClusterRoleBinding");
    let subject = &binding.subjects.expect("subjects")[0];
    assert_eq!(
        (subject.name.as_str(), subject.namespace.as_deref()),
        (name, Some(ns.as_str()))
    );
    assert!(!role.rules.unwrap_or_default().is_empty());

    // The operator as the Deployment runs it, with the ServiceAccount's token: no pods run
    // here, so the test starts the binary itself, against a real broker.
    let broker_bin = broker_binary();
    let broker = tokio::task::spawn_blocking(move || TestBroker::start_binary(broker_bin, &[]))
        .await
        .expect("the broker started");
    let kubeconfig = service_account_kubeconfig(handle, &client, &ns, name).await;
    let port = ironlog_testkit::allocate_port(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
        .expect("a port");
    let log = handle.dir.join(format!("operator-{ns}.log"));
    let log_file = std::fs::File::create(&log).expect("the operator's log file");
    let operator = Command::new(env!("CARGO_BIN_EXE_ironlog-operator"))
        .args([
            "run",
            "--metrics-address",
            &format!("127.0.0.1:{port}"),
            "--kafka-bootstrap",
            broker.bootstrap(),
        ])
        .env("KUBECONFIG", &kubeconfig)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("log file"))
        .stderr(log_file)
        .spawn()
        .expect("the operator starts");
    let mut operator = Operator {
        child: operator,
        log: log.clone(),
    };
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();

    let mut cluster = documents(
        &std::fs::read_to_string(repo_root().join("examples/kafka-cluster.yaml"))
            .expect("the example"),
    )
    .remove(0);
    cluster["metadata"]["namespace"] = json!(ns);
    apply(&client, &ns, &cluster)
        .await
        .unwrap_or_else(|e| panic!("refused: {e}"));
    let topic = json!({"apiVersion": "ironlog.dev/v1alpha1", "kind": "Topic",
        "metadata": {"name": "rbac-events", "namespace": ns},
        "spec": {"clusterRef": {"name": "my-cluster"}, "partitions": 2, "replicationFactor": 1}});
    apply(&client, &ns, &topic)
        .await
        .unwrap_or_else(|e| panic!("refused: {e}"));

    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), &ns);
    let sets_ref = &sets;
    wait_until(
        CONVERGE_TIMEOUT,
        "the operator (as the chart's ServiceAccount) applies the cluster's StatefulSet",
        || async move { sets_ref.get_opt("my-cluster-combined").await.ok().flatten() },
    )
    .await;
    let topics: Api<ironlog_operator::crd::Topic> = Api::namespaced(client.clone(), &ns);
    let topics_ref = &topics;
    wait_until(
        CONVERGE_TIMEOUT,
        "the Topic becomes Ready (created on the broker, status written)",
        || async move {
            let topic = topics_ref.get("rbac-events").await.ok()?;
            let status = topic.status?;
            ironlog_operator::crd::conditions::find(&status.conditions, "Ready")
                .filter(|c| c.status == "True")
                .map(|_| ())
        },
    )
    .await;
    // the Topic's finalizer deletes the Kafka topic and then lets the resource go
    topics
        .delete("rbac-events", &Default::default())
        .await
        .expect("delete the Topic");
    wait_until(
        CONVERGE_TIMEOUT,
        "the Topic is gone (finalizer removed)",
        || async move {
            topics_ref
                .get_opt("rbac-events")
                .await
                .ok()?
                .is_none()
                .then_some(())
        },
    )
    .await;
    common::event(&client, &ns, "my-cluster", "Applied").await;
    let refused: Vec<String> = log_text()
        .lines()
        .filter(|l| l.contains("forbidden") || l.contains("Forbidden"))
        .map(str::to_string)
        .collect();
    assert!(
        refused.is_empty(),
        "the API server refused calls of the operator running with the chart's RBAC:\n{}",
        refused.join("\n")
    );
    // Every metric the dashboard and the alert rules query is served by the running operator.
    let exposition = scrape(port).await;
    // (failures by reason have series only once a reconcile failed, and none did here:
    // observability.rs checks that name with a failure recorded)
    let missing: Vec<String> = common::metric_names::missing_from(&exposition)
        .into_iter()
        .filter(|name| name != "ironlog_operator_reconcile_failures_total")
        .collect();
    assert!(
        missing.is_empty(),
        "the operator's /metrics lacks metrics its dashboard or alert rules query: \
         {missing:?}\n{exposition}"
    );
    // the cluster's gauges come from its status (no pods run here: none is ready)
    for line in [
        format!("ironlog_operator_cluster_brokers{{cluster=\"my-cluster\",namespace=\"{ns}\"}} 3"),
        format!("ironlog_operator_cluster_brokers_ready{{cluster=\"my-cluster\",namespace=\"{ns}\"}} 0"),
        format!("ironlog_operator_resource_condition{{controller=\"kafkacluster\",name=\"my-cluster\",namespace=\"{ns}\",type=\"Ready\"}} 0"),
    ] {
        assert!(
            exposition.lines().any(|l| l == line),
            "the operator's /metrics has no line {line}:\n{exposition}"
        );
    }
    operator.stop();

    helm(&[
        "uninstall",
        release,
        "--namespace",
        &ns,
        "--kubeconfig",
        &handle.kubeconfig.display().to_string(),
    ]);
    assert!(
        deployments.get_opt(name).await.expect("get").is_none(),
        "helm uninstall left the Deployment"
    );
    assert!(Api::<ClusterRole>::all(client.clone())
        .get_opt(name)
        .await
        .expect("get")
        .is_none());
    assert!(Api::<ClusterRoleBinding>::all(client.clone())
        .get_opt(name)
        .await
        .expect("get")
        .is_none());
    assert!(Api::<ServiceAccount>::namespaced(client.clone(), &ns)
        .get_opt(name)
        .await
        .expect("get")
        .is_none());
    // CRDs stay (Helm never deletes crds/): the users' resources survive an uninstall
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(client.clone());
    assert!(crds
        .get_opt("kafkaclusters.ironlog.dev")
        .await
        .expect("get")
        .is_some());
}
