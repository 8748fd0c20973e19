//! CreateAcls and DeleteAcls on the controller (Kafka's `AclControlManager`): a new
//! binding is checked (`StandardAcl::validate_new`, INVALID_REQUEST with Kafka's
//! messages), one that exists already or twice in the request succeeds without a second
//! record, each new one gets a fresh id (`AccessControlEntry`); a deletion removes every
//! binding its filter matches (`RemoveAccessControlEntry` by id, a binding matched by two
//! filters removed once). Each request's records are one atomic batch, at most
//! [`MAX_RECORDS_PER_USER_OP`] of them, as Kafka bounds them.

use std::collections::BTreeSet;

use uuid::Uuid;

use super::Controller;
use crate::error::{ApiError, ResponseError};
use crate::metadata::records::MetadataRecord;
use crate::security::acl::{AclBindingFilter, StandardAcl};

/// Kafka's `MAX_RECORDS_PER_USER_OP`: the most records one admin request may write.
pub(crate) const MAX_RECORDS_PER_USER_OP: usize = 10_000;

/// What DeleteAcls removed for one filter: the bindings, or why nothing was.
pub(crate) type DeletedAcls = Result<Vec<StandardAcl>, ApiError>;

impl Controller {
    /// CreateAcls: one result per binding, in request order, and the metadata offset of
    /// the committed records (if any were written).
    pub(crate) async fn create_acls(
        &self,
        acls: Vec<StandardAcl>,
    ) -> (Vec<Result<(), ApiError>>, Option<u64>) {
        let _guard = self.operation_lock.lock().await;
        if let Err(e) = self.ensure_active() {
            return (acls.iter().map(|_| Err(e.clone())).collect(), None);
        }
        if acls.len() > MAX_RECORDS_PER_USER_OP {
            let e = ApiError::new(
                ResponseError::InvalidRequest,
                format!(
                    "Cannot create more than {MAX_RECORDS_PER_USER_OP} acls in a single operation."
                ),
            );
            return (acls.iter().map(|_| Err(e.clone())).collect(), None);
        }
        let image = self.quorum.image();
        let mut records = Vec::new();
        let mut created: BTreeSet<&StandardAcl> = BTreeSet::new();
        let mut results = Vec::with_capacity(acls.len());
        for acl in &acls {
            if let Err(e) = acl.validate_new() {
                results.push(Err(e));
                continue;
            }
            if !image.acls.contains(acl) && created.insert(acl) {
                let mut id = Uuid::new_v4();
                while image.acls.contains_id(&id) {
                    id = Uuid::new_v4();
                }
                records.push(MetadataRecord::AccessControlEntry {
                    id,
                    acl: acl.clone(),
                });
            }
            results.push(Ok(()));
        }
        let mut offset = None;
        if !records.is_empty() {
            match self.propose(records).await {
                Ok(committed) => {
                    tracing::info!(count = created.len(), "ACL bindings created");
                    offset = Some(committed);
                }
                Err(e) => {
                    for result in results.iter_mut().filter(|r| r.is_ok()) {
                        *result = Err(e.clone());
                    }
                }
            }
        }
        (results, offset)
    }

    /// DeleteAcls: per filter the bindings it removed, in request order, and the metadata
    /// offset of the committed records. Too many matches fail the whole request, as
    /// Kafka's (a partial deletion is easily missed in a long answer).
    pub(crate) async fn delete_acls(
        &self,
        filters: Vec<AclBindingFilter>,
    ) -> Result<(Vec<DeletedAcls>, Option<u64>), ApiError> {
        let _guard = self.operation_lock.lock().await;
        self.ensure_active()?;
        let image = self.quorum.image();
        let mut removed: BTreeSet<Uuid> = BTreeSet::new();
        let mut results = Vec::with_capacity(filters.len());
        for filter in &filters {
            if filter.has_unknown_elements() {
                results.push(Err(ApiError::new(
                    ResponseError::InvalidRequest,
                    "Unknown patternFilter or entryFilter.",
                )));
                continue;
            }
            let mut deleted = Vec::new();
            for (id, acl) in image.acls.matching(filter) {
                removed.insert(*id);
                if removed.len() > MAX_RECORDS_PER_USER_OP {
                    return Err(ApiError::new(
                        ResponseError::InvalidRequest,
                        format!(
                            "Cannot remove more than {MAX_RECORDS_PER_USER_OP} acls in a single delete operation."
                        ),
                    ));
                }
                deleted.push(acl.clone());
            }
            results.push(Ok(deleted));
        }
        let mut offset = None;
        if !removed.is_empty() {
            let count = removed.len();
            let records = removed
                .into_iter()
                .map(|id| MetadataRecord::RemoveAccessControlEntry { id })
                .collect();
            match self.propose(records).await {
                Ok(committed) => {
                    tracing::info!(count, "ACL bindings deleted");
                    offset = Some(committed);
                }
                Err(e) => {
                    for result in results.iter_mut().filter(|r| r.is_ok()) {
                        *result = Err(e.clone());
                    }
                }
            }
        }
        Ok((results, offset))
    }
}
