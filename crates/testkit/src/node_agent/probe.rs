//! `probe`: a container's startup, liveness and readiness probes as a kubelet runs them —
//! `httpGet` (a status from 200 to 399 passes), `tcpSocket` (a connection passes), `exec`
//! (exit code 0 passes, run in the pod's namespaces) — each bounded by its
//! `timeoutSeconds`, counted against `successThreshold` / `failureThreshold`, every
//! `periodSeconds` after `initialDelaySeconds`.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ContainerPort, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How much of an HTTP answer a probe reads (the status line is all it needs).
const HTTP_ANSWER_MAX: usize = 1024;

/// A probe's counters and schedule for one run of a container.
#[derive(Debug)]
pub struct ProbeState {
    pub probe: Probe,
    next_at: Instant,
    successes: i32,
    failures: i32,
    /// The probe's verdict so far: `Some(true)` once it passed `successThreshold` times in a
    /// row, `Some(false)` once it failed `failureThreshold` times in a row.
    pub verdict: Option<bool>,
    pub last_failure: Option<String>,
}

impl ProbeState {
    pub fn new(probe: Probe, started: Instant) -> ProbeState {
        let delay = seconds(probe.initial_delay_seconds, 0);
        ProbeState {
            probe,
            next_at: started + delay,
            successes: 0,
            failures: 0,
            verdict: None,
            last_failure: None,
        }
    }

    pub fn due(&self, now: Instant) -> bool {
        now >= self.next_at
    }

    /// Records one result; returns whether the verdict changed.
    pub fn record(&mut self, result: Result<(), String>, now: Instant) -> bool {
        self.next_at = now + seconds(self.probe.period_seconds, 10);
        let before = self.verdict;
        match result {
            Ok(()) => {
                self.failures = 0;
                self.successes += 1;
                if self.successes >= self.probe.success_threshold.unwrap_or(1).max(1) {
                    self.verdict = Some(true);
                }
            }
            Err(why) => {
                self.successes = 0;
                self.failures += 1;
                self.last_failure = Some(why);
                if self.failures >= self.probe.failure_threshold.unwrap_or(3).max(1) {
                    self.verdict = Some(false);
                }
            }
        }
        before != self.verdict
    }

    pub fn timeout(&self) -> Duration {
        seconds(self.probe.timeout_seconds, 1)
    }
}

fn seconds(value: Option<i32>, default: i32) -> Duration {
    Duration::from_secs(value.unwrap_or(default).max(0) as u64)
}

/// The port a probe names: a number, or a container port's name.
pub fn port(port: &IntOrString, ports: &[ContainerPort]) -> Result<u16, String> {
    match port {
        IntOrString::Int(n) => u16::try_from(*n).map_err(|_| format!("port {n} is out of range")),
        IntOrString::String(name) => ports
            .iter()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .and_then(|p| u16::try_from(p.container_port).ok())
            .ok_or_else(|| format!("the container has no port named {name}")),
    }
}

/// `GET path` on `address:port`: `Ok` for a status from 200 to 399.
pub async fn http_get(
    address: IpAddr,
    port: u16,
    path: &str,
    timeout: Duration,
) -> Result<(), String> {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect((address, port))
            .await
            .map_err(|e| format!("connect {address}:{port}: {e}"))?;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: {address}:{port}\r\nUser-Agent: kube-probe/ironlog-testkit\r\nConnection: close\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("send: {e}"))?;
        let mut answer = Vec::new();
        let mut buffer = [0u8; 256];
        while answer.len() < HTTP_ANSWER_MAX && !answer.windows(2).any(|w| w == b"\r\n") {
            let n = stream
                .read(&mut buffer)
                .await
                .map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buffer[..n]);
        }
        let text = String::from_utf8_lossy(&answer);
        let status: u16 = text
            .lines()
            .next()
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| format!("no HTTP status line in {text:?}"))?;
        if (200..400).contains(&status) {
            Ok(())
        } else {
            Err(format!("HTTP probe failed with statuscode: {status}"))
        }
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or_else(|_| Err(format!("GET {path}: no answer within {timeout:?}")))
}

/// A TCP connection to `address:port`.
pub async fn tcp(address: IpAddr, port: u16, timeout: Duration) -> Result<(), String> {
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect((address, port))).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("dial tcp {address}:{port}: {e}")),
        Err(_) => Err(format!(
            "dial tcp {address}:{port}: no answer within {timeout:?}"
        )),
    }
}
