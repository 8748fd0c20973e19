//! `pod`: one pod's worker — what a kubelet's pod worker does for a pod bound to its node.
//! It gives the pod its address (the pod network's sticky slot for the pod's name), makes
//! its volumes, starts each container as a local process in the pod's namespaces
//! ([`super::network::Enter`]) with the container's argv and environment, runs its probes,
//! restarts what exits per `restartPolicy` (with a doubling back-off), writes the pod's
//! status (phase, IPs, conditions, container statuses) whenever it changes, and, once the
//! pod is being deleted, stops every process (SIGTERM, the grace period, SIGKILL) and
//! removes the pod from the API server, as a kubelet confirms a deletion.
//!
//! Each container's output goes to `<agent dir>/pods/<namespace>/<pod>/<container>.log`,
//! appended across restarts (each run starts with a `---` line).

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{
    ConfigMap, Container, PersistentVolume, PersistentVolumeClaim, Pod, Probe, Secret,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use serde_json::{json, Value};
use tokio::sync::watch;

use super::network::{prepare_targets, Bind, Enter};
use super::probe::{self, ProbeState};
use super::spec::{self, Lookup, SpecError, VolumeRoots};
use super::Shared;

/// How often a worker looks at its processes and probes when nothing else wakes it.
const TICK: Duration = Duration::from_millis(250);
/// A container that ran this long has its restart back-off reset.
const BACKOFF_RESET_AFTER: Duration = Duration::from_secs(60);
/// How long an exec probe may run past its timeout before it is killed.
const EXEC_KILL_WAIT: Duration = Duration::from_secs(2);
/// How often the ConfigMap and Secret volumes of running containers are written afresh (a
/// kubelet's sync period is about a minute; tests need not wait that long).
const VOLUME_SYNC_INTERVAL: Duration = Duration::from_secs(5);
/// How often a stopping process is looked at.
const EXIT_POLL: Duration = Duration::from_millis(50);

fn now() -> Value {
    serde_json::to_value(Time(k8s_openapi::jiff::Timestamp::now())).unwrap_or(Value::Null)
}

/// The ConfigMaps, Secrets and claim volumes a pod refers to, fetched once per start.
#[derive(Default)]
struct Fetched {
    config_maps: BTreeMap<String, ConfigMap>,
    secrets: BTreeMap<String, Secret>,
    claims: BTreeMap<String, Result<PathBuf, String>>,
}

impl Lookup for Fetched {
    fn config_map(&self, name: &str) -> Option<ConfigMap> {
        self.config_maps.get(name).cloned()
    }
    fn secret(&self, name: &str) -> Option<Secret> {
        self.secrets.get(name).cloned()
    }
    fn claim_path(&self, name: &str) -> Result<PathBuf, String> {
        self.claims
            .get(name)
            .cloned()
            .unwrap_or_else(|| Err(format!("claim {name} was not looked up")))
    }
}

async fn fetch(shared: &Shared, pod: &Pod) -> Fetched {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let maps: Api<ConfigMap> = Api::namespaced(shared.client.clone(), &ns);
    let secrets: Api<Secret> = Api::namespaced(shared.client.clone(), &ns);
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(shared.client.clone(), &ns);
    let volumes: Api<PersistentVolume> = Api::all(shared.client.clone());
    let mut map_names = Vec::new();
    let mut secret_names = Vec::new();
    let mut claim_names = Vec::new();
    let spec = pod.spec.clone().unwrap_or_default();
    for v in spec.volumes.iter().flatten() {
        if let Some(c) = &v.config_map {
            map_names.push(c.name.clone());
        }
        if let Some(s) = v.secret.as_ref().and_then(|s| s.secret_name.clone()) {
            secret_names.push(s);
        }
        if let Some(c) = &v.persistent_volume_claim {
            claim_names.push(c.claim_name.clone());
        }
    }
    for c in &spec.containers {
        for e in c.env_from.iter().flatten() {
            map_names.extend(e.config_map_ref.iter().map(|r| r.name.clone()));
            secret_names.extend(e.secret_ref.iter().map(|r| r.name.clone()));
        }
        for e in c.env.iter().flatten() {
            if let Some(from) = &e.value_from {
                map_names.extend(from.config_map_key_ref.iter().map(|r| r.name.clone()));
                secret_names.extend(from.secret_key_ref.iter().map(|r| r.name.clone()));
            }
        }
    }
    let mut fetched = Fetched::default();
    for name in map_names {
        if let Ok(Some(map)) = maps.get_opt(&name).await {
            fetched.config_maps.insert(name, map);
        }
    }
    for name in secret_names {
        if let Ok(Some(secret)) = secrets.get_opt(&name).await {
            fetched.secrets.insert(name, secret);
        }
    }
    for name in claim_names {
        let path = match claims.get_opt(&name).await {
            Ok(Some(claim)) => match claim.spec.and_then(|s| s.volume_name) {
                Some(volume) => match volumes.get_opt(&volume).await {
                    Ok(Some(pv)) => pv
                        .spec
                        .and_then(|s| {
                            s.host_path
                                .map(|h| h.path)
                                .or_else(|| s.local.map(|l| l.path))
                        })
                        .map(PathBuf::from)
                        .ok_or_else(|| format!("volume {volume} has no hostPath or local path")),
                    Ok(None) => Err(format!("volume {volume} of claim {name} does not exist")),
                    Err(e) => Err(format!("cannot read volume {volume}: {e}")),
                },
                None => Err(format!("persistentvolumeclaim {name:?} is not bound")),
            },
            Ok(None) => Err(format!("persistentvolumeclaim {name:?} not found")),
            Err(e) => Err(format!("cannot read persistentvolumeclaim {name}: {e}")),
        };
        fetched.claims.insert(name, path);
    }
    fetched
}

/// What a container's process runs in: the pod's namespaces and the mounts.
struct Placement {
    netns: String,
    binds: Vec<Bind>,
    env: BTreeMap<String, String>,
    working_dir: PathBuf,
}

/// One container's run state.
struct ContainerRun {
    container: Container,
    child: Option<Child>,
    started: Option<(Instant, Value)>,
    restart_count: i32,
    last_terminated: Option<Value>,
    waiting: Option<(String, String)>,
    next_start: Instant,
    backoff: Duration,
    startup: Option<ProbeState>,
    liveness: Option<ProbeState>,
    readiness: Option<ProbeState>,
    placement: Option<Placement>,
    log: PathBuf,
    /// Exited for good (restart policy says no more).
    done: Option<i32>,
}

impl Drop for ContainerRun {
    /// A worker dropped with its agent (a failed test) takes its processes along.
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            if matches!(child.try_wait(), Ok(None)) {
                // SAFETY: kill(2) on the process group of a child we started, not reaped
                unsafe {
                    libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL);
                }
                let _ = child.wait();
            }
        }
    }
}

