//! What the handlers ask the authorizer: [`Authz`], one request's view of the
//! [`Authorizer`] and the image's ACLs, which records every denial it was asked to report
//! in the audit log (tracing target `ironlog::audit`, which `logger.audit.file` sends to
//! its own file: principal, operation, resource,
//! host, listener, API, the deciding rule) and in the authorization metrics. Quiet checks
//! (Metadata's filtering of topics, authorized-operations fields) are not audited, as
//! Kafka's `logIfDenied = false`.

use std::sync::Arc;

use super::{Broker, RequestContext};
use crate::error::ResponseError;
use crate::logging::AUDIT_TARGET;
use crate::metrics::Metrics;
use crate::security::acl::{AclOperation, PatternType, ResourceType, CLUSTER_NAME};
use crate::security::authorizer::{java_host_address, AclCache, Action, Authorizer, Decision};

/// The audit line of one decision, at `$level` (allowed ones at debug, denials at info).
macro_rules! audit {
    ($level:ident, $authz:expr, $operation:expr, $resource_type:expr, $name:expr, $decision:expr, $message:literal) => {
        tracing::$level!(
            target: AUDIT_TARGET,
            principal = %$authz.ctx.principal,
            operation = %$operation,
            resource_type = %$resource_type,
            pattern_type = %PatternType::Literal,
            resource_name = %$name,
            host = %java_host_address($authz.ctx.peer.ip()),
            listener = %$authz.ctx.listener_name,
            api = ?$authz.ctx.api,
            rule = %$decision.rule,
            $message
        )
    };
}

/// What an `Authz::check_*` answers: `Err` with Kafka's authorization error of the
/// resource type when the operation is refused.
pub(crate) type Checked = Result<(), ResponseError>;

/// One request's authorization checks.
pub(crate) struct Authz<'a> {
    authorizer: &'a Authorizer,
    metrics: &'a Metrics,
    /// `None` without an authorizer: nothing is checked.
    acls: Option<Arc<AclCache>>,
    ctx: &'a RequestContext,
}

impl<'a> Authz<'a> {
    pub(crate) fn new(
        authorizer: &'a Authorizer,
        metrics: &'a Metrics,
        acls: impl FnOnce() -> Arc<AclCache>,
        ctx: &'a RequestContext,
    ) -> Self {
        let acls = authorizer.enabled().then(acls);
        Self {
            authorizer,
            metrics,
            acls,
            ctx,
        }
    }

    fn decide(
        &self,
        operation: AclOperation,
        resource_type: ResourceType,
        name: &str,
    ) -> Option<Decision> {
        let acls = self.acls.as_ref()?;
        Some(self.authorizer.authorize(
            acls,
            &self.ctx.principal,
            self.ctx.peer.ip(),
            Action {
                operation,
                resource_type,
                resource_name: name,
            },
        ))
    }

    /// Whether the request may do `operation` to the resource; a denial is audited and
    /// counted.
    pub(crate) fn allows(
        &self,
        operation: AclOperation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        let Some(decision) = self.decide(operation, resource_type, name) else {
            return true;
        };
        if decision.allowed {
            self.metrics.authorization.allowed();
            audit!(
                debug,
                self,
                operation,
                resource_type,
                name,
                decision,
                "allowed"
            );
        } else {
            self.metrics
                .authorization
                .denied(self.ctx.api, operation, resource_type);
            audit!(
                info,
                self,
                operation,
                resource_type,
                name,
                decision,
                "denied"
            );
        }
        decision.allowed
    }

    /// As [`Authz::allows`], without auditing a denial (filtering what a principal sees).
    pub(crate) fn allows_quietly(
        &self,
        operation: AclOperation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        self.decide(operation, resource_type, name)
            .is_none_or(|d| d.allowed)
    }

    /// `operation` on the CLUSTER resource.
    pub(crate) fn allows_cluster(&self, operation: AclOperation) -> bool {
        self.allows(operation, ResourceType::Cluster, CLUSTER_NAME)
    }

    pub(crate) fn allows_topic(&self, operation: AclOperation, topic: &str) -> bool {
        self.allows(operation, ResourceType::Topic, topic)
    }

    pub(crate) fn allows_group(&self, operation: AclOperation, group: &str) -> bool {
        self.allows(operation, ResourceType::Group, group)
    }

    pub(crate) fn allows_transactional_id(&self, operation: AclOperation, id: &str) -> bool {
        self.allows(operation, ResourceType::TransactionalId, id)
    }

    /// As [`Authz::allows`]; a denial is Kafka's authorization error of the resource type
    /// (TOPIC_AUTHORIZATION_FAILED, GROUP_AUTHORIZATION_FAILED, ...).
    pub(crate) fn check(
        &self,
        operation: AclOperation,
        resource_type: ResourceType,
        name: &str,
    ) -> Checked {
        if self.allows(operation, resource_type, name) {
            Ok(())
        } else {
            Err(authorization_error(resource_type))
        }
    }

    /// `operation` on some resource of the type (Kafka's `authorizeByResourceType`); a
    /// denial is not audited (the caller's own check is what the request is refused for).
    pub(crate) fn allows_some(&self, operation: AclOperation, resource_type: ResourceType) -> bool {
        let Some(acls) = self.acls.as_ref() else {
            return true;
        };
        self.authorizer.authorize_by_resource_type(
            acls,
            &self.ctx.principal,
            self.ctx.peer.ip(),
            operation,
            resource_type,
        )
    }

    /// Kafka's authorized-operations bit field of the resource for this principal (every
    /// supported operation of the type when no authorizer is configured).
    pub(crate) fn operations(&self, resource_type: ResourceType, name: &str) -> i32 {
        match self.acls.as_ref() {
            None => resource_type
                .supported_operations()
                .iter()
                .fold(0, |bits, op| bits | (1 << op.code())),
            Some(acls) => self.authorizer.authorized_operations(
                acls,
                &self.ctx.principal,
                self.ctx.peer.ip(),
                resource_type,
                name,
            ),
        }
    }
}

/// Kafka's error for an operation refused on a resource of the type (the types a request
/// checks: CLUSTER, TOPIC, GROUP, TRANSACTIONAL_ID).
fn authorization_error(resource_type: ResourceType) -> ResponseError {
    match resource_type {
        ResourceType::Topic => ResponseError::TopicAuthorizationFailed,
        ResourceType::Group => ResponseError::GroupAuthorizationFailed,
        ResourceType::TransactionalId => ResponseError::TransactionalIdAuthorizationFailed,
        _ => ResponseError::ClusterAuthorizationFailed,
    }
}

impl Broker {
    /// This request's authorization checks.
    pub(crate) fn authz<'a>(&'a self, ctx: &'a RequestContext) -> Authz<'a> {
        Authz::new(
            &self.authorizer,
            &self.metrics,
            || self.image().acls.clone(),
            ctx,
        )
    }
}
