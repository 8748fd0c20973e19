//! `decide` (pure): whether the cluster's metadata version may be finalized now. A raised
//! `metadata.version` cannot be taken back across a metadata format change, so it is
//! finalized only once the brokers could not need their old version again: no roll
//! pending or under way (every node runs its current template: image and static config),
//! every node ready, every broker of the spec registered and supporting the target. Until
//! then the brokers can be rolled back to the release they came from.

use std::collections::{BTreeMap, BTreeSet};

use ironlog_config::metadata_version::metadata_version_name;

use crate::kafka_admin::SupportedRange;

/// What the decision looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalizeInputs {
    /// `spec.metadataVersion`'s level; `None`: the latest every broker supports.
    pub wanted: Option<i16>,
    /// The level the cluster is finalized at.
    pub finalized: i16,
    /// Why a roll (or what may hide one) is not settled; `None` when no pod waits for a
    /// restart and none is under way.
    pub roll_unsettled: Option<String>,
    /// Nodes ready and wanted.
    pub nodes_ready: i32,
    pub nodes_total: i32,
    /// The spec's broker ids.
    pub brokers: BTreeSet<i32>,
    /// The broker ids the cluster has registered.
    pub registered: BTreeSet<i32>,
    /// The metadata.version range each broker that answered supports.
    pub supported: BTreeMap<i32, SupportedRange>,
}

/// What to do with the metadata version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Finalized at what is wanted.
    UpToDate { level: i16 },
    /// Raise it now: every condition holds.
    Finalize { from: i16, to: i16 },
    /// Not yet: `reason` says what it waits for.
    Wait { target: Option<i16>, reason: String },
    /// The spec asks for less than the finalized version: never done.
    DowngradeRefused { finalized: i16, wanted: i16 },
}

/// `21` → `3.9-IV0` (the level itself for one this build does not name).
pub fn name(level: i16) -> String {
    metadata_version_name(level).map_or_else(|| format!("level {level}"), str::to_string)
}

fn range_text(range: SupportedRange) -> String {
    format!("{} to {}", name(range.min), name(range.max))
}

