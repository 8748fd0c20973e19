//! `node_agent`: [`NodeAgent`], a small kubelet for the operator's tests — the pods the
//! real scheduler binds to its nodes run for real, as local processes.
//!
//! - **Nodes.** It registers one Node per zone it is given (`topology.kubernetes.io/zone`,
//!   `kubernetes.io/hostname`, ready, with allocatable CPU, memory and pods), and renews each
//!   node's Lease in `kube-node-lease` so the node lifecycle controller keeps them ready.
//! - **Namespaces.** It serves the namespaces it is given, and only them: each gets the
//!   `scheduler.alpha.kubernetes.io/node-selector` annotation naming the agent's
//!   [`AGENT_LABEL`], so the API server's `PodNodeSelector` admission makes the scheduler
//!   bind their pods to this agent's nodes only. Several agents (several tests of one binary)
//!   share a control plane without running, or storing volumes for, each other's pods.
//! - **Pods.** Every pod bound to one of its nodes gets a worker ([`pod`]): the pod's
//!   address, its volumes, its containers as processes in the pod's namespaces, probes,
//!   restarts, status, and the stop on deletion. A container's image stands for a program
//!   of this machine: the agent is told each image's `ENTRYPOINT` / `CMD` ([`ImageConfig`])
//!   and which binary each program name is (`ironlog` → the build's broker binary).
//! - **Volumes.** It provisions a PersistentVolume (a directory under the agent's dir) for
//!   every pending claim of its namespaces; the controller manager binds it, and the pods of a StatefulSet
//!   find their data again after a restart, as with a real PV.
//! - **Names.** It keeps the hosts file every pod reads ([`network`]) true to the Pods and
//!   Services: `<hostname>.<subdomain>.<ns>.svc` (and `.svc.cluster.local`) for pods under a
//!   headless Service, `<service>.<ns>.svc` for each Service's ready endpoints (every
//!   endpoint's address; no virtual IP and no proxy), and `kubernetes.default.svc` for the
//!   API server through the agent's relay.
//!
//! Processes outside pods join the cluster's network too: [`NodeAgent::in_cluster_command`]
//! (the operator binary, with [`NodeAgent::in_cluster_kubeconfig`]) and
//! [`NodeAgent::on_cluster_thread`] (a test's clients: librdkafka's threads are made by
//! that thread and stay in its namespaces).
//!
//! Limits: at most [`AgentSettings::pods_max`] pods run at once; every stop, probe and wait
//! is bounded. Init containers, HTTPS probes, `resourceFieldRef` and projected volumes are
//! refused in the container's status, with words. Needs root (namespaces, mounts).
//! Dropping the agent kills every process it started; [`NodeAgent::stop`] stops them
//! gracefully and removes the nodes.

mod network;
mod pod;
mod probe;
pub mod spec;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, PersistentVolume, PersistentVolumeClaim, Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Client, ResourceExt};
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use network::{Bind, PodNetwork};
pub use spec::ImageConfig;

use crate::control_plane::ControlPlaneHandle;
use crate::dirs::TestDir;

/// The label of the zone a node is in (the operator's rack topology key).
pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";
/// The label naming the agent a node belongs to; the agent's namespaces select it.
pub const AGENT_LABEL: &str = "ironlog.dev/node-agent";
/// The namespace annotation the API server's `PodNodeSelector` admission reads.
const NODE_SELECTOR_ANNOTATION: &str = "scheduler.alpha.kubernetes.io/node-selector";
/// How often each node's Lease is renewed (a kubelet's default).
const LEASE_RENEW_INTERVAL: Duration = Duration::from_secs(10);
const LEASE_DURATION_SECONDS: i32 = 40;
/// How often the agent compares pods, names and claims with what it runs when no watch
/// event wakes it.
const SYNC_INTERVAL: Duration = Duration::from_millis(500);
/// How much of each log [`NodeAgent::logs`] quotes.
const LOG_TAIL_BYTES: usize = 3000;

