//! CreateAcls and DeleteAcls (forwarded to the active controller, which commits the
//! bindings to the metadata log; ALTER on the cluster) and DescribeAcls (from this
//! broker's image; DESCRIBE on the cluster), as Kafka's `AclApis`: without an authorizer
//! every answer is SECURITY_DISABLED; a request with an element this build does not know
//! (UNKNOWN or an unknown code) is refused while parsing in Kafka, which closes the
//! connection — so does this handler, before anything is stored.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{
    CreateAclsRequest, CreateAclsResponse, DeleteAclsRequest, DeleteAclsResponse,
    DescribeAclsRequest, DescribeAclsResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::{str_bytes, Broker, Outcome, RequestContext};
use crate::error::{ApiError, ResponseError};
use crate::security::acl::{
    AclBindingFilter, AclOperation, AclPermissionType, PatternType, ResourceType, StandardAcl,
};

/// Kafka's messages for a request refused for want of an authorizer (CreateAcls and
/// DeleteAcls; DescribeAcls).
const NO_AUTHORIZER: &str = "No Authorizer is configured.";
const DESCRIBE_NO_AUTHORIZER: &str = "No Authorizer is configured on the broker";
/// Errors.CLUSTER_AUTHORIZATION_FAILED's message.
const CLUSTER_AUTHORIZATION_FAILED: &str = "Cluster authorization failed.";

fn binding(creation: &AclCreation) -> StandardAcl {
    StandardAcl {
        resource_type: ResourceType::from_code(creation.resource_type),
        resource_name: creation.resource_name.to_string(),
        pattern_type: PatternType::from_code(creation.resource_pattern_type),
        principal: creation.principal.to_string(),
        host: creation.host.to_string(),
        operation: AclOperation::from_code(creation.operation),
        permission_type: AclPermissionType::from_code(creation.permission_type),
    }
}

#[allow(clippy::too_many_arguments)]
fn filter(
    resource_type: i8,
    resource_name: &Option<StrBytes>,
    pattern_type: i8,
    principal: &Option<StrBytes>,
    host: &Option<StrBytes>,
    operation: i8,
    permission_type: i8,
) -> AclBindingFilter {
    AclBindingFilter {
        resource_type: ResourceType::from_code(resource_type),
        resource_name: resource_name.as_ref().map(|s| s.to_string()),
        pattern_type: PatternType::from_code(pattern_type),
        principal: principal.as_ref().map(|s| s.to_string()),
        host: host.as_ref().map(|s| s.to_string()),
        operation: AclOperation::from_code(operation),
        permission_type: AclPermissionType::from_code(permission_type),
    }
}

fn delete_filter(f: &DeleteAclsFilter) -> AclBindingFilter {
    filter(
        f.resource_type_filter,
        &f.resource_name_filter,
        f.pattern_type_filter,
        &f.principal_filter,
        &f.host_filter,
        f.operation,
        f.permission_type,
    )
}

fn creation_result(result: Result<(), ApiError>) -> AclCreationResult {
    match result {
        Ok(()) => AclCreationResult::default(),
        Err(e) => AclCreationResult::default()
            .with_error_code(e.error_code())
            .with_error_message(e.error_message()),
    }
}

/// Why an ACL API is refused before anything else: `operation` on the cluster is missing
/// (CLUSTER_AUTHORIZATION_FAILED), or no authorizer is configured (SECURITY_DISABLED with
/// `no_authorizer`: Kafka words it differently for DescribeAcls).
fn refusal(
    broker: &Broker,
    ctx: &RequestContext,
    operation: AclOperation,
    no_authorizer: &'static str,
) -> Option<ApiError> {
    if !broker.authz(ctx).allows_cluster(operation) {
        Some(ApiError::new(
            ResponseError::ClusterAuthorizationFailed,
            CLUSTER_AUTHORIZATION_FAILED,
        ))
    } else if !broker.authorizer.enabled() {
        Some(ApiError::new(
            ResponseError::SecurityDisabled,
            no_authorizer,
        ))
    } else {
        None
    }
}

