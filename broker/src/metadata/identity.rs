//! `QuorumIdentity`: who this quorum member is — node id and cluster id — as every raft
//! request it sends carries and every one it receives is checked against, and the record of
//! peers that refused it (or that it refused) for belonging to another cluster.
//!
//! The cluster id is the one in the metadata image once the log holds it, before that the
//! one this node was formatted with (`meta.properties`, or `cluster.id`), else none: a fresh
//! node of a fresh cluster learns it from the log like everything else. Two known ids that
//! differ are a conflict (Kafka's INCONSISTENT_CLUSTER_ID). A node that is in conflict
//! with a majority of the voters can never be part of a quorum of its own cluster: it stops
//! (the fatal signal), naming both ids. A node in conflict with a minority (the stray node
//! is the other side) keeps serving.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::image::MetadataImage;

/// Kafka's error code INCONSISTENT_CLUSTER_ID.
pub(crate) const INCONSISTENT_CLUSTER_ID: i16 = 104;

pub(crate) struct QuorumIdentity {
    node_id: i32,
    /// `meta.properties` or `cluster.id`: what this node was formatted with, if anything.
    formatted_cluster_id: Option<String>,
    images: watch::Receiver<Arc<MetadataImage>>,
    /// The voters' node ids: only their conflicts can stop this node (a learner of another
    /// cluster is refused, never fatal to the quorum).
    voters: std::collections::BTreeSet<i32>,
    /// Peer node id → the other cluster id it has.
    conflicts: Mutex<BTreeMap<i32, String>>,
    /// Peer node id → when (ms since the epoch) an exchange with it last went through.
    contacts: Mutex<BTreeMap<i32, i64>>,
    fatal: watch::Sender<Option<String>>,
    /// A dynamic quorum's controller: the directory id of its metadata log dir (Kafka's
    /// replica key is node id + directory id; a raft RPC meant for another is refused).
    directory_id: Option<uuid::Uuid>,
    /// On the leader: controllers that asked to join under a voter's node id but another
    /// directory id (a voter whose data dir was replaced) → (that directory id, when they
    /// last asked, ms since the epoch). Kafka's leader lists such a replica as an observer.
    replacing_observers: Mutex<BTreeMap<i32, (uuid::Uuid, i64)>>,
}

/// How long an observer under a voter's node id stays listed after it last asked (Kafka's
/// `OBSERVER_SESSION_TIMEOUT_MS`).
const REPLACING_OBSERVER_LISTED_MS: i64 = 300_000;

/// Kafka's error code INVALID_VOTER_KEY: the request names another replica key.
pub(crate) const INVALID_VOTER_KEY: i16 = 125;

impl std::fmt::Debug for QuorumIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuorumIdentity")
            .field("node_id", &self.node_id)
            .field("cluster_id", &self.cluster_id())
            .finish_non_exhaustive()
    }
}

impl QuorumIdentity {
    pub(crate) fn new(
        node_id: i32,
        formatted_cluster_id: Option<String>,
        images: watch::Receiver<Arc<MetadataImage>>,
        voters: std::collections::BTreeSet<i32>,
        fatal: watch::Sender<Option<String>>,
    ) -> Self {
        Self {
            node_id,
            formatted_cluster_id,
            images,
            voters,
            conflicts: Mutex::new(BTreeMap::new()),
            contacts: Mutex::new(BTreeMap::new()),
            fatal,
            directory_id: None,
            replacing_observers: Mutex::new(BTreeMap::new()),
        }
    }

    /// This controller's directory id in a dynamic quorum.
    pub(crate) fn with_directory_id(mut self, directory_id: Option<uuid::Uuid>) -> Self {
        self.directory_id = directory_id;
        self
    }

    /// Whether a raft RPC meant for directory `target` reaches this replica: always when
    /// either side names none.
    pub(crate) fn is_target(&self, target: Option<uuid::Uuid>) -> bool {
        match (target, self.directory_id) {
            (Some(target), Some(ours)) => target == ours,
            _ => true,
        }
    }

