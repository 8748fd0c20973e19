//! `security`: the cost of TLS and SASL_SSL beside PLAINTEXT, on one broker of the
//! scenario's own with three listeners — PLAINTEXT, SSL and SASL_SSL (SCRAM-SHA-512) — its
//! certificates from the test kit's [`TestCertificates`] (a CA and a PEM server keystore)
//! and its SCRAM user formatted in (`ironlog format --add-scram`) before the first start.
//!
//! - Throughput: the librdkafka produce / consume cells of [`throughput`] run over each
//!   listener in turn (topics created over PLAINTEXT), the clients given the listener's
//!   settings through [`throughput::Endpoint`]; broker CPU per GB produced as elsewhere.
//! - Connection set-up: for a fixed window, workers each open connections one after
//!   another, every one complete — TCP, the TLS handshake (rustls, the protocol crate's
//!   [`TlsConnector`]), SaslHandshake v1 and the two SCRAM SaslAuthenticate round trips
//!   (the protocol crate's SCRAM client), then one ApiVersions request — and close it;
//!   connections per second, and broker (and client) CPU per connection.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ironlog_protocol::sasl::{authenticate, RawExchange, SaslCredentials};
use ironlog_protocol::tls::{TlsClient, TlsConnector};
use ironlog_protocol::{Connector, TcpConnector};
use ironlog_testkit::tls::TestCertificates;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};
use kafka_protocol::protocol::StrBytes;
use tokio::io::AsyncWriteExt;

use crate::args::BrokerOverride;
use crate::broker_process::{BrokerProcess, SpawnOptions};
use crate::error::BenchError;
use crate::proc_stats;
use crate::scenario::{SecuritySpec, ThroughputSpec};
use crate::throughput::{self, Endpoint, ThroughputResult};
use ironlog_protocol::scram::ScramMechanism;

/// The SCRAM-SHA-512 user the SASL_SSL clients authenticate as.
pub(crate) const SCRAM_USER: &str = "bench";
pub(crate) const SCRAM_PASSWORD: &str = "bench-secret";
/// The iteration count of the user's credential (Kafka's default and minimum).
pub(crate) const SCRAM_ITERATIONS: u32 = 4096;
/// The cluster id the scenario's broker is formatted with (base64 of 16 bytes).
const CLUSTER_ID: &str = "aXJvbmxvZy1iZW5jaC1zYw";
/// Bound on one connection's set-up, from the TCP connect to the ApiVersions response.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);
/// A worker stops after this many failed connections: the rate is then not meaningful.
const FAILURES_MAX: u64 = 100;
/// Largest response frame the set-up exchange reads (ApiVersions is the largest, ~1 KB).
const FRAME_BYTES_MAX: usize = 1024 * 1024;
/// SaslHandshake v1: the SASL tokens then travel in SaslAuthenticate requests.
/// ApiVersions v3 (KIP-511: the client's software name and version).
const API_VERSIONS_VERSION: i16 = 3;

/// A listener of the scenario's broker, named after its security protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    Plaintext,
    Ssl,
    SaslSsl,
}

impl Protocol {
    pub(crate) const ALL: [Protocol; 3] = [Protocol::Plaintext, Protocol::Ssl, Protocol::SaslSsl];

    /// The listener's name (which is also its security protocol).
    pub(crate) fn listener(self) -> &'static str {
        match self {
            Protocol::Plaintext => "PLAINTEXT",
            Protocol::Ssl => "SSL",
            Protocol::SaslSsl => "SASL_SSL",
        }
    }

    /// The report's name for what one connection goes through.
    pub(crate) fn set_up(self) -> &'static str {
        match self {
            Protocol::Plaintext => "TCP + ApiVersions",
            Protocol::Ssl => "TCP + TLS + ApiVersions",
            Protocol::SaslSsl => "TCP + TLS + SCRAM-SHA-512 + ApiVersions",
        }
    }

    /// librdkafka settings of a client of this listener, trusting `ca_pem`.
    pub(crate) fn client_settings(self, ca_pem: &Path) -> Vec<(String, String)> {
        let ca = ("ssl.ca.location".to_string(), ca_pem.display().to_string());
        let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
        match self {
            Protocol::Plaintext => Vec::new(),
            Protocol::Ssl => vec![pair("security.protocol", "ssl"), ca],
            Protocol::SaslSsl => vec![
                pair("security.protocol", "sasl_ssl"),
                ca,
                pair("sasl.mechanism", ScramMechanism::Sha512.name()),
                pair("sasl.username", SCRAM_USER),
                pair("sasl.password", SCRAM_PASSWORD),
            ],
        }
    }
}

