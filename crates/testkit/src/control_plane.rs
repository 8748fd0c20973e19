//! `control_plane`: a real Kubernetes control plane for tests, started as controller-runtime's
//! envtest starts one — etcd on loopback and kube-apiserver in front of it — plus, when a test
//! asks, kube-controller-manager (garbage collection, the StatefulSet controller that makes
//! pods, service accounts) and kube-scheduler.
//!
//! The binaries are built from their Go modules by `operator/tests/k8s/build.sh` and cached
//! outside the clone, keyed by version (`/var/cache/ironlog-k8s/kubernetes-<version>/`,
//! `/var/cache/ironlog-k8s/etcd-<version>/`); `IRONLOG_K8S_CACHE`, `IRONLOG_KUBE_BIN_DIR` and
//! `IRONLOG_ETCD_BIN_DIR` point elsewhere. A missing binary fails the test, saying how to
//! build it: nothing is skipped.
//!
//! Security as a real cluster has it: a CA generated for the test signs the API server's
//! serving certificate (for `127.0.0.1` and `localhost`) and an admin client certificate
//! (`O=system:masters`); authorization is RBAC; service-account tokens are signed with a
//! generated key pair. `kubeconfig` is a file any client (kube-rs, kubectl) reads.
//!
//! Ports: etcd and the API server need theirs on the command line (neither reports a port-0
//! bind), so they come from [`crate::ports`]; a start whose port was taken is repeated with
//! fresh ports, at most [`START_ATTEMPTS`] times. Every process writes its own log file in
//! the plane's [`TestDir`] (kept, and its path printed, when the test fails). Dropping the
//! plane stops every process: SIGTERM, then SIGKILL past [`STOP_TIMEOUT`].

use std::fs::File;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

use crate::dirs::TestDir;
use crate::ports::allocate_port;
use crate::tls::{dn, write};

/// The Kubernetes version `operator/tests/k8s/build.sh` builds by default.
pub const KUBERNETES_VERSION: &str = "v1.36.3";
/// The etcd version `operator/tests/k8s/build.sh` builds by default.
pub const ETCD_VERSION: &str = "v3.6.16";
/// Where the build script caches the binaries unless `IRONLOG_K8S_CACHE` says otherwise.
pub const DEFAULT_CACHE_DIR: &str = "/var/cache/ironlog-k8s";
/// The helm version `operator/tests/k8s/build.sh` builds by default.
pub const HELM_VERSION: &str = "v4.3.1";

/// A fresh namespace named `prefix-<pid>-<n>` for one test (tests of a binary share the
/// API server).
pub async fn create_namespace(client: &kube::Client, prefix: &str) -> String {
    static NAMESPACES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let name = format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NAMESPACES.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let api: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(client.clone());
    let ns: k8s_openapi::api::core::v1::Namespace = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}
    }))
    .expect("a namespace object");
    api.create(&kube::api::PostParams::default(), &ns)
        .await
        .unwrap_or_else(|e| panic!("cannot create namespace {name}: {e}"));
    name
}

/// The helm binary the chart tests run: `$IRONLOG_HELM_BIN_DIR/helm`, or the one the build
/// script cached (`<cache>/helm-<HELM_VERSION>/helm`). Panics, saying how to build it, when
/// it is missing: nothing is skipped.
pub fn helm_binary() -> PathBuf {
    let dir = std::env::var_os("IRONLOG_HELM_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("IRONLOG_K8S_CACHE")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_CACHE_DIR))
                .join(format!("helm-{HELM_VERSION}"))
        });
    let helm = dir.join("helm");
    if !helm.is_file() {
        panic!(
            "{} is missing: build helm with operator/tests/k8s/build.sh (test.sh runs it when \
             it is absent)",
            helm.display()
        );
    }
    helm
}
/// The Prometheus Operator release whose CRDs (ServiceMonitor, PrometheusRule) the chart
/// tests install, so the chart's monitoring objects are dry-run like the rest.
pub const PROMETHEUS_OPERATOR_VERSION: &str = "v0.85.0";