    /// Controller `node_id` asked to join under directory `directory_id` while the voter
    /// `node_id` has another one.
    pub(crate) fn note_replacing_observer(&self, node_id: i32, directory_id: uuid::Uuid) {
        let mut observers = self
            .replacing_observers
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        observers.insert(node_id, (directory_id, crate::types::now_ms()));
    }

    /// The controllers [`Self::note_replacing_observer`] saw lately: node id, directory id,
    /// when they last asked.
    pub(crate) fn replacing_observers(&self) -> Vec<(i32, uuid::Uuid, i64)> {
        let now = crate::types::now_ms();
        let mut observers = self
            .replacing_observers
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        observers.retain(|_, (_, seen)| now - *seen < REPLACING_OBSERVER_LISTED_MS);
        observers
            .iter()
            .map(|(id, (dir, seen))| (*id, *dir, *seen))
            .collect()
    }

    /// Forgets the observer under `node_id` (it joined, or the voter is back).
    pub(crate) fn forget_replacing_observer(&self, node_id: i32) {
        let mut observers = self
            .replacing_observers
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        observers.remove(&node_id);
    }

    pub(crate) fn node_id(&self) -> i32 {
        self.node_id
    }

    /// Whether `node_id` is one of the voters.
    pub(crate) fn is_voter(&self, node_id: i32) -> bool {
        self.voters.contains(&node_id)
    }

    /// The cluster id this node belongs to, as far as it knows.
    pub(crate) fn cluster_id(&self) -> Option<String> {
        let image_id = self.images.borrow().cluster_id.clone();
        if image_id.is_empty() {
            self.formatted_cluster_id.clone()
        } else {
            Some(image_id)
        }
    }

    /// Checks the cluster id of a request from `peer`: `Err(ours)` when both are known and
    /// differ (the request is refused), which also counts as a conflict with that peer.
    pub(crate) fn check_peer(&self, peer: i32, theirs: Option<&str>) -> Result<(), String> {
        match (self.cluster_id(), theirs) {
            (Some(ours), Some(theirs)) if ours != theirs => {
                self.conflict(peer, theirs);
                Err(ours)
            }
            _ => {
                self.clear(peer);
                Ok(())
            }
        }
    }

    /// `peer` refused this node's request for belonging to another cluster, `theirs`.
    pub(crate) fn refused_by(&self, peer: i32, theirs: Option<&str>) {
        self.conflict(peer, theirs.unwrap_or("(unknown)"));
    }

    /// A request to or from `peer` went through: no conflict with it (any more).
    pub(crate) fn clear(&self, peer: i32) {
        let mut conflicts = self.conflicts.lock().unwrap_or_else(|p| p.into_inner());
        conflicts.remove(&peer);
        drop(conflicts);
        let mut contacts = self.contacts.lock().unwrap_or_else(|p| p.into_inner());
        contacts.insert(peer, crate::types::now_ms());
    }

    /// When an exchange with `peer` last went through (ms since the epoch).
    pub(crate) fn last_contact_ms(&self, peer: i32) -> Option<i64> {
        let contacts = self.contacts.lock().unwrap_or_else(|p| p.into_inner());
        contacts.get(&peer).copied()
    }

