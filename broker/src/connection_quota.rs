//! Connection creation rate limits (KIP-612, Kafka's `ConnectionQuotas`), checked by every
//! accept loop for each connection it accepts:
//!
//! - `max.connection.creation.rate` (all listeners but the inter-broker one, when there
//!   are several) and `listener.name.<listener>.max.connection.creation.rate` (that
//!   listener): a connection over the rate is *delayed* — the accept loop waits out the
//!   throttle time before it serves it and before it accepts the next one (the others
//!   queue in the listen backlog);
//! - the `connection_creation_rate` quota of the peer's IP (client quota entity `ip`, that
//!   IP's or the default IP entity's): a connection over it is never served; it is closed
//!   once the throttle time has passed, and counts against no rate.
//!
//! Rates are Kafka's: a [`SampledRate`] over `quota.window.num` × `quota.window.size.seconds`,
//! the throttle time `(rate − bound) / bound × window`, at most one quota window. Connections
//! already open are never affected. IP sensors unused for an hour are dropped.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use ironlog_config::{BrokerConfig, ConfigValue};
use tokio::sync::watch;

use crate::client_quota::entity::{CONNECTION_CREATION_RATE, IP};
use crate::client_quota::manager::{monotonic_ms, throttle_time_ms};
use crate::metadata::MetadataImage;
use crate::metrics::Metrics;
use crate::quota::SampledRate;

const RATE_KEY: &str = "max.connection.creation.rate";
/// IP sensors unused this long are dropped (Kafka's inactive sensor expiry).
const IP_SENSOR_EXPIRY_MS: i64 = 3_600_000;
const IP_SWEEP_INTERVAL_MS: i64 = 60_000;
/// Most IP-throttled connections held open at once until their close; more are closed
/// at once (each is held one quota window at most).
const MAX_HELD_CONNECTIONS: usize = 1024;

/// One rate and its bound (connections per second).
struct RateLimit {
    bound: f64,
    rate: SampledRate,
}

struct IpSensors {
    map: HashMap<IpAddr, (SampledRate, i64)>,
    last_sweep_ms: i64,
}

/// The connection creation limits of one node, shared by its accept loops.
pub(crate) struct ConnectionQuotas {
    samples: usize,
    window_ms: i64,
    broker: Option<RateLimit>,
    /// Upper-cased listener name → its own limit.
    listeners: HashMap<String, RateLimit>,
    /// The listener the broker-wide limit spares (Kafka's protected inter-broker listener).
    protected_listener: Option<String>,
    ips: Mutex<IpSensors>,
    images: watch::Receiver<Arc<MetadataImage>>,
    metrics: Arc<Metrics>,
    held: Arc<AtomicUsize>,
}

/// What the accept loop does with a connection it accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Serve it.
    Serve,
    /// The peer's IP is over its `connection_creation_rate`: close it after this many ms.
    CloseAfterMs(u64),
}

fn limit(value: Option<ConfigValue>, samples: usize, window_ms: i64) -> Option<RateLimit> {
    match value {
        // Kafka's default (Int.MaxValue) is no limit.
        Some(ConfigValue::Int(bound)) if bound < i32::MAX => Some(RateLimit {
            bound: f64::from(bound),
            rate: SampledRate::new(samples, window_ms),
        }),
        _ => None,
    }
}