/// The Prometheus Operator's ServiceMonitor and PrometheusRule CRDs the build script cached
/// (`<cache>/prometheus-operator-<PROMETHEUS_OPERATOR_VERSION>/`). Panics, saying how to
/// fetch them, when they are missing: nothing is skipped.
pub fn prometheus_operator_crds() -> Vec<PathBuf> {
    let dir = std::env::var_os("IRONLOG_K8S_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CACHE_DIR))
        .join(format!("prometheus-operator-{PROMETHEUS_OPERATOR_VERSION}"));
    ["servicemonitors", "prometheusrules"]
        .iter()
        .map(|kind| {
            let path = dir.join(format!("monitoring.coreos.com_{kind}.yaml"));
            if !path.is_file() {
                panic!(
                    "{} is missing: fetch it with operator/tests/k8s/build.sh (test.sh runs it)",
                    path.display()
                );
            }
            path
        })
        .collect()
}

/// How long the API server may take to answer `/readyz` with 200 (it starts in a few
/// seconds on an idle machine; a loaded 2-core one takes much longer).
pub const READY_TIMEOUT: Duration = Duration::from_secs(180);
/// How long a stopping process may take after SIGTERM before it is killed.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How many times a start is tried with fresh ports when one was taken.
pub const START_ATTEMPTS: usize = 3;
/// The cluster's service IP range: addresses the API server hands to Services. Nothing
/// listens on them here and nothing connects to them.
pub const SERVICE_CLUSTER_IP_RANGE: &str = "10.96.0.0/16";
const READY_POLL_INTERVAL: Duration = Duration::from_millis(250);
const EXIT_POLL_INTERVAL: Duration = Duration::from_millis(20);
/// What etcd and the API server print when a port is taken.
const ADDRESS_IN_USE: &str = "address already in use";
/// How much of a log a failure message quotes.
const LOG_TAIL_BYTES: usize = 4000;

/// Which components a test needs beyond etcd and the API server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ControlPlaneSpec {
    /// kube-controller-manager: garbage collection of owned objects, StatefulSets making
    /// Pods, namespaces' default service accounts.
    pub controller_manager: bool,
    /// kube-scheduler: binds Pods to Nodes.
    pub scheduler: bool,
}

/// Where the control plane's binaries are.
#[derive(Debug, Clone)]
pub struct ControlPlaneBinaries {
    pub etcd: PathBuf,
    pub kube_apiserver: PathBuf,
    pub kube_controller_manager: PathBuf,
    pub kube_scheduler: PathBuf,
    /// The client, built beside the control plane from the same module; the plane's
    /// kubeconfig works with it.
    pub kubectl: PathBuf,
}

