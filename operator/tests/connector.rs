//! The Connector controller against a real API server and Kafka's own Java Connect worker
//! (`ConnectDistributed` with the FileStream connectors, jars from Maven Central through
//! `tests/clients/connect/pom.xml`) on a real Ironlog broker. What the operator did is
//! checked with other clients: librdkafka reads the connector's records, curl asks the
//! worker's REST API.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ironlog_operator::crd::Connector;
use ironlog_testkit::control_plane::ControlPlaneSpec;
use ironlog_testkit::{KafkaClients, TestBroker, TestDir};
use kube::api::{Api, DeleteParams};
use kube::Client;
use serde_json::{json, Value};

use common::{apply, broker_binary, install_crds, namespace, plane, wait_until};

const SPEC: ControlPlaneSpec = ControlPlaneSpec {
    controller_manager: false,
    scheduler: false,
};
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(90);
/// How long the worker may take to start and join its group (a JVM on a busy machine).
const WORKER_START_TIMEOUT: Duration = Duration::from_secs(180);

fn connect_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients/connect")
}

/// The worker's classpath, resolved by Maven once per test binary.
fn classpath() -> &'static str {
    static CLASSPATH: OnceLock<String> = OnceLock::new();
    CLASSPATH.get_or_init(|| {
        let dir = connect_dir();
        let status = Command::new("mvn")
            .args([
                "-B",
                "-q",
                "dependency:build-classpath",
                "-Dmdep.outputFile=target/classpath.txt",
            ])
            .current_dir(&dir)
            .status()
            .unwrap_or_else(|e| {
                panic!("cannot run mvn (Maven is needed for the Connect worker): {e}")
            });
        assert!(
            status.success(),
            "mvn could not resolve the Connect worker's jars"
        );
        std::fs::read_to_string(dir.join("target/classpath.txt"))
            .expect("mvn wrote the classpath")
            .trim()
            .to_string()
    })
}

/// A Connect worker process (distributed mode, one member), killed when dropped.
struct ConnectWorker {
    child: Child,
    log: PathBuf,
    url: String,
}