pub(super) async fn handle_create(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: CreateAclsRequest,
) -> Outcome {
    let acls: Vec<StandardAcl> = request.creations.iter().map(binding).collect();
    if acls.iter().any(StandardAcl::has_unknown_elements) {
        return Outcome::Close("CreateAcls with unknown elements".into());
    }
    let refusal = refusal(broker, ctx, AclOperation::Alter, NO_AUTHORIZER);
    let results = match refusal {
        Some(e) => acls.iter().map(|_| Err(e.clone())).collect(),
        None => {
            let (results, offset) = broker.controller.create_acls(acls.clone()).await;
            if let Some(offset) = offset {
                broker.await_applied(offset).await;
            }
            for (acl, result) in acls.iter().zip(&results) {
                if result.is_ok() {
                    tracing::info!(principal = %ctx.principal, ?acl, "ACL binding created");
                }
            }
            results
        }
    };
    Outcome::Respond(Box::new(
        kafka_protocol::messages::ResponseKind::CreateAcls(
            CreateAclsResponse::default()
                .with_results(results.into_iter().map(creation_result).collect()),
        ),
    ))
}

pub(super) fn handle_describe(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: DescribeAclsRequest,
) -> Outcome {
    let filter = filter(
        request.resource_type_filter,
        &request.resource_name_filter,
        request.pattern_type_filter,
        &request.principal_filter,
        &request.host_filter,
        request.operation,
        request.permission_type,
    );
    if filter.has_unknown_elements() {
        return Outcome::Close("DescribeAcls with unknown elements".into());
    }
    let mut response = DescribeAclsResponse::default();
    if let Some(e) = refusal(broker, ctx, AclOperation::Describe, DESCRIBE_NO_AUTHORIZER) {
        response.error_code = e.error_code();
        response.error_message = e.error_message();
    } else {
        let image = broker.image();
        let mut resources: BTreeMap<(ResourceType, &str, PatternType), Vec<&StandardAcl>> =
            BTreeMap::new();
        for (_, acl) in image.acls.matching(&filter) {
            resources
                .entry((acl.resource_type, &acl.resource_name, acl.pattern_type))
                .or_default()
                .push(acl);
        }
        response.resources = resources
            .into_iter()
            .map(|((resource_type, name, pattern_type), mut acls)| {
                acls.sort();
                DescribeAclsResource::default()
                    .with_resource_type(resource_type.code())
                    .with_resource_name(str_bytes(name))
                    .with_pattern_type(pattern_type.code())
                    .with_acls(
                        acls.into_iter()
                            .map(|acl| {
                                AclDescription::default()
                                    .with_principal(str_bytes(&acl.principal))
                                    .with_host(str_bytes(&acl.host))
                                    .with_operation(acl.operation.code())
                                    .with_permission_type(acl.permission_type.code())
                            })
                            .collect(),
                    )
            })
            .collect();
    }
    Outcome::Respond(Box::new(
        kafka_protocol::messages::ResponseKind::DescribeAcls(response),
    ))
}

fn matching_acl(acl: &StandardAcl) -> DeleteAclsMatchingAcl {
    DeleteAclsMatchingAcl::default()
        .with_resource_type(acl.resource_type.code())
        .with_resource_name(str_bytes(&acl.resource_name))
        .with_pattern_type(acl.pattern_type.code())
        .with_principal(str_bytes(&acl.principal))
        .with_host(str_bytes(&acl.host))
        .with_operation(acl.operation.code())
        .with_permission_type(acl.permission_type.code())
}

fn filter_error(e: &ApiError) -> DeleteAclsFilterResult {
    DeleteAclsFilterResult::default()
        .with_error_code(e.error_code())
        .with_error_message(e.error_message())
}

pub(super) async fn handle_delete(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: DeleteAclsRequest,
) -> Outcome {
    let filters: Vec<AclBindingFilter> = request.filters.iter().map(delete_filter).collect();
    if filters.iter().any(AclBindingFilter::has_unknown_elements) {
        return Outcome::Close("DeleteAcls with unknown elements".into());
    }
    let refusal = refusal(broker, ctx, AclOperation::Alter, NO_AUTHORIZER);
    let count = filters.len();
    let filter_results = match refusal {
        Some(e) => vec![filter_error(&e); count],
        None => match broker.controller.delete_acls(filters).await {
            Err(e) => vec![filter_error(&e); count],
            Ok((results, offset)) => {
                if let Some(offset) = offset {
                    broker.await_applied(offset).await;
                }
                results
                    .iter()
                    .map(|result| match result {
                        Ok(deleted) => {
                            for acl in deleted {
                                tracing::info!(principal = %ctx.principal, ?acl, "ACL binding deleted");
                            }
                            DeleteAclsFilterResult::default()
                                .with_matching_acls(deleted.iter().map(matching_acl).collect())
                        }
                        Err(e) => filter_error(e),
                    })
                    .collect()
            }
        },
    };
    Outcome::Respond(Box::new(
        kafka_protocol::messages::ResponseKind::DeleteAcls(
            DeleteAclsResponse::default().with_filter_results(filter_results),
        ),
    ))
}