impl ControlPlaneBinaries {
    /// The cached binaries (see the module docs for the variables that move them).
    pub fn locate() -> ControlPlaneBinaries {
        let cache = std::env::var_os("IRONLOG_K8S_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CACHE_DIR));
        let kube = std::env::var_os("IRONLOG_KUBE_BIN_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| cache.join(format!("kubernetes-{KUBERNETES_VERSION}")));
        let etcd = std::env::var_os("IRONLOG_ETCD_BIN_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| cache.join(format!("etcd-{ETCD_VERSION}")));
        ControlPlaneBinaries {
            etcd: etcd.join("etcd"),
            kube_apiserver: kube.join("kube-apiserver"),
            kube_controller_manager: kube.join("kube-controller-manager"),
            kube_scheduler: kube.join("kube-scheduler"),
            kubectl: kube.join("kubectl"),
        }
    }

    /// Panics naming the first binary of `spec` that is missing, and how to build it.
    fn require(&self, spec: &ControlPlaneSpec) {
        let mut needed = vec![&self.etcd, &self.kube_apiserver];
        if spec.controller_manager {
            needed.push(&self.kube_controller_manager);
        }
        if spec.scheduler {
            needed.push(&self.kube_scheduler);
        }
        for binary in needed {
            if !binary.is_file() {
                panic!(
                    "{} is missing: build the control plane with operator/tests/k8s/build.sh \
                     (test.sh runs it when the binaries are absent)",
                    binary.display()
                );
            }
        }
    }
}

/// The PEM files of the plane's CA, serving certificate, admin client and service-account key.
#[derive(Debug, Clone)]
pub struct ControlPlaneCredentials {
    pub ca_certificate: PathBuf,
    pub serving_certificate: PathBuf,
    pub serving_key: PathBuf,
    pub admin_certificate: PathBuf,
    pub admin_key: PathBuf,
    pub service_account_key: PathBuf,
    pub service_account_public_key: PathBuf,
}

/// A running etcd + kube-apiserver (+ controller manager, scheduler). Stops all on drop.
pub struct TestControlPlane {
    // Dropped in field order: processes (in reverse start order, see Drop) before the dir.
    processes: Vec<ControlProcess>,
    /// `https://127.0.0.1:<port>`.
    pub server_url: String,
    /// A kubeconfig with the admin client certificate (context `ironlog-test`).
    pub kubeconfig: PathBuf,
    pub credentials: ControlPlaneCredentials,
    dir: TestDir,
}

impl TestControlPlane {
    /// Starts etcd and kube-apiserver (and what `spec` adds) and waits until `/readyz`
    /// answers 200 (within [`READY_TIMEOUT`]). Panics, quoting the failing log, when a
    /// binary is missing, a process exits, or readiness does not come.
    pub async fn start(spec: ControlPlaneSpec) -> TestControlPlane {
        let binaries = ControlPlaneBinaries::locate();
        binaries.require(&spec);
        let dir = TestDir::new("ironlog-k8s-")
            .unwrap_or_else(|e| panic!("cannot create the control plane's temp dir: {e}"));
        let credentials = generate_credentials(dir.path());
        let mut last_failure = String::new();
        for attempt in 1..=START_ATTEMPTS {
            let attempt_dir = dir.path().join(format!("attempt-{attempt}"));
            std::fs::create_dir_all(&attempt_dir)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", attempt_dir.display()));
            match start_attempt(&binaries, &spec, &credentials, &attempt_dir).await {
                Ok((processes, server_url, kubeconfig)) => {
                    return TestControlPlane {
                        processes,
                        server_url,
                        kubeconfig,
                        credentials,
                        dir,
                    };
                }
                Err(StartFailure::PortTaken(what)) => {
                    last_failure = what;
                }
                Err(StartFailure::Fatal(what)) => panic!(
                    "the control plane did not start: {what} (logs in {})",
                    dir.path().display()
                ),
            }
        }
        panic!(
            "the control plane did not start in {START_ATTEMPTS} attempts, each losing a port to \
             another process; last: {last_failure}"
        )
    }

    /// A client acting as the cluster admin (the kubeconfig's client certificate).
    pub async fn client(&self) -> kube::Client {
        let config = self.client_config().await;
        kube::Client::try_from(config)
            .unwrap_or_else(|e| panic!("cannot build a client for {}: {e}", self.server_url))
    }

    /// The admin client's configuration, to adjust before building a client.
    pub async fn client_config(&self) -> kube::Config {
        client_config(&self.kubeconfig).await
    }

    /// The directory of the plane's files (credentials, kubeconfig, logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The last part of a component's log (`etcd`, `kube-apiserver`, ...), for failure messages.
    pub fn log_tail(&self, component: &str) -> String {
        self.processes
            .iter()
            .find(|p| p.name == component)
            .map(|p| tail(&p.log))
            .unwrap_or_else(|| format!("no component {component} runs"))
    }
}

impl Drop for TestControlPlane {
    fn drop(&mut self) {
        while let Some(mut process) = self.processes.pop() {
            process.stop();
        }
    }
}

/// What a test needs of a control plane that runs for the whole test process
/// ([`TestControlPlane::shared`]).
#[derive(Debug, Clone)]
pub struct ControlPlaneHandle {
    /// `https://127.0.0.1:<port>`.
    pub server_url: String,
    /// A kubeconfig with the admin client certificate.
    pub kubeconfig: PathBuf,
    pub credentials: ControlPlaneCredentials,
    /// The plane's files (credentials, kubeconfig, each component's log).
    pub dir: PathBuf,
}

impl ControlPlaneHandle {
    /// A client acting as the cluster admin, for the calling test's runtime.
    pub async fn client(&self) -> kube::Client {
        kube::Client::try_from(client_config(&self.kubeconfig).await)
            .unwrap_or_else(|e| panic!("cannot build a client for {}: {e}", self.server_url))
    }
}

/// The process's shared plane: its handle, or why it did not start.
static SHARED: OnceLock<Result<(ControlPlaneSpec, ControlPlaneHandle), String>> = OnceLock::new();

impl TestControlPlane {
    /// One control plane for every test of the process: started by the first caller, on a
    /// thread of its own that keeps it for the life of the process (its processes die with
    /// the process: see `ControlProcess::spawn`). Each test gets the handle and builds its
    /// own client; tests share the API server, so each works in its own namespace. A plane
    /// that did not start fails every caller with the first failure's words.
    pub fn shared(spec: ControlPlaneSpec) -> &'static ControlPlaneHandle {
        let shared = SHARED.get_or_init(|| {
            let (sender, receiver) = std::sync::mpsc::channel();
            let keeper = std::thread::Builder::new()
                .name("control-plane".to_string())
                .spawn(move || {
                    let runtime = match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(runtime) => runtime,
                        Err(e) => {
                            let _ = sender.send(Err(format!("no runtime for the plane: {e}")));
                            return;
                        }
                    };
                    let started = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        runtime.block_on(TestControlPlane::start(spec))
                    }));
                    match started {
                        Ok(mut plane) => {
                            // never dropped: removed at exit instead (kept on request)
                            remove_at_exit(plane.dir.keep().to_path_buf());
                            let handle = ControlPlaneHandle {
                                server_url: plane.server_url.clone(),
                                kubeconfig: plane.kubeconfig.clone(),
                                credentials: plane.credentials.clone(),
                                dir: plane.dir().to_path_buf(),
                            };
                            let _ = sender.send(Ok(handle));
                            // the plane lives as long as the process
                            loop {
                                std::thread::park();
                            }
                        }
                        Err(panic) => {
                            let what = panic
                                .downcast_ref::<String>()
                                .cloned()
                                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                                .unwrap_or_else(|| "a panic without a message".to_string());
                            let _ = sender.send(Err(what));
                        }
                    }
                });
            if let Err(e) = keeper {
                return Err(format!("cannot start the control plane's thread: {e}"));
            }
            match receiver.recv() {
                Ok(result) => result.map(|handle| (spec, handle)),
                Err(_) => Err("the control plane's thread ended without an answer".to_string()),
            }
        });
        match shared {
            Ok((first_spec, handle)) => {
                assert_eq!(
                    *first_spec, spec,
                    "the shared control plane was started as {first_spec:?}; this test asks for \
                     {spec:?}: every test of one binary must ask for the same components"
                );
                handle
            }
            Err(what) => panic!("the shared control plane did not start: {what}"),
        }
    }
}