/// The agent's own limits.
#[derive(Debug, Clone)]
pub struct AgentSettings {
    /// The first delay before a container that exited is started again (a kubelet uses 10 s;
    /// tests need not wait that long), doubled per restart up to `restart_backoff_max`.
    pub restart_backoff_initial: Duration,
    pub restart_backoff_max: Duration,
    /// The longest grace period a stop waits before SIGKILL, whatever the pod asks.
    pub grace_period_max: Duration,
    /// At most this many pods run at once.
    pub pods_max: usize,
}

impl Default for AgentSettings {
    fn default() -> Self {
        AgentSettings {
            restart_backoff_initial: Duration::from_secs(1),
            restart_backoff_max: Duration::from_secs(30),
            grace_period_max: Duration::from_secs(60),
            pods_max: 32,
        }
    }
}

/// What the agent runs: its nodes' zones, the images it knows, the programs they stand for.
#[derive(Debug, Clone, Default)]
pub struct AgentConfig {
    /// One node per entry, in that zone.
    pub zones: Vec<String>,
    /// The namespaces whose pods run on this agent's nodes (and nowhere else), and whose
    /// claims it provisions volumes for. They must exist.
    pub namespaces: Vec<String>,
    /// Image repository (`ironlog` for `ironlog:0.1.0`) → its entrypoint and cmd.
    pub images: BTreeMap<String, ImageConfig>,
    /// Program name as a container's argv names it (`ironlog`) → the binary here.
    pub programs: BTreeMap<String, PathBuf>,
    pub settings: AgentSettings,
}

/// What the agent's tasks and pod workers share.
pub(crate) struct Shared {
    pub client: Client,
    /// Every pod process is started through it (see [`network::Spawner`]).
    pub spawner: network::Spawner,
    pub network: PodNetwork,
    pub dir: PathBuf,
    pub images: BTreeMap<String, ImageConfig>,
    pub programs: BTreeMap<String, PathBuf>,
    /// Every node's address: the test's side of the pod network.
    pub node_address: IpAddr,
    /// The namespaces the agent serves.
    pub namespaces: BTreeSet<String>,
    pub settings: AgentSettings,
}

impl Shared {
    fn image(&self, image: &str) -> Result<ImageConfig, spec::SpecError> {
        self.images
            .get(spec::repository(image))
            .cloned()
            .ok_or_else(|| {
                spec::SpecError::UnknownImage(
                    image.to_string(),
                    self.images.keys().cloned().collect(),
                )
            })
    }

    fn program(&self, name: &str) -> Result<PathBuf, spec::SpecError> {
        let base = Path::new(name)
            .file_name()
            .map(|b| b.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.programs.get(&base).cloned().ok_or_else(|| {
            spec::SpecError::UnknownProgram(
                name.to_string(),
                self.programs.keys().cloned().collect(),
            )
        })
    }
}

/// One pod's worker: its latest object (`None`: gone) and its task.
struct WorkerHandle {
    updates: watch::Sender<Option<Pod>>,
    task: JoinHandle<()>,
}

/// The agent; see the module docs.
pub struct NodeAgent {
    shared: Arc<Shared>,
    nodes: Vec<String>,
    workers: Arc<Mutex<HashMap<String, WorkerHandle>>>,
    tasks: Vec<JoinHandle<()>>,
    in_cluster_kubeconfig: PathBuf,
    hosts: Arc<Mutex<String>>,
    // last: the pods' files outlive every process
    _dir: TestDir,
}

impl NodeAgent {
    /// Registers the nodes and starts running the pods bound to them. Panics, with words,
    /// when the network or the nodes cannot be made.
    pub async fn start(plane: &ControlPlaneHandle, config: AgentConfig) -> NodeAgent {
        assert!(
            !config.zones.is_empty(),
            "a node agent needs at least one node"
        );
        assert!(
            !config.namespaces.is_empty(),
            "a node agent serves at least one namespace"
        );
        let dir = TestDir::new("ironlog-agent-")
            .unwrap_or_else(|e| panic!("cannot create the agent's dir: {e}"));
        let client = plane.client().await;
        let hosts_file = dir.path().join("hosts");
        std::fs::write(&hosts_file, LOCALHOST_LINES)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", hosts_file.display()));
        let network = PodNetwork::new(hosts_file);
        let node_address = network.host_address();
        let api_server: SocketAddr = plane
            .server_url
            .trim_start_matches("https://")
            .parse()
            .unwrap_or_else(|e| panic!("the API server's address {}: {e}", plane.server_url));
        let relay_port = network
            .relay_api_server(api_server)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let in_cluster_kubeconfig = dir.path().join("in-cluster-kubeconfig");
        let credentials = &plane.credentials;
        std::fs::write(
            &in_cluster_kubeconfig,
            format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: in-cluster\n  cluster:\n    server: https://kubernetes.default.svc:{relay_port}\n    certificate-authority: {}\nusers:\n- name: admin\n  user:\n    client-certificate: {}\n    client-key: {}\ncontexts:\n- name: in-cluster\n  context:\n    cluster: in-cluster\n    user: admin\ncurrent-context: in-cluster\n",
                credentials.ca_certificate.display(),
                credentials.admin_certificate.display(),
                credentials.admin_key.display()
            ),
        )
        .unwrap_or_else(|e| panic!("cannot write the in-cluster kubeconfig: {e}"));

