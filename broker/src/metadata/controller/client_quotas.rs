//! AlterClientQuotas on the controller (Kafka's `ClientQuotaControlManager`): each entry's
//! entity is checked (known types, each once, no empty names, `ip` alone), then each of its
//! operations (a key the entity may carry, a value above 0, integral where the key is a
//! LONG or INT, a key set or removed twice is INVALID_REQUEST); an entity named twice in
//! one request is refused both times. An entry that fails writes nothing; the others'
//! changes (a value that changed, a removal of what is set) are committed as one batch
//! unless the request only validates.

use std::collections::{BTreeMap, HashMap};

use super::Controller;
use crate::client_quota::entity::{self, validate_entity, validate_key_value};
use crate::client_quota::{ClientQuotaEntity, QuotaValue};
use crate::error::{ApiError, ResponseError};
use crate::metadata::image::MetadataImage;
use crate::metadata::records::MetadataRecord;

/// One entry of AlterClientQuotas: the entity's (type, name) pairs (`None`: the default)
/// and its operations (key, `Some(value)` to set, `None` to remove).
#[derive(Debug, Clone)]
pub(crate) struct ClientQuotaAlteration {
    pub entity: Vec<(String, Option<String>)>,
    pub ops: Vec<(String, Option<f64>)>,
}

/// The records one entry writes, or why it writes none.
fn plan(
    image: &MetadataImage,
    alteration: &ClientQuotaAlteration,
) -> Result<Vec<MetadataRecord>, ApiError> {
    let entity = validate_entity(alteration.entity.iter().cloned())?;
    let mut seen: HashMap<&str, ()> = HashMap::new();
    for (key, _) in &alteration.ops {
        if seen.insert(key.as_str(), ()).is_some() {
            return Err(ApiError::new(
                ResponseError::InvalidRequest,
                format!(
                    "Duplicate quota key {key} not updating quota for this entity {}",
                    entity::describe(&entity)
                ),
            ));
        }
    }
    let current = image.client_quotas.get(&entity);
    let mut records = Vec::new();
    for (key, value) in &alteration.ops {
        let existing = current.and_then(|q| q.get(key));
        match value {
            None => {
                if existing.is_some() {
                    records.push(record(&entity, key, None));
                }
            }
            Some(value) => {
                validate_key_value(&entity, key, *value)?;
                if existing != Some(&QuotaValue(*value)) {
                    records.push(record(&entity, key, Some(QuotaValue(*value))));
                }
            }
        }
    }
    Ok(records)
}

fn record(entity: &ClientQuotaEntity, key: &str, value: Option<QuotaValue>) -> MetadataRecord {
    MetadataRecord::ClientQuota {
        entity: entity.clone(),
        key: key.to_string(),
        value,
    }
}

impl Controller {
    /// AlterClientQuotas: one result per entry, in request order, and the metadata offset
    /// of the committed changes (if any were written).
    pub(crate) async fn alter_client_quotas(
        &self,
        alterations: Vec<ClientQuotaAlteration>,
        validate_only: bool,
    ) -> (Vec<Result<(), ApiError>>, Option<u64>) {
        let _guard = self.operation_lock.lock().await;
        if let Err(e) = self.ensure_active() {
            return (alterations.iter().map(|_| Err(e.clone())).collect(), None);
        }
        let image = self.quorum.image();
        let raw = |a: &ClientQuotaAlteration| -> BTreeMap<String, Option<String>> {
            a.entity.iter().cloned().collect()
        };
        let mut counts: HashMap<BTreeMap<String, Option<String>>, usize> = HashMap::new();
        for a in &alterations {
            *counts.entry(raw(a)).or_insert(0) += 1;
        }
        let mut records = Vec::new();
        let mut results: Vec<Result<(), ApiError>> = Vec::with_capacity(alterations.len());
        for a in &alterations {
            if counts.get(&raw(a)).copied().unwrap_or(0) > 1 {
                results.push(Err(ApiError::new(
                    ResponseError::InvalidRequest,
                    format!("Ignoring duplicate entity {}", entity::describe(&raw(a))),
                )));
                continue;
            }
            match plan(&image, a) {
                Ok(planned) => {
                    records.extend(planned);
                    results.push(Ok(()));
                }
                Err(e) => results.push(Err(e)),
            }
        }
        let mut offset = None;
        if !validate_only && !records.is_empty() {
            match self.propose(records).await {
                Ok(committed) => offset = Some(committed),
                Err(e) => {
                    for result in results.iter_mut().filter(|r| r.is_ok()) {
                        *result = Err(e.clone());
                    }
                }
            }
        }
        (results, offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alteration(
        entity: &[(&str, Option<&str>)],
        ops: &[(&str, Option<f64>)],
    ) -> ClientQuotaAlteration {
        ClientQuotaAlteration {
            entity: entity
                .iter()
                .map(|(t, n)| (t.to_string(), n.map(str::to_string)))
                .collect(),
            ops: ops.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        }
    }

    #[test]
    fn only_changes_are_written() {
        let mut image = MetadataImage::empty();
        let set = alteration(
            &[("user", Some("alice"))],
            &[("producer_byte_rate", Some(1024.0))],
        );
        let records = plan(&image, &set).unwrap();
        assert_eq!(records.len(), 1);
        image.apply_in_place(&records);
        assert!(
            plan(&image, &set).unwrap().is_empty(),
            "the same value again writes nothing"
        );
        let remove_unset = alteration(&[("user", Some("alice"))], &[("consumer_byte_rate", None)]);
        assert!(
            plan(&image, &remove_unset).unwrap().is_empty(),
            "removing what is not set writes nothing"
        );
        let remove = alteration(&[("user", Some("alice"))], &[("producer_byte_rate", None)]);
        let records = plan(&image, &remove).unwrap();
        image.apply_in_place(&records);
        assert!(
            image.client_quotas.is_empty(),
            "the entity goes with its last quota"
        );
    }

    #[test]
    fn a_bad_operation_fails_its_whole_entry() {
        let image = MetadataImage::empty();
        let bad = alteration(
            &[("user", Some("alice"))],
            &[("producer_byte_rate", Some(1024.0)), ("bogus", Some(1.0))],
        );
        assert_eq!(
            plan(&image, &bad).err().map(|e| e.code),
            Some(ResponseError::InvalidRequest)
        );
        let twice = alteration(
            &[("client-id", None)],
            &[
                ("producer_byte_rate", Some(1.0)),
                ("producer_byte_rate", None),
            ],
        );
        assert_eq!(
            plan(&image, &twice).err().map(|e| e.code),
            Some(ResponseError::InvalidRequest)
        );
    }
}
