//! UpdateFeatures (API 57, kafka-features / `Admin#updateFeatures`): the controller's
//! (forwarded there from any broker). As Kafka's `ControllerApis`: ALTER on the cluster,
//! else CLUSTER_AUTHORIZATION_FAILED; the checks are the controller's (see
//! [`crate::metadata::features`]). As Kafka 4.1's `QuorumController`, a refusal is the
//! top-level error, prefixed with "The update failed for all features since the following
//! feature had an error: "; a success lists every feature with NONE in v0-1 and nothing in
//! v2. v0's `allow_downgrade` is a safe downgrade. The answer comes once this broker's
//! image has the new levels, so an ApiVersions sent next shows them.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::update_features_response::UpdatableFeatureResult;
use kafka_protocol::messages::{UpdateFeaturesRequest, UpdateFeaturesResponse};

use super::{str_bytes, Broker, RequestContext};
use crate::error::{ApiError, ResponseError};
use crate::metadata::features::{FeatureUpdate, UpgradeType};
use crate::security::acl::AclOperation;

pub(super) async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: UpdateFeaturesRequest,
) -> UpdateFeaturesResponse {
    // As Kafka's map of the request's updates: a feature named twice takes its last.
    let mut by_name: BTreeMap<String, FeatureUpdate> = BTreeMap::new();
    let mut names_in_order: Vec<String> = Vec::new();
    for update in &request.feature_updates {
        let name = update.feature.to_string();
        let upgrade_type = if ctx.version == 0 {
            if update.allow_downgrade {
                UpgradeType::SafeDowngrade
            } else {
                UpgradeType::Upgrade
            }
        } else {
            UpgradeType::from_code(update.upgrade_type)
        };
        if !by_name.contains_key(&name) {
            names_in_order.push(name.clone());
        }
        by_name.insert(
            name.clone(),
            FeatureUpdate {
                name,
                level: update.max_version_level,
                upgrade_type,
            },
        );
    }
    let updates: Vec<FeatureUpdate> = names_in_order
        .iter()
        .filter_map(|name| by_name.remove(name))
        .collect();
    let outcome = if broker.authz(ctx).allows_cluster(AclOperation::Alter) {
        broker
            .controller
            .update_features(updates.clone(), request.validate_only)
            .await
    } else {
        Err(ApiError::from(ResponseError::ClusterAuthorizationFailed))
    };
    let mut response = UpdateFeaturesResponse::default();
    match outcome {
        Ok(offset) => {
            if let Some(offset) = offset {
                broker.await_applied(offset).await;
                tracing::info!(principal = %ctx.principal, ?updates, "finalized features updated");
            }
            if ctx.version <= 1 {
                response.results = updates
                    .iter()
                    .map(|u| {
                        let mut result = UpdatableFeatureResult::default();
                        result.feature = str_bytes(&u.name);
                        result
                    })
                    .collect();
            }
        }
        Err(e) if e.code == ResponseError::ClusterAuthorizationFailed => {
            response.error_code = e.error_code();
            response.error_message = e.error_message();
        }
        Err(e) => {
            response.error_code = e.error_code();
            response.error_message = Some(str_bytes(&format!(
                "The update failed for all features since the following feature had an error: {}",
                e.message.as_deref().unwrap_or_default()
            )));
        }
    }
    response
}