        let shared = Arc::new(Shared {
            client: client.clone(),
            spawner: network::Spawner::new()
                .unwrap_or_else(|e| panic!("cannot start the agent's spawner thread: {e}")),
            network,
            dir: dir.path().to_path_buf(),
            images: config.images,
            programs: config.programs,
            node_address,
            namespaces: config.namespaces.iter().cloned().collect(),
            settings: config.settings,
        });
        let seq = AGENTS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let agent_id = format!("{}-{seq}", std::process::id());
        let nodes: Vec<String> = (0..config.zones.len())
            .map(|i| format!("ironlog-{agent_id}-node-{i}"))
            .collect();
        for (name, zone) in nodes.iter().zip(&config.zones) {
            register_node(&client, name, zone, &agent_id, node_address).await;
        }
        for ns in &config.namespaces {
            serve_namespace(&client, ns, &agent_id).await;
        }

        let mut tasks = Vec::new();
        tasks.push(tokio::spawn(renew_leases(client.clone(), nodes.clone())));
        let (pods, pods_writer) = reflector::store::<Pod>();
        let (services, services_writer) = reflector::store::<Service>();
        let (claims, claims_writer) = reflector::store::<PersistentVolumeClaim>();
        let wake = Arc::new(tokio::sync::Notify::new());
        tasks.push(tokio::spawn(reflect(
            Api::<Pod>::all(client.clone()),
            pods_writer,
            Arc::clone(&wake),
        )));
        tasks.push(tokio::spawn(reflect(
            Api::<Service>::all(client.clone()),
            services_writer,
            Arc::clone(&wake),
        )));
        tasks.push(tokio::spawn(reflect(
            Api::<PersistentVolumeClaim>::all(client.clone()),
            claims_writer,
            Arc::clone(&wake),
        )));
        let workers = Arc::new(Mutex::new(HashMap::new()));
        let hosts = Arc::new(Mutex::new(String::new()));
        tasks.push(tokio::spawn(sync_loop(SyncLoop {
            shared: Arc::clone(&shared),
            nodes: nodes.iter().cloned().collect(),
            pods,
            services,
            claims,
            wake,
            workers: Arc::clone(&workers),
            hosts: Arc::clone(&hosts),
        })));
        NodeAgent {
            shared,
            nodes,
            workers,
            tasks,
            in_cluster_kubeconfig,
            hosts,
            _dir: dir,
        }
    }

    /// The names of the agent's nodes, in the order of the zones it was given.
    pub fn node_names(&self) -> &[String] {
        &self.nodes
    }

    /// The agent's files: `pods/<ns>/<pod>/<container>.log`, `volumes/`, `hosts`.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// A kubeconfig for processes in the cluster's network (the API server as
    /// `kubernetes.default.svc`, through the relay), with the admin's credentials.
    pub fn in_cluster_kubeconfig(&self) -> &Path {
        &self.in_cluster_kubeconfig
    }

