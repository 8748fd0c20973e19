//! AlterClientQuotas (forwarded to the active controller, which commits `ClientQuota`
//! records) and DescribeClientQuotas (from this broker's image, with Kafka's
//! `ClientQuotasImage.describe` filters: exact name, default entity, any name; strict or
//! not). As Kafka: altering needs ALTER_CONFIGS on the cluster, describing
//! DESCRIBE_CONFIGS.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use kafka_protocol::messages::{
    alter_client_quotas_response, describe_client_quotas_response, AlterClientQuotasRequest,
    AlterClientQuotasResponse, DescribeClientQuotasRequest, DescribeClientQuotasResponse,
};

use super::{str_bytes, Broker, RequestContext};
use crate::client_quota::entity::{CLIENT_ID, IP, USER};
use crate::client_quota::ClientQuotaEntity;
use crate::error::{ApiError, ResponseError};
use crate::metadata::ClientQuotaAlteration;
use crate::security::acl::AclOperation;

/// DescribeClientQuotas' match types.
const MATCH_TYPE_EXACT: i8 = 0;
const MATCH_TYPE_DEFAULT: i8 = 1;
const MATCH_TYPE_SPECIFIED: i8 = 2;

pub(super) async fn handle_alter(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: AlterClientQuotasRequest,
) -> AlterClientQuotasResponse {
    let entity_of = |entry: &kafka_protocol::messages::alter_client_quotas_request::EntryData| {
        entry
            .entity
            .iter()
            .map(|e| {
                alter_client_quotas_response::EntityData::default()
                    .with_entity_type(e.entity_type.clone())
                    .with_entity_name(e.entity_name.clone())
            })
            .collect::<Vec<_>>()
    };
    let mut response = AlterClientQuotasResponse::default();
    if !broker.authz(ctx).allows_cluster(AclOperation::AlterConfigs) {
        response.entries = request
            .entries
            .iter()
            .map(|entry| {
                alter_client_quotas_response::EntryData::default()
                    .with_error_code(ResponseError::ClusterAuthorizationFailed.code())
                    .with_entity(entity_of(entry))
            })
            .collect();
        return response;
    }
    let alterations = request
        .entries
        .iter()
        .map(|entry| ClientQuotaAlteration {
            entity: entry
                .entity
                .iter()
                .map(|e| {
                    (
                        e.entity_type.to_string(),
                        e.entity_name.as_ref().map(|n| n.to_string()),
                    )
                })
                .collect(),
            ops: entry
                .ops
                .iter()
                .map(|op| (op.key.to_string(), (!op.remove).then_some(op.value)))
                .collect(),
        })
        .collect();
    let (results, offset) = broker
        .controller
        .alter_client_quotas(alterations, request.validate_only)
        .await;
    if let Some(offset) = offset {
        broker.await_applied(offset).await;
    }
    for (entry, result) in request.entries.iter().zip(results) {
        let mut out =
            alter_client_quotas_response::EntryData::default().with_entity(entity_of(entry));
        match result {
            Ok(()) if !request.validate_only => {
                tracing::info!(principal = %ctx.principal, entity = ?entry.entity.iter().map(|e| (e.entity_type.to_string(), e.entity_name.as_ref().map(|n| n.to_string()))).collect::<Vec<_>>(), "client quotas altered")
            }
            Ok(()) => {}
            Err(e) => {
                out.error_code = e.error_code();
                out.error_message = e.error_message();
            }
        }
        response.entries.push(out);
    }
    response
}

/// A checked DescribeClientQuotas filter: exact names (`None`: the default entity) and
/// types that must be present with any name.
struct Filter {
    exact: BTreeMap<String, Option<String>>,
    any: BTreeSet<String>,
    strict: bool,
}

