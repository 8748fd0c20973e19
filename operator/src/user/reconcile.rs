//! `reconcile`: one User brought to its spec on its cluster. The pipeline:
//!
//! 1. the finalizer (`ironlog.dev/user`) is added first, so deleting the resource removes
//!    the user's credential, ACLs and quotas ([`cleanup`]);
//! 2. paused → `Paused`;
//! 3. the spec checked ([`plan::desired_acls`]: every rule's operations exist on its
//!    resource type) and a referenced password read → `InvalidSpec` / `SecretNotFound`,
//!    nothing applied;
//! 4. the cluster's bootstrap address (the KafkaCluster's status or the override); ACLs
//!    asked of a cluster without an authorizer → `AuthorizationDisabled`, nothing applied;
//! 5. SCRAM: the user's Secret (owned by the User; `password`, `sasl.jaas.config`,
//!    `sasl.mechanism`, `sasl.username`, `sasl.password`) written before the credential
//!    is, and the credential upserted when it is missing or the password changed (the
//!    Secret's `ironlog.dev/password-sha256` annotation records the password last
//!    applied); TLS: no credential, the principal is the certificate's subject;
//! 6. the principal's ACLs and the user's quotas converged both ways;
//! 7. status: `Ready`, the principal, the Secret's name, `observedGeneration`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::ByteString;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use sha2::{Digest, Sha256};

use crate::cluster::names::{FIELD_MANAGER, LABEL_MANAGED_BY, MANAGED_BY};
use crate::controller::{write_status, ControllerContext, KafkaResourceError, Reconciled};
use crate::crd::conditions::{DEGRADED, PROGRESSING, READY};
use crate::crd::status::ResourceStatus;
use crate::crd::user::UserAuthenticationType;
use crate::crd::{User, UserStatus};
use crate::kafka_admin::{AdminError, KafkaAdmin};

use super::{certificate, plan};

/// The finalizer that removes the user from Kafka with the resource.
pub const FINALIZER: &str = "ironlog.dev/user";
/// The label naming the User a Secret belongs to.
pub const USER_LABEL: &str = "ironlog.dev/user";
/// The Secret annotation with the SHA-256 of the password last applied to the cluster.
pub const PASSWORD_HASH_ANNOTATION: &str = "ironlog.dev/password-sha256";
/// How often a user in sync is checked again (drift made outside Kubernetes).
pub const REQUEUE_IN_SYNC: Duration = Duration::from_secs(300);
/// How soon a user waiting for its cluster or a Secret is tried again.
pub const REQUEUE_WAITING: Duration = Duration::from_secs(10);

/// Runs the User controller until `shutdown` completes, woken by changes to the Users, to
/// the Secrets they own and to the Secrets their passwords come from.
pub async fn run(
    client: Client,
    namespace: Option<String>,
    bootstrap_override: Option<String>,
    metrics: Arc<crate::metrics::Metrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let users: Api<User> = crate::controller::scoped(&client, namespace.as_deref());
    let secrets: Api<Secret> = crate::controller::scoped(&client, namespace.as_deref());
    let context = ControllerContext::new(client, bootstrap_override, metrics);
    let controller = Controller::new(users, watcher::Config::default());
    let store = controller.store();
    let controller = controller
        // a Secret wakes the User it belongs to and the Users whose password it holds
        .watches(secrets, watcher::Config::default(), move |secret| {
            let namespace = secret.namespace();
            let name = secret.name_any();
            let owner = secret.labels().get(USER_LABEL).cloned();
            store
                .state()
                .into_iter()
                .filter(|user| {
                    user.namespace() == namespace
                        && (owner.as_deref() == Some(user.name_any().as_str())
                            || user
                                .spec
                                .authentication
                                .password
                                .as_ref()
                                .is_some_and(|p| p.secret_key_ref.name == name))
                })
                .map(|user| ObjectRef::from_obj(&*user))
                .collect::<Vec<_>>()
        });
    crate::controller::run(controller, context, shutdown).await;
}

impl Reconciled for User {
    type Error = KafkaResourceError;
    const CONTROLLER: &'static str = "user";
    const FINALIZER: &'static str = FINALIZER;