    /// What the hosts file says now.
    pub fn hosts(&self) -> String {
        self.hosts.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The addresses the cluster's names resolve `name` to now.
    pub fn resolve(&self, name: &str) -> Vec<IpAddr> {
        self.hosts()
            .lines()
            .filter_map(|line| {
                let mut words = line.split_whitespace();
                let address: IpAddr = words.next()?.parse().ok()?;
                words.any(|w| w == name).then_some(address)
            })
            .collect()
    }

    /// The address of `key`'s namespace (see [`NodeAgent::in_cluster_command`]); the test
    /// process reaches it.
    pub fn in_cluster_address(&self, key: &str) -> IpAddr {
        self.shared
            .network
            .slot(&format!("agent/{key}"))
            .unwrap_or_else(|e| panic!("no namespace for {key}: {e}"))
            .1
    }

    /// How a process or thread enters `key`'s namespace (kept per key) with the cluster's
    /// hosts file.
    fn enter_agent_namespace(&self, key: &str) -> network::Enter {
        let (netns, _) = self
            .shared
            .network
            .slot(&format!("agent/{key}"))
            .unwrap_or_else(|e| panic!("no namespace for {key}: {e}"));
        network::Enter::new(&netns, self.shared.network.hosts_file(), &[])
            .unwrap_or_else(|e| panic!("cannot prepare {key}'s namespace: {e}"))
    }

    /// `program` as a process in the cluster's network under `key` (its own namespace and
    /// address, kept per key), with the cluster's hosts file. It dies with the calling
    /// thread (PR_SET_PDEATHSIG).
    pub fn in_cluster_command(&self, key: &str, program: &Path) -> Command {
        let enter = self.enter_agent_namespace(key);
        let mut command = Command::new(program);
        // SAFETY: prctl and the system calls of `Enter::enter` only, between fork and exec.
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                enter.enter()
            });
        }
        command
    }

    /// Runs `f` on a thread of its own inside the cluster's network (namespace `key`, the
    /// hosts file): clients made there — librdkafka's threads with them — resolve and reach
    /// the pods as a client in the cluster does, wherever they are used afterwards.
    pub fn on_cluster_thread<R, F>(&self, key: &str, f: F) -> R
    where
        R: Send + 'static,
        F: FnOnce() -> R + Send + 'static,
    {
        let enter = self.enter_agent_namespace(key);
        let thread = std::thread::Builder::new()
            .name(format!("in-cluster-{key}"))
            .spawn(move || {
                enter
                    .enter()
                    .unwrap_or_else(|e| panic!("cannot enter the cluster's namespace: {e}"));
                f()
            })
            .unwrap_or_else(|e| panic!("cannot start a thread: {e}"));
        match thread.join() {
            Ok(value) => value,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// How many pods have a worker now (running, starting or stopping).
    pub fn pods_running(&self) -> usize {
        self.workers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .filter(|w| !w.task.is_finished())
            .count()
    }

    /// The log of a pod's container (every run of it).
    pub fn log(&self, namespace: &str, pod: &str, container: &str) -> String {
        let path = self
            .shared
            .dir
            .join("pods")
            .join(namespace)
            .join(pod)
            .join(format!("{container}.log"));
        std::fs::read_to_string(path).unwrap_or_default()
    }

    /// The end of every container log, for a failure message.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        let root = self.shared.dir.join("pods");
        for ns in read_dir_sorted(&root) {
            for pod in read_dir_sorted(&ns) {
                let logs = read_dir_sorted(&pod)
                    .into_iter()
                    .filter(|p| p.extension().is_some_and(|e| e == "log"));
                for log in logs {
                    let text = std::fs::read_to_string(&log).unwrap_or_default();
                    let mut start = text.len().saturating_sub(LOG_TAIL_BYTES);
                    while !text.is_char_boundary(start) {
                        start += 1;
                    }
                    out.push_str(&format!("--- {}:\n{}\n", log.display(), &text[start..]));
                }
            }
        }
        out
    }

    /// Stops every pod's processes (SIGTERM, then SIGKILL past the grace period) and
    /// removes the nodes.
    pub async fn stop(mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
        let workers: Vec<WorkerHandle> = self
            .workers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
            .map(|(_, w)| w)
            .collect();
        for worker in &workers {
            let _ = worker.updates.send(None);
        }
        for worker in workers {
            let _ = worker.task.await;
        }
        let nodes: Api<Node> = Api::all(self.shared.client.clone());
        for name in &self.nodes {
            let _ = nodes.delete(name, &DeleteParams::default()).await;
        }
    }
}