impl ContainerRun {
    fn ready(&self) -> bool {
        self.child.is_some()
            && self
                .startup
                .as_ref()
                .is_none_or(|p| p.verdict == Some(true))
            && self
                .readiness
                .as_ref()
                .is_none_or(|p| p.verdict == Some(true))
    }

    fn started_ok(&self) -> bool {
        self.child.is_some()
            && self
                .startup
                .as_ref()
                .is_none_or(|p| p.verdict == Some(true))
    }
}

/// Runs one pod until it is deleted (or its worker is dropped with the agent).
pub(crate) async fn run(shared: Arc<Shared>, mut updates: watch::Receiver<Option<Pod>>) {
    let Some(pod) = updates.borrow().clone() else {
        return;
    };
    let mut worker = match Worker::new(shared, pod) {
        Ok(worker) => worker,
        Err(e) => {
            tracing::warn!(error = %e, "cannot run a pod");
            return;
        }
    };
    loop {
        let current = updates.borrow_and_update().clone();
        match current {
            None => {
                // gone from the API server (deleted with grace 0): stop at once
                worker.stop_all(Duration::ZERO).await;
                return;
            }
            Some(pod) if pod.metadata.deletion_timestamp.is_some() => {
                let grace = pod
                    .metadata
                    .deletion_grace_period_seconds
                    .or(pod
                        .spec
                        .as_ref()
                        .and_then(|s| s.termination_grace_period_seconds))
                    .unwrap_or(30)
                    .max(0) as u64;
                let grace = Duration::from_secs(grace).min(worker.shared.settings.grace_period_max);
                worker.pod = pod;
                worker.stop_all(grace).await;
                worker.confirm_deletion().await;
                return;
            }
            Some(pod) => worker.pod = pod,
        }
        worker.step().await;
        tokio::select! {
            changed = updates.changed() => {
                if changed.is_err() {
                    worker.stop_all(Duration::ZERO).await;
                    return;
                }
            }
            _ = tokio::time::sleep(TICK) => {}
        }
    }
}

