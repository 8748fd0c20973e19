//! Enforcement of client quotas (Kafka's `ClientQuotaManager`): each request's bytes are
//! recorded into the rate of the client's quota sensor, and a client over its quota gets
//! the throttle time that brings its rate back to the bound.
//!
//! As Kafka: the quota of a (user, client id) pair is the first entity in
//! [`entity::precedence`] that sets the key; its sensor is shared by everyone that entity
//! covers (a user's quota by all of the user's client ids, a default-user quota per user).
//! The throttle time is `(rate − bound) / bound × window`, the window being the elapsed
//! span the rate was measured over (`quota.window.num` × `quota.window.size.seconds` at
//! most), with no cap. Sensors unused for an hour are dropped (Kafka's inactive sensor
//! expiry), so the map is bounded by the clients active within the hour.

use std::collections::HashMap;
use std::sync::Mutex;

use super::entity::{
    self, CLIENT_ID, CONSUMER_BYTE_RATE, CONTROLLER_MUTATION_RATE, PRODUCER_BYTE_RATE,
    REQUEST_PERCENTAGE, USER,
};
use crate::metadata::MetadataImage;
use crate::quota::SampledRate;

/// Sensors unused this long are dropped (Kafka's `InactiveSensorExpirationTimeSeconds`).
const SENSOR_EXPIRY_MS: i64 = 3_600_000;
/// How often the expiry sweep runs at most.
const SWEEP_INTERVAL_MS: i64 = 60_000;

/// Milliseconds on a monotonic clock (since the first call), what sensors are timed by:
/// a wall clock step must not make a rate jump.
pub(crate) fn monotonic_ms() -> i64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let start = START.get_or_init(std::time::Instant::now);
    i64::try_from(start.elapsed().as_millis()).unwrap_or(i64::MAX)
}

/// The quotas a request is counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum QuotaType {
    /// Bytes of Produce requests (`producer_byte_rate`).
    Produce,
    /// Bytes of Fetch responses (`consumer_byte_rate`).
    Fetch,
    /// Partitions created or deleted by CreateTopics, CreatePartitions and DeleteTopics
    /// (`controller_mutation_rate`, KIP-599).
    ControllerMutation,
    /// Request handler time, in percent of one thread (`request_percentage`).
    Request,
}

impl QuotaType {
    fn key(self) -> &'static str {
        match self {
            QuotaType::Produce => PRODUCER_BYTE_RATE,
            QuotaType::Fetch => CONSUMER_BYTE_RATE,
            QuotaType::ControllerMutation => CONTROLLER_MUTATION_RATE,
            QuotaType::Request => REQUEST_PERCENTAGE,
        }
    }

    /// Kafka's name of the quota manager (`Produce`, `Fetch`), the metrics' label.
    pub(crate) fn name(self) -> &'static str {
        match self {
            QuotaType::Produce => "Produce",
            QuotaType::Fetch => "Fetch",
            QuotaType::ControllerMutation => "ControllerMutation",
            QuotaType::Request => "Request",
        }
    }
}

/// A sensor's identity: the quota type and Kafka's metric tags (the user and client id the
/// matched entity names, empty where it names none).
type SensorKey = (QuotaType, String, String);

struct Sensor {
    rate: SampledRate,
    last_used_ms: i64,
}

struct Sensors {
    map: HashMap<SensorKey, Sensor>,
    last_sweep_ms: i64,
}

/// The quota bound that applies to a client, and the sensor it is counted in.
#[derive(Debug, Clone, PartialEq)]
struct Applicable {
    bound: f64,
    user_tag: String,
    client_tag: String,
}

/// The produce and fetch quota managers of one broker.
pub(crate) struct ClientQuotaManagers {
    samples: usize,
    window_ms: i64,
    sensors: Mutex<Sensors>,
}

impl ClientQuotaManagers {
    /// `quota.window.num` samples of `quota.window.size.seconds` each.
    pub(crate) fn new(samples: usize, window_ms: i64) -> Self {
        Self {
            samples: samples.max(2),
            window_ms: window_ms.max(1),
            sensors: Mutex::new(Sensors {
                map: HashMap::new(),
                last_sweep_ms: 0,
            }),
        }
    }

