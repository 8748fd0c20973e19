//! `users`: a Kafka user's admin operations — its SCRAM credential (DescribeUserScramCredentials,
//! AlterUserScramCredentials), the ACLs of its principal (DescribeAcls, CreateAcls,
//! DeleteAcls) and its client quotas (DescribeClientQuotas, AlterClientQuotas).
//!
//! A SCRAM credential is sent salted (RFC 5802's `Hi()`: PBKDF2-HMAC-SHA-512 with a fresh
//! random salt), never as the password.

use std::collections::BTreeMap;

use bytes::Bytes;
use ironlog_protocol::kafka_protocol::messages::alter_client_quotas_request::{
    EntityData, EntryData, OpData,
};
use ironlog_protocol::kafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use ironlog_protocol::kafka_protocol::messages::create_acls_request::AclCreation;
use ironlog_protocol::kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use ironlog_protocol::kafka_protocol::messages::describe_client_quotas_request::ComponentData;
use ironlog_protocol::kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
use ironlog_protocol::kafka_protocol::messages::{
    AlterClientQuotasRequest, AlterUserScramCredentialsRequest, CreateAclsRequest,
    DeleteAclsRequest, DescribeAclsRequest, DescribeClientQuotasRequest,
    DescribeUserScramCredentialsRequest,
};
use ironlog_protocol::kafka_protocol::ResponseError;
use ironlog_protocol::{Error, SendOptions, Target};
use rand::RngCore;

use super::{only, sb, AdminError, KafkaAdmin};

/// The SCRAM mechanism the operator provisions (Kafka's id for SCRAM-SHA-512).
const SCRAM_SHA_512: i8 = 2;
/// SCRAM iterations (Kafka's minimum and default is 4096).
pub const SCRAM_ITERATIONS: u32 = 8192;
/// Bytes of a SCRAM credential's random salt.
const SALT_BYTES: usize = 32;
/// The ACL filters' "any" value of resource types, pattern types, operations, permissions.
const ANY: i8 = 1;
/// DescribeClientQuotas' exact-name match.
const MATCH_EXACT: i8 = 0;
/// The quota entity type of a user.
const ENTITY_USER: &str = "user";

/// One ACL of a principal, in Kafka's codes (resource type, pattern type, operation and
/// permission type as the ACL APIs carry them).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AclBinding {
    pub resource_type: i8,
    pub resource_name: String,
    pub pattern_type: i8,
    pub principal: String,
    pub host: String,
    pub operation: i8,
    pub permission_type: i8,
}

fn user_subject(user: &str) -> impl FnOnce() -> String + '_ {
    move || format!("user {user}")
}

/// RFC 5802's `SaltedPassword := Hi(password, salt, i)` for SHA-512.
pub fn salted_password(password: &str, salt: &[u8], iterations: u32) -> Vec<u8> {
    ironlog_protocol::scram::ScramMechanism::Sha512.salted_password(
        password.as_bytes(),
        salt,
        iterations,
    )
}

impl KafkaAdmin {
    /// Whether `user` has a SCRAM-SHA-512 credential.
    pub async fn has_scram_credential(&self, user: &str) -> Result<bool, AdminError> {
        let request = DescribeUserScramCredentialsRequest::default()
            .with_users(Some(vec![UserName::default().with_name(sb(user))]));
        self.request(
            Target::AnyBroker,
            &request,
            SendOptions::default(),
            "DescribeUserScramCredentials",
            user_subject(user),
            |response| {
                Error::check(response.error_code, response.error_message.as_ref())?;
                let result = only(response.results, "DescribeUserScramCredentials")?;
                if result.error_code == ResponseError::ResourceNotFound.code() {
                    return Ok(false);
                }
                Error::check(result.error_code, result.error_message.as_ref())?;
                Ok(result
                    .credential_infos
                    .iter()
                    .any(|c| c.mechanism == SCRAM_SHA_512))
            },
        )
        .await
    }

    /// Sets `user`'s SCRAM-SHA-512 credential to `password` (salted here, with a new salt).
    pub async fn upsert_scram_credential(
        &self,
        user: &str,
        password: &str,
    ) -> Result<(), AdminError> {
        let mut salt = vec![0u8; SALT_BYTES];
        rand::thread_rng().fill_bytes(&mut salt);
        let salted = salted_password(password, &salt, SCRAM_ITERATIONS);
        let request = AlterUserScramCredentialsRequest::default().with_upsertions(vec![
            ScramCredentialUpsertion::default()
                .with_name(sb(user))
                .with_mechanism(SCRAM_SHA_512)
                .with_iterations(SCRAM_ITERATIONS as i32)
                .with_salt(Bytes::from(salt))
                .with_salted_password(Bytes::from(salted)),
        ]);
        self.alter_scram(user, &request, false).await
    }

