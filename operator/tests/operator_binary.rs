//! The `ironlog-operator` binary as a user runs it: `run` against the real API server with a
//! kubeconfig, reconciling a KafkaCluster, serving `/metrics` and `/health`, and stopping
//! cleanly on SIGTERM.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ironlog_testkit::control_plane::ControlPlaneSpec;
use k8s_openapi::api::apps::v1::StatefulSet;
use kube::api::Api;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use common::{apply, install_crds, namespace, plane, wait_until};

const SPEC: ControlPlaneSpec = ControlPlaneSpec {
    controller_manager: false,
    scheduler: false,
};
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// `GET path` over plain HTTP/1.1; the status line and body, or `None` when nothing answers.
async fn get(port: u16, path: &str) -> Option<(String, String)> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut response = String::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        stream.read_to_string(&mut response),
    )
    .await
    .ok()?
    .ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    Some((head.lines().next()?.to_string(), body.to_string()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_binary_reconciles_serves_metrics_and_stops_on_sigterm() {
    let (handle, client) = plane(SPEC).await;
    install_crds(&client).await;
    let ns = namespace(&client, "binary").await;
    let port = ironlog_testkit::allocate_port(IpAddr::V4(Ipv4Addr::LOCALHOST)).expect("a port");
    let log = handle.dir.join(format!("operator-{ns}.log"));
    let log_file = std::fs::File::create(&log).expect("the operator's log file");
    let mut operator = Command::new(env!("CARGO_BIN_EXE_ironlog-operator"))
        .args([
            "run",
            "--namespace",
            &ns,
            "--metrics-address",
            &format!("127.0.0.1:{port}"),
        ])
        .env("KUBECONFIG", &handle.kubeconfig)
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().expect("log file"))
        .stderr(log_file)
        .spawn()
        .expect("the operator starts");
    let log_tail = || std::fs::read_to_string(&log).unwrap_or_default();

    let mut cluster = common::documents(
        &std::fs::read_to_string(common::repo_root().join("examples/kafka-cluster.yaml"))
            .expect("the example"),
    )
    .remove(0);
    cluster["metadata"]["name"] = json!("binary");
    apply(&client, &ns, &cluster)
        .await
        .unwrap_or_else(|e| panic!("refused: {e}"));
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), &ns);
    let sets_ref = &sets;
    wait_until(
        CONVERGE_TIMEOUT,
        "the operator binary made the StatefulSet",
        || async move {
            sets_ref
                .get_opt("binary-combined")
                .await
                .ok()
                .flatten()
                .map(|_| ())
        },
    )
    .await;

    let (status, body) =
        wait_until(CONVERGE_TIMEOUT, "/health answers", || get(port, "/health")).await;
    assert_eq!(
        (status.as_str(), body.as_str()),
        ("HTTP/1.1 200 OK", "ok\n"),
        "{}",
        log_tail()
    );
    let metrics = wait_until(
        CONVERGE_TIMEOUT,
        "/metrics counts the KafkaCluster's reconcile",
        || async move {
            let (_, body) = get(port, "/metrics").await?;
            body.contains(
                r#"ironlog_operator_reconciliations_total{controller="kafkacluster",result="ok"}"#,
            )
            .then_some(body)
        },
    )
    .await;
    assert!(
        metrics.contains(
            r#"ironlog_operator_reconcile_duration_seconds_count{controller="kafkacluster"}"#
        ),
        "{metrics}"
    );

    // SIGTERM: a clean exit, soon
    // SAFETY: kill(2) on the child we started and have not reaped.
    unsafe {
        libc::kill(operator.id() as libc::pid_t, libc::SIGTERM);
    }
    let deadline = Instant::now() + STOP_TIMEOUT;
    let status = loop {
        if let Some(status) = operator.try_wait().expect("wait for the operator") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = operator.kill();
            panic!(
                "the operator did not stop within {STOP_TIMEOUT:?} of SIGTERM:\n{}",
                log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        status.success(),
        "the operator exited with {status} after SIGTERM:\n{}",
        log_tail()
    );
}