struct Worker {
    shared: Arc<Shared>,
    pod: Pod,
    netns: String,
    address: std::net::IpAddr,
    pod_dir: PathBuf,
    containers: Vec<ContainerRun>,
    start_time: Value,
    last_status: Option<Value>,
    transitions: BTreeMap<&'static str, (bool, Value)>,
    last_volume_sync: Instant,
}

impl Worker {
    fn new(shared: Arc<Shared>, pod: Pod) -> Result<Worker, String> {
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let (netns, address) = shared
            .network
            .slot(&format!("{ns}/{name}"))
            .map_err(|e| e.to_string())?;
        let pod_dir = shared.dir.join("pods").join(&ns).join(&name);
        std::fs::create_dir_all(&pod_dir)
            .map_err(|e| format!("cannot create {}: {e}", pod_dir.display()))?;
        let spec = pod.spec.clone().unwrap_or_default();
        let start = Instant::now();
        let containers = spec
            .containers
            .iter()
            .map(|c| ContainerRun {
                container: c.clone(),
                child: None,
                started: None,
                restart_count: 0,
                last_terminated: None,
                waiting: Some(("ContainerCreating".to_string(), String::new())),
                next_start: start,
                backoff: shared.settings.restart_backoff_initial,
                startup: None,
                liveness: None,
                readiness: None,
                placement: None,
                log: pod_dir.join(format!("{}.log", c.name)),
                done: None,
            })
            .collect();
        Ok(Worker {
            shared,
            pod,
            netns,
            address,
            pod_dir,
            containers,
            start_time: now(),
            last_status: None,
            transitions: BTreeMap::new(),
            last_volume_sync: start,
        })
    }

    fn restart_policy(&self) -> String {
        self.pod
            .spec
            .as_ref()
            .and_then(|s| s.restart_policy.clone())
            .unwrap_or_else(|| "Always".to_string())
    }

    /// One pass: reap exits, start what should run, run due probes, write the status.
    async fn step(&mut self) {
        let unsupported = self
            .pod
            .spec
            .as_ref()
            .is_some_and(|s| s.init_containers.as_ref().is_some_and(|i| !i.is_empty()));
        if unsupported {
            for c in &mut self.containers {
                c.waiting = Some((
                    "CreateContainerConfigError".to_string(),
                    "unsupported by the node agent: init containers".to_string(),
                ));
            }
            self.write_status().await;
            return;
        }
        let policy = self.restart_policy();
        for index in 0..self.containers.len() {
            self.reap(index, &policy);
        }
        let mut fetched: Option<Fetched> = None;
        for index in 0..self.containers.len() {
            let c = &self.containers[index];
            if c.child.is_some() || c.done.is_some() || Instant::now() < c.next_start {
                continue;
            }
            if fetched.is_none() {
                fetched = Some(fetch(&self.shared, &self.pod).await);
            }
            if let Some(fetched) = &fetched {
                self.start(index, fetched);
            }
        }
        if self.last_volume_sync.elapsed() >= VOLUME_SYNC_INTERVAL {
            self.sync_volumes(fetched).await;
        }
        for index in 0..self.containers.len() {
            self.probe(index).await;
        }
        self.write_status().await;
    }

    /// Writes the ConfigMap and Secret volumes of running containers afresh, as a kubelet
    /// syncs them: a changed key reaches the mounted file (through a rename) without a
    /// restart. A failure keeps the files as they are.
    async fn sync_volumes(&mut self, fetched: Option<Fetched>) {
        self.last_volume_sync = Instant::now();
        if !self.containers.iter().any(|c| c.child.is_some()) {
            return;
        }
        let fetched = match fetched {
            Some(fetched) => fetched,
            None => fetch(&self.shared, &self.pod).await,
        };
        for c in self.containers.iter().filter(|c| c.child.is_some()) {
            let roots = VolumeRoots {
                pod_dir: &self.pod_dir,
            };
            if let Err(e) = spec::volumes(&self.pod, &c.container, &roots, &fetched) {
                tracing::debug!(container = %c.container.name, error = %e, "volumes not synced");
            }
        }
    }

