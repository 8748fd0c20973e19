//! AlterUserScramCredentials on the controller (Kafka's `ScramControlManager`): deletions
//! and upsertions checked per user — a user altered twice in one request is
//! DUPLICATE_RESOURCE, an empty name or iterations outside 4096..=16384
//! UNACCEPTABLE_CREDENTIAL, an unknown mechanism UNSUPPORTED_SASL_MECHANISM, deleting what
//! is not there RESOURCE_NOT_FOUND — and the accepted changes committed as one batch. The
//! request carries the salted password; the record keeps only the salt, StoredKey,
//! ServerKey and iteration count derived from it.

use std::collections::HashMap;

use super::Controller;
use crate::error::{ApiError, ResponseError};
use crate::metadata::image::MetadataImage;
use crate::metadata::records::MetadataRecord;
use crate::security::sasl::scram::ScramMechanism;

/// One deletion of AlterUserScramCredentials.
#[derive(Debug, Clone)]
pub(crate) struct ScramDeletion {
    pub user: String,
    pub mechanism: i8,
}

/// One upsertion of AlterUserScramCredentials (the salted password, never the password).
#[derive(Clone)]
pub(crate) struct ScramUpsertion {
    pub user: String,
    pub mechanism: i8,
    pub iterations: i32,
    pub salt: Vec<u8>,
    pub salted_password: Vec<u8>,
}

impl std::fmt::Debug for ScramUpsertion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramUpsertion")
            .field("user", &self.user)
            .field("mechanism", &self.mechanism)
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

fn unacceptable(message: impl Into<String>) -> ApiError {
    ApiError::new(ResponseError::UnacceptableCredential, message)
}

fn mechanism(id: i8) -> Result<ScramMechanism, ApiError> {
    ScramMechanism::from_type_id(id).ok_or_else(|| {
        ApiError::new(
            ResponseError::UnsupportedSaslMechanism,
            "Unknown SCRAM mechanism",
        )
    })
}

fn plan_deletion(image: &MetadataImage, d: &ScramDeletion) -> Result<MetadataRecord, ApiError> {
    if d.user.is_empty() {
        return Err(unacceptable("Username must not be empty"));
    }
    let mechanism = mechanism(d.mechanism)?;
    if image.scram_credential(&d.user, mechanism).is_none() {
        return Err(ApiError::new(
            ResponseError::ResourceNotFound,
            "Attempt to delete a user credential that does not exist",
        ));
    }
    Ok(MetadataRecord::RemoveUserScramCredential {
        name: d.user.clone(),
        mechanism,
    })
}

fn plan_upsertion(u: &ScramUpsertion) -> Result<MetadataRecord, ApiError> {
    if u.user.is_empty() {
        return Err(unacceptable("Username must not be empty"));
    }
    let mechanism = mechanism(u.mechanism)?;
    if u.iterations < ScramMechanism::MIN_ITERATIONS {
        return Err(unacceptable(format!(
            "Too few iterations: {} is less than the minimum of {} for {}",
            u.iterations,
            ScramMechanism::MIN_ITERATIONS,
            mechanism.name()
        )));
    }
    if u.iterations > ScramMechanism::MAX_ITERATIONS {
        return Err(unacceptable(format!(
            "Too many iterations: {} is more than the maximum of {} for {}",
            u.iterations,
            ScramMechanism::MAX_ITERATIONS,
            mechanism.name()
        )));
    }
    if u.salt.is_empty() || u.salted_password.is_empty() {
        return Err(unacceptable("Salt and salted password must not be empty"));
    }
    Ok(MetadataRecord::UserScramCredential {
        name: u.user.clone(),
        mechanism,
        credential: crate::security::sasl::scram::ScramCredential::derive(
            mechanism,
            &u.salt,
            &u.salted_password,
            u.iterations,
        ),
    })
}

