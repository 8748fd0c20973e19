//! The container image (`Dockerfile`) and the compose cluster (`docker-compose.yml`), built
//! and run with podman as a user would with docker: the image is built from the Dockerfile,
//! started on an `--internal` network (traffic stays on this machine), configured only by
//! `IRONLOG_*` variables, written to with acks=all from the host (which reaches the
//! containers' addresses on the network's bridge), killed and restarted.
//!
//! How podman runs and how the image is built (from source, offline, rebuilt when an input
//! changed): `ironlog_testkit::images`, which the operator's image tests share.
//!
//! Without podman, runc, debootstrap or podman-compose these tests fail, naming what to
//! install (`./test.sh` installs them).
mod common;

use std::collections::{BTreeMap, HashSet};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::*;
use rdkafka::admin::{NewTopic, TopicReplication};
use rdkafka::consumer::Consumer;

use ironlog_testkit::images::{
    podman, podman_global_args, podman_output, require_tool, ulimit_args, PODMAN_TIMEOUT, UID_GID,
};

/// How long a broker in a container may take from start to `ironlog: started`.
const CONTAINER_START_TIMEOUT: Duration = Duration::from_secs(90);
const LINE_STARTED: &str = "ironlog: started";

fn require_podman_compose() {
    require_tool("podman-compose", &["version"], "podman-compose");
}

fn repo_root() -> PathBuf {
    ironlog_testkit::images::repo_root()
}

/// The broker image, built from the Dockerfile's `broker` target when its inputs changed.
fn ensure_image() -> &'static str {
    ironlog_testkit::images::ensure_image(&ironlog_testkit::images::BROKER)
}

/// A name no other test (or test process) uses.
fn unique_name(what: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("ironlog-test-{what}-{}-{n}", std::process::id())
}

/// An `--internal` podman network, removed when dropped.
struct Network {
    name: String,
}

impl Network {
    fn create() -> Self {
        let name = unique_name("net");
        podman(&["network", "create", "--internal", &name]);
        Network { name }
    }

    /// A fixed address on this network (its subnet's host number 10).
    fn address(&self) -> Ipv4Addr {
        let subnet = podman(&[
            "network",
            "inspect",
            &self.name,
            "--format",
            "{{range .Subnets}}{{.Subnet}} {{end}}",
        ]);
        let first = subnet.split_whitespace().next().unwrap_or_default();
        let (base, prefix) = first
            .split_once('/')
            .unwrap_or_else(|| panic!("network {} has no IPv4 subnet: {subnet:?}", self.name));
        let base: Ipv4Addr = base
            .parse()
            .unwrap_or_else(|_| panic!("network {}: subnet {first} is not IPv4", self.name));
        assert!(
            prefix.parse::<u8>().is_ok_and(|p| p <= 28),
            "network {}: subnet {first} is too small for host number 10",
            self.name
        );
        Ipv4Addr::from(u32::from(base) + 10)
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        let _ = podman_output(&["network", "rm", "--force", &self.name], PODMAN_TIMEOUT);
    }
}

/// A named volume, removed when dropped.
struct Volume {
    name: String,
}

impl Volume {
    fn create() -> Self {
        let name = unique_name("data");
        podman(&["volume", "create", &name]);
        Volume { name }
    }
}

impl Drop for Volume {
    fn drop(&mut self) {
        let _ = podman_output(&["volume", "rm", "--force", &self.name], PODMAN_TIMEOUT);
    }
}

/// A container this test started; removed (with its anonymous volumes) when dropped. On a
/// failing test its log is printed first.
struct Container {
    name: String,
}