    /// Notes a container's exit and schedules its restart (or not) per `policy`.
    fn reap(&mut self, index: usize, policy: &str) {
        let c = &mut self.containers[index];
        let Some(child) = c.child.as_mut() else {
            return;
        };
        let Ok(Some(status)) = child.try_wait() else {
            return;
        };
        use std::os::unix::process::ExitStatusExt;
        let code = status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
        let started_at = c
            .started
            .as_ref()
            .map(|(_, t)| t.clone())
            .unwrap_or(Value::Null);
        let ran = c
            .started
            .as_ref()
            .map(|(at, _)| at.elapsed())
            .unwrap_or_default();
        c.last_terminated = Some(json!({
            "exitCode": code,
            "reason": if code == 0 { "Completed" } else { "Error" },
            "startedAt": started_at,
            "finishedAt": now(),
        }));
        c.child = None;
        c.started = None;
        c.startup = None;
        c.liveness = None;
        c.readiness = None;
        let restart = match policy {
            "Never" => false,
            "OnFailure" => code != 0,
            _ => true,
        };
        tracing::info!(container = %c.container.name, code, restart, "container exited");
        if restart {
            if ran >= BACKOFF_RESET_AFTER {
                c.backoff = self.shared.settings.restart_backoff_initial;
            }
            c.next_start = Instant::now() + c.backoff;
            c.backoff = (c.backoff * 2).min(self.shared.settings.restart_backoff_max);
            c.restart_count += 1;
            c.waiting = Some((
                "CrashLoopBackOff".to_string(),
                format!("back-off restarting failed container {}", c.container.name),
            ));
        } else {
            c.done = Some(code);
            c.waiting = None;
        }
    }