    /// Deletes `user`'s SCRAM-SHA-512 credential; one that is already gone is no error.
    pub async fn delete_scram_credential(&self, user: &str) -> Result<(), AdminError> {
        let request = AlterUserScramCredentialsRequest::default().with_deletions(vec![
            ScramCredentialDeletion::default()
                .with_name(sb(user))
                .with_mechanism(SCRAM_SHA_512),
        ]);
        self.alter_scram(user, &request, true).await
    }

    async fn alter_scram(
        &self,
        user: &str,
        request: &AlterUserScramCredentialsRequest,
        gone_is_done: bool,
    ) -> Result<(), AdminError> {
        self.request(
            Target::Controller,
            request,
            SendOptions::default(),
            "AlterUserScramCredentials",
            user_subject(user),
            |response| {
                let result = only(response.results, "AlterUserScramCredentials")?;
                if gone_is_done && result.error_code == ResponseError::ResourceNotFound.code() {
                    return Ok(());
                }
                Error::check(result.error_code, result.error_message.as_ref())
            },
        )
        .await
    }

    /// Every ACL of `principal` (`User:alice`), on any resource; `None` when the cluster
    /// has no authorizer (so no ACLs).
    pub async fn describe_acls(
        &self,
        principal: &str,
    ) -> Result<Option<Vec<AclBinding>>, AdminError> {
        let request = DescribeAclsRequest::default()
            .with_resource_type_filter(ANY)
            .with_resource_name_filter(None)
            .with_pattern_type_filter(ANY)
            .with_principal_filter(Some(sb(principal)))
            .with_host_filter(None)
            .with_operation(ANY)
            .with_permission_type(ANY);
        self.request(
            Target::AnyBroker,
            &request,
            SendOptions::default(),
            "DescribeAcls",
            || format!("principal {principal}"),
            |response| {
                if response.error_code == ResponseError::SecurityDisabled.code() {
                    return Ok(None);
                }
                Error::check(response.error_code, response.error_message.as_ref())?;
                Ok(Some(
                    response
                        .resources
                        .into_iter()
                        .flat_map(|resource| {
                            resource.acls.into_iter().map(move |acl| AclBinding {
                                resource_type: resource.resource_type,
                                resource_name: resource.resource_name.to_string(),
                                pattern_type: resource.pattern_type,
                                principal: acl.principal.to_string(),
                                host: acl.host.to_string(),
                                operation: acl.operation,
                                permission_type: acl.permission_type,
                            })
                        })
                        .collect(),
                ))
            },
        )
        .await
    }

    /// Creates `acls` (an ACL that exists already is no error: Kafka keeps one).
    pub async fn create_acls(&self, acls: &[AclBinding]) -> Result<(), AdminError> {
        if acls.is_empty() {
            return Ok(());
        }
        let request = CreateAclsRequest::default().with_creations(
            acls.iter()
                .map(|acl| {
                    AclCreation::default()
                        .with_resource_type(acl.resource_type)
                        .with_resource_name(sb(&acl.resource_name))
                        .with_resource_pattern_type(acl.pattern_type)
                        .with_principal(sb(&acl.principal))
                        .with_host(sb(&acl.host))
                        .with_operation(acl.operation)
                        .with_permission_type(acl.permission_type)
                })
                .collect(),
        );
        self.request(
            Target::Controller,
            &request,
            SendOptions::default(),
            "CreateAcls",
            || format!("principal {}", acls[0].principal),
            |response| {
                for result in response.results {
                    Error::check(result.error_code, result.error_message.as_ref())?;
                }
                Ok(())
            },
        )
        .await
    }