    /// Records `value` bytes of `quota_type` by `user` (the principal's name) with
    /// `client_id` at `now_ms`; returns the throttle time in ms (0 within quota or without
    /// one).
    pub(crate) fn record_and_get_throttle_time_ms(
        &self,
        image: &MetadataImage,
        quota_type: QuotaType,
        user: &str,
        client_id: &str,
        value: f64,
        now_ms: i64,
    ) -> u64 {
        let Some(applicable) = applicable(image, quota_type, user, client_id) else {
            return 0;
        };
        let mut sensors = self.sensors.lock().unwrap_or_else(|p| p.into_inner());
        if now_ms.saturating_sub(sensors.last_sweep_ms) >= SWEEP_INTERVAL_MS {
            sensors
                .map
                .retain(|_, s| now_ms.saturating_sub(s.last_used_ms) < SENSOR_EXPIRY_MS);
            sensors.last_sweep_ms = now_ms;
        }
        let key = (quota_type, applicable.user_tag, applicable.client_tag);
        let sensor = self.sensor(&mut sensors, key, now_ms);
        sensor.rate.record(value, now_ms);
        let (rate, window_size_ms) = sensor.rate.measure(now_ms);
        let throttle = throttle_time_ms(rate, applicable.bound, window_size_ms);
        match quota_type {
            // Kafka's request quota throttles for one quota window at most.
            QuotaType::Request => throttle.min(self.window_ms as u64),
            _ => throttle,
        }
    }

    /// The sensor of `key` (created on first use), marked used at `now_ms`.
    fn sensor<'a>(&self, sensors: &'a mut Sensors, key: SensorKey, now_ms: i64) -> &'a mut Sensor {
        let (samples, window_ms) = (self.samples, self.window_ms);
        let sensor = sensors.map.entry(key).or_insert_with(|| Sensor {
            rate: SampledRate::new(samples, window_ms),
            last_used_ms: now_ms,
        });
        sensor.last_used_ms = now_ms;
        sensor
    }

    /// Kafka's controller mutation quota for `permits` partition mutations: strict (the
    /// request versions that know THROTTLING_QUOTA_EXCEEDED) refuses them with the throttle
    /// time (`Err`) while the client's rate is over the quota, and records them otherwise
    /// (a request may go over once); permissive records them and returns the throttle time
    /// the rate now calls for.
    pub(crate) fn record_mutations(
        &self,
        image: &MetadataImage,
        user: &str,
        client_id: &str,
        permits: f64,
        strict: bool,
        now_ms: i64,
    ) -> Result<u64, u64> {
        let quota_type = QuotaType::ControllerMutation;
        let Some(applicable) = applicable(image, quota_type, user, client_id) else {
            return Ok(0);
        };
        let mut sensors = self.sensors.lock().unwrap_or_else(|p| p.into_inner());
        let key = (quota_type, applicable.user_tag, applicable.client_tag);
        let sensor = self.sensor(&mut sensors, key, now_ms);
        if strict {
            let (rate, window_size_ms) = sensor.rate.measure(now_ms);
            let throttle = throttle_time_ms(rate, applicable.bound, window_size_ms);
            if throttle > 0 {
                return Err(throttle);
            }
            sensor.rate.record(permits, now_ms);
            return Ok(0);
        }
        sensor.rate.record(permits, now_ms);
        let (rate, window_size_ms) = sensor.rate.measure(now_ms);
        Ok(throttle_time_ms(rate, applicable.bound, window_size_ms))
    }

    /// How many sensors are live.
    #[cfg(test)]
    pub(crate) fn sensor_count(&self) -> usize {
        self.sensors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map
            .len()
    }
}

/// Kafka's `QuotaUtils.throttleTime`: how long the client must stay quiet for `rate` to
/// fall back to `bound` over `window_size_ms`.
pub(crate) fn throttle_time_ms(rate: f64, bound: f64, window_size_ms: i64) -> u64 {
    if rate <= bound || bound <= 0.0 {
        return 0;
    }
    let ms = (rate - bound) / bound * window_size_ms as f64;
    ms.round().clamp(0.0, i32::MAX as f64) as u64
}

