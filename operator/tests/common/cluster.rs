//! A KafkaCluster on the real control plane with real brokers behind its pods (the
//! journey's and the roll's tests share it): `kubectl` against the plane, the broker image
//! as the Dockerfile declares it, the operator binary in the cluster's network, the pods
//! of a cluster, and the logs printed when a test fails.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ironlog_operator::crd::KafkaCluster;
use ironlog_testkit::control_plane::{ControlPlaneBinaries, ControlPlaneHandle};
use ironlog_testkit::node_agent::{AgentConfig, ImageConfig, NodeAgent};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};

use super::repo_root;

/// How long one kubectl command may run.
pub const KUBECTL_TIMEOUT: Duration = Duration::from_secs(360);

/// `kubectl` against the plane, bounded by [`KUBECTL_TIMEOUT`]; its stdout, or a panic
/// quoting its stderr.
pub fn kubectl(plane: &ControlPlaneHandle, args: &[&str]) -> String {
    let binary = ControlPlaneBinaries::locate().kubectl;
    assert!(
        binary.is_file(),
        "{} is missing: build it with operator/tests/k8s/build.sh",
        binary.display()
    );
    let dir = tempfile::tempdir().expect("a temp dir for kubectl's output");
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let mut child = Command::new(&binary)
        .args(args)
        .env("KUBECONFIG", &plane.kubeconfig)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).expect("kubectl's stdout file"))
        .stderr(std::fs::File::create(&err).expect("kubectl's stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
    let deadline = Instant::now() + KUBECTL_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for kubectl") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "kubectl {} ran longer than {KUBECTL_TIMEOUT:?}",
                args.join(" ")
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = std::fs::read_to_string(&out).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err).unwrap_or_default();
    assert!(
        status.success(),
        "kubectl {} failed ({status}):\n{stderr}{stdout}",
        args.join(" ")
    );
    stdout
}

/// The broker image as the repository's Dockerfile builds it: the broker stage's
/// `ENTRYPOINT`, `CMD`, `ENV` and `WORKDIR` (and those of the stage it is built from).
pub fn broker_image() -> ImageConfig {
    let text = std::fs::read_to_string(repo_root().join("Dockerfile")).expect("the Dockerfile");
    // logical lines: continuations joined, comments dropped
    let mut lines: Vec<String> = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(head) => {
                pending.push_str(head);
                pending.push(' ');
            }
            None => {
                pending.push_str(trimmed);
                lines.push(std::mem::take(&mut pending));
            }
        }
    }
    // stage name → (base stage, its instructions)
    let mut stages: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in &lines {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words
            .first()
            .is_some_and(|w| w.eq_ignore_ascii_case("FROM"))
        {
            let base = words.get(1).copied().unwrap_or_default().to_string();
            let name = match words.get(2) {
                Some(w) if w.eq_ignore_ascii_case("AS") => {
                    words.get(3).copied().unwrap_or_default()
                }
                _ => "",
            };
            stages.insert(name.to_string(), (base, Vec::new()));
            current = Some(name.to_string());
        } else if let Some(stage) = current.as_ref().and_then(|c| stages.get_mut(c)) {
            stage.1.push(line.clone());
        }
    }
    let mut chain = Vec::new();
    let mut stage = "broker".to_string();
    while let Some((base, instructions)) = stages.get(&stage) {
        chain.push(instructions.clone());
        stage = base.clone();
    }
    assert!(!chain.is_empty(), "the Dockerfile has no `broker` stage");
    let json_words = |rest: &str| -> Vec<String> {
        serde_json::from_str(rest.trim())
            .unwrap_or_else(|e| panic!("not an exec-form JSON array: {rest}: {e}"))
    };
    let mut image = ImageConfig::default();
    for instructions in chain.iter().rev() {
        for line in instructions {
            let (word, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
            match word.to_ascii_uppercase().as_str() {
                "ENTRYPOINT" => image.entrypoint = json_words(rest),
                "CMD" => image.cmd = json_words(rest),
                "WORKDIR" => image.working_dir = Some(rest.trim().to_string()),
                "ENV" => {
                    for pair in rest.split_whitespace() {
                        if let Some((k, v)) = pair.split_once('=') {
                            image.env.insert(k.to_string(), v.to_string());
                        }
                    }
                }
                _ => {}
            }
        }
    }
    assert_eq!(
        image.entrypoint.first().map(String::as_str),
        Some("ironlog"),
        "the broker image runs ironlog: {image:?}"
    );
    image
}

