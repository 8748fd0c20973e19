//! Client quota entities and keys, as Kafka's `ClientQuotaEntity` and `QuotaConfig`: an
//! entity maps entity types (`user`, `client-id`, `ip`) to a name, `None` being the type's
//! default; `user` and `client-id` (alone or together) carry the byte-rate, request and
//! mutation quotas, `ip` (alone) carries `connection_creation_rate`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ResponseError};

pub(crate) const USER: &str = "user";
pub(crate) const CLIENT_ID: &str = "client-id";
pub(crate) const IP: &str = "ip";

pub(crate) const PRODUCER_BYTE_RATE: &str = "producer_byte_rate";
pub(crate) const CONSUMER_BYTE_RATE: &str = "consumer_byte_rate";
pub(crate) const REQUEST_PERCENTAGE: &str = "request_percentage";
pub(crate) const CONTROLLER_MUTATION_RATE: &str = "controller_mutation_rate";
pub(crate) const CONNECTION_CREATION_RATE: &str = "connection_creation_rate";

/// A quota entity: entity type → name (`None`: the default entity of that type).
pub(crate) type ClientQuotaEntity = BTreeMap<String, Option<String>>;

/// A quota value (Kafka's doubles), comparable bit for bit so records stay `Eq`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct QuotaValue(pub f64);

impl PartialEq for QuotaValue {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for QuotaValue {}

/// How a quota key's value must look (Kafka's `ConfigDef` type of the key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyType {
    Long,
    Int,
    Double,
}

/// The keys an entity of these types may carry (Kafka's `configKeysForEntityType`).
fn keys_for(entity: &ClientQuotaEntity) -> Result<&'static [(&'static str, KeyType)], ApiError> {
    let has_user = entity.contains_key(USER);
    let has_client = entity.contains_key(CLIENT_ID);
    match entity.get(IP) {
        Some(_) if has_user || has_client => Err(invalid(
            "Invalid quota entity combination, IP entity should not be combined with User or ClientId",
        )),
        Some(ip) => {
            if let Some(ip) = ip {
                if ip.parse::<std::net::IpAddr>().is_err() {
                    return Err(invalid(format!("{ip} is not a valid IP or resolvable host.")));
                }
            }
            Ok(&[(CONNECTION_CREATION_RATE, KeyType::Int)])
        }
        None if has_user || has_client => Ok(&[
            (PRODUCER_BYTE_RATE, KeyType::Long),
            (CONSUMER_BYTE_RATE, KeyType::Long),
            (REQUEST_PERCENTAGE, KeyType::Double),
            (CONTROLLER_MUTATION_RATE, KeyType::Double),
        ]),
        None => Err(invalid("Invalid empty client quota entity")),
    }
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ResponseError::InvalidRequest, message)
}

/// Builds an entity from a request's (type, name) entries, checked as Kafka's
/// `validateEntity`: known types, each once, no empty names, a valid combination.
pub(crate) fn validate_entity(
    entries: impl IntoIterator<Item = (String, Option<String>)>,
) -> Result<ClientQuotaEntity, ApiError> {
    let mut entity = ClientQuotaEntity::new();
    for (entity_type, name) in entries {
        if entity.contains_key(&entity_type) {
            return Err(invalid(format!(
                "Invalid client quota entity, duplicate entity entry {entity_type}"
            )));
        }
        if ![USER, CLIENT_ID, IP].contains(&entity_type.as_str()) {
            return Err(invalid(format!(
                "Unhandled client quota entity type: {entity_type}"
            )));
        }
        if name.as_deref() == Some("") {
            return Err(invalid(format!("Empty {entity_type} not supported")));
        }
        entity.insert(entity_type, name);
    }
    if entity.is_empty() {
        return Err(invalid("Invalid empty client quota entity"));
    }
    keys_for(&entity)?;
    Ok(entity)
}

/// Checks one key and value for a valid entity (Kafka's `validateQuotaKeyValue`).
pub(crate) fn validate_key_value(
    entity: &ClientQuotaEntity,
    key: &str,
    value: f64,
) -> Result<(), ApiError> {
    let keys = keys_for(entity)?;
    let Some((_, key_type)) = keys.iter().find(|(name, _)| *name == key) else {
        return Err(invalid(format!("Invalid configuration key {key}")));
    };
    if value.is_nan() || value <= 0.0 {
        return Err(invalid(format!("Quota {key} must be greater than 0")));
    }
    let integral = |max: f64, type_name: &str| {
        if value > max {
            return Err(invalid(format!(
                "Proposed value for {key} is too large for {type_name}."
            )));
        }
        if (value % 1.0).abs() > 1e-6 {
            return Err(invalid(format!("{key} cannot be a fractional value.")));
        }
        Ok(())
    };
    match key_type {
        KeyType::Double if value.is_finite() => Ok(()),
        KeyType::Double => Err(invalid(format!("Quota {key} must be finite"))),
        KeyType::Int => integral(i32::MAX as f64, "an INT"),
        KeyType::Long => integral(i64::MAX as f64, "a LONG"),
    }
}