/// One throughput cell over one listener.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ThroughputRow {
    pub(crate) protocol: Protocol,
    pub(crate) spec: ThroughputSpec,
    pub(crate) result: Result<ThroughputResult, String>,
}

/// One connection set-up window over one listener.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ConnectRow {
    pub(crate) protocol: Protocol,
    pub(crate) workers: usize,
    pub(crate) connections: u64,
    pub(crate) failed: u64,
    pub(crate) elapsed: Duration,
    /// Broker CPU seconds over the window.
    pub(crate) broker_cpu_s: Option<f64>,
    /// This process's CPU seconds over the window: the clients' side of the handshakes,
    /// which shares the machine with the broker.
    pub(crate) client_cpu_s: Option<f64>,
    pub(crate) first_error: Option<String>,
}

impl ConnectRow {
    pub(crate) fn per_second(&self) -> Option<f64> {
        let seconds = self.elapsed.as_secs_f64();
        (seconds > 0.0).then(|| self.connections as f64 / seconds)
    }

    /// Broker CPU milliseconds per completed connection.
    pub(crate) fn broker_cpu_ms_per_connection(&self) -> Option<f64> {
        per_connection_ms(self.broker_cpu_s?, self.connections)
    }

    /// Client CPU milliseconds per completed connection.
    pub(crate) fn client_cpu_ms_per_connection(&self) -> Option<f64> {
        per_connection_ms(self.client_cpu_s?, self.connections)
    }
}