impl Container {
    fn run(args: &[&str]) -> Self {
        let name = unique_name("broker");
        let mut all: Vec<String> = vec!["run".into(), "--detach".into(), "--name".into()];
        all.push(name.clone());
        all.extend(ulimit_args());
        all.extend(args.iter().map(|s| s.to_string()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        podman(&all);
        Container { name }
    }

    fn is_running(&self) -> bool {
        podman(&["inspect", "--format", "{{.State.Running}}", &self.name]) == "true"
    }

    /// `State.ExitCode` of the stopped container.
    fn exit_code(&self) -> String {
        podman(&["inspect", "--format", "{{.State.ExitCode}}", &self.name])
    }

    fn exec(&self, command: &[&str]) -> String {
        let mut args = vec!["exec", self.name.as_str()];
        args.extend_from_slice(command);
        podman(&args)
    }

    fn log_tail(&self) -> String {
        container_log_tail(&self.name)
    }

    /// Waits until the container's output holds `count` `ironlog: started` lines.
    fn wait_started(&self, count: usize) {
        wait_for_container_start(&self.name, count);
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.log_tail());
        }
        let _ = podman_output(
            &["rm", "--force", "--volumes", "--time", "0", &self.name],
            PODMAN_TIMEOUT,
        );
    }
}