/// The entities whose quotas apply to `user` and `client_id`, most specific first (Kafka's
/// `DefaultQuotaCallback` precedence): user+client-id, user+default client-id, user,
/// default user+client-id, default user+default client-id, default user, client-id,
/// default client-id.
pub(crate) fn precedence(user: &str, client_id: &str) -> [ClientQuotaEntity; 8] {
    let u = || Some(user.to_string());
    let c = || Some(client_id.to_string());
    let entity = |user: Option<Option<String>>, client: Option<Option<String>>| {
        let mut e = ClientQuotaEntity::new();
        if let Some(user) = user {
            e.insert(USER.to_string(), user);
        }
        if let Some(client) = client {
            e.insert(CLIENT_ID.to_string(), client);
        }
        e
    };
    [
        entity(Some(u()), Some(c())),
        entity(Some(u()), Some(None)),
        entity(Some(u()), None),
        entity(Some(None), Some(c())),
        entity(Some(None), Some(None)),
        entity(Some(None), None),
        entity(None, Some(c())),
        entity(None, Some(None)),
    ]
}

/// Kafka's display of an entity in messages: `user=alice, client-id=<default>`.
pub(crate) fn describe(entity: &ClientQuotaEntity) -> String {
    entity
        .iter()
        .map(|(t, n)| format!("{t}={}", n.as_deref().unwrap_or("<default>")))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(list: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
        list.iter()
            .map(|(t, n)| (t.to_string(), n.map(str::to_string)))
            .collect()
    }

    #[test]
    fn entities_are_checked_as_kafka_checks_them() {
        let code =
            |list: &[(&str, Option<&str>)]| validate_entity(entries(list)).err().map(|e| e.code);
        assert_eq!(code(&[("user", Some("alice"))]), None);
        assert_eq!(code(&[("user", None), ("client-id", Some("app"))]), None);
        assert_eq!(code(&[("ip", Some("10.0.0.1"))]), None);
        assert_eq!(code(&[("ip", None)]), None);
        for bad in [
            &[][..],
            &[("group", Some("g"))][..],
            &[("user", Some(""))][..],
            &[("user", Some("a")), ("user", Some("b"))][..],
            &[("ip", Some("1.2.3.4")), ("user", Some("a"))][..],
            &[("ip", Some("not-an-ip"))][..],
        ] {
            assert_eq!(
                code(bad),
                Some(ResponseError::InvalidRequest),
                "{bad:?} must be refused with INVALID_REQUEST"
            );
        }
    }

    #[test]
    fn keys_and_values_are_checked_as_kafka_checks_them() {
        let user = validate_entity(entries(&[("user", Some("alice"))])).unwrap();
        let ip = validate_entity(entries(&[("ip", None)])).unwrap();
        let ok = |e: &ClientQuotaEntity, k: &str, v: f64| validate_key_value(e, k, v).is_ok();
        assert!(ok(&user, PRODUCER_BYTE_RATE, 1024.0));
        assert!(ok(&user, REQUEST_PERCENTAGE, 12.5));
        assert!(
            !ok(&user, PRODUCER_BYTE_RATE, 10.5),
            "a LONG key cannot be fractional"
        );
        assert!(!ok(&user, PRODUCER_BYTE_RATE, -1.0), "negative");
        assert!(!ok(&user, CONSUMER_BYTE_RATE, 0.0), "zero");
        assert!(!ok(&user, "bogus_rate", 1.0), "unknown key");
        assert!(
            !ok(&user, CONNECTION_CREATION_RATE, 1.0),
            "an ip key on a user"
        );
        assert!(ok(&ip, CONNECTION_CREATION_RATE, 10.0));
        assert!(!ok(&ip, PRODUCER_BYTE_RATE, 10.0), "a user key on an ip");
    }

    #[test]
    fn precedence_goes_from_the_most_specific_entity() {
        let order = precedence("alice", "app");
        let shown: Vec<String> = order.iter().map(describe).collect();
        assert_eq!(
            shown,
            [
                "client-id=app, user=alice",
                "client-id=<default>, user=alice",
                "user=alice",
                "client-id=app, user=<default>",
                "client-id=<default>, user=<default>",
                "user=<default>",
                "client-id=app",
                "client-id=<default>",
            ]
        );
    }
}