impl Drop for NodeAgent {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
        // a worker's processes are killed when its task is dropped (`pod::ContainerRun`)
        for (_, worker) in self
            .workers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain()
        {
            worker.task.abort();
        }
    }
}

static AGENTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

const LOCALHOST_LINES: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";

fn read_dir_sorted(dir: &Path) -> Vec<PathBuf> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    entries.sort();
    entries
}

/// Points the scheduler of `ns`'s pods at the nodes of agent `agent_id`.
async fn serve_namespace(client: &Client, ns: &str, agent_id: &str) {
    let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    let patch = json!({"metadata": {"annotations": {
        NODE_SELECTOR_ANNOTATION: format!("{AGENT_LABEL}={agent_id}")
    }}});
    api.patch(ns, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap_or_else(|e| panic!("cannot point namespace {ns}'s pods at the agent: {e}"));
}

async fn register_node(client: &Client, name: &str, zone: &str, agent_id: &str, address: IpAddr) {
    let api: Api<Node> = Api::all(client.clone());
    let node: Node = serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": std::env::consts::ARCH.replace("x86_64", "amd64").replace("aarch64", "arm64"),
                ZONE_LABEL: zone,
                AGENT_LABEL: agent_id,
            }
        },
        "spec": {}
    }))
    .unwrap_or_else(|e| panic!("a Node object: {e}"));
    api.create(&PostParams::default(), &node)
        .await
        .unwrap_or_else(|e| panic!("cannot register node {name}: {e}"));
    let now = serde_json::to_value(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        k8s_openapi::jiff::Timestamp::now(),
    ))
    .unwrap_or_default();
    let condition = |type_: &str, status: &str, reason: &str| {
        json!({"type": type_, "status": status, "reason": reason,
               "lastHeartbeatTime": now, "lastTransitionTime": now})
    };
    let resources =
        json!({"cpu": "16", "memory": "64Gi", "pods": "110", "ephemeral-storage": "100Gi"});
    let status = json!({
        "status": {
            "capacity": resources,
            "allocatable": resources,
            "conditions": [
                condition("Ready", "True", "KubeletReady"),
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID"),
            ],
            "addresses": [
                {"type": "InternalIP", "address": address.to_string()},
                {"type": "Hostname", "address": name},
            ],
            "nodeInfo": {
                "machineID": "", "systemUUID": "", "bootID": "", "kernelVersion": "",
                "osImage": "ironlog test node", "containerRuntimeVersion": "process://0",
                "kubeletVersion": crate::control_plane::KUBERNETES_VERSION,
                "kubeProxyVersion": "", "operatingSystem": "linux",
                "architecture": std::env::consts::ARCH,
            },
        }
    });
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap_or_else(|e| panic!("cannot report node {name} ready: {e}"));
}

/// Renews each node's Lease (made on first renewal) until the agent stops.
async fn renew_leases(client: Client, nodes: Vec<String>) {
    let api: Api<Lease> = Api::namespaced(client, "kube-node-lease");
    loop {
        for name in &nodes {
            let now = MicroTime(k8s_openapi::jiff::Timestamp::now());
            let lease = json!({
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": name, "namespace": "kube-node-lease"},
                "spec": {
                    "holderIdentity": name,
                    "leaseDurationSeconds": LEASE_DURATION_SECONDS,
                    "renewTime": now,
                }
            });
            if let Err(e) = api
                .patch(
                    name,
                    &PatchParams::apply("ironlog-node-agent").force(),
                    &Patch::Apply(&lease),
                )
                .await
            {
                tracing::warn!(node = %name, error = %e, "cannot renew the node's lease");
            }
        }
        tokio::time::sleep(LEASE_RENEW_INTERVAL).await;
    }
}