impl ConnectionQuotas {
    pub(crate) fn new(
        config: &BrokerConfig,
        images: watch::Receiver<Arc<MetadataImage>>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let int = |name: &str, default: i32| match config.value(name) {
            Some(ConfigValue::Int(v)) => v,
            _ => default,
        };
        let samples = int("quota.window.num", 11).max(2) as usize;
        let window_ms = i64::from(int("quota.window.size.seconds", 1).max(1)) * 1000;
        let names: Vec<String> = config
            .listeners
            .iter()
            .map(|l| l.name.to_ascii_uppercase())
            .collect();
        let listeners = names
            .iter()
            .filter_map(|name| {
                limit(config.listener_override(name, RATE_KEY), samples, window_ms)
                    .map(|l| (name.clone(), l))
            })
            .collect();
        let protected_listener = (names.len() > 1)
            .then(|| config.inter_broker_listener_name.to_ascii_uppercase())
            .filter(|name| !name.is_empty());
        Self {
            samples,
            window_ms,
            broker: limit(config.value(RATE_KEY), samples, window_ms),
            listeners,
            protected_listener,
            ips: Mutex::new(IpSensors {
                map: HashMap::new(),
                last_sweep_ms: 0,
            }),
            images,
            metrics,
            held: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The broker-wide and the listener's limit that apply to `listener`.
    fn limits(&self, listener: &str) -> impl Iterator<Item = &RateLimit> {
        let listener = listener.to_ascii_uppercase();
        let broker = self
            .broker
            .as_ref()
            .filter(|_| self.protected_listener.as_deref() != Some(listener.as_str()));
        broker.into_iter().chain(self.listeners.get(&listener))
    }

    /// Records a connection accepted on `listener` at `now_ms` in the broker-wide and the
    /// listener's rate: how long the accept loop waits before serving it (and accepting the
    /// next). The IP check ([`ConnectionQuotas::admit_ip`]) comes after the wait, as Kafka's.
    pub(crate) fn accept_delay_ms(&self, listener: &str, now_ms: i64) -> u64 {
        let max_ms = self.window_ms as u64;
        let mut delay_ms = 0;
        for limit in self.limits(listener) {
            limit.rate.record(1.0, now_ms);
            let (rate, window_ms) = limit.rate.measure(now_ms);
            delay_ms = delay_ms.max(throttle_time_ms(rate, limit.bound, window_ms).min(max_ms));
        }
        if delay_ms > 0 {
            self.metrics
                .quotas
                .connection_accept_throttled(listener, delay_ms);
        }
        delay_ms
    }

    /// Checks `ip`'s `connection_creation_rate` for a connection on `listener` at `now_ms`.
    /// Over it, the connection is taken back out of every rate it was counted in.
    pub(crate) fn admit_ip(&self, listener: &str, ip: IpAddr, now_ms: i64) -> Admission {
        let Some(bound) = ip_quota(&self.images.borrow(), ip) else {
            return Admission::Serve;
        };
        let mut ips = self.ips.lock().unwrap_or_else(|p| p.into_inner());
        if now_ms.saturating_sub(ips.last_sweep_ms) >= IP_SWEEP_INTERVAL_MS {
            ips.map
                .retain(|_, (_, used)| now_ms.saturating_sub(*used) < IP_SENSOR_EXPIRY_MS);
            ips.last_sweep_ms = now_ms;
        }
        let (samples, window_ms) = (self.samples, self.window_ms);
        let (rate, used) = ips
            .map
            .entry(ip)
            .or_insert_with(|| (SampledRate::new(samples, window_ms), now_ms));
        *used = now_ms;
        rate.record(1.0, now_ms);
        let (measured, measured_over_ms) = rate.measure(now_ms);
        let throttle_ms =
            throttle_time_ms(measured, bound, measured_over_ms).min(self.window_ms as u64);
        if throttle_ms == 0 {
            return Admission::Serve;
        }
        rate.record(-1.0, now_ms);
        drop(ips);
        for limit in self.limits(listener) {
            limit.rate.record(-1.0, now_ms);
        }
        self.metrics
            .quotas
            .ip_connection_throttled(listener, throttle_ms);
        tracing::debug!(%ip, listener, throttle_ms, "connection creation rate of the IP exceeded: closing the connection after the throttle time");
        Admission::CloseAfterMs(throttle_ms)
    }

    /// Holds `stream` (never served) for `close_after_ms`, then closes it; at once when
    /// too many are held already or the node shuts down.
    pub(crate) fn close_later<S: Send + 'static>(
        &self,
        stream: S,
        close_after_ms: u64,
        mut shutdown: watch::Receiver<bool>,
    ) {
        if self.held.fetch_add(1, Ordering::SeqCst) >= MAX_HELD_CONNECTIONS {
            self.held.fetch_sub(1, Ordering::SeqCst);
            drop(stream);
            return;
        }
        let held = Arc::clone(&self.held);
        tokio::spawn(async move {
            tokio::select! {
                _ = shutdown.changed() => {}
                _ = tokio::time::sleep(std::time::Duration::from_millis(close_after_ms)) => {}
            }
            drop(stream);
            held.fetch_sub(1, Ordering::SeqCst);
        });
    }

    /// The monotonic clock the rates are timed by.
    pub(crate) fn now_ms() -> i64 {
        monotonic_ms()
    }
}

/// `ip`'s `connection_creation_rate`: its own entity's, else the default IP entity's.
fn ip_quota(image: &MetadataImage, ip: IpAddr) -> Option<f64> {
    if image.client_quotas.is_empty() {
        return None;
    }
    let mut default = None;
    for (entity, quotas) in &image.client_quotas {
        let Some(name) = entity.get(IP) else {
            continue;
        };
        let Some(value) = quotas.get(CONNECTION_CREATION_RATE) else {
            continue;
        };
        match name {
            Some(name) if name.parse::<IpAddr>().ok() == Some(ip) => return Some(value.0),
            Some(_) => {}
            None => default = Some(value.0),
        }
    }
    default
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client_quota::{ClientQuotaEntity, QuotaValue};

    fn quotas(overrides: &[&str], image: MetadataImage) -> ConnectionQuotas {
        let overrides: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        let config = BrokerConfig::load(None, &overrides).expect("the test's config loads");
        let (_tx, images) = watch::channel(Arc::new(image));
        ConnectionQuotas::new(&config, images, Metrics::new().unwrap())
    }

    fn with_ip_quota(ip: Option<&str>, rate: f64) -> MetadataImage {
        let mut image = MetadataImage::empty();
        let entity: ClientQuotaEntity = [(IP.to_string(), ip.map(str::to_string))].into();
        image.client_quotas.insert(
            entity,
            [(CONNECTION_CREATION_RATE.to_string(), QuotaValue(rate))].into(),
        );
        image
    }

    #[test]
    fn without_limits_nothing_is_delayed_or_refused() {
        let q = quotas(&[], MetadataImage::empty());
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for i in 0..1000 {
            assert_eq!(q.accept_delay_ms("PLAINTEXT", i), 0);
            assert_eq!(q.admit_ip("PLAINTEXT", ip, i), Admission::Serve);
        }
    }

    #[test]
    fn the_broker_rate_delays_accepts_and_the_delay_is_at_most_one_window() {
        // 2 per second over 11 one-second windows: 20 at once stay within it.
        let q = quotas(&["max.connection.creation.rate=2"], MetadataImage::empty());
        let delays: Vec<u64> = (0..40).map(|_| q.accept_delay_ms("PLAINTEXT", 0)).collect();
        assert!(delays[..20].iter().all(|d| *d == 0), "{delays:?}");
        assert!(delays[20..].iter().all(|d| *d > 0), "{delays:?}");
        assert!(delays.iter().all(|d| *d <= 1000), "{delays:?}");
    }

    #[test]
    fn a_listener_rate_applies_to_that_listener_and_the_inter_broker_listener_is_spared() {
        let q = quotas(
            &[
                "listeners=PLAINTEXT://:9092,CLIENTS://:9094,CONTROLLER://:9093",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CLIENTS:PLAINTEXT,CONTROLLER:PLAINTEXT",
                "max.connection.creation.rate=1",
                "listener.name.clients.max.connection.creation.rate=1000",
            ],
            MetadataImage::empty(),
        );
        for _ in 0..100 {
            assert_eq!(
                q.accept_delay_ms("PLAINTEXT", 0),
                0,
                "the inter-broker listener is not limited by the broker-wide rate"
            );
        }
        let delayed = (0..100)
            .filter(|_| q.accept_delay_ms("CLIENTS", 0) > 0)
            .count();
        assert!(
            delayed > 80,
            "the broker-wide rate applies to CLIENTS: {delayed}"
        );
    }

    #[test]
    fn an_ip_over_its_rate_is_refused_and_not_counted() {
        let q = quotas(&[], with_ip_quota(Some("10.0.0.1"), 1.0));
        let limited: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        let admitted: Vec<Admission> = (0..30)
            .map(|_| q.admit_ip("PLAINTEXT", limited, 0))
            .collect();
        let served = admitted.iter().filter(|a| **a == Admission::Serve).count();
        // 1 per second over the 10 s minimum span: 10 at once, then refusals.
        assert_eq!(served, 10, "{admitted:?}");
        assert!(admitted[10..]
            .iter()
            .all(|a| matches!(a, Admission::CloseAfterMs(ms) if *ms > 0 && *ms <= 1000)));
        for _ in 0..30 {
            assert_eq!(q.admit_ip("PLAINTEXT", other, 0), Admission::Serve);
        }
        // Refusals were taken back out: once the rate falls below the bound, it admits.
        assert_eq!(q.admit_ip("PLAINTEXT", limited, 11_500), Admission::Serve);
    }

    #[test]
    fn the_default_ip_entity_covers_every_ip_without_its_own() {
        let mut image = with_ip_quota(None, 1.0);
        let own: ClientQuotaEntity = [(IP.to_string(), Some("10.0.0.9".to_string()))].into();
        image.client_quotas.insert(
            own,
            [(CONNECTION_CREATION_RATE.to_string(), QuotaValue(1000.0))].into(),
        );
        let q = quotas(&[], image);
        let covered: IpAddr = "10.0.0.3".parse().unwrap();
        let own: IpAddr = "10.0.0.9".parse().unwrap();
        let refused = (0..30)
            .filter(|_| q.admit_ip("PLAINTEXT", covered, 0) != Admission::Serve)
            .count();
        assert_eq!(refused, 20);
        assert!((0..30).all(|_| q.admit_ip("PLAINTEXT", own, 0) == Admission::Serve));
    }
}