    fn place(
        &self,
        container: &Container,
        image: &spec::ImageConfig,
        fetched: &Fetched,
    ) -> Result<Placement, SpecError> {
        let name = self.pod.metadata.name.clone().unwrap_or_default();
        let hostname = self
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.hostname.clone())
            .unwrap_or(name);
        let mut base = BTreeMap::new();
        base.insert(
            "PATH".to_string(),
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        );
        base.insert("HOSTNAME".to_string(), hostname);
        base.extend(image.env.clone());
        // the pod as the container sees it: with the address this agent gave it
        let mut pod = self.pod.clone();
        let status = pod.status.get_or_insert_with(Default::default);
        status.pod_ip = Some(self.address.to_string());
        status.host_ip = Some(self.shared.node_address.to_string());
        let env = spec::environment(&pod, container, &base, fetched)?;
        let binds = spec::volumes(
            &pod,
            container,
            &VolumeRoots {
                pod_dir: &self.pod_dir,
            },
            fetched,
        )?;
        let working_dir = container
            .working_dir
            .clone()
            .or_else(|| image.working_dir.clone())
            .unwrap_or_else(|| "/".to_string());
        Ok(Placement {
            netns: self.netns.clone(),
            binds,
            env,
            working_dir: PathBuf::from(working_dir),
        })
    }

    /// The command that runs `argv` (program looked up) in the container's placement.
    fn command(&self, argv: &[String], placement: &Placement) -> Result<Command, SpecError> {
        let program = self.shared.program(&argv[0])?;
        prepare_targets(&placement.binds)
            .map_err(|e| SpecError::Missing(format!("cannot make a mount point: {e}")))?;
        let enter = Enter::new(
            &placement.netns,
            self.shared.network.hosts_file(),
            &placement.binds,
        )
        .and_then(|e| e.working_dir(&placement.working_dir))
        .map_err(|e| SpecError::Missing(e.to_string()))?;
        let mut command = Command::new(program);
        command
            .args(&argv[1..])
            .env_clear()
            .envs(&placement.env)
            .stdin(Stdio::null());
        // SAFETY: prctl, setpgid and the system calls of `Enter::enter` only, between
        // fork and exec. The process dies with the agent's spawner thread (as a test's
        // brokers die with the test).
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::setpgid(0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                enter.enter()
            });
        }
        Ok(command)
    }

    fn start(&mut self, index: usize, fetched: &Fetched) {
        let container = self.containers[index].container.clone();
        let attempt = (|| {
            let image_name = container.image.clone().unwrap_or_default();
            let image = self.shared.image(&image_name)?;
            let placement = self.place(&container, &image, fetched)?;
            let argv = spec::argv(&container, &image, &placement.env)?;
            let mut command = self.command(&argv, &placement)?;
            let log = &self.containers[index].log;
            let mut file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .map_err(|e| SpecError::Missing(format!("cannot open {}: {e}", log.display())))?;
            let _ = writeln!(
                file,
                "--- {} start (restart {}): {}",
                now().as_str().unwrap_or_default(),
                self.containers[index].restart_count,
                argv.join(" ")
            );
            let err = file
                .try_clone()
                .map_err(|e| SpecError::Missing(format!("log file: {e}")))?;
            command.stdout(file).stderr(err);
            let child = self
                .shared
                .spawner
                .spawn(command)
                .map_err(|e| SpecError::Missing(format!("cannot start {}: {e}", argv[0])))?;
            Ok::<_, SpecError>((child, placement))
        })();
        let c = &mut self.containers[index];
        match attempt {
            Ok((child, placement)) => {
                let at = Instant::now();
                tracing::info!(container = %container.name, pid = child.id(), "container started");
                c.child = Some(child);
                c.started = Some((at, now()));
                c.waiting = None;
                c.startup = container
                    .startup_probe
                    .clone()
                    .map(|p| ProbeState::new(p, at));
                c.liveness = container
                    .liveness_probe
                    .clone()
                    .map(|p| ProbeState::new(p, at));
                c.readiness = container
                    .readiness_probe
                    .clone()
                    .map(|p| ProbeState::new(p, at));
                c.placement = Some(placement);
            }
            Err(e) => {
                c.waiting = Some(("CreateContainerConfigError".to_string(), e.to_string()));
                c.next_start = Instant::now() + self.shared.settings.restart_backoff_initial;
            }
        }
    }

    /// Runs one probe now.
    async fn check(&self, index: usize, probe: &Probe, timeout: Duration) -> Result<(), String> {
        let c = &self.containers[index];
        let ports = c.container.ports.clone().unwrap_or_default();
        if let Some(http) = &probe.http_get {
            if http.scheme.as_deref().is_some_and(|s| s != "HTTP") {
                return Err("unsupported by the node agent: HTTPS probes".to_string());
            }
            let port = probe::port(&http.port, &ports)?;
            let path = http.path.clone().unwrap_or_else(|| "/".to_string());
            return probe::http_get(self.address, port, &path, timeout).await;
        }
        if let Some(tcp) = &probe.tcp_socket {
            let port = probe::port(&tcp.port, &ports)?;
            return probe::tcp(self.address, port, timeout).await;
        }
        if let Some(exec) = &probe.exec {
            let argv = exec.command.clone().unwrap_or_default();
            if argv.is_empty() {
                return Err("an exec probe without a command".to_string());
            }
            let placement = c.placement.as_ref().ok_or("the container is not placed")?;
            let mut command = self.command(&argv, placement).map_err(|e| e.to_string())?;
            command.stdout(Stdio::null()).stderr(Stdio::null());
            let mut child = self
                .shared
                .spawner
                .spawn(command)
                .map_err(|e| format!("exec: {e}"))?;
            let deadline = Instant::now() + timeout;
            loop {
                match child.try_wait() {
                    Ok(Some(status)) if status.success() => return Ok(()),
                    Ok(Some(status)) => return Err(format!("command exited with {status}")),
                    Ok(None) if Instant::now() >= deadline => {
                        let _ = child.kill();
                        let stop = Instant::now() + EXEC_KILL_WAIT;
                        while Instant::now() < stop && !matches!(child.try_wait(), Ok(Some(_))) {
                            tokio::time::sleep(EXIT_POLL).await;
                        }
                        return Err(format!("command timed out after {timeout:?}"));
                    }
                    Ok(None) => tokio::time::sleep(EXIT_POLL).await,
                    Err(e) => return Err(format!("exec wait: {e}")),
                }
            }
        }
        Err("a probe without a handler".to_string())
    }

    async fn probe(&mut self, index: usize) {
        if self.containers[index].child.is_none() {
            return;
        }
        let at = Instant::now();
        // startup first; liveness and readiness only once it passed
        let startup_pending = self.containers[index]
            .startup
            .as_ref()
            .is_some_and(|p| p.verdict != Some(true));
        let kinds: &[&str] = if startup_pending {
            &["startup"]
        } else {
            &["liveness", "readiness"]
        };
        for kind in kinds {
            let state = {
                let c = &self.containers[index];
                match *kind {
                    "startup" => c.startup.as_ref(),
                    "liveness" => c.liveness.as_ref(),
                    _ => c.readiness.as_ref(),
                }
                .filter(|p| p.due(at))
                .map(|p| (p.probe.clone(), p.timeout()))
            };
            let Some((probe, timeout)) = state else {
                continue;
            };
            let result = self.check(index, &probe, timeout).await;
            let c = &mut self.containers[index];
            let state = match *kind {
                "startup" => c.startup.as_mut(),
                "liveness" => c.liveness.as_mut(),
                _ => c.readiness.as_mut(),
            };
            let Some(state) = state else {
                continue;
            };
            state.record(result, Instant::now());
            let failed = state.verdict == Some(false);
            let why = state.last_failure.clone().unwrap_or_default();
            if failed && *kind != "readiness" {
                tracing::info!(container = %c.container.name, probe = kind, why = %why, "probe failed: restarting");
                let grace = self.grace();
                self.stop_container(index, grace).await;
                let policy = self.restart_policy();
                self.reap(index, &policy);
                return;
            }
        }
    }

    fn grace(&self) -> Duration {
        let seconds = self
            .pod
            .spec
            .as_ref()
            .and_then(|s| s.termination_grace_period_seconds)
            .unwrap_or(30)
            .max(0) as u64;
        Duration::from_secs(seconds).min(self.shared.settings.grace_period_max)
    }

    /// SIGTERM to the container's process group, up to `grace`, then SIGKILL; the exit
    /// stays to be reaped.
    async fn stop_container(&mut self, index: usize, grace: Duration) {
        let c = &mut self.containers[index];
        let Some(child) = c.child.as_mut() else {
            return;
        };
        let pgid = child.id() as libc::pid_t;
        if !matches!(child.try_wait(), Ok(Some(_))) {
            // SAFETY: kill(2) on the process group of a child we started and have not reaped
            unsafe {
                libc::kill(-pgid, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + grace;
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            if Instant::now() >= deadline {
                // SAFETY: as above
                unsafe {
                    libc::kill(-pgid, libc::SIGKILL);
                }
                let _ = child.kill();
                let stop = Instant::now() + Duration::from_secs(10);
                while Instant::now() < stop && !matches!(child.try_wait(), Ok(Some(_))) {
                    tokio::time::sleep(EXIT_POLL).await;
                }
                break;
            }
            tokio::time::sleep(EXIT_POLL).await;
        }
        // the group's other members (an exec probe's child) go too
        // SAFETY: as above; a group without members makes kill fail harmlessly
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }

    async fn stop_all(&mut self, grace: Duration) {
        // containers stop together, within one grace period
        let deadline = Instant::now() + grace;
        for index in 0..self.containers.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            self.stop_container(index, left).await;
            let c = &mut self.containers[index];
            if let Some(mut child) = c.child.take() {
                let _ = child.try_wait();
            }
            c.done = Some(0);
        }
    }

    /// Removes the stopped pod from the API server (grace 0, this pod's uid only).
    async fn confirm_deletion(&self) {
        let ns = self.pod.metadata.namespace.clone().unwrap_or_default();
        let name = self.pod.metadata.name.clone().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.shared.client.clone(), &ns);
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: self.pod.metadata.uid.clone(),
                resource_version: None,
            }),
            ..Default::default()
        };
        if let Err(e) = api.delete(&name, &params).await {
            tracing::debug!(pod = %name, error = %e, "the final delete of a pod failed");
        }
    }

    fn condition(&mut self, type_: &'static str, status: bool, reason: Option<&str>) -> Value {
        let at = match self.transitions.get(type_) {
            Some((before, at)) if *before == status => at.clone(),
            _ => {
                let at = now();
                self.transitions.insert(type_, (status, at.clone()));
                at
            }
        };
        let mut c = json!({
            "type": type_,
            "status": if status { "True" } else { "False" },
            "lastTransitionTime": at,
            "lastProbeTime": null,
        });
        if let Some(reason) = reason {
            c["reason"] = json!(reason);
        }
        c
    }

    async fn write_status(&mut self) {
        let statuses: Vec<Value> = self
            .containers
            .iter()
            .map(|c| {
                let state = if let Some((_, at)) = &c.started {
                    json!({"running": {"startedAt": at}, "waiting": null, "terminated": null})
                } else if let Some((reason, message)) = &c.waiting {
                    json!({"waiting": {"reason": reason, "message": message}, "running": null, "terminated": null})
                } else if let Some(terminated) = &c.last_terminated {
                    json!({"terminated": terminated, "running": null, "waiting": null})
                } else {
                    json!({"waiting": {"reason": "ContainerCreating"}, "running": null, "terminated": null})
                };
                let pid = c.child.as_ref().map(|ch| ch.id());
                json!({
                    "name": c.container.name,
                    "image": c.container.image,
                    "imageID": "",
                    "containerID": pid.map(|p| format!("process://{p}")),
                    "ready": c.ready(),
                    "started": c.started_ok(),
                    "restartCount": c.restart_count,
                    "state": state,
                    "lastState": c.last_terminated.as_ref().map(|t| json!({"terminated": t})).unwrap_or(json!({})),
                })
            })
            .collect();
        let running = self.containers.iter().any(|c| c.child.is_some());
        let all_done = self.containers.iter().all(|c| c.done.is_some());
        let phase = if all_done && !self.containers.is_empty() {
            if self.containers.iter().all(|c| c.done == Some(0)) {
                "Succeeded"
            } else {
                "Failed"
            }
        } else if running || self.containers.iter().any(|c| c.restart_count > 0) {
            "Running"
        } else {
            "Pending"
        };
        let containers_ready =
            !self.containers.is_empty() && self.containers.iter().all(ContainerRun::ready);
        // readiness gates: conditions others own, which must be True too
        let gates_ok = {
            let current = self
                .pod
                .status
                .as_ref()
                .and_then(|s| s.conditions.clone())
                .unwrap_or_default();
            self.pod
                .spec
                .as_ref()
                .and_then(|s| s.readiness_gates.clone())
                .unwrap_or_default()
                .iter()
                .all(|g| {
                    current
                        .iter()
                        .any(|c| c.type_ == g.condition_type && c.status == "True")
                })
        };
        let ready = containers_ready && gates_ok;
        let not_ready_reason = (!containers_ready).then_some("ContainersNotReady");
        let conditions = vec![
            self.condition("PodReadyToStartContainers", true, None),
            self.condition("Initialized", true, None),
            self.condition("ContainersReady", containers_ready, not_ready_reason),
            self.condition(
                "Ready",
                ready,
                if containers_ready {
                    (!gates_ok).then_some("ReadinessGatesNotReady")
                } else {
                    not_ready_reason
                },
            ),
        ];
        let host = self.shared.node_address.to_string();
        let status = json!({
            // a precondition: never the status of a later pod of the same name
            "metadata": {"uid": self.pod.metadata.uid},
            "status": {
                "phase": phase,
                "hostIP": host,
                "hostIPs": [{"ip": host}],
                "podIP": self.address.to_string(),
                "podIPs": [{"ip": self.address.to_string()}],
                "startTime": self.start_time,
                "conditions": conditions,
                "containerStatuses": statuses,
            }
        });
        // conditions keep their transition times: compare without re-stamping
        if self.last_status.as_ref() == Some(&status) {
            return;
        }
        let ns = self.pod.metadata.namespace.clone().unwrap_or_default();
        let name = self.pod.metadata.name.clone().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.shared.client.clone(), &ns);
        match api
            .patch_status(&name, &PatchParams::default(), &Patch::Strategic(&status))
            .await
        {
            Ok(_) => self.last_status = Some(status),
            Err(e) => tracing::debug!(pod = %name, error = %e, "cannot write the pod's status"),
        }
    }
}