/// The shared plane's dir, removed when the process exits (`atexit`) unless
/// `IRONLOG_KEEP_K8S_DIRS=1`: the shared plane is never dropped, so its `TestDir` cannot
/// clean up after itself.
static SHARED_DIR: std::sync::Mutex<Option<PathBuf>> = std::sync::Mutex::new(None);

fn remove_at_exit(dir: PathBuf) {
    if std::env::var_os("IRONLOG_KEEP_K8S_DIRS").is_some_and(|v| v == "1") {
        eprintln!("control plane files kept in {}", dir.display());
        return;
    }
    *SHARED_DIR.lock().unwrap_or_else(|e| e.into_inner()) = Some(dir);
    extern "C" fn remove_shared_dir() {
        if let Some(dir) = SHARED_DIR.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    // SAFETY: registers a plain function without arguments; it runs once at exit.
    unsafe {
        libc::atexit(remove_shared_dir);
    }
}

enum StartFailure {
    /// A port was taken before the process bound it: try again with fresh ports.
    PortTaken(String),
    Fatal(String),
}

type Started = (Vec<ControlProcess>, String, PathBuf);

async fn start_attempt(
    binaries: &ControlPlaneBinaries,
    spec: &ControlPlaneSpec,
    credentials: &ControlPlaneCredentials,
    dir: &Path,
) -> Result<Started, StartFailure> {
    let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let port = || allocate_port(loopback).map_err(|e| StartFailure::Fatal(e.to_string()));
    let (etcd_client_port, etcd_peer_port, apiserver_port) = (port()?, port()?, port()?);
    let mut processes = Vec::new();

    let etcd_client_url = format!("http://127.0.0.1:{etcd_client_port}");
    let etcd_peer_url = format!("http://127.0.0.1:{etcd_peer_port}");
    let mut etcd = Command::new(&binaries.etcd);
    etcd.arg("--name=default")
        .arg(format!("--data-dir={}", dir.join("etcd-data").display()))
        .arg(format!("--listen-client-urls={etcd_client_url}"))
        .arg(format!("--advertise-client-urls={etcd_client_url}"))
        .arg(format!("--listen-peer-urls={etcd_peer_url}"))
        .arg(format!("--initial-advertise-peer-urls={etcd_peer_url}"))
        .arg(format!("--initial-cluster=default={etcd_peer_url}"))
        .arg("--listen-metrics-urls=")
        // test data: losing it in a power cut costs nothing, and fsyncs slow every write
        .arg("--unsafe-no-fsync")
        .arg("--log-level=warn");
    processes.push(ControlProcess::spawn("etcd", etcd, dir)?);

    let server_url = format!("https://127.0.0.1:{apiserver_port}");
    let mut apiserver = Command::new(&binaries.kube_apiserver);
    apiserver
        .arg(format!("--etcd-servers={etcd_client_url}"))
        .arg("--advertise-address=127.0.0.1")
        .arg("--bind-address=127.0.0.1")
        .arg(format!("--secure-port={apiserver_port}"))
        .arg(format!(
            "--cert-dir={}",
            dir.join("apiserver-certs").display()
        ))
        .arg(format!(
            "--tls-cert-file={}",
            credentials.serving_certificate.display()
        ))
        .arg(format!(
            "--tls-private-key-file={}",
            credentials.serving_key.display()
        ))
        .arg(format!(
            "--client-ca-file={}",
            credentials.ca_certificate.display()
        ))
        .arg("--authorization-mode=RBAC")
        // namespaces' node-selector annotations: each node agent's namespaces, its nodes
        .arg("--enable-admission-plugins=PodNodeSelector")
        .arg(format!(
            "--service-account-key-file={}",
            credentials.service_account_public_key.display()
        ))
        .arg(format!(
            "--service-account-signing-key-file={}",
            credentials.service_account_key.display()
        ))
        .arg("--service-account-issuer=https://kubernetes.default.svc.cluster.local")
        .arg(format!(
            "--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}"
        ))
        .arg("--allow-privileged=true")
        .arg("--v=0");
    processes.push(ControlProcess::spawn("kube-apiserver", apiserver, dir)?);

    let kubeconfig = dir.join("kubeconfig");
    write(&kubeconfig, &kubeconfig_text(&server_url, credentials));
    let client = kube::Client::try_from(client_config(&kubeconfig).await)
        .map_err(|e| StartFailure::Fatal(format!("cannot build a client: {e}")))?;
    wait_ready(&client, &mut processes).await?;

    if spec.controller_manager {
        let mut cm = Command::new(&binaries.kube_controller_manager);
        cm.arg(format!("--kubeconfig={}", kubeconfig.display()))
            .arg("--leader-elect=false")
            .arg("--bind-address=127.0.0.1")
            .arg("--secure-port=0")
            .arg(format!(
                "--service-account-private-key-file={}",
                credentials.service_account_key.display()
            ))
            .arg(format!(
                "--root-ca-file={}",
                credentials.ca_certificate.display()
            ))
            .arg(format!(
                "--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}"
            ))
            .arg("--v=0");
        processes.push(ControlProcess::spawn("kube-controller-manager", cm, dir)?);
    }
    if spec.scheduler {
        let mut scheduler = Command::new(&binaries.kube_scheduler);
        scheduler
            .arg(format!("--kubeconfig={}", kubeconfig.display()))
            .arg(format!(
                "--authentication-kubeconfig={}",
                kubeconfig.display()
            ))
            .arg(format!(
                "--authorization-kubeconfig={}",
                kubeconfig.display()
            ))
            .arg("--leader-elect=false")
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--secure-port={}", port()?))
            .arg(format!(
                "--cert-dir={}",
                dir.join("scheduler-certs").display()
            ))
            .arg("--v=0");
        processes.push(ControlProcess::spawn("kube-scheduler", scheduler, dir)?);
    }
    // a component that dies at once (a bad flag) says so now, not as a test timing out
    for process in &mut processes {
        process.check_running()?;
    }
    Ok((processes, server_url, kubeconfig))
}

/// Polls `/readyz` until it answers 200, a process exits, or [`READY_TIMEOUT`] passes.
async fn wait_ready(
    client: &kube::Client,
    processes: &mut [ControlProcess],
) -> Result<(), StartFailure> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        for process in processes.iter_mut() {
            process.check_running()?;
        }
        let request = http::Request::get("/readyz")
            .body(Vec::new())
            .map_err(|e| StartFailure::Fatal(format!("cannot build the /readyz request: {e}")))?;
        let last_answer = match client.request_text(request).await {
            Ok(_) => return Ok(()),
            Err(e) => e.to_string(),
        };
        if Instant::now() >= deadline {
            let logs: Vec<String> = processes
                .iter()
                .map(|p| format!("--- {} ({}):\n{}", p.name, p.log.display(), tail(&p.log)))
                .collect();
            return Err(StartFailure::Fatal(format!(
                "kube-apiserver was not ready within {READY_TIMEOUT:?}; last /readyz answer: \
                 {last_answer}\n{}",
                logs.join("\n")
            )));
        }
        tokio::time::sleep(READY_POLL_INTERVAL).await;
    }
}