impl Controller {
    /// AlterUserScramCredentials: one result per user, in the order users first appear.
    /// Returns the results and the metadata offset of the committed changes (if any).
    pub(crate) async fn alter_user_scram_credentials(
        &self,
        deletions: Vec<ScramDeletion>,
        upsertions: Vec<ScramUpsertion>,
    ) -> (Vec<(String, Result<(), ApiError>)>, Option<u64>) {
        let _guard = self.operation_lock.lock().await;
        let mut users: Vec<String> = Vec::new();
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for user in deletions
            .iter()
            .map(|d| &d.user)
            .chain(upsertions.iter().map(|u| &u.user))
        {
            let count = counts.entry(user.as_str()).or_insert(0);
            if *count == 0 {
                users.push(user.clone());
            }
            *count += 1;
        }
        if let Err(e) = self.ensure_active() {
            return (
                users.into_iter().map(|u| (u, Err(e.clone()))).collect(),
                None,
            );
        }
        let image = self.quorum.image();
        let mut records = Vec::new();
        let mut outcome: HashMap<String, Result<(), ApiError>> = HashMap::new();
        let planned = deletions
            .iter()
            .map(|d| (d.user.as_str(), plan_deletion(&image, d)))
            .chain(
                upsertions
                    .iter()
                    .map(|u| (u.user.as_str(), plan_upsertion(u))),
            );
        for (user, plan) in planned {
            let result = if counts.get(user).copied().unwrap_or(0) > 1 {
                Err(ApiError::new(
                    ResponseError::DuplicateResource,
                    "A user credential cannot be altered twice in the same request",
                ))
            } else {
                plan.map(|record| records.push(record))
            };
            outcome.insert(user.to_string(), result);
        }
        let mut offset = None;
        if !records.is_empty() {
            match self.propose(records).await {
                Ok(committed) => offset = Some(committed),
                Err(e) => {
                    for result in outcome.values_mut() {
                        if result.is_ok() {
                            *result = Err(e.clone());
                        }
                    }
                }
            }
        }
        let results = users
            .into_iter()
            .map(|user| {
                let result = outcome.remove(&user).unwrap_or(Ok(()));
                (user, result)
            })
            .collect();
        (results, offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upsert(user: &str, mechanism: i8, iterations: i32) -> ScramUpsertion {
        ScramUpsertion {
            user: user.into(),
            mechanism,
            iterations,
            salt: b"salt".to_vec(),
            salted_password: vec![1; 32],
        }
    }

    #[test]
    fn upsertions_are_checked_as_kafka_checks_them() {
        let code = |u: ScramUpsertion| plan_upsertion(&u).err().map(|e| e.code);
        assert_eq!(code(upsert("alice", 1, 4096)), None);
        assert_eq!(
            code(upsert("", 1, 4096)),
            Some(ResponseError::UnacceptableCredential)
        );
        assert_eq!(
            code(upsert("alice", 1, 4095)),
            Some(ResponseError::UnacceptableCredential)
        );
        assert_eq!(
            code(upsert("alice", 2, 16385)),
            Some(ResponseError::UnacceptableCredential)
        );
        assert_eq!(
            code(upsert("alice", 9, 4096)),
            Some(ResponseError::UnsupportedSaslMechanism)
        );
        let MetadataRecord::UserScramCredential { credential, .. } =
            plan_upsertion(&upsert("alice", 2, 8192)).unwrap()
        else {
            panic!("an upsertion is a UserScramCredential record");
        };
        assert_eq!(credential.iterations, 8192);
        assert_ne!(
            credential.stored_key,
            vec![1; 32],
            "the salted password is not stored"
        );
    }

    #[test]
    fn deleting_a_missing_credential_is_resource_not_found() {
        let image = MetadataImage::empty();
        let d = ScramDeletion {
            user: "bob".into(),
            mechanism: 1,
        };
        assert_eq!(
            plan_deletion(&image, &d).err().map(|e| e.code),
            Some(ResponseError::ResourceNotFound)
        );
    }
}