impl Filter {
    fn parse(request: &DescribeClientQuotasRequest) -> Result<Self, ApiError> {
        let invalid = |m: String| ApiError::new(ResponseError::InvalidRequest, m);
        let mut exact = BTreeMap::new();
        let mut any = BTreeSet::new();
        for c in &request.components {
            let entity_type = c.entity_type.to_string();
            if entity_type.is_empty() {
                return Err(invalid("Invalid empty entity type.".into()));
            }
            if exact.contains_key(&entity_type) || any.contains(&entity_type) {
                return Err(invalid(format!(
                    "Entity type {entity_type} cannot appear more than once in the filter."
                )));
            }
            if ![USER, CLIENT_ID, IP].contains(&entity_type.as_str()) {
                return Err(ApiError::new(
                    ResponseError::UnsupportedVersion,
                    format!("Unsupported entity type {entity_type}"),
                ));
            }
            let name = c._match.as_ref().map(|m| m.to_string());
            match c.match_type {
                MATCH_TYPE_EXACT => {
                    let Some(name) = name else {
                        return Err(invalid(
                            "Request specified MATCH_TYPE_EXACT, but set match string to null."
                                .into(),
                        ));
                    };
                    exact.insert(entity_type, Some(name));
                }
                MATCH_TYPE_DEFAULT => {
                    if name.is_some() {
                        return Err(invalid(
                            "Request specified MATCH_TYPE_DEFAULT, but also specified a match string."
                                .into(),
                        ));
                    }
                    exact.insert(entity_type, None);
                }
                MATCH_TYPE_SPECIFIED => {
                    if name.is_some() {
                        return Err(invalid(
                            "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string."
                                .into(),
                        ));
                    }
                    any.insert(entity_type);
                }
                other => return Err(invalid(format!("Unknown match type {other}"))),
            }
        }
        let has = |t: &str| exact.contains_key(t) || any.contains(t);
        if has(IP) && (has(USER) || has(CLIENT_ID)) {
            return Err(invalid(
                "Invalid entity filter component combination. IP filter component should not be used with user or clientId filter component."
                    .into(),
            ));
        }
        Ok(Self {
            exact,
            any,
            strict: request.strict,
        })
    }

    fn matches(&self, entity: &ClientQuotaEntity) -> bool {
        if self.strict && entity.len() != self.exact.len() + self.any.len() {
            return false;
        }
        self.exact
            .iter()
            .all(|(t, name)| entity.get(t).is_some_and(|n| n == name))
            && self.any.iter().all(|t| entity.contains_key(t))
    }
}

pub(super) fn handle_describe(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: DescribeClientQuotasRequest,
) -> DescribeClientQuotasResponse {
    let mut response = DescribeClientQuotasResponse::default();
    if !broker
        .authz(ctx)
        .allows_cluster(AclOperation::DescribeConfigs)
    {
        response.error_code = ResponseError::ClusterAuthorizationFailed.code();
        response.entries = None;
        return response;
    }
    let filter = match Filter::parse(&request) {
        Ok(filter) => filter,
        Err(e) => {
            response.error_code = e.error_code();
            response.error_message = e.error_message();
            response.entries = None;
            return response;
        }
    };
    let image = broker.image();
    let entries = image
        .client_quotas
        .iter()
        .filter(|(entity, _)| filter.matches(entity))
        .map(|(entity, values)| {
            describe_client_quotas_response::EntryData::default()
                .with_entity(
                    entity
                        .iter()
                        .map(|(t, n)| {
                            describe_client_quotas_response::EntityData::default()
                                .with_entity_type(str_bytes(t))
                                .with_entity_name(n.as_deref().map(str_bytes))
                        })
                        .collect(),
                )
                .with_values(
                    values
                        .iter()
                        .map(|(k, v)| {
                            describe_client_quotas_response::ValueData::default()
                                .with_key(str_bytes(k))
                                .with_value(v.0)
                        })
                        .collect(),
                )
        })
        .collect();
    response.entries = Some(entries);
    response
}