/// The first entity in Kafka's precedence that sets this quota type's key.
fn applicable(
    image: &MetadataImage,
    quota_type: QuotaType,
    user: &str,
    client_id: &str,
) -> Option<Applicable> {
    if image.client_quotas.is_empty() {
        return None;
    }
    entity::precedence(user, client_id)
        .into_iter()
        .find_map(|entity| {
            let bound = image.client_quotas.get(&entity)?.get(quota_type.key())?.0;
            Some(Applicable {
                bound,
                user_tag: if entity.contains_key(USER) {
                    user.to_string()
                } else {
                    String::new()
                },
                client_tag: if entity.contains_key(CLIENT_ID) {
                    client_id.to_string()
                } else {
                    String::new()
                },
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client_quota::ClientQuotaEntity;

    /// An entity as (type, name) pairs, a quota key and its value.
    type Quota<'a> = (&'a [(&'a str, Option<&'a str>)], &'a str, f64);

    fn image_with(quotas: &[Quota<'_>]) -> MetadataImage {
        let mut image = MetadataImage::empty();
        for (entity, key, value) in quotas {
            let entity: ClientQuotaEntity = entity
                .iter()
                .map(|(t, n)| (t.to_string(), n.map(str::to_string)))
                .collect();
            image
                .client_quotas
                .entry(entity)
                .or_default()
                .insert(key.to_string(), crate::client_quota::QuotaValue(*value));
        }
        image
    }

    #[test]
    fn the_most_specific_entity_wins_and_names_the_sensor() {
        let image = image_with(&[
            (&[("user", None)], PRODUCER_BYTE_RATE, 100.0),
            (&[("user", Some("alice"))], PRODUCER_BYTE_RATE, 200.0),
            (&[("client-id", Some("app"))], PRODUCER_BYTE_RATE, 300.0),
            (
                &[("user", Some("alice")), ("client-id", Some("app"))],
                CONSUMER_BYTE_RATE,
                400.0,
            ),
        ]);
        let alice = applicable(&image, QuotaType::Produce, "alice", "app").unwrap();
        assert_eq!(
            (
                alice.bound,
                alice.user_tag.as_str(),
                alice.client_tag.as_str()
            ),
            (200.0, "alice", ""),
            "alice's own quota beats the default user's and the client id's"
        );
        let bob = applicable(&image, QuotaType::Produce, "bob", "app").unwrap();
        assert_eq!(
            (bob.bound, bob.user_tag.as_str()),
            (100.0, "bob"),
            "the default user quota applies per user"
        );
        let fetch = applicable(&image, QuotaType::Fetch, "alice", "app").unwrap();
        assert_eq!(fetch.bound, 400.0);
        assert_eq!(
            applicable(&image, QuotaType::Fetch, "bob", "app"),
            None,
            "no consumer quota covers bob"
        );
    }

    #[test]
    fn a_client_over_its_quota_is_throttled_by_kafkas_formula() {
        let image = image_with(&[(&[("client-id", None)], PRODUCER_BYTE_RATE, 1000.0)]);
        let managers = ClientQuotaManagers::new(11, 1000);
        // 5000 bytes at once: 500 B/s over the 10 s minimum span, within quota.
        let t = managers.record_and_get_throttle_time_ms(
            &image,
            QuotaType::Produce,
            "u",
            "c",
            5000.0,
            0,
        );
        assert_eq!(t, 0, "500 B/s is within a 1000 B/s quota");
        // 15 000 more: 2000 B/s over 10 s → (2000 − 1000) / 1000 × 10 000 ms.
        let t = managers.record_and_get_throttle_time_ms(
            &image,
            QuotaType::Produce,
            "u",
            "c",
            15_000.0,
            100,
        );
        assert_eq!(
            t, 10_000,
            "twice the quota means a quiet window as long as the span"
        );
        let none =
            managers.record_and_get_throttle_time_ms(&image, QuotaType::Fetch, "u", "c", 1e9, 100);
        assert_eq!(none, 0, "no consumer quota, no throttle");
        assert_eq!(
            managers.sensor_count(),
            1,
            "only a quota that applies has a sensor"
        );
    }

    #[test]
    fn strict_mutations_are_refused_while_over_the_quota() {
        let image = image_with(&[(&[("user", None)], CONTROLLER_MUTATION_RATE, 1.0)]);
        let managers = ClientQuotaManagers::new(11, 1000);
        // 1 partition/s over the 10 s span: 30 partitions at once go through (the burst)...
        assert_eq!(
            managers.record_mutations(&image, "u", "c", 30.0, true, 0),
            Ok(0)
        );
        // ...then the rate is 3/s: refused, with the time until it is back at 1/s.
        assert_eq!(
            managers.record_mutations(&image, "u", "c", 1.0, true, 100),
            Err(20_000)
        );
        // permissive: recorded anyway, with the throttle time
        assert_eq!(
            managers.record_mutations(&image, "u", "c", 10.0, false, 100),
            Ok(30_000)
        );
        assert_eq!(
            managers.record_mutations(&image, "u", "c", 1e6, true, 100),
            Err(30_000),
            "a refused request records nothing"
        );
        assert_eq!(
            managers.record_mutations(&image, "other", "c", 5.0, true, 100),
            Ok(0),
            "per user"
        );
    }

    #[test]
    fn idle_sensors_expire() {
        let image = image_with(&[(&[("client-id", None)], PRODUCER_BYTE_RATE, 1000.0)]);
        let managers = ClientQuotaManagers::new(11, 1000);
        managers.record_and_get_throttle_time_ms(&image, QuotaType::Produce, "u", "a", 1.0, 0);
        managers.record_and_get_throttle_time_ms(&image, QuotaType::Produce, "u", "b", 1.0, 0);
        assert_eq!(managers.sensor_count(), 2);
        managers.record_and_get_throttle_time_ms(
            &image,
            QuotaType::Produce,
            "u",
            "b",
            1.0,
            SENSOR_EXPIRY_MS + 1,
        );
        assert_eq!(
            managers.sensor_count(),
            1,
            "client a's sensor was idle for an hour"
        );
    }
}