/// The last lines of a container's output (stdout and stderr), for failure messages.
fn container_log_tail(name: &str) -> String {
    let output = podman_output(&["logs", "--tail", "100", name], PODMAN_TIMEOUT);
    format!(
        "----- container {name} (last 100 lines of each stream) -----\n{}\n{}\n----- end of {name} -----",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Waits until container `name` printed `count` `ironlog: started` lines; fails early if it
/// stops running.
fn wait_for_container_start(name: &str, count: usize) {
    let deadline = Instant::now() + CONTAINER_START_TIMEOUT;
    loop {
        let output = podman_output(&["logs", name], PODMAN_TIMEOUT);
        let started = String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|line| line.trim() == LINE_STARTED)
            .count();
        if started >= count {
            return;
        }
        // `created` (or `configured`) without an error: not started yet, as podman-compose
        // starts its services one after another; a start that failed leaves its error there
        let state = podman(&[
            "inspect",
            "--format",
            "{{.State.Status}}|{{.State.ExitCode}}|{{.State.Error}}",
            name,
        ]);
        let mut fields = state.splitn(3, '|');
        let (status, exit_code, error) = (
            fields.next().unwrap_or_default(),
            fields.next().unwrap_or_default(),
            fields.next().unwrap_or_default(),
        );
        let waiting = status == "running"
            || (matches!(status, "created" | "configured" | "initialized") && error.is_empty());
        assert!(
            waiting,
            "container {name} stopped before printing `{LINE_STARTED}` (start {count}): status \
             {status}, exit code {exit_code}, error {error:?}:\n{}",
            container_log_tail(name)
        );
        assert!(
            Instant::now() < deadline,
            "container {name} did not print `{LINE_STARTED}` (start {count}) within \
             {CONTAINER_START_TIMEOUT:?} (status {status}):\n{}",
            container_log_tail(name)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

// ------------------------------------------------------------------------------ image

/// The image's config as `podman image inspect` shows it.
fn image_config(image: &str) -> serde_json::Value {
    let json = podman(&["image", "inspect", image]);
    let parsed: serde_json::Value = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("podman image inspect {image}: not JSON ({e}):\n{json}"));
    parsed
        .get(0)
        .cloned()
        .unwrap_or_else(|| panic!("podman image inspect {image}: no image:\n{json}"))
}

#[test]
fn image_runs_the_broker_as_its_own_user_with_healthcheck_and_data_volume() {
    let image = ensure_image();
    let inspected = image_config(image);
    let config = &inspected["Config"];
    assert_eq!(
        config["User"], UID_GID,
        "the image must run as the fixed non-root user: {config:#}"
    );
    assert_eq!(
        config["Entrypoint"],
        serde_json::json!(["ironlog", "broker"]),
        "entrypoint: {config:#}"
    );
    assert!(
        config["Volumes"].get("/var/lib/ironlog").is_some(),
        "/var/lib/ironlog must be a volume: {config:#}"
    );
    let env: Vec<&str> = config["Env"]
        .as_array()
        .map(|vars| vars.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    for expected in [
        "IRONLOG_LOG_DIRS=/var/lib/ironlog",
        "IRONLOG_LISTENERS=PLAINTEXT://0.0.0.0:9092",
        "IRONLOG_ADVERTISED_LISTENERS=PLAINTEXT://localhost:9092",
    ] {
        assert!(
            env.contains(&expected),
            "the image's defaults lack {expected}: {env:?}"
        );
    }
    // ["CMD", program, args...]
    let healthcheck: Vec<String> = inspected["Healthcheck"]["Test"]
        .as_array()
        .map(|test| {
            test.iter()
                .filter_map(|a| a.as_str())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        healthcheck,
        ["CMD", "ironlog", "healthcheck"],
        "the image's HEALTHCHECK must ask the broker's readiness: {inspected:#}"
    );

    let network = Network::create();
    let address = network.address().to_string();
    let container = Container::run(&[
        "--network",
        &network.name,
        "--ip",
        &address,
        "-e",
        &format!("IRONLOG_ADVERTISED_LISTENERS=PLAINTEXT://{address}:9092"),
        image,
    ]);
    container.wait_started(1);

    // The broker is the container's first process, running as 1000:1000.
    assert_eq!(container.exec(&["cat", "/proc/1/comm"]), "ironlog");
    let status = container.exec(&["cat", "/proc/1/status"]);
    for field in ["Uid:", "Gid:"] {
        let ids: Vec<&str> = status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .map(|rest| rest.split_whitespace().collect())
            .unwrap_or_default();
        assert_eq!(
            ids,
            vec!["1000"; 4],
            "the broker's {field} (real, effective, saved, fs) must all be 1000:\n{status}"
        );
    }
    // Its data is on the volume, owned by that user.
    assert_eq!(
        container.exec(&["stat", "-c", "%u:%g", "/var/lib/ironlog/meta.properties"]),
        UID_GID,
        "meta.properties must be written into /var/lib/ironlog by the broker's user"
    );
    let mounts = podman(&[
        "inspect",
        "--format",
        "{{range .Mounts}}{{.Type}}:{{.Destination}} {{end}}",
        &container.name,
    ]);
    assert!(
        mounts.contains("volume:/var/lib/ironlog"),
        "/var/lib/ironlog must be a volume in the container: {mounts}"
    );
    // The healthcheck passes against the running broker...
    let health = podman_output(&["healthcheck", "run", &container.name], PODMAN_TIMEOUT);
    assert!(
        health.status.success(),
        "the HEALTHCHECK failed against a started broker: {}{}",
        String::from_utf8_lossy(&health.stdout),
        String::from_utf8_lossy(&health.stderr)
    );
    // ...and the same command fails where no broker answers: it asks the admin listener
    // its IRONLOG_* settings name.
    let mut refused = vec![
        "exec",
        "-e",
        "IRONLOG_ADMIN_LISTENER=http://0.0.0.0:9",
        container.name.as_str(),
    ];
    refused.extend(healthcheck[1..].iter().map(String::as_str));
    let refused = podman_output(&refused, PODMAN_TIMEOUT);
    assert!(
        !refused.status.success(),
        "the HEALTHCHECK command passed with the admin listener on port 9, where nothing \
         listens"
    );
}

/// A broker container on its own `--internal` network at a fixed address, with its data on
/// a named volume, configured only by `IRONLOG_*` variables: what a user runs with
/// `docker run -v data:/var/lib/ironlog -e ...`.
struct SingleNode {
    image: &'static str,
    network: Network,
    volume: Volume,
    address: String,
}

impl SingleNode {
    fn new() -> Self {
        let image = ensure_image();
        let network = Network::create();
        let volume = Volume::create();
        let address = network.address().to_string();
        SingleNode {
            image,
            network,
            volume,
            address,
        }
    }

    fn bootstrap(&self) -> BootstrapServers {
        BootstrapServers(format!("{}:9092", self.address))
    }

    /// A new container of the image on the volume, started.
    fn run(&self) -> Container {
        let volume_arg = format!("{}:/var/lib/ironlog", self.volume.name);
        let advertised = format!(
            "IRONLOG_ADVERTISED_LISTENERS=PLAINTEXT://{}:9092",
            self.address
        );
        let container = Container::run(&[
            "--network",
            &self.network.name,
            "--ip",
            &self.address,
            "-v",
            &volume_arg,
            "-e",
            &advertised,
            "-e",
            "IRONLOG_NUM_PARTITIONS=3",
            self.image,
        ]);
        container.wait_started(1);
        container
    }

    /// The volume's directory on this machine (podman runs as root: a host path).
    fn volume_dir(&self) -> PathBuf {
        PathBuf::from(podman(&[
            "volume",
            "inspect",
            "--format",
            "{{.Mountpoint}}",
            &self.volume.name,
        ]))
    }
}

/// acks=all writes until `count` are acknowledged; returns the load still running.
fn load_until_acked(node: &SingleNode, topic: &str, count: usize) -> ProduceLoad {
    // No retries, so nothing is stored twice.
    let load = ProduceLoad::start(
        &node.bootstrap(),
        topic,
        &[
            ("message.send.max.retries", "0"),
            ("message.timeout.ms", "10000"),
        ],
        Duration::from_secs(180),
    );
    wait_until(
        Duration::from_secs(90),
        &format!("{count} acknowledged records"),
        || load.acked_count() >= count,
    );
    load
}

/// A user's session with the image: a broker configured only by environment variables,
/// written to under load with acks=all, killed (`podman kill` is SIGKILL), started again,
/// then killed, removed and replaced by a new container on the same named volume (as an
/// upgrade does): every acknowledged record is there each time.
#[test]
fn container_keeps_every_acknowledged_record_across_kill_and_restart() {
    let node = SingleNode::new();
    let bootstrap = node.bootstrap();
    let container = node.run();
    let topic = topic_name("container");
    let load = load_until_acked(&node, &topic, 1000);

    // The settings came from the environment: the advertised address, and num.partitions
    // for the topic the producer's first send created.
    let metadata = bootstrap
        .consumer()
        .fetch_metadata(Some(&topic), CLIENT_TIMEOUT)
        .expect("metadata from the container");
    let brokers: Vec<String> = metadata
        .brokers()
        .iter()
        .map(|b| format!("{}:{}", b.host(), b.port()))
        .collect();
    assert_eq!(
        brokers,
        vec![bootstrap.0.clone()],
        "IRONLOG_ADVERTISED_LISTENERS must be what the broker advertises"
    );
    let partitions = metadata.topics()[0].partitions().len() as i32;
    assert_eq!(
        partitions, 3,
        "IRONLOG_NUM_PARTITIONS=3 must set the auto-created topic's partitions"
    );

    // SIGKILL under load.
    podman(&["kill", &container.name]);
    let outcome = load.stop();
    assert!(
        !container.is_running(),
        "the container still runs after podman kill"
    );
    assert_eq!(
        container.exit_code(),
        "137",
        "podman kill must end the broker by SIGKILL"
    );
    let mut acked = outcome.acked_values();
    eprintln!(
        "{} records acknowledged before podman kill ({} sends not acknowledged)",
        acked.len(),
        outcome.failed
    );

    podman(&["start", &container.name]);
    container.wait_started(2);
    check_acknowledged(
        &bootstrap,
        &topic,
        partitions,
        &acked,
        "after podman kill and start",
    );

    // The restarted broker takes writes again.
    let (partition, offset) =
        bootstrap.produce_one(&bootstrap.producer(), &topic, 0, b"after", b"after-restart");
    acked.insert((partition, offset), "after-restart".to_string());

    // The data lives on the named volume: a new container on it has everything.
    podman(&["kill", &container.name]);
    drop(container);
    let _replacement = node.run();
    check_acknowledged(
        &bootstrap,
        &topic,
        partitions,
        &acked,
        "in a new container on the same volume",
    );
}

/// `docker stop` sends the image's STOPSIGNAL (SIGTERM) to the broker, PID 1: it shuts down
/// cleanly (exit status 0 within the grace period, the clean-shutdown marker on the volume)
/// and a container started again on the volume has every acknowledged record.
#[test]
fn container_stops_cleanly_on_sigterm() {
    let node = SingleNode::new();
    let bootstrap = node.bootstrap();
    let container = node.run();
    let topic = topic_name("sigterm");
    let outcome = load_until_acked(&node, &topic, 500).stop();
    let acked = outcome.acked_values();

    let marker = node.volume_dir().join(".kafka_cleanshutdown");
    assert!(
        !marker.exists(),
        "{} exists while the broker runs",
        marker.display()
    );
    // podman stop sends the STOPSIGNAL and SIGKILLs after --time: exit status 0, not 137,
    // says the broker ended by itself.
    podman(&["stop", "--time", "60", &container.name]);
    assert_eq!(
        container.exit_code(),
        "0",
        "the broker must exit 0 on SIGTERM (137 = it was killed after the grace period):\n{}",
        container.log_tail()
    );
    assert!(
        container.log_tail().contains("broker stopped cleanly"),
        "the broker did not log its clean shutdown:\n{}",
        container.log_tail()
    );
    assert!(
        marker.exists(),
        "a clean shutdown leaves {} on the volume",
        marker.display()
    );

    podman(&["start", &container.name]);
    container.wait_started(2);
    check_acknowledged(&bootstrap, &topic, 3, &acked, "after podman stop and start");
}

// ------------------------------------------------------------------------------ compose

/// The repository's docker-compose.yml started with podman-compose, with a test override:
/// the network `--internal`, and each node's PLAINTEXT_HOST listener advertised at the
/// container's address on it (an internal network publishes no ports, and the host reaches
/// the containers' addresses). `down --volumes` when dropped.
struct ComposeProject {
    project: String,
    dir: tempfile::TempDir,
    host_ports: [u16; 3],
    /// What `podman-compose up` printed (it can exit 0 with a service not started).
    up_output: String,
}

impl ComposeProject {
    fn up(image: &str) -> Self {
        require_podman_compose();
        let dir = tempfile::Builder::new()
            .prefix("ironlog-compose-")
            .tempdir()
            .expect("temp dir");
        let mut services = String::new();
        for n in 1..=3 {
            services.push_str(&format!(
                "  broker-{n}:\n    entrypoint: [\"bash\", \"-c\", \"exec ironlog broker --override \
                 advertised.listeners=PLAINTEXT://broker-{n}:9092,PLAINTEXT_HOST://`hostname -i`:29092\"]\n"
            ));
        }
        let override_yml = format!(
            "# written by broker/tests/container.rs\nnetworks:\n  ironlog:\n    internal: true\nservices:\n{services}"
        );
        std::fs::write(dir.path().join("internal.yml"), override_yml).expect("write override");
        // An internal network publishes no ports, but podman still reserves the host ports
        // the file names: free ones, outside the ephemeral range where every other test's
        // port-0 listeners and outgoing connections take theirs (a port taken meanwhile
        // can leave a service created but not started).
        let any = std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);
        let port = || allocate_port(any).unwrap_or_else(|e| panic!("a host port: {e}"));
        let host_ports = [port(), port(), port()];
        let mut project = ComposeProject {
            project: unique_name("compose"),
            dir,
            host_ports,
            up_output: String::new(),
        };
        let image = image.to_string();
        let run_args = ulimit_args().join(" ");
        project.up_output = project.compose(
            &[
                &format!("--podman-run-args={run_args}"),
                "up",
                "--detach",
                "--no-build",
            ],
            &[("IMAGE", image.as_str())],
        );
        project
    }

    /// Runs podman-compose with the repository's file, the override and this project;
    /// panics with its output if it fails, else returns it.
    fn compose(&self, args: &[&str], env: &[(&str, &str)]) -> String {
        let compose_file = repo_root().join("docker-compose.yml");
        let override_file = self.dir.path().join("internal.yml");
        let mut command = Command::new("timeout");
        command
            .arg(PODMAN_TIMEOUT.as_secs().to_string())
            .arg("podman-compose")
            .arg(format!("--podman-args={}", podman_global_args().join(" ")))
            .arg("--project-name")
            .arg(&self.project)
            .arg("--file")
            .arg(&compose_file)
            .arg("--file")
            .arg(&override_file);
        command
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null());
        for (n, port) in self.host_ports.iter().enumerate() {
            command.env(format!("BROKER_{}_HOST_PORT", n + 1), port.to_string());
        }
        let output = command
            .output()
            .unwrap_or_else(|e| panic!("cannot run podman-compose: {e}"));
        assert!(
            output.status.success(),
            "podman-compose {} failed ({}):\n{}{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    }

    /// The containers of service `broker-N` (found by compose's labels).
    fn containers_of(&self, n: usize) -> Vec<String> {
        let output = podman_output(
            &[
                "ps",
                "--all",
                "--filter",
                &format!("label=com.docker.compose.project={}", self.project),
                "--filter",
                &format!("label=com.docker.compose.service=broker-{n}"),
                "--format",
                "{{.Names}}",
            ],
            PODMAN_TIMEOUT,
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|l| l.trim().to_string())
            .filter(|l| !l.is_empty())
            .collect()
    }

    /// The container of service `broker-N`.
    fn container(&self, n: usize) -> String {
        let names = self.containers_of(n);
        assert_eq!(names.len(), 1, "service broker-{n}: containers {names:?}");
        names[0].clone()
    }

    /// The address of broker-N on the project's network.
    fn address(&self, n: usize) -> String {
        let address = podman(&[
            "inspect",
            "--format",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
            &self.container(n),
        ]);
        address
            .split_whitespace()
            .next()
            .unwrap_or_else(|| panic!("broker-{n} has no address"))
            .to_string()
    }

    /// `address:29092` of broker-N's PLAINTEXT_HOST listener.
    fn host_listener(&self, n: usize) -> String {
        format!("{}:29092", self.address(n))
    }

    fn bootstrap(&self) -> String {
        (1..=3)
            .map(|n| self.host_listener(n))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn wait_started(&self, n: usize, count: usize) {
        wait_for_container_start(&self.container(n), count);
    }
}

impl Drop for ComposeProject {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "----- podman-compose up -----\n{}\n----- end of podman-compose up -----",
                self.up_output
            );
            for n in 1..=3 {
                for name in self.containers_of(n) {
                    eprintln!("{}", container_log_tail(&name));
                }
            }
        }
        let compose_file = repo_root().join("docker-compose.yml");
        let _ = Command::new("timeout")
            .arg(PODMAN_TIMEOUT.as_secs().to_string())
            .arg("podman-compose")
            .arg(format!("--podman-args={}", podman_global_args().join(" ")))
            .arg("--project-name")
            .arg(&self.project)
            .arg("--file")
            .arg(&compose_file)
            .arg("--file")
            .arg(self.dir.path().join("internal.yml"))
            .args(["down", "--volumes", "--timeout", "30"])
            .stdin(Stdio::null())
            .output();
        let _ = podman_output(
            &[
                "network",
                "rm",
                "--force",
                &format!("{}_ironlog", self.project),
            ],
            PODMAN_TIMEOUT,
        );
    }
}

/// What the compose file gives today: podman-compose accepts it, each node starts as its
/// own user with its data on its volume, and the environment the file gives it is what it
/// runs with (node id, roles, quorum voters, listeners, replication settings). The nodes do
/// not form one cluster yet, and the test says so (each lists only itself).
#[test]
fn compose_file_starts_three_nodes_each_configured_by_its_environment() {
    let image = ensure_image();
    let project = ComposeProject::up(image);
    for n in 1..=3 {
        project.wait_started(n, 1);
        let container = project.container(n);
        let stdout =
            String::from_utf8_lossy(&podman_output(&["logs", &container], PODMAN_TIMEOUT).stdout)
                .into_owned();
        for line in [
            "ironlog: listener PLAINTEXT bound to 0.0.0.0:9092",
            "ironlog: listener PLAINTEXT_HOST bound to 0.0.0.0:29092",
        ] {
            assert!(
                stdout.lines().any(|l| l.trim() == line),
                "broker-{n} did not print `{line}`:\n{stdout}"
            );
        }
        assert_eq!(
            podman(&["exec", &container, "id", "-u"]),
            "1000",
            "broker-{n} must run as the image's user"
        );
        let meta = podman(&[
            "exec",
            &container,
            "cat",
            "/var/lib/ironlog/meta.properties",
        ]);
        assert!(
            meta.lines().any(|l| l.trim() == format!("node.id={n}")),
            "broker-{n}'s meta.properties must carry node.id={n}:\n{meta}"
        );
        let mounts = podman(&[
            "inspect",
            "--format",
            "{{range .Mounts}}{{.Name}}:{{.Destination}} {{end}}",
            &container,
        ]);
        assert!(
            mounts.contains(&format!("broker-{n}-data:/var/lib/ironlog")),
            "broker-{n}'s data must be on its named volume: {mounts}"
        );

        let listener = project.host_listener(n);
        // The three nodes form one cluster: each lists all three, every one at its
        // PLAINTEXT_HOST address (the listener this client came in on), once the node has
        // seen the others register.
        let expected: Vec<(i32, String)> = (1..=3)
            .map(|m| (m as i32, project.host_listener(m)))
            .collect();
        let consumer = consumer_for(&listener, &[]);
        wait_until(
            CLIENT_TIMEOUT,
            &format!("broker-{n} at {listener} to list brokers 1-3 at their host listeners"),
            || {
                let Ok(metadata) = consumer.fetch_metadata(None, CLIENT_TIMEOUT) else {
                    return false;
                };
                let mut advertised: Vec<(i32, String)> = metadata
                    .brokers()
                    .iter()
                    .map(|b| (b.id(), format!("{}:{}", b.host(), b.port())))
                    .collect();
                advertised.sort();
                advertised == expected
            },
        );
        let config = BootstrapServers(listener.clone()).broker_configs(n as i32);
        for (key, expected) in [
            ("default.replication.factor", "3"),
            ("min.insync.replicas", "2"),
            ("offsets.topic.replication.factor", "3"),
            ("controller.listener.names", "CONTROLLER"),
            ("process.roles", "broker,controller"),
            (
                "controller.quorum.voters",
                "1@broker-1:9093,2@broker-2:9093,3@broker-3:9093",
            ),
            ("inter.broker.listener.name", "PLAINTEXT"),
        ] {
            assert_eq!(
                config.get(key).cloned().flatten().as_deref(),
                Some(expected),
                "broker-{n}: {key} from the compose file's environment"
            );
        }
    }
}

/// The cluster the compose file describes keeps serving when a node dies and loses nothing
/// it acknowledged: an idempotent acks=all producer writes throughout, the leader of
/// partition 0 is killed (`podman kill`) and later started again, and every acknowledged
/// record is read back exactly once, in order per partition.
#[test]
fn compose_cluster_loses_no_acknowledged_write_when_a_broker_is_killed() {
    let image = ensure_image();
    let project = ComposeProject::up(image);
    for n in 1..=3 {
        project.wait_started(n, 1);
    }
    let bootstrap = project.bootstrap();
    let consumer = consumer_for(&bootstrap, &[]);
    wait_until(
        Duration::from_secs(120),
        "metadata listing brokers 1, 2 and 3",
        || {
            consumer
                .fetch_metadata(None, Duration::from_secs(5))
                .map(|md| {
                    let mut ids: Vec<i32> = md.brokers().iter().map(|b| b.id()).collect();
                    ids.sort();
                    ids == vec![1, 2, 3]
                })
                .unwrap_or(false)
        },
    );

    let topic = topic_name("compose");
    let partitions = 3;
    let admin: rdkafka::admin::AdminClient<rdkafka::client::DefaultClientContext> =
        client_config(&bootstrap)
            .create()
            .expect("create admin client");
    let created = block_on(admin.create_topics(
        [&NewTopic::new(
            &topic,
            partitions,
            TopicReplication::Fixed(3),
        )],
        &admin_options(),
    ))
    .expect("CreateTopics request");
    assert!(
        created.iter().all(|r| r.is_ok()),
        "creating {topic} with replication factor 3: {created:?}"
    );
    let isr_sizes = |topic: &str| -> Vec<usize> {
        consumer
            .fetch_metadata(Some(topic), Duration::from_secs(5))
            .map(|md| {
                md.topics()
                    .iter()
                    .flat_map(|t| t.partitions())
                    .map(|p| if p.leader() >= 0 { p.isr().len() } else { 0 })
                    .collect()
            })
            .unwrap_or_default()
    };
    wait_until(
        Duration::from_secs(60),
        "every partition of the topic led with 3 in-sync replicas",
        || {
            let sizes = isr_sizes(&topic);
            sizes.len() == partitions as usize && sizes.iter().all(|&s| s == 3)
        },
    );

    let load = ProduceLoad::start(
        &BootstrapServers(bootstrap.clone()),
        &topic,
        &[
            ("enable.idempotence", "true"),
            ("message.timeout.ms", "120000"),
        ],
        Duration::from_secs(600),
    );
    wait_until(
        Duration::from_secs(120),
        "1000 acknowledged records before the kill",
        || load.acked_count() >= 1000,
    );

    let leader = consumer
        .fetch_metadata(Some(&topic), CLIENT_TIMEOUT)
        .expect("metadata")
        .topics()[0]
        .partitions()
        .iter()
        .find(|p| p.id() == 0)
        .map(|p| p.leader())
        .expect("partition 0 in metadata");
    assert!(
        (1..=3).contains(&leader),
        "partition 0 has no leader among brokers 1-3: {leader}"
    );
    let victim = project.container(leader as usize);
    podman(&["kill", &victim]);
    let acked_at_kill = load.acked_count();
    wait_until(
        Duration::from_secs(180),
        "1000 more acknowledged records with the leader of partition 0 killed",
        || load.acked_count() >= acked_at_kill + 1000,
    );

    podman(&["start", &victim]);
    project.wait_started(leader as usize, 2);
    wait_until(
        Duration::from_secs(180),
        "every partition back at 3 in-sync replicas after the restart",
        || isr_sizes(&topic).iter().all(|&s| s == 3),
    );
    let LoadOutcome { acked, failed } = load.stop();
    assert_eq!(
        failed, 0,
        "sends failed through the failover: an idempotent acks=all producer must ride it out"
    );
    eprintln!(
        "{} records acknowledged, {acked_at_kill} before broker {leader} was killed",
        acked.len()
    );
    for partition in 0..partitions {
        let records = BootstrapServers(bootstrap.clone()).consume_all(&topic, partition, 0);
        let mut seen = HashSet::new();
        for record in &records {
            assert!(
                seen.insert(record.key.clone()),
                "partition {partition}: key {} stored twice (again at offset {})",
                record.key_str(),
                record.offset
            );
        }
        let by_offset: BTreeMap<i64, String> =
            records.iter().map(|r| (r.offset, r.value_str())).collect();
        let mut previous = -1;
        for AckedRecord {
            partition: p,
            offset,
            key,
            value,
        } in acked.iter().filter(|r| r.partition == partition)
        {
            assert!(
                *offset > previous,
                "partition {p}: {key} acknowledged at offset {offset}, not after {previous}"
            );
            previous = *offset;
            assert_eq!(
                by_offset.get(offset),
                Some(value),
                "acknowledged record {p}/{offset} ({key}) is missing or different after the \
                 kill"
            );
        }
    }
}