/// The decision for `inputs`.
pub fn decide(inputs: &FinalizeInputs) -> Decision {
    let finalized = inputs.finalized;
    if let Some(wanted) = inputs.wanted {
        if wanted < finalized {
            return Decision::DowngradeRefused { finalized, wanted };
        }
        if wanted == finalized {
            return Decision::UpToDate { level: finalized };
        }
    }
    let wait = |target: Option<i16>, reason: String| Decision::Wait { target, reason };
    // A broker being rolled cannot say what it supports: the roll, the readiness and the
    // registrations are what the decision waits for first, and say so.
    let silent = inputs
        .brokers
        .iter()
        .find(|id| !inputs.supported.contains_key(id));
    let target = match (inputs.wanted, silent) {
        (Some(wanted), _) => Some(wanted),
        // an unset target is known once every broker said what it supports
        (None, Some(_)) => None,
        (None, None) => {
            let Some(latest_common) = inputs.supported.values().map(|r| r.max).min() else {
                return wait(None, "no broker has said what it supports".to_string());
            };
            // unset never lowers it
            if latest_common <= finalized {
                return Decision::UpToDate { level: finalized };
            }
            Some(latest_common)
        }
    };
    let target_name = target.map_or_else(
        || "the latest metadata version every broker supports".to_string(),
        name,
    );
    if let Some(why) = &inputs.roll_unsettled {
        return wait(
            target,
            format!("{target_name} is finalized once the roll is done: {why}"),
        );
    }
    if inputs.nodes_ready < inputs.nodes_total {
        return wait(
            target,
            format!(
                "{target_name} is finalized once every node is ready: {} of {} are",
                inputs.nodes_ready, inputs.nodes_total
            ),
        );
    }
    if let Some(unregistered) = inputs
        .brokers
        .iter()
        .find(|id| !inputs.registered.contains(id))
    {
        return wait(
            target,
            format!("{target_name} is finalized once broker {unregistered} is registered"),
        );
    }
    if let Some(missing) = silent {
        return wait(
            target,
            format!("broker {missing} has not said which metadata versions it supports"),
        );
    }
    // every broker said what it supports, so an unset target was worked out above
    let Some(target) = target else {
        return wait(None, "no broker has said what it supports".to_string());
    };
    let target_name = name(target);
    if let Some((id, range)) = inputs
        .brokers
        .iter()
        .filter_map(|id| inputs.supported.get(id).map(|r| (id, *r)))
        .find(|(_, range)| !range.contains(target))
    {
        return wait(
            Some(target),
            format!(
                "broker {id} supports metadata versions {} only, not {target_name}: its image \
                 must be upgraded first",
                range_text(range)
            ),
        );
    }
    Decision::Finalize {
        from: finalized,
        to: target,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V3_9: i16 = 21;
    const V4_1: i16 = 27;
    const OURS: SupportedRange = SupportedRange { min: 7, max: 27 };

    /// Three ready, registered brokers of the current build, no roll, at 3.9-IV0, asked
    /// for 4.1-IV1.
    fn settled() -> FinalizeInputs {
        FinalizeInputs {
            wanted: Some(V4_1),
            finalized: V3_9,
            roll_unsettled: None,
            nodes_ready: 3,
            nodes_total: 3,
            brokers: [0, 1, 2].into(),
            registered: [0, 1, 2].into(),
            supported: [(0, OURS), (1, OURS), (2, OURS)].into(),
        }
    }

    fn reason(decision: Decision) -> String {
        match decision {
            Decision::Wait { reason, .. } => reason,
            other => panic!("expected a wait, got {other:?}"),
        }
    }

    #[test]
    fn a_settled_cluster_is_finalized_at_the_wanted_version() {
        assert_eq!(
            decide(&settled()),
            Decision::Finalize {
                from: V3_9,
                to: V4_1
            }
        );
        let at = FinalizeInputs {
            finalized: V4_1,
            ..settled()
        };
        assert_eq!(decide(&at), Decision::UpToDate { level: V4_1 });
    }

    #[test]
    fn a_roll_pending_or_under_way_waits_and_says_so() {
        let rolling = FinalizeInputs {
            roll_unsettled: Some("pod demo-combined-1 waits for a restart".to_string()),
            ..settled()
        };
        let why = reason(decide(&rolling));
        assert!(
            why.contains("4.1-IV1 is finalized once the roll is done")
                && why.contains("demo-combined-1"),
            "{why}"
        );
        // a broker being rolled cannot say what it supports: the roll is the reason
        let restarting = FinalizeInputs {
            supported: [(0, OURS), (2, OURS)].into(),
            ..rolling.clone()
        };
        let why = reason(decide(&restarting));
        assert!(
            why.contains("4.1-IV1 is finalized once the roll is done"),
            "{why}"
        );
        let unset = FinalizeInputs {
            wanted: None,
            ..restarting
        };
        let decision = decide(&unset);
        assert!(
            matches!(&decision, Decision::Wait { target: None, reason }
                if reason.contains("the latest metadata version every broker supports is finalized once the roll is done")),
            "{decision:?}"
        );
    }

    #[test]
    fn an_unready_unregistered_or_old_broker_waits() {
        let unready = FinalizeInputs {
            nodes_ready: 2,
            ..settled()
        };
        assert!(reason(decide(&unready)).contains("2 of 3"));
        let unregistered = FinalizeInputs {
            registered: [0, 2].into(),
            ..settled()
        };
        assert!(reason(decide(&unregistered)).contains("broker 1 is registered"));
        let silent = FinalizeInputs {
            supported: [(0, OURS), (2, OURS)].into(),
            ..settled()
        };
        assert!(reason(decide(&silent)).contains("broker 1 has not said"));
        let old = FinalizeInputs {
            supported: [
                (0, OURS),
                (1, SupportedRange { min: 7, max: V3_9 }),
                (2, OURS),
            ]
            .into(),
            ..settled()
        };
        let why = reason(decide(&old));
        assert!(
            why.contains(
                "broker 1 supports metadata versions 3.3-IV3 to 3.9-IV0 only, not 4.1-IV1"
            ),
            "{why}"
        );
    }

    #[test]
    fn a_lower_wanted_version_is_refused_never_sent() {
        let lower = FinalizeInputs {
            wanted: Some(V3_9),
            finalized: V4_1,
            ..settled()
        };
        assert_eq!(
            decide(&lower),
            Decision::DowngradeRefused {
                finalized: V4_1,
                wanted: V3_9
            }
        );
    }

    #[test]
    fn unset_means_the_latest_every_broker_supports_and_never_lower() {
        let unset = FinalizeInputs {
            wanted: None,
            supported: [
                (0, OURS),
                (1, SupportedRange { min: 7, max: 26 }),
                (2, OURS),
            ]
            .into(),
            ..settled()
        };
        assert_eq!(decide(&unset), Decision::Finalize { from: V3_9, to: 26 });
        let above = FinalizeInputs {
            wanted: None,
            finalized: V4_1,
            supported: [
                (0, OURS),
                (1, SupportedRange { min: 7, max: 26 }),
                (2, OURS),
            ]
            .into(),
            ..settled()
        };
        assert_eq!(decide(&above), Decision::UpToDate { level: V4_1 });
        // the roll still gates an unset target
        let rolling = FinalizeInputs {
            wanted: None,
            roll_unsettled: Some("a roll is under way".to_string()),
            ..settled()
        };
        assert!(matches!(
            decide(&rolling),
            Decision::Wait {
                target: Some(V4_1),
                ..
            }
        ));
    }
}
