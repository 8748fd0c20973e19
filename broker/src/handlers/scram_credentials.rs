//! AlterUserScramCredentials (forwarded to the active controller, which commits the
//! credentials to the metadata log) and DescribeUserScramCredentials (from this broker's
//! image: mechanisms and iteration counts, never keys or salts).

use std::collections::HashSet;
use std::sync::Arc;

use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};

use super::{str_bytes, Broker, RequestContext};
use crate::error::ResponseError;
use crate::metadata::{ScramDeletion, ScramUpsertion};
use crate::security::acl::AclOperation;

pub(super) async fn handle_alter(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    // As Kafka: ALTER on the cluster, else every user's result is refused.
    if !broker.authz(ctx).allows_cluster(AclOperation::Alter) {
        let users: std::collections::BTreeSet<String> = request
            .deletions
            .iter()
            .map(|d| d.name.to_string())
            .chain(request.upsertions.iter().map(|u| u.name.to_string()))
            .collect();
        let mut response = AlterUserScramCredentialsResponse::default();
        response.results = users
            .iter()
            .map(|user| {
                AlterUserScramCredentialsResult::default()
                    .with_user(str_bytes(user))
                    .with_error_code(ResponseError::ClusterAuthorizationFailed.code())
            })
            .collect();
        return response;
    }
    let deletions = request
        .deletions
        .iter()
        .map(|d| ScramDeletion {
            user: d.name.to_string(),
            mechanism: d.mechanism,
        })
        .collect();
    let upsertions = request
        .upsertions
        .iter()
        .map(|u| ScramUpsertion {
            user: u.name.to_string(),
            mechanism: u.mechanism,
            iterations: u.iterations,
            salt: u.salt.to_vec(),
            salted_password: u.salted_password.to_vec(),
        })
        .collect();
    let (results, offset) = broker
        .controller
        .alter_user_scram_credentials(deletions, upsertions)
        .await;
    if let Some(offset) = offset {
        broker.await_applied(offset).await;
    }
    let mut response = AlterUserScramCredentialsResponse::default();
    for (user, result) in results {
        let mut entry = AlterUserScramCredentialsResult::default().with_user(str_bytes(&user));
        match result {
            Ok(()) => {
                tracing::info!(principal = %ctx.principal, %user, "SCRAM credentials altered")
            }
            Err(e) => {
                entry.error_code = e.error_code();
                entry.error_message = e.error_message();
            }
        }
        response.results.push(entry);
    }
    response
}

pub(super) fn handle_describe(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    request: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    // As Kafka: DESCRIBE on the cluster.
    if !broker.authz(ctx).allows_cluster(AclOperation::Describe) {
        return DescribeUserScramCredentialsResponse::default()
            .with_error_code(ResponseError::ClusterAuthorizationFailed.code());
    }
    let image = broker.image();
    let describe = |user: &str| {
        let infos: Vec<CredentialInfo> = image
            .scram_credentials
            .iter()
            .filter(|((name, _), _)| name == user)
            .map(|((_, mechanism), c)| {
                CredentialInfo::default()
                    .with_mechanism(mechanism.type_id())
                    .with_iterations(c.iterations)
            })
            .collect();
        let mut result = DescribeUserScramCredentialsResult::default().with_user(str_bytes(user));
        if infos.is_empty() {
            result.error_code = ResponseError::ResourceNotFound.code();
            result.error_message = Some(str_bytes(
                "Attempt to describe a user credential that does not exist",
            ));
        }
        result.credential_infos = infos;
        result
    };
    let mut response = DescribeUserScramCredentialsResponse::default();
    match request.users.filter(|users| !users.is_empty()) {
        None => {
            let mut users: Vec<&str> = image
                .scram_credentials
                .keys()
                .map(|(name, _)| name.as_str())
                .collect();
            users.dedup();
            response.results = users.into_iter().map(describe).collect();
        }
        Some(users) => {
            let mut seen = HashSet::new();
            let duplicates: HashSet<String> = users
                .iter()
                .map(|u| u.name.to_string())
                .filter(|name| !seen.insert(name.clone()))
                .collect();
            let mut described = HashSet::new();
            for user in users {
                let name = user.name.to_string();
                if !described.insert(name.clone()) {
                    continue;
                }
                if duplicates.contains(&name) {
                    response.results.push(
                        DescribeUserScramCredentialsResult::default()
                            .with_user(str_bytes(&name))
                            .with_error_code(ResponseError::DuplicateResource.code())
                            .with_error_message(Some(str_bytes(
                                "Cannot describe SCRAM credentials for the same user twice in a single request",
                            ))),
                    );
                } else {
                    response.results.push(describe(&name));
                }
            }
        }
    }
    response
}