/// A node agent serving namespace `ns` with one node in each of `zones`, whose pods run the broker image as this
/// build's broker binary.
pub async fn broker_agent(plane: &ControlPlaneHandle, zones: &[&str], ns: &str) -> NodeAgent {
    NodeAgent::start(
        plane,
        AgentConfig {
            zones: zones.iter().map(|z| z.to_string()).collect(),
            namespaces: vec![ns.to_string()],
            images: BTreeMap::from([("ironlog".to_string(), broker_image())]),
            programs: BTreeMap::from([("ironlog".to_string(), super::broker_binary())]),
            settings: Default::default(),
        },
    )
    .await
}

/// The operator binary in the cluster's network; stopped (SIGTERM, then killed) on drop.
pub struct Operator {
    child: Child,
    log: PathBuf,
}

impl Operator {
    pub fn start(agent: &NodeAgent, namespace: &str) -> Operator {
        let log = agent.dir().join("operator.log");
        let file = std::fs::File::create(&log).expect("the operator's log file");
        let child = agent
            .in_cluster_command(
                "operator",
                Path::new(env!("CARGO_BIN_EXE_ironlog-operator")),
            )
            .args([
                "run",
                "--namespace",
                namespace,
                "--metrics-address",
                "0.0.0.0:8080",
            ])
            .env("KUBECONFIG", agent.in_cluster_kubeconfig())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .expect("the operator starts");
        Operator { child, log }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child, not yet reaped.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a test of the operator on a real control plane starts with: the CRDs installed, a
/// new namespace named after its prefix, a node agent with a node in each zone, and the
/// operator binary watching that namespace. On drop it prints the logs if the test
/// failed, then stops the operator, then the agent's pods.
pub struct OperatorEnv {
    pub client: kube::Client,
    pub ns: String,
    pub operator: Operator,
    pub agent: NodeAgent,
}

impl OperatorEnv {
    pub async fn start(
        spec: ironlog_testkit::control_plane::ControlPlaneSpec,
        prefix: &str,
        zones: &[&str],
    ) -> OperatorEnv {
        let (handle, client) = super::plane(spec).await;
        super::install_crds(&client).await;
        let ns = super::namespace(&client, prefix).await;
        let agent = broker_agent(handle, zones, &ns).await;
        let operator = Operator::start(&agent, &ns);
        OperatorEnv {
            client,
            ns,
            operator,
            agent,
        }
    }
}

impl Drop for OperatorEnv {
    fn drop(&mut self) {
        print_failure_logs(&self.agent, &self.operator);
    }
}

fn print_failure_logs(agent: &NodeAgent, operator: &Operator) {
    if std::thread::panicking() {
        eprintln!(
            "=== hosts:\n{}\n=== operator log:\n{}\n=== pod logs:\n{}",
            agent.hosts(),
            operator.log(),
            agent.logs()
        );
    }
}

/// Prints the agent's and the operator's logs when the test fails (panics) with them alive.
pub struct FailureLogs<'a> {
    pub agent: &'a NodeAgent,
    pub operator: &'a Operator,
}

impl Drop for FailureLogs<'_> {
    fn drop(&mut self) {
        print_failure_logs(self.agent, self.operator);
    }
}

pub fn write_manifest(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    let mut file = std::fs::File::create(&path).expect("a manifest file");
    file.write_all(text.as_bytes()).expect("write the manifest");
    path
}

pub async fn pods(client: &kube::Client, ns: &str, cluster: &str) -> Vec<Pod> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    api.list(&ListParams::default().labels(&format!("ironlog.dev/cluster={cluster}")))
        .await
        .map(|l| l.items)
        .unwrap_or_default()
}

pub fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The cluster's condition `type_` as (status, reason, message, observedGeneration).
pub fn condition(cluster: &KafkaCluster, type_: &str) -> Option<(String, String, String, i64)> {
    let c = cluster
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)?;
    Some((
        c.status.clone(),
        c.reason.clone(),
        c.message.clone(),
        c.observed_generation.unwrap_or_default(),
    ))
}