    async fn apply(
        &self,
        context: &ControllerContext,
        namespace: &str,
    ) -> Result<Action, KafkaResourceError> {
        apply(self, context, namespace).await
    }
    async fn cleanup(
        &self,
        context: &ControllerContext,
        namespace: &str,
    ) -> Result<Action, KafkaResourceError> {
        cleanup(self, context, namespace).await
    }
}

/// The password the spec asks for, when it references one: `Ok(None)` for a generated
/// password, `Err` with the reason when the Secret or its key is missing.
async fn referenced_password(
    user: &User,
    secrets: &Api<Secret>,
) -> Result<Result<Option<String>, String>, KafkaResourceError> {
    let Some(source) = &user.spec.authentication.password else {
        return Ok(Ok(None));
    };
    let key_ref = &source.secret_key_ref;
    let Some(secret) = secrets.get_opt(&key_ref.name).await? else {
        return Ok(Err(format!(
            "the password's Secret {} does not exist",
            key_ref.name
        )));
    };
    let value = secret
        .data
        .as_ref()
        .and_then(|d| d.get(&key_ref.key))
        .map(|v| String::from_utf8(v.0.clone()));
    Ok(match value {
        None => Err(format!(
            "the password's Secret {} has no key {}",
            key_ref.name, key_ref.key
        )),
        Some(Err(_)) => Err(format!(
            "key {} of Secret {} is not UTF-8 text",
            key_ref.key, key_ref.name
        )),
        Some(Ok(password)) if password.is_empty() => Err(format!(
            "key {} of Secret {} is empty",
            key_ref.key, key_ref.name
        )),
        Some(Ok(password)) => Ok(Some(password)),
    })
}