/// Keeps a store of `api`'s objects, waking the sync loop on every change.
async fn reflect<K>(
    api: Api<K>,
    writer: reflector::store::Writer<K>,
    wake: Arc<tokio::sync::Notify>,
) where
    K: kube::Resource
        + Clone
        + for<'de> k8s_openapi::serde::Deserialize<'de>
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    let stream = reflector::reflector(writer, watcher(api, watcher::Config::default()))
        .default_backoff()
        .touched_objects();
    futures::pin_mut!(stream);
    while let Some(event) = stream.next().await {
        if let Err(e) = event {
            tracing::debug!(error = %e, "an agent watch failed (retried)");
        }
        wake.notify_one();
    }
}

struct SyncLoop {
    shared: Arc<Shared>,
    nodes: BTreeSet<String>,
    pods: Store<Pod>,
    services: Store<Service>,
    claims: Store<PersistentVolumeClaim>,
    wake: Arc<tokio::sync::Notify>,
    workers: Arc<Mutex<HashMap<String, WorkerHandle>>>,
    hosts: Arc<Mutex<String>>,
}

async fn sync_loop(state: SyncLoop) {
    let mut provisioned: BTreeSet<String> = BTreeSet::new();
    loop {
        sync_pods(&state);
        sync_hosts(&state);
        provision(&state, &mut provisioned).await;
        tokio::select! {
            _ = state.wake.notified() => {}
            _ = tokio::time::sleep(SYNC_INTERVAL) => {}
        }
    }
}

/// Starts a worker for each new pod of its namespaces bound to the agent's nodes, hands every worker its
/// pod's latest object, and tells the workers of vanished pods.
fn sync_pods(state: &SyncLoop) {
    let mut workers = state.workers.lock().unwrap_or_else(|e| e.into_inner());
    let mut seen = BTreeSet::new();
    for pod in state.pods.state() {
        let bound = pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_ref())
            .is_some_and(|n| state.nodes.contains(n))
            && pod
                .namespace()
                .is_some_and(|ns| state.shared.namespaces.contains(&ns));
        let Some(uid) = pod.metadata.uid.clone() else {
            continue;
        };
        if !bound {
            continue;
        }
        seen.insert(uid.clone());
        let pod = (*pod).clone();
        match workers.get(&uid) {
            Some(worker) => {
                worker.updates.send_if_modified(|current| {
                    let changed = current.as_ref().map(|p| p.resource_version())
                        != Some(pod.resource_version());
                    if changed {
                        *current = Some(pod.clone());
                    }
                    changed
                });
            }
            None => {
                let active = workers.values().filter(|w| !w.task.is_finished()).count();
                if active >= state.shared.settings.pods_max {
                    tracing::warn!(pod = %pod.name_any(), limit = state.shared.settings.pods_max, "the agent runs its most pods: not starting another");
                    continue;
                }
                let (updates, receiver) = watch::channel(Some(pod));
                let task = tokio::spawn(pod::run(Arc::clone(&state.shared), receiver));
                workers.insert(uid, WorkerHandle { updates, task });
            }
        }
    }
    workers.retain(|uid, worker| {
        if seen.contains(uid) {
            return true;
        }
        let _ = worker.updates.send(None);
        // kept until its processes stopped
        !worker.task.is_finished()
    });
}