async fn client_config(kubeconfig: &Path) -> kube::Config {
    let file = kube::config::Kubeconfig::read_from(kubeconfig)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", kubeconfig.display()));
    kube::Config::from_custom_kubeconfig(file, &kube::config::KubeConfigOptions::default())
        .await
        .unwrap_or_else(|e| panic!("invalid kubeconfig {}: {e}", kubeconfig.display()))
}

/// One control-plane process and its log file.
struct ControlProcess {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl ControlProcess {
    fn spawn(name: &'static str, mut command: Command, dir: &Path) -> Result<Self, StartFailure> {
        let log = dir.join(format!("{name}.log"));
        let file = File::create(&log)
            .map_err(|e| StartFailure::Fatal(format!("cannot create {}: {e}", log.display())))?;
        let err = file
            .try_clone()
            .map_err(|e| StartFailure::Fatal(format!("cannot share {}: {e}", log.display())))?;
        // SAFETY: prctl(2) only, between fork and exec. The child dies with the thread that
        // started it: a test process that exits (or aborts) takes its control plane along.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err)
            .spawn()
            .map_err(|e| StartFailure::Fatal(format!("cannot start {name}: {e}")))?;
        Ok(ControlProcess { name, child, log })
    }

    /// `Err` when the process has exited: a taken port (try again) or a fatal failure.
    fn check_running(&mut self) -> Result<(), StartFailure> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => {
                let log = tail(&self.log);
                let what = format!("{} exited ({status}):\n{log}", self.name);
                if log.to_ascii_lowercase().contains(ADDRESS_IN_USE) {
                    Err(StartFailure::PortTaken(what))
                } else {
                    Err(StartFailure::Fatal(what))
                }
            }
            Err(e) => Err(StartFailure::Fatal(format!(
                "cannot wait for {}: {e}",
                self.name
            ))),
        }
    }

    /// SIGTERM, a bounded wait, then SIGKILL.
    fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        // SAFETY: kill(2) on our own child's pid, which we have not reaped yet.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(EXIT_POLL_INTERVAL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ControlProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