/// The clients CA of cluster `cluster`, from its `<cluster>-clients-ca` Secret; `None`
/// until the KafkaCluster controller made it.
async fn clients_ca(
    secrets: &Api<Secret>,
    cluster: &str,
) -> Result<Option<crate::cluster::certs::Authority>, KafkaResourceError> {
    let name = crate::cluster::names::clients_ca(cluster);
    let Some(secret) = secrets.get_opt(&name).await? else {
        return Ok(None);
    };
    let text = |key: &str| {
        secret
            .data
            .as_ref()
            .and_then(|d| crate::cluster::certs::secret_text(d, key))
    };
    Ok(match (text("ca.crt"), text("ca.key")) {
        (Some(cert_pem), Some(key_pem)) => Some(crate::cluster::certs::Authority {
            trusted_pem: cert_pem.clone(),
            cert_pem,
            key_pem,
        }),
        _ => None,
    })
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

fn owned_by(secret: &Secret, user: &User) -> bool {
    let uid = user.uid();
    secret
        .owner_references()
        .iter()
        .any(|o| Some(&o.uid) == uid.as_ref())
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The user's Secret with `data` and the password hash annotation `applied` (if any).
fn build_secret(
    user: &User,
    namespace: &str,
    data: BTreeMap<String, String>,
    applied: Option<&str>,
) -> Secret {
    let mut secret = Secret {
        data: Some(
            data.into_iter()
                .map(|(k, v)| (k, ByteString(v.into_bytes())))
                .collect(),
        ),
        type_: Some("Opaque".to_string()),
        ..Secret::default()
    };
    let meta = &mut secret.metadata;
    meta.name = Some(user.name_any());
    meta.namespace = Some(namespace.to_string());
    meta.labels = Some(BTreeMap::from([
        (LABEL_MANAGED_BY.to_string(), MANAGED_BY.to_string()),
        (USER_LABEL.to_string(), user.name_any()),
    ]));
    meta.annotations =
        applied.map(|h| BTreeMap::from([(PASSWORD_HASH_ANNOTATION.to_string(), h.to_string())]));
    meta.owner_references = user.controller_owner_ref(&()).map(|o| vec![o]);
    secret
}

async fn apply_secret(secrets: &Api<Secret>, secret: &Secret) -> Result<(), KafkaResourceError> {
    let mut value = serde_json::to_value(secret).map_err(kube::Error::SerdeError)?;
    value["apiVersion"] = "v1".into();
    value["kind"] = "Secret".into();
    secrets
        .patch(
            secret.metadata.name.as_deref().unwrap_or_default(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&value),
        )
        .await?;
    Ok(())
}

async fn apply(
    user: &User,
    context: &ControllerContext,
    namespace: &str,
) -> Result<Action, KafkaResourceError> {
    let api: Api<User> = Api::namespaced(context.client.clone(), namespace);
    let secrets: Api<Secret> = Api::namespaced(context.client.clone(), namespace);
    let generation = user.meta().generation;
    let mut status = user.status.clone().unwrap_or_default();
    status.set_observed_generation(generation);

    if crate::controller::note_paused(user, &mut status) {
        write_status(&api, user, &status).await?;
        return Ok(Action::await_change());
    }

    let name = user.name_any();
    let kafka_user = plan::kafka_user_name(&user.spec, &name);
    let principal = plan::principal(&kafka_user);
    let rules = user
        .spec
        .authorization
        .as_ref()
        .map(|a| a.acls.as_slice())
        .unwrap_or_default();
    let refused = |reason: &str, message: String, mut status: UserStatus| {
        status.set_condition(DEGRADED, true, reason, message.clone(), generation);
        status.set_condition(READY, false, reason, message.clone(), generation);
        status.set_condition(PROGRESSING, false, reason, "", generation);
        (status, message)
    };
    let acls = match plan::desired_acls(rules, &principal) {
        Ok(acls) => acls,
        Err(problems) => {
            let (status, message) = refused("InvalidSpec", problems.join("; "), status);
            context
                .publish(user, true, "InvalidSpec", "Validate", message)
                .await;
            write_status(&api, user, &status).await?;
            return Ok(Action::await_change());
        }
    };
    let scram = user.spec.authentication.type_ == UserAuthenticationType::ScramSha512;
    let existing_secret = secrets.get_opt(&name).await?;
    if let Some(secret) = &existing_secret {
        if !owned_by(secret, user) {
            let (status, message) = refused(
                "SecretConflict",
                format!("Secret {name} exists and is not this User's: the operator will not overwrite it"),
                status,
            );
            context
                .publish(user, true, "SecretConflict", "Validate", message)
                .await;
            write_status(&api, user, &status).await?;
            return Ok(Action::requeue(REQUEUE_WAITING));
        }
    }
    let referenced = match referenced_password(user, &secrets).await? {
        Ok(password) => password,
        Err(message) => {
            let (status, _) = refused("SecretNotFound", message, status);
            write_status(&api, user, &status).await?;
            return Ok(Action::requeue(REQUEUE_WAITING));
        }
    };
    // a TLS user's certificate comes from its cluster's clients CA
    let clients_ca = if scram {
        None
    } else {
        match clients_ca(&secrets, &user.spec.cluster_ref.name).await? {
            Some(ca) => Some(ca),
            None => {
                let message = format!(
                    "KafkaCluster {} has no clients CA (Secret {}): a TLS user needs a cluster \
                     with a TLS listener",
                    user.spec.cluster_ref.name,
                    crate::cluster::names::clients_ca(&user.spec.cluster_ref.name)
                );
                status.set_condition(
                    PROGRESSING,
                    true,
                    "ClientsCaNotFound",
                    message.clone(),
                    generation,
                );
                status.set_condition(READY, false, "ClientsCaNotFound", message, generation);
                write_status(&api, user, &status).await?;
                return Ok(Action::requeue(REQUEUE_WAITING));
            }
        }
    };
    let Some(bootstrap) = context
        .bootstrap(namespace, &user.spec.cluster_ref.name)
        .await?
    else {
        let message = format!(
            "KafkaCluster {} has no bootstrap address yet",
            user.spec.cluster_ref.name
        );
        status.set_condition(
            PROGRESSING,
            true,
            "ClusterNotReady",
            message.clone(),
            generation,
        );
        status.set_condition(READY, false, "ClusterNotReady", message, generation);
        write_status(&api, user, &status).await?;
        return Ok(Action::requeue(REQUEUE_WAITING));
    };
    let admin = KafkaAdmin::new(&bootstrap)?;
    // ACLs asked of a cluster without an authorizer: refused before anything is applied
    let observed_acls = match admin.describe_acls(&principal).await {
        Ok(Some(observed)) => observed,
        Ok(None) if acls.is_empty() => Vec::new(),
        Ok(None) => {
            let (status, message) = refused(
                "AuthorizationDisabled",
                format!(
                    "KafkaCluster {} has no authorizer: the spec's ACLs cannot be applied",
                    user.spec.cluster_ref.name
                ),
                status,
            );
            context
                .publish(user, true, "AuthorizationDisabled", "Validate", message)
                .await;
            write_status(&api, user, &status).await?;
            return Ok(Action::requeue(REQUEUE_WAITING));
        }
        Err(error) => return kafka_failed(&api, user, status, error).await,
    };

    let converged = async {
        // a principal this User had before (its authentication changed) loses what it had
        if let Some(old) = status.principal.as_deref().filter(|p| *p != principal) {
            remove_principal(&admin, old).await?;
        }
        if scram {
            let password = referenced
                .or_else(|| existing_password(existing_secret.as_ref()))
                .unwrap_or_else(plan::generate_password);
            converge_credential(
                &admin,
                &secrets,
                user,
                namespace,
                existing_secret.as_ref(),
                &password,
            )
            .await?;
        } else if let Some(ca) = &clients_ca {
            // a User that was SCRAM and is TLS now keeps no password
            admin.delete_scram_credential(&name).await?;
            let stored: BTreeMap<String, String> = existing_secret
                .as_ref()
                .and_then(|s| s.data.as_ref())
                .map(|d| {
                    d.iter()
                        .filter_map(|(k, v)| {
                            Some((k.clone(), String::from_utf8(v.0.clone()).ok()?))
                        })
                        .collect()
                })
                .unwrap_or_default();
            let (data, why) = certificate::secret_data(
                &stored,
                ca,
                &user.spec.cluster_ref.name,
                namespace,
                &name,
                unix_now(),
            )
            .map_err(|e| KafkaResourceError::Certificate(e.to_string()))?;
            if why.is_some() || stored != data {
                apply_secret(&secrets, &build_secret(user, namespace, data, None)).await?;
                let note = format!(
                    "a certificate for CN={name} from the clients CA ({})",
                    why.unwrap_or_else(|| "the Secret differed".to_string())
                );
                context
                    .publish(user, false, "CertificateIssued", "Reconcile", note)
                    .await;
            }
        }
        let acl_steps = plan::plan_acls(&acls, &observed_acls);
        // created first: a changed rule never leaves the user without a permission it keeps
        admin.create_acls(&acl_steps.create).await?;
        admin.delete_acls(&acl_steps.delete).await?;
        let quota_steps = plan::plan_quotas(
            &plan::desired_quotas(user.spec.quotas.as_ref()),
            &admin.user_quotas(&kafka_user).await?,
        );
        admin
            .alter_user_quotas(&kafka_user, &quota_steps.set, &quota_steps.remove)
            .await?;
        Ok::<_, KafkaResourceError>((acl_steps, quota_steps))
    };
    match converged.await {
        Ok((acl_steps, quota_steps)) => {
            if !acl_steps.create.is_empty() || !acl_steps.delete.is_empty() {
                let note = format!(
                    "{} ACLs of {principal} created, {} deleted",
                    acl_steps.create.len(),
                    acl_steps.delete.len()
                );
                context
                    .publish(user, false, "AclsChanged", "Reconcile", note)
                    .await;
            }
            if !quota_steps.is_empty() {
                let set: Vec<&String> = quota_steps.set.keys().collect();
                let note = format!("quotas set {set:?}, removed {:?}", quota_steps.remove);
                context
                    .publish(user, false, "QuotasChanged", "Reconcile", note)
                    .await;
            }
            status.set_condition(DEGRADED, false, "InSync", "", generation);
            status.set_condition(PROGRESSING, false, "InSync", "", generation);
            status.set_condition(
                READY,
                true,
                "InSync",
                format!("{principal}'s credentials, ACLs and quotas match the spec"),
                generation,
            );
            status.principal = Some(principal);
            status.secret = Some(name);
            write_status(&api, user, &status).await?;
            Ok(Action::requeue(REQUEUE_IN_SYNC))
        }
        Err(KafkaResourceError::Admin(error)) => kafka_failed(&api, user, status, error).await,
        Err(other) => Err(other),
    }
}

/// The cluster refused or could not be reached: say so, and try again.
async fn kafka_failed(
    api: &Api<User>,
    user: &User,
    mut status: UserStatus,
    error: AdminError,
) -> Result<Action, KafkaResourceError> {
    let generation = user.meta().generation;
    let reason = error.condition_reason();
    status.set_condition(PROGRESSING, true, &reason, error.to_string(), generation);
    status.set_condition(READY, false, &reason, error.to_string(), generation);
    write_status(api, user, &status).await?;
    Ok(Action::requeue(REQUEUE_WAITING))
}

fn existing_password(secret: Option<&Secret>) -> Option<String> {
    let value = secret?.data.as_ref()?.get("password")?;
    String::from_utf8(value.0.clone())
        .ok()
        .filter(|p| !p.is_empty())
}

fn annotation<'a>(secret: Option<&'a Secret>, key: &str) -> Option<&'a str> {
    secret?
        .metadata
        .annotations
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

/// Writes the user's Secret and brings the SCRAM credential to `password`. The Secret is
/// written first, so a password the cluster accepted is never one only the cluster knows.
async fn converge_credential(
    admin: &KafkaAdmin,
    secrets: &Api<Secret>,
    user: &User,
    namespace: &str,
    existing: Option<&Secret>,
    password: &str,
) -> Result<(), KafkaResourceError> {
    let name = user.name_any();
    let data = plan::secret_data(&name, password);
    let applied = annotation(existing, PASSWORD_HASH_ANNOTATION);
    let hash = sha256_hex(password);
    let wanted: BTreeMap<String, ByteString> = data
        .iter()
        .map(|(k, v)| (k.clone(), ByteString(v.as_bytes().to_vec())))
        .collect();
    let current = existing.and_then(|s| s.data.as_ref()) == Some(&wanted);
    if !current {
        apply_secret(
            secrets,
            &build_secret(user, namespace, data.clone(), applied),
        )
        .await?;
    }
    if applied != Some(hash.as_str()) || !admin.has_scram_credential(&name).await? {
        tracing::info!(user = %name, "setting the SCRAM-SHA-512 credential");
        admin.upsert_scram_credential(&name, password).await?;
    }
    if applied != Some(hash.as_str()) {
        apply_secret(secrets, &build_secret(user, namespace, data, Some(&hash))).await?;
    }
    Ok(())
}

/// Deletes every ACL of `principal` and the quotas of its user.
async fn remove_principal(admin: &KafkaAdmin, principal: &str) -> Result<(), KafkaResourceError> {
    // a cluster without an authorizer has no ACLs to delete
    if admin.describe_acls(principal).await?.is_some() {
        admin.delete_all_acls(principal).await?;
    }
    let kafka_user = principal.strip_prefix("User:").unwrap_or(principal);
    let quotas: Vec<String> = admin.user_quotas(kafka_user).await?.into_keys().collect();
    admin
        .alter_user_quotas(kafka_user, &BTreeMap::new(), &quotas)
        .await?;
    Ok(())
}

/// The resource is being deleted: remove the credential, the ACLs and the quotas, unless
/// the cluster is gone (and they with it). The Secret goes with its owner.
async fn cleanup(
    user: &User,
    context: &ControllerContext,
    namespace: &str,
) -> Result<Action, KafkaResourceError> {
    let name = user.name_any();
    let cluster = &user.spec.cluster_ref.name;
    if context.cluster_gone(namespace, cluster).await? {
        tracing::info!(user = %name, %cluster, "the cluster is gone, and its users with it");
        return Ok(Action::await_change());
    }
    let Some(bootstrap) = context.bootstrap(namespace, cluster).await? else {
        return Err(KafkaResourceError::ClusterNotReady {
            cluster: cluster.clone(),
            blocked: "the user cannot be removed",
        });
    };
    let admin = KafkaAdmin::new(&bootstrap)?;
    let kafka_user = plan::kafka_user_name(&user.spec, &name);
    let principal = plan::principal(&kafka_user);
    tracing::info!(user = %name, %principal, "removing the user from the cluster");
    admin.delete_scram_credential(&name).await?;
    remove_principal(&admin, &principal).await?;
    if let Some(old) = user.status.as_ref().and_then(|s| s.principal.as_deref()) {
        if old != principal {
            remove_principal(&admin, old).await?;
        }
    }
    context
        .publish(
            user,
            false,
            "UserDeleted",
            "Delete",
            format!("removed {principal}'s credentials, ACLs and quotas with the resource"),
        )
        .await;
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_hash_is_sha256_hex() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