    /// Deletes exactly `acls` (each filter matches one binding and nothing else).
    pub async fn delete_acls(&self, acls: &[AclBinding]) -> Result<(), AdminError> {
        if acls.is_empty() {
            return Ok(());
        }
        let filters = acls
            .iter()
            .map(|acl| {
                DeleteAclsFilter::default()
                    .with_resource_type_filter(acl.resource_type)
                    .with_resource_name_filter(Some(sb(&acl.resource_name)))
                    .with_pattern_type_filter(acl.pattern_type)
                    .with_principal_filter(Some(sb(&acl.principal)))
                    .with_host_filter(Some(sb(&acl.host)))
                    .with_operation(acl.operation)
                    .with_permission_type(acl.permission_type)
            })
            .collect();
        self.delete_acl_filters(filters, &acls[0].principal).await
    }

    /// Deletes every ACL of `principal`.
    pub async fn delete_all_acls(&self, principal: &str) -> Result<(), AdminError> {
        let filter = DeleteAclsFilter::default()
            .with_resource_type_filter(ANY)
            .with_resource_name_filter(None)
            .with_pattern_type_filter(ANY)
            .with_principal_filter(Some(sb(principal)))
            .with_host_filter(None)
            .with_operation(ANY)
            .with_permission_type(ANY);
        self.delete_acl_filters(vec![filter], principal).await
    }

    async fn delete_acl_filters(
        &self,
        filters: Vec<DeleteAclsFilter>,
        principal: &str,
    ) -> Result<(), AdminError> {
        let request = DeleteAclsRequest::default().with_filters(filters);
        self.request(
            Target::Controller,
            &request,
            SendOptions::default(),
            "DeleteAcls",
            || format!("principal {principal}"),
            |response| {
                for result in response.filter_results {
                    Error::check(result.error_code, result.error_message.as_ref())?;
                }
                Ok(())
            },
        )
        .await
    }

    /// The client quotas set on `user` itself (not a default, not a user and client id).
    pub async fn user_quotas(&self, user: &str) -> Result<BTreeMap<String, f64>, AdminError> {
        let request = DescribeClientQuotasRequest::default()
            .with_components(vec![ComponentData::default()
                .with_entity_type(sb(ENTITY_USER))
                .with_match_type(MATCH_EXACT)
                .with_match(Some(sb(user)))])
            .with_strict(true);
        self.request(
            Target::AnyBroker,
            &request,
            SendOptions::default(),
            "DescribeClientQuotas",
            user_subject(user),
            |response| {
                Error::check(response.error_code, response.error_message.as_ref())?;
                Ok(response
                    .entries
                    .unwrap_or_default()
                    .into_iter()
                    .flat_map(|entry| entry.values)
                    .map(|v| (v.key.to_string(), v.value))
                    .collect())
            },
        )
        .await
    }

    /// Sets `set` and removes `remove` among `user`'s client quotas, in one request.
    pub async fn alter_user_quotas(
        &self,
        user: &str,
        set: &BTreeMap<String, f64>,
        remove: &[String],
    ) -> Result<(), AdminError> {
        let mut ops: Vec<OpData> = set
            .iter()
            .map(|(key, value)| {
                OpData::default()
                    .with_key(sb(key))
                    .with_value(*value)
                    .with_remove(false)
            })
            .collect();
        ops.extend(
            remove
                .iter()
                .map(|key| OpData::default().with_key(sb(key)).with_remove(true)),
        );
        if ops.is_empty() {
            return Ok(());
        }
        let request = AlterClientQuotasRequest::default().with_entries(vec![EntryData::default()
            .with_entity(vec![EntityData::default()
                .with_entity_type(sb(ENTITY_USER))
                .with_entity_name(Some(sb(user)))])
            .with_ops(ops)]);
        self.request(
            Target::AnyBroker,
            &request,
            SendOptions::default(),
            "AlterClientQuotas",
            user_subject(user),
            |response| {
                let entry = only(response.entries, "AlterClientQuotas")?;
                Error::check(entry.error_code, entry.error_message.as_ref())
            },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_salted_password_is_rfc_5802s_hi() {
        // RFC 7677's SCRAM-SHA-256 example fixes Hi for SHA-256; for SHA-512 the
        // reference is PBKDF2-HMAC-SHA512 (RFC 6070's inputs, published SHA-512 vectors).
        let salted = salted_password("password", b"salt", 1);
        assert_eq!(
            salted[..8],
            [0x86, 0x7f, 0x70, 0xcf, 0x1a, 0xde, 0x02, 0xcf],
            "PBKDF2-HMAC-SHA512(password, salt, 1) starts 867f70cf1ade02cf"
        );
        assert_eq!(salted.len(), 64, "SHA-512's output length");
    }
}