fn generate_credentials(dir: &Path) -> ControlPlaneCredentials {
    let ca_key = KeyPair::generate().unwrap_or_else(|e| panic!("CA key: {e}"));
    let mut ca_params =
        CertificateParams::new(Vec::<String>::new()).unwrap_or_else(|e| panic!("CA params: {e}"));
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca_params.distinguished_name = dn(&[(DnType::CommonName, "ironlog-test-kubernetes-ca")]);
    let ca = ca_params
        .self_signed(&ca_key)
        .unwrap_or_else(|e| panic!("CA certificate: {e}"));

    let serving_key = KeyPair::generate().unwrap_or_else(|e| panic!("serving key: {e}"));
    let mut serving_params = CertificateParams::new(vec![
        "127.0.0.1".to_string(),
        "localhost".to_string(),
        "kubernetes.default.svc".to_string(),
    ])
    .unwrap_or_else(|e| panic!("serving params: {e}"));
    serving_params.distinguished_name = dn(&[(DnType::CommonName, "kube-apiserver")]);
    serving_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let serving = serving_params
        .signed_by(&serving_key, &ca, &ca_key)
        .unwrap_or_else(|e| panic!("serving certificate: {e}"));

    let admin_key = KeyPair::generate().unwrap_or_else(|e| panic!("admin key: {e}"));
    let mut admin_params = CertificateParams::new(Vec::<String>::new())
        .unwrap_or_else(|e| panic!("admin params: {e}"));
    // the API server reads the user from CN and the groups from O
    admin_params.distinguished_name = dn(&[
        (DnType::OrganizationName, "system:masters"),
        (DnType::CommonName, "ironlog-test-admin"),
    ]);
    admin_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let admin = admin_params
        .signed_by(&admin_key, &ca, &ca_key)
        .unwrap_or_else(|e| panic!("admin certificate: {e}"));

    let service_account =
        KeyPair::generate().unwrap_or_else(|e| panic!("service-account key: {e}"));

    let credentials = ControlPlaneCredentials {
        ca_certificate: dir.join("ca.crt"),
        serving_certificate: dir.join("apiserver.crt"),
        serving_key: dir.join("apiserver.key"),
        admin_certificate: dir.join("admin.crt"),
        admin_key: dir.join("admin.key"),
        service_account_key: dir.join("sa.key"),
        service_account_public_key: dir.join("sa.pub"),
    };
    write(&credentials.ca_certificate, &ca.pem());
    write(&credentials.serving_certificate, &serving.pem());
    write(&credentials.serving_key, &serving_key.serialize_pem());
    write(&credentials.admin_certificate, &admin.pem());
    write(&credentials.admin_key, &admin_key.serialize_pem());
    write(
        &credentials.service_account_key,
        &service_account.serialize_pem(),
    );
    write(
        &credentials.service_account_public_key,
        &service_account.public_key_pem(),
    );
    credentials
}

/// A kubeconfig that names the PEM files by path (`certificate-authority`,
/// `client-certificate`, `client-key`), as kubectl and kube-rs read them.
fn kubeconfig_text(server_url: &str, credentials: &ControlPlaneCredentials) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: ironlog-test
  cluster:
    server: {server_url}
    certificate-authority: {ca}
users:
- name: ironlog-test-admin
  user:
    client-certificate: {cert}
    client-key: {key}
contexts:
- name: ironlog-test
  context:
    cluster: ironlog-test
    user: ironlog-test-admin
    namespace: default
current-context: ironlog-test
",
        ca = credentials.ca_certificate.display(),
        cert = credentials.admin_certificate.display(),
        key = credentials.admin_key.display(),
    )
}

/// The last [`LOG_TAIL_BYTES`] of a log file.
fn tail(path: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut file) = File::open(path) {
        let _ = file.read_to_string(&mut text);
    }
    if text.len() <= LOG_TAIL_BYTES {
        return text;
    }
    let mut start = text.len() - LOG_TAIL_BYTES;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text[start..].to_string()
}
