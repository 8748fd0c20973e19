//! Request and connection metrics, updated once per request and once per connection on
//! the request path (`network`): Kafka's `kafka.network:type=RequestMetrics` and the
//! socket server's connection counts, under the names the JMX exporter gives them.
//!
//! The phases are those this pipeline has: a request is decoded, handled and encoded on
//! its connection's task (local time) and then written (response send time); there is no
//! request or response queue between threads and no quota throttling, so Kafka's
//! RequestQueueTimeMs, ResponseQueueTimeMs, ThrottleTimeMs and RemoteTimeMs (the wait for
//! followers or a long poll happens inside the handler here, and is part of local time)
//! are not exported.

use std::time::Duration;

use kafka_protocol::messages::ApiKey;
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry};

use bytes::Bytes;
use kafka_protocol::messages::{ResponseHeader, ResponseKind};
use kafka_protocol::protocol::Decodable;

use super::errors::{error_counts, error_name, ErrorCounts};
use super::registered;
use super::topics::TrafficSummary;
use super::Metrics;

/// Bucket bounds of the request time histograms, in milliseconds.
const TIME_BUCKETS_MS: &[f64] = &[
    0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1_000.0, 2_500.0, 5_000.0, 10_000.0,
    30_000.0,
];
/// Bucket bounds of the request size histogram, in bytes.
const SIZE_BUCKETS_BYTES: &[f64] = &[
    64.0,
    256.0,
    1_024.0,
    4_096.0,
    16_384.0,
    65_536.0,
    262_144.0,
    1_048_576.0,
    4_194_304.0,
    16_777_216.0,
    104_857_600.0,
];

/// One request's measurements, taken by the connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestTimes {
    /// Decode, handler and encode.
    pub(crate) local: Duration,
    /// Writing the response to the socket (zero when none is sent).
    pub(crate) response_send: Duration,
    pub(crate) request_bytes: usize,
}

/// A handled request waiting for its response to be written before it is recorded.
#[derive(Debug)]
pub(crate) struct Observed {
    api: ApiKey,
    version: i16,
    follower_fetch: bool,
    errors: ErrorCounts,
}

impl Observed {
    /// A request answered with `response`.
    pub(crate) fn answered(
        api: ApiKey,
        version: i16,
        traffic: &TrafficSummary,
        response: &ResponseKind,
    ) -> Observed {
        Observed {
            api,
            version,
            follower_fetch: traffic.is_follower_fetch(),
            errors: error_counts(response),
        }
    }

    /// A request forwarded to the active controller, answered with `response` (the
    /// controller's response frame without its size prefix): its error codes are counted
    /// as if it had been answered here (none when the frame does not decode).
    pub(crate) fn forwarded(api: ApiKey, version: i16, mut response: Bytes) -> Observed {
        let header_version = api.response_header_version(version);
        let errors = ResponseHeader::decode(&mut response, header_version)
            .and_then(|_| ResponseKind::decode(api, &mut response, version))
            .map(|decoded| error_counts(&decoded))
            .unwrap_or_default();
        Observed {
            api,
            version,
            follower_fetch: false,
            errors,
        }
    }

    /// A request Kafka sends no response to (produce with acks=0 that succeeded).
    pub(crate) fn unanswered(api: ApiKey, version: i16) -> Observed {
        Observed {
            api,
            version,
            follower_fetch: false,
            errors: ErrorCounts::default(),
        }
    }

    /// Records the request with its times.
    pub(crate) fn record(
        self,
        metrics: &Metrics,
        local: Duration,
        response_send: Duration,
        request_bytes: usize,
    ) {
        metrics.requests.observe(
            self.api,
            self.version,
            self.follower_fetch,
            &self.errors,
            RequestTimes {
                local,
                response_send,
                request_bytes,
            },
        );
    }
}

pub(crate) struct RequestMetrics {
    requests: IntCounterVec,
    errors: IntCounterVec,
    total_time_ms: HistogramVec,
    local_time_ms: HistogramVec,
    response_send_time_ms: HistogramVec,
    request_bytes: HistogramVec,
    connections: IntGaugeVec,
    connections_created: IntCounterVec,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1_000.0
}