fn pod_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn selects(selector: &BTreeMap<String, String>, pod: &Pod) -> bool {
    let labels = pod.labels();
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// The hosts file from the stores; rewritten in place (the pods' bind mounts follow the
/// file, not a name) when it changed.
fn sync_hosts(state: &SyncLoop) {
    let mut lines: BTreeSet<String> = BTreeSet::new();
    let host = state.shared.node_address;
    lines.insert(format!(
        "{host}\tkubernetes.default.svc kubernetes.default.svc.cluster.local kubernetes.default kubernetes"
    ));
    let pods = state.pods.state();
    let services = state.services.state();
    for service in &services {
        let ns = service.namespace().unwrap_or_default();
        let name = service.name_any();
        let Some(spec) = service.spec.as_ref() else {
            continue;
        };
        let headless = spec.cluster_ip.as_deref() == Some("None");
        let publish_not_ready = spec.publish_not_ready_addresses == Some(true);
        let selector = spec.selector.clone().unwrap_or_default();
        for pod in &pods {
            if pod.namespace().as_deref() != Some(ns.as_str()) || !selects(&selector, pod) {
                continue;
            }
            let Some(ip) = pod.status.as_ref().and_then(|s| s.pod_ip.clone()) else {
                continue;
            };
            let terminating = pod.metadata.deletion_timestamp.is_some();
            if headless {
                let pod_spec = pod.spec.as_ref();
                let subdomain = pod_spec.and_then(|s| s.subdomain.as_deref());
                let hostname = pod_spec
                    .and_then(|s| s.hostname.clone())
                    .unwrap_or_else(|| pod.name_any());
                if subdomain == Some(name.as_str()) {
                    lines.insert(format!(
                        "{ip}\t{hostname}.{name}.{ns}.svc {hostname}.{name}.{ns}.svc.cluster.local"
                    ));
                }
            }
            if (pod_ready(pod) || publish_not_ready) && !terminating {
                lines.insert(format!(
                    "{ip}\t{name}.{ns}.svc {name}.{ns}.svc.cluster.local"
                ));
            }
        }
    }
    let mut text = LOCALHOST_LINES.to_string();
    for line in lines {
        text.push_str(&line);
        text.push('\n');
    }
    let mut current = state.hosts.lock().unwrap_or_else(|e| e.into_inner());
    if *current == text {
        return;
    }
    let path = state.shared.network.hosts_file();
    let written = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()));
    match written {
        Ok(()) => *current = text,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot rewrite the hosts file")
        }
    }
}

/// A PersistentVolume (a directory of the agent's) for every claim that waits for one.
async fn provision(state: &SyncLoop, provisioned: &mut BTreeSet<String>) {
    let volumes: Api<PersistentVolume> = Api::all(state.shared.client.clone());
    for claim in state.claims.state() {
        let Some(uid) = claim.metadata.uid.clone() else {
            continue;
        };
        let spec = claim.spec.clone().unwrap_or_default();
        let ours = claim
            .namespace()
            .is_some_and(|ns| state.shared.namespaces.contains(&ns));
        if !ours || spec.volume_name.is_some() || provisioned.contains(&uid) {
            continue;
        }
        let name = format!("pvc-{uid}");
        let path = state.shared.dir.join("volumes").join(&name);
        if let Err(e) = std::fs::create_dir_all(&path) {
            tracing::warn!(path = %path.display(), error = %e, "cannot make a volume");
            continue;
        }
        let size = spec
            .resources
            .as_ref()
            .and_then(|r| r.requests.as_ref())
            .and_then(|r| r.get("storage"))
            .map(|q| q.0.clone())
            .unwrap_or_else(|| "1Gi".to_string());
        let volume: PersistentVolume = match serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": name, "labels": {"ironlog.dev/provisioned-by": "node-agent"}},
            "spec": {
                "capacity": {"storage": size},
                "accessModes": spec.access_modes.clone().unwrap_or_else(|| vec!["ReadWriteOnce".to_string()]),
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": spec.storage_class_name.clone().unwrap_or_default(),
                "volumeMode": "Filesystem",
                "hostPath": {"path": path.to_string_lossy(), "type": "Directory"},
                "claimRef": {
                    "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                    "namespace": claim.namespace(), "name": claim.name_any(), "uid": uid,
                },
            }
        })) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "a PersistentVolume object");
                continue;
            }
        };
        match volumes.create(&PostParams::default(), &volume).await {
            Ok(_) => {
                provisioned.insert(uid);
            }
            Err(kube::Error::Api(e)) if e.code == 409 => {
                provisioned.insert(uid);
            }
            Err(e) => {
                tracing::warn!(claim = %claim.name_any(), error = %e, "cannot provision a volume")
            }
        }
    }
}