fn per_connection_ms(cpu_s: f64, connections: u64) -> Option<f64> {
    (connections > 0).then(|| cpu_s * 1e3 / connections as f64)
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SecurityResult {
    pub(crate) throughput: Vec<ThroughputRow>,
    pub(crate) connections: Vec<ConnectRow>,
}

/// The broker settings of the three listeners, on top of the run's `--broker-override`s.
pub(crate) fn broker_overrides(
    user: &[BrokerOverride],
    certs: &TestCertificates,
) -> Vec<BrokerOverride> {
    let listeners = Protocol::ALL
        .iter()
        .map(|p| format!("{}://127.0.0.1:0", p.listener()))
        .collect::<Vec<_>>()
        .join(",");
    let keystore = certs.server_keystore.display().to_string();
    let truststore = certs.ca_pem.display().to_string();
    let ours = [
        ("listeners", listeners.as_str()),
        ("advertised.listeners", listeners.as_str()),
        ("ssl.keystore.type", "PEM"),
        ("ssl.keystore.location", keystore.as_str()),
        ("ssl.truststore.type", "PEM"),
        ("ssl.truststore.location", truststore.as_str()),
        ("sasl.enabled.mechanisms", ScramMechanism::Sha512.name()),
    ];
    user.iter()
        .cloned()
        .chain(ours.iter().map(|(key, value)| BrokerOverride {
            key: key.to_string(),
            value: value.to_string(),
        }))
        .collect()
}

/// `ironlog format` arguments that put the SCRAM user in the metadata from the start.
pub(crate) fn format_args() -> Vec<String> {
    vec![
        "--cluster-id".to_string(),
        CLUSTER_ID.to_string(),
        "--add-scram".to_string(),
        format!(
            "{}=[name={SCRAM_USER},password={SCRAM_PASSWORD},iterations={SCRAM_ITERATIONS}]",
            ScramMechanism::Sha512.name()
        ),
    ]
}

pub(crate) fn run(
    binary: Option<&Path>,
    overrides: &[BrokerOverride],
    topic_prefix: &str,
    spec: &SecuritySpec,
) -> Result<SecurityResult, BenchError> {
    let binary = binary.ok_or_else(|| BenchError::Refused {
        what: "the security scenario".to_string(),
        reason: "it starts a broker of its own with three listeners: run with --spawn".to_string(),
    })?;
    let dir = tempfile::Builder::new()
        .prefix("ironlog-bench-security-")
        .tempdir()
        .map_err(|e| BenchError::io("creating the certificates' dir", e))?;
    // The test kit panics, saying why, when it cannot write a certificate.
    let certs = catch_unwind(AssertUnwindSafe(|| {
        TestCertificates::generate(&dir.path().join("certs"))
    }))
    .map_err(|panic| BenchError::Refused {
        what: "generating the TLS certificates".to_string(),
        reason: panic_text(panic.as_ref()),
    })?;
    let options = SpawnOptions {
        data_root: Some(dir.path().join("broker")),
        format_args: Some(format_args()),
        ..SpawnOptions::default()
    };
    let broker = BrokerProcess::spawn_with(binary, &broker_overrides(overrides, &certs), &options)?;
    let mut addresses = Vec::new();
    for protocol in Protocol::ALL {
        let address =
            broker
                .listener(protocol.listener())
                .ok_or_else(|| BenchError::BrokerStart {
                    reason: format!("no `{}` listener line", protocol.listener()),
                    log_tail: String::new(),
                })?;
        addresses.push((protocol, address));
    }
    tracing::info!(?addresses, "security broker started");
    let pid = broker.pid();

    let mut rows = Vec::new();
    for (index, cell) in spec.throughput.iter().enumerate() {
        // The listeners of a cell run back to back, so they see the same machine.
        for (protocol, address) in &addresses {
            let topic = format!(
                "{topic_prefix}-security-{index}-{}-{}b-{}p",
                protocol.listener().to_ascii_lowercase(),
                cell.record_bytes,
                cell.partitions
            );
            let settings = protocol.client_settings(&certs.ca_pem);
            let endpoint = Endpoint {
                bootstrap: address,
                settings: &settings,
            };
            tracing::info!(listener = protocol.listener(), %topic, "security throughput cell");
            let result =
                throughput::run_on(&broker.bootstrap, &endpoint, &topic, cell, 1, Some(pid))
                    .map_err(|e| e.to_string());
            rows.push(ThroughputRow {
                protocol: *protocol,
                spec: cell.clone(),
                result,
            });
        }
    }

    let ca_pem = std::fs::read_to_string(&certs.ca_pem)
        .map_err(|e| BenchError::io(format!("reading {}", certs.ca_pem.display()), e))?;
    let tls = TlsClient::from_pem(&ca_pem, None).map_err(|e| BenchError::Refused {
        what: "the test CA as a rustls truststore".to_string(),
        reason: e.to_string(),
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| BenchError::io("building the connection runtime", e))?;
    let mut connections = Vec::new();
    for &workers in &spec.connect_workers {
        for (protocol, address) in &addresses {
            let connector: Arc<dyn Connector> = match protocol {
                Protocol::Plaintext => TcpConnector::shared(),
                Protocol::Ssl | Protocol::SaslSsl => TlsConnector::shared(tls.clone()),
            };
            tracing::info!(
                listener = protocol.listener(),
                workers,
                "connection set-up window"
            );
            let row = runtime.block_on(connect_window(
                *protocol,
                address,
                connector,
                workers,
                spec.connect_duration,
                pid,
            ))?;
            connections.push(row);
        }
    }
    drop(runtime);
    drop(broker);
    drop(dir);
    Ok(SecurityResult {
        throughput: rows,
        connections,
    })
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic without a message".to_string())
}

/// What one worker of a window did.
#[derive(Debug, Default)]
struct WorkerTally {
    ok: u64,
    failed: u64,
    first_error: Option<String>,
}

/// `workers` tasks open connections one after another for `duration`.
async fn connect_window(
    protocol: Protocol,
    address: &str,
    connector: Arc<dyn Connector>,
    workers: usize,
    duration: Duration,
    broker_pid: u32,
) -> Result<ConnectRow, BenchError> {
    let cpu_before = proc_stats::cpu_seconds(broker_pid)?;
    let own_pid = std::process::id();
    let own_cpu_before = proc_stats::cpu_seconds(own_pid).ok();
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = (0..workers.max(1))
        .map(|_| {
            let connector = connector.clone();
            let address = address.to_string();
            tokio::spawn(async move {
                let mut tally = WorkerTally::default();
                while Instant::now() < deadline && tally.failed < FAILURES_MAX {
                    let attempt = tokio::time::timeout(
                        CONNECTION_TIMEOUT,
                        one_connection(protocol, &address, connector.as_ref()),
                    )
                    .await
                    .unwrap_or_else(|_| {
                        Err(format!(
                            "no ApiVersions response within {} s",
                            CONNECTION_TIMEOUT.as_secs()
                        ))
                    });
                    match attempt {
                        Ok(()) => tally.ok += 1,
                        Err(error) => {
                            tally.failed += 1;
                            tally.first_error.get_or_insert(error);
                        }
                    }
                }
                tally
            })
        })
        .collect();
    let mut row = ConnectRow {
        protocol,
        workers: workers.max(1),
        connections: 0,
        failed: 0,
        elapsed: Duration::ZERO,
        broker_cpu_s: None,
        client_cpu_s: None,
        first_error: None,
    };
    for task in tasks {
        match task.await {
            Ok(tally) => {
                row.connections += tally.ok;
                row.failed += tally.failed;
                if row.first_error.is_none() {
                    row.first_error = tally.first_error;
                }
            }
            Err(e) => {
                row.failed += 1;
                row.first_error
                    .get_or_insert(format!("a worker failed: {e}"));
            }
        }
    }
    row.elapsed = started.elapsed();
    row.broker_cpu_s = Some(proc_stats::cpu_seconds(broker_pid)? - cpu_before);
    row.client_cpu_s = own_cpu_before
        .zip(proc_stats::cpu_seconds(own_pid).ok())
        .map(|(before, after)| after - before);
    if let Some(error) = &row.first_error {
        tracing::warn!(listener = protocol.listener(), failed = row.failed, %error, "connections failed");
    }
    Ok(row)
}

/// One complete connection: the stream (TCP, or TCP then TLS), SCRAM on SASL_SSL, one
/// ApiVersions round trip, then a clean close (TLS close_notify, TCP FIN).
async fn one_connection(
    protocol: Protocol,
    address: &str,
    connector: &dyn Connector,
) -> Result<(), String> {
    let mut stream = connector
        .connect(address, CONNECTION_TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    let mut exchange = RawExchange::new(&mut stream, "ironlog-bench", FRAME_BYTES_MAX);
    if protocol == Protocol::SaslSsl {
        let scram = SaslCredentials::Scram {
            mechanism: ScramMechanism::Sha512,
            username: SCRAM_USER.to_string(),
            password: SCRAM_PASSWORD.to_string(),
        };
        authenticate(&mut exchange, &scram)
            .await
            .map_err(|e| format!("SCRAM: {e}"))?;
    }
    let request = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("ironlog-bench"))
        .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
    let versions: ApiVersionsResponse = exchange
        .round_trip(ApiKey::ApiVersions, API_VERSIONS_VERSION, &request)
        .await?;
    if versions.error_code != 0 {
        return Err(format!("ApiVersions error {}", versions.error_code));
    }
    stream.shutdown().await.map_err(|e| format!("closing: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_listeners_and_their_clients_settings() {
        let dir = tempfile::tempdir().unwrap();
        let certs = TestCertificates::generate(dir.path());
        let user = [BrokerOverride {
            key: "num.io.threads".to_string(),
            value: "4".to_string(),
        }];
        let overrides = broker_overrides(&user, &certs);
        let get = |key: &str| {
            overrides
                .iter()
                .rev()
                .find(|o| o.key == key)
                .map(|o| o.value.as_str())
        };
        assert_eq!(
            get("listeners"),
            Some("PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0,SASL_SSL://127.0.0.1:0")
        );
        assert_eq!(get("advertised.listeners"), get("listeners"));
        assert_eq!(get("sasl.enabled.mechanisms"), Some("SCRAM-SHA-512"));
        assert_eq!(get("num.io.threads"), Some("4"), "the run's overrides stay");
        assert_eq!(
            get("ssl.keystore.location"),
            Some(certs.server_keystore.display().to_string().as_str())
        );

        assert!(Protocol::Plaintext
            .client_settings(&certs.ca_pem)
            .is_empty());
        let sasl = Protocol::SaslSsl.client_settings(&certs.ca_pem);
        let setting = |key: &str| sasl.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
        assert_eq!(setting("security.protocol"), Some("sasl_ssl"));
        assert_eq!(setting("sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(setting("sasl.username"), Some(SCRAM_USER));
        assert!(Protocol::Ssl
            .client_settings(&certs.ca_pem)
            .contains(&("security.protocol".to_string(), "ssl".to_string())));
        assert_eq!(
            format_args().last().map(String::as_str),
            Some("SCRAM-SHA-512=[name=bench,password=bench-secret,iterations=4096]")
        );
    }

    #[test]
    fn connection_rates_count_completed_connections_only() {
        let row = ConnectRow {
            protocol: Protocol::Ssl,
            workers: 4,
            connections: 500,
            failed: 3,
            elapsed: Duration::from_secs(10),
            broker_cpu_s: Some(2.5),
            client_cpu_s: Some(1.0),
            first_error: None,
        };
        assert_eq!(row.per_second(), Some(50.0));
        assert_eq!(row.broker_cpu_ms_per_connection(), Some(5.0));
        assert_eq!(row.client_cpu_ms_per_connection(), Some(2.0));
        let none = ConnectRow {
            connections: 0,
            elapsed: Duration::ZERO,
            ..row
        };
        assert_eq!(none.per_second(), None);
        assert_eq!(none.broker_cpu_ms_per_connection(), None);
        assert_eq!(none.client_cpu_ms_per_connection(), None);
    }
}