impl RequestMetrics {
    pub(crate) fn register(registry: &Registry) -> prometheus::Result<Self> {
        let counter =
            |name: &str, help: &str, labels: &[&str]| -> prometheus::Result<IntCounterVec> {
                registered(registry, IntCounterVec::new(Opts::new(name, help), labels)?)
            };
        let histogram =
            |name: &str, help: &str, buckets: &[f64]| -> prometheus::Result<HistogramVec> {
                registered(
                    registry,
                    HistogramVec::new(
                        HistogramOpts::new(name, help).buckets(buckets.to_vec()),
                        &["request"],
                    )?,
                )
            };
        let connections = registered(
            registry,
            IntGaugeVec::new(
                Opts::new(
                    "kafka_server_socket_server_metrics_connections",
                    "Open client connections per listener.",
                ),
                &["listener"],
            )?,
        )?;
        Ok(RequestMetrics {
            requests: counter(
                "kafka_network_requestmetrics_requests_total",
                "Requests received, per API and version (RequestsPerSec).",
                &["request", "version"],
            )?,
            errors: counter(
                "kafka_network_requestmetrics_errors_total",
                "Error codes in responses, per API and error, NONE included (ErrorsPerSec).",
                &["request", "error"],
            )?,
            total_time_ms: histogram(
                "kafka_network_requestmetrics_totaltimems",
                "Time from a request's last byte read to its response's last byte written, in ms (TotalTimeMs).",
                TIME_BUCKETS_MS,
            )?,
            local_time_ms: histogram(
                "kafka_network_requestmetrics_localtimems",
                "Time decoding, handling and encoding a request, in ms (LocalTimeMs; includes waits for data or replication).",
                TIME_BUCKETS_MS,
            )?,
            response_send_time_ms: histogram(
                "kafka_network_requestmetrics_responsesendtimems",
                "Time writing a response to the socket, in ms (ResponseSendTimeMs).",
                TIME_BUCKETS_MS,
            )?,
            request_bytes: histogram(
                "kafka_network_requestmetrics_requestbytes",
                "Size of requests in bytes (RequestBytes).",
                SIZE_BUCKETS_BYTES,
            )?,
            connections,
            connections_created: counter(
                "kafka_server_socket_server_metrics_connection_creation_total",
                "Client connections accepted per listener.",
                &["listener"],
            )?,
        })
    }

    /// Records one request: its API and version, the error codes of its response and its
    /// times. A Fetch is also timed as `FetchConsumer` or `FetchFollower`, as Kafka does.
    pub(crate) fn observe(
        &self,
        api: ApiKey,
        version: i16,
        follower_fetch: bool,
        errors: &ErrorCounts,
        times: RequestTimes,
    ) {
        let name = api_name(api);
        let mut version_buf = itoa_buf();
        self.requests
            .with_label_values(&[name, format_i16(&mut version_buf, version)])
            .inc();
        for (code, count) in errors.iter() {
            self.errors
                .with_label_values(&[name, error_name(code)])
                .inc_by(u64::from(count));
        }
        let total = times.local + times.response_send;
        let time = |request: &str| {
            self.total_time_ms
                .with_label_values(&[request])
                .observe(ms(total));
            self.local_time_ms
                .with_label_values(&[request])
                .observe(ms(times.local));
            self.response_send_time_ms
                .with_label_values(&[request])
                .observe(ms(times.response_send));
        };
        time(name);
        if api == ApiKey::Fetch {
            time(if follower_fetch {
                "FetchFollower"
            } else {
                "FetchConsumer"
            });
        }
        self.request_bytes
            .with_label_values(&[name])
            .observe(times.request_bytes as f64);
    }

    /// A connection accepted on `listener`; the guard counts it open until dropped.
    pub(crate) fn connection_opened(&self, listener: &str) -> ConnectionGuard {
        self.connections_created
            .with_label_values(&[listener])
            .inc();
        let gauge = self.connections.with_label_values(&[listener]);
        gauge.inc();
        ConnectionGuard { gauge }
    }
}

/// Counts one connection as open while it lives.
pub(crate) struct ConnectionGuard {
    gauge: prometheus::IntGauge,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

/// Kafka's request name (`ApiKeys.name`): the message name without `Request`.
pub(crate) fn api_name(api: ApiKey) -> &'static str {
    static NAMES: std::sync::OnceLock<std::collections::HashMap<i16, &'static str>> =
        std::sync::OnceLock::new();
    let names = NAMES.get_or_init(|| {
        (0..=i16::from(u8::MAX))
            .filter_map(|k| ApiKey::try_from(k).ok())
            .map(|api| {
                let name: &'static str = Box::leak(format!("{api:?}").into_boxed_str());
                (api as i16, name)
            })
            .collect()
    });
    names.get(&(api as i16)).copied().unwrap_or("Unknown")
}

type VersionBuf = [u8; 8];

fn itoa_buf() -> VersionBuf {
    [0; 8]
}

/// Formats a version without allocating (labels are looked up per request).
fn format_i16(buf: &mut VersionBuf, value: i16) -> &str {
    use std::io::Write;
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    let _ = write!(cursor, "{value}");
    let len = cursor.position() as usize;
    std::str::from_utf8(&buf[..len]).unwrap_or("0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_names_are_kafkas() {
        assert_eq!(api_name(ApiKey::Produce), "Produce");
        assert_eq!(api_name(ApiKey::ApiVersions), "ApiVersions");
        assert_eq!(api_name(ApiKey::OffsetCommit), "OffsetCommit");
        let mut buf = itoa_buf();
        assert_eq!(format_i16(&mut buf, 13), "13");
    }
}