impl ConnectWorker {
    fn start(bootstrap: &str, dir: &Path, group: &str) -> ConnectWorker {
        let properties = dir.join("worker.properties");
        std::fs::write(
            &properties,
            format!(
                "bootstrap.servers={bootstrap}\n\
                 group.id={group}\n\
                 key.converter=org.apache.kafka.connect.storage.StringConverter\n\
                 value.converter=org.apache.kafka.connect.storage.StringConverter\n\
                 config.storage.topic={group}-configs\n\
                 offset.storage.topic={group}-offsets\n\
                 status.storage.topic={group}-status\n\
                 config.storage.replication.factor=1\n\
                 offset.storage.replication.factor=1\n\
                 status.storage.replication.factor=1\n\
                 offset.flush.interval.ms=1000\n\
                 listeners=http://127.0.0.1:0\n"
            ),
        )
        .expect("write worker.properties");
        let log = dir.join("worker.log");
        let out = std::fs::File::create(&log).expect("the worker's log file");
        let child = Command::new("java")
            .arg(format!(
                "-Dlog4j2.configurationFile={}",
                connect_dir().join("log4j2.properties").display()
            ))
            .arg("-cp")
            .arg(classpath())
            .arg("org.apache.kafka.connect.cli.ConnectDistributed")
            .arg(&properties)
            .stdout(Stdio::from(out.try_clone().expect("dup the log file")))
            .stderr(Stdio::from(out))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start java: {e}"));
        let mut worker = ConnectWorker {
            child,
            log,
            url: String::new(),
        };
        let deadline = Instant::now() + WORKER_START_TIMEOUT;
        loop {
            let text = worker.log_text();
            if worker.url.is_empty() {
                if let Some(rest) = text.split("REST server listening at ").nth(1) {
                    worker.url = rest
                        .split(',')
                        .next()
                        .unwrap_or_default()
                        .trim_end_matches('/')
                        .to_string();
                }
            }
            if !worker.url.is_empty() && text.contains("Joined group at generation") {
                return worker;
            }
            if let Ok(Some(status)) = worker.child.try_wait() {
                panic!(
                    "the Connect worker exited ({status}):\n{}",
                    worker.log_tail()
                );
            }
            assert!(
                Instant::now() < deadline,
                "the Connect worker did not join its group within {WORKER_START_TIMEOUT:?}:\n{}",
                worker.log_tail()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn log_tail(&self) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }

    /// How often the worker's log says `needle`.
    fn count(&self, needle: &str) -> usize {
        self.log_text().matches(needle).count()
    }

    /// `GET path` with curl: the HTTP status and the body.
    fn get(&self, path: &str) -> (u16, String) {
        let output = Command::new("curl")
            .args(["-s", "-m", "20", "-w", "\n%{http_code}"])
            .arg(format!("{}{path}", self.url))
            .output()
            .unwrap_or_else(|e| panic!("cannot run curl: {e}"));
        let text = String::from_utf8_lossy(&output.stdout).to_string();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }

    /// The connector's state as the worker's REST API reports it.
    fn state(&self, name: &str) -> Option<String> {
        let (code, body) = self.get(&format!("/connectors/{name}/status"));
        if code != 200 {
            return None;
        }
        let status: Value = serde_json::from_str(&body).ok()?;
        status["connector"]["state"].as_str().map(String::from)
    }
}

impl Drop for ConnectWorker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn setup(
    prefix: &str,
) -> (
    Client,
    String,
    std::sync::Arc<ironlog_operator::metrics::Metrics>,
) {
    let (_, client) = plane(SPEC).await;
    install_crds(&client).await;
    let ns = namespace(&client, prefix).await;
    let metrics = ironlog_operator::metrics::Metrics::new().expect("metrics register");
    tokio::spawn(ironlog_operator::connector::reconcile::run(
        client.clone(),
        Some(ns.clone()),
        std::sync::Arc::clone(&metrics),
        std::future::pending(),
    ));
    (client, ns, metrics)
}

fn connector(name: &str, url: &str, spec: Value) -> Value {
    let mut spec = spec;
    spec["connectCluster"] = json!({ "url": url });
    json!({"apiVersion": "ironlog.dev/v1alpha1", "kind": "Connector", "metadata": {"name": name}, "spec": spec})
}

/// Waits until Connector `name` is `Ready=status` (`reason`) at its generation and `check`
/// holds for it.
async fn ready_when(
    client: &Client,
    ns: &str,
    name: &str,
    status: &str,
    reason: &str,
    check: impl Fn(&Connector) -> bool,
) -> Connector {
    common::ready_at_generation(client, ns, name, (status, reason), CONVERGE_TIMEOUT, check).await
}

fn connector_state(c: &Connector) -> Option<&str> {
    c.status.as_ref()?.connector_state.as_deref()
}

/// Waits until `topic` holds `count` records; returns their values.
async fn records(broker: &std::sync::Arc<TestBroker>, topic: &str, count: usize) -> Vec<String> {
    wait_until(
        CONVERGE_TIMEOUT,
        &format!("{count} records in {topic}"),
        || {
            let broker = std::sync::Arc::clone(broker);
            let topic = topic.to_string();
            async move {
                let values = tokio::task::spawn_blocking(move || {
                    broker
                        .consume_all(&topic, 0, 0)
                        .into_iter()
                        .map(|r| {
                            String::from_utf8_lossy(r.value.as_deref().unwrap_or_default())
                                .to_string()
                        })
                        .collect::<Vec<_>>()
                })
                .await
                .ok()?;
                (values.len() >= count).then_some(values)
            }
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_source_connector_runs_pauses_resumes_restarts_and_is_deleted() {
    let (client, ns, _) = setup("connector").await;
    let binary = broker_binary();
    let broker = std::sync::Arc::new(
        tokio::task::spawn_blocking(move || TestBroker::start_binary(binary, &[]))
            .await
            .expect("the broker started"),
    );
    let dir = TestDir::new("ironlog-connect").expect("a temp dir");
    let input = dir.path().join("input.txt");
    std::fs::write(&input, "first line\nsecond line\n").expect("the source file");
    let worker = {
        let bootstrap = broker.bootstrap().to_string();
        let path = dir.path().to_path_buf();
        let group = format!("connect-{ns}");
        tokio::task::spawn_blocking(move || ConnectWorker::start(&bootstrap, &path, &group))
            .await
            .expect("the Connect worker started")
    };

    let spec = |state: &str| {
        json!({
            "class": "org.apache.kafka.connect.file.FileStreamSourceConnector",
            "tasksMax": 1,
            "config": {"file": input.display().to_string(), "topic": "file-lines"},
            "state": state,
        })
    };
    apply(
        &client,
        &ns,
        &connector("lines", &worker.url, spec("running")),
    )
    .await
    .unwrap_or_else(|e| panic!("refused: {e}"));
    let running = ready_when(&client, &ns, "lines", "True", "InSync", |c| {
        connector_state(c) == Some("RUNNING")
    })
    .await;
    let status = running.status.expect("a status");
    assert_eq!(status.tasks.len(), 1, "one task: {:?}", status.tasks);
    assert_eq!(status.tasks[0].state, "RUNNING");
    assert_eq!(worker.state("lines").as_deref(), Some("RUNNING"));
    assert_eq!(
        records(&broker, "file-lines", 2).await,
        ["first line", "second line"],
        "the connector reads the file into the topic"
    );

    // paused: the worker pauses it
    apply(
        &client,
        &ns,
        &connector("lines", &worker.url, spec("paused")),
    )
    .await
    .expect("applied");
    ready_when(&client, &ns, "lines", "True", "InSync", |c| {
        connector_state(c) == Some("PAUSED")
    })
    .await;
    assert_eq!(worker.state("lines").as_deref(), Some("PAUSED"));

    // running again: new lines flow
    apply(
        &client,
        &ns,
        &connector("lines", &worker.url, spec("running")),
    )
    .await
    .expect("applied");
    ready_when(&client, &ns, "lines", "True", "InSync", |c| {
        connector_state(c) == Some("RUNNING")
    })
    .await;
    assert_eq!(worker.state("lines").as_deref(), Some("RUNNING"));
    {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&input)
            .expect("open the source file");
        writeln!(file, "third line").expect("append a line");
    }
    assert_eq!(records(&broker, "file-lines", 3).await[2], "third line");

    // the restart annotation restarts the connector and its task, once
    let tasks_created = worker.count("Creating task lines-0");
    let mut restarted = connector("lines", &worker.url, spec("running"));
    restarted["metadata"]["annotations"] = json!({"ironlog.dev/restart": "first"});
    apply(&client, &ns, &restarted).await.expect("applied");
    ready_when(&client, &ns, "lines", "True", "InSync", |c| {
        c.status.as_ref().and_then(|s| s.last_restart.as_deref()) == Some("first")
            && connector_state(c) == Some("RUNNING")
    })
    .await;
    wait_until(
        CONVERGE_TIMEOUT,
        "the worker creates the task again",
        || {
            let again = worker.count("Creating task lines-0") > tasks_created;
            async move { again.then_some(()) }
        },
    )
    .await;

    // deleted: the worker no longer has it
    let api: Api<Connector> = Api::namespaced(client.clone(), &ns);
    api.delete("lines", &DeleteParams::default())
        .await
        .expect("delete the Connector");
    wait_until(
        CONVERGE_TIMEOUT,
        "Connector lines is deleted (its finalizer ran)",
        || {
            let api = api.clone();
            async move { api.get_opt("lines").await.ok()?.is_none().then_some(()) }
        },
    )
    .await;
    assert_eq!(
        worker.get("/connectors/lines").0,
        404,
        "the connector is deleted from the worker"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_cannot_be_reached_is_reported_and_retried() {
    let (client, ns, metrics) = setup("connector-down").await;
    // a port nothing listens on: bound, then closed
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let spec = json!({
        "class": "org.apache.kafka.connect.file.FileStreamSourceConnector",
        "config": {"file": "/dev/null", "topic": "t"},
    });
    apply(&client, &ns, &connector("nowhere", &url, spec))
        .await
        .expect("applied");
    let down = ready_when(
        &client,
        &ns,
        "nowhere",
        "False",
        "ConnectUnreachable",
        |_| true,
    )
    .await;
    let ready = down
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
        .expect("a Ready condition");
    assert!(
        ready.message.contains("cannot be reached") && ready.message.contains(&url),
        "the condition says which worker cannot be reached: {}",
        ready.message
    );
    // the failed reconcile is retried (with the controller's backoff: 1 s, then 2 s, ...)
    wait_until(
        CONVERGE_TIMEOUT,
        "the unreachable worker is tried again",
        || {
            let text = metrics.render();
            async move {
                let failures: u64 = text
                    .lines()
                    .find(|l| {
                        l.starts_with("ironlog_operator_reconcile_failures_total")
                            && l.contains(r#"controller="connector""#)
                            && l.contains(r#"reason="Connect""#)
                    })?
                    .rsplit(' ')
                    .next()?
                    .parse()
                    .ok()?;
                (failures >= 3).then_some(())
            }
        },
    )
    .await;
}