    fn conflict(&self, peer: i32, theirs: &str) {
        let ours = self
            .cluster_id()
            .unwrap_or_else(|| "(none yet)".to_string());
        let mut conflicts = self.conflicts.lock().unwrap_or_else(|p| p.into_inner());
        if conflicts.insert(peer, theirs.to_string()).is_none() {
            tracing::error!(
                node_id = self.node_id,
                peer,
                cluster_id = %ours,
                peer_cluster_id = %theirs,
                "metadata quorum peer belongs to another cluster (INCONSISTENT_CLUSTER_ID)"
            );
        }
        // A quorum needs a majority of the voters; with this many of them in another
        // cluster this node can never be part of one.
        let majority = self.voters.len().max(1) / 2 + 1;
        let voters_in_conflict = conflicts
            .keys()
            .filter(|peer| self.voters.contains(peer))
            .count();
        if voters_in_conflict >= majority && self.fatal.borrow().is_none() {
            let peers: Vec<String> = conflicts
                .iter()
                .filter(|(id, _)| self.voters.contains(id))
                .map(|(id, cluster)| format!("node {id} has cluster id {cluster}"))
                .collect();
            let message = format!(
                "this node (node.id {}) has cluster id {ours} but a majority of the metadata \
                 quorum voters belong to another cluster ({}): its data directory belongs to \
                 another cluster (INCONSISTENT_CLUSTER_ID)",
                self.node_id,
                peers.join(", ")
            );
            self.fatal.send_replace(Some(message));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(
        formatted: Option<&str>,
        voters: i32,
    ) -> (QuorumIdentity, watch::Receiver<Option<String>>) {
        let (_images_tx, images) = watch::channel(Arc::new(MetadataImage::empty()));
        let (fatal, fatal_rx) = watch::channel(None);
        let voters = (1..=voters).collect();
        let identity = QuorumIdentity::new(3, formatted.map(str::to_string), images, voters, fatal);
        (identity, fatal_rx)
    }

    #[test]
    fn a_request_for_another_directory_id_is_not_for_this_replica() {
        let ours = uuid::Uuid::from_u128(7);
        let (identity, _fatal) = identity(None, 3);
        assert!(identity.is_target(Some(ours)), "no directory id: any");
        let identity = identity.with_directory_id(Some(ours));
        assert!(identity.is_target(Some(ours)));
        assert!(
            identity.is_target(None),
            "a static voter's request names none"
        );
        assert!(!identity.is_target(Some(uuid::Uuid::from_u128(8))));
        identity.note_replacing_observer(3, uuid::Uuid::from_u128(9));
        assert_eq!(identity.replacing_observers().len(), 1);
        identity.forget_replacing_observer(3);
        assert!(identity.replacing_observers().is_empty());
    }
    #[test]
    fn unknown_ids_never_conflict_and_a_minority_of_conflicts_is_not_fatal() {
        let (fresh, fatal) = identity(None, 3);
        assert!(
            fresh.check_peer(1, Some("A")).is_ok(),
            "a fresh node accepts any cluster"
        );
        let (node, fatal2) = identity(Some("A"), 3);
        assert!(node.check_peer(1, None).is_ok(), "a fresh peer is accepted");
        assert_eq!(node.check_peer(1, Some("B")), Err("A".to_string()));
        assert!(
            fatal2.borrow().is_none(),
            "one of three voters in another cluster is survivable"
        );
        assert!(fatal.borrow().is_none());
    }

    #[test]
    fn a_majority_in_another_cluster_stops_the_node_naming_both_ids() {
        let (node, fatal) = identity(Some("A"), 3);
        node.refused_by(1, Some("B"));
        assert!(fatal.borrow().is_none());
        node.clear(1);
        node.refused_by(2, Some("B"));
        assert!(
            fatal.borrow().is_none(),
            "a cleared conflict does not count"
        );
        assert!(node.check_peer(1, Some("B")).is_err());
        let message = fatal
            .borrow()
            .clone()
            .expect("two of three voters refused: fatal");
        assert!(
            message.contains("cluster id A") && message.contains("cluster id B"),
            "{message}"
        );
    }

    #[test]
    fn learners_of_another_cluster_are_never_fatal() {
        let (node, fatal) = identity(Some("A"), 3);
        for learner in 4..10 {
            node.refused_by(learner, Some("B"));
        }
        assert!(
            fatal.borrow().is_none(),
            "refusals by learners (not voters) must not stop a voter"
        );
    }
}
