//! UnregisterBroker (API 64, KIP-746): the controller's (forwarded there from any broker).
//! As Kafka's `ControllerApis`: ALTER on the cluster, else CLUSTER_AUTHORIZATION_FAILED;
//! the controller removes the registration (BROKER_ID_NOT_REGISTERED for an unknown id).
//! The answer comes once this broker's image no longer lists the broker, so a
//! DescribeCluster or Metadata sent next does not show it.

use std::sync::Arc;

use kafka_protocol::messages::{UnregisterBrokerRequest, UnregisterBrokerResponse};

use super::{Broker, RequestContext};
use crate::error::{ApiError, ResponseError};
use crate::security::acl::AclOperation;

pub(super) async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: UnregisterBrokerRequest,
) -> UnregisterBrokerResponse {
    let broker_id = request.broker_id.0;
    let outcome = if broker.authz(ctx).allows_cluster(AclOperation::Alter) {
        broker.controller.unregister_broker(broker_id).await
    } else {
        Err(ApiError::from(ResponseError::ClusterAuthorizationFailed))
    };
    let mut response = UnregisterBrokerResponse::default();
    match outcome {
        Ok(offset) => {
            broker.await_applied(offset).await;
            tracing::info!(principal = %ctx.principal, broker_id, "broker unregistered");
        }
        Err(e) => {
            response.error_code = e.error_code();
            response.error_message = e.error_message();
        }
    }
    response
}
