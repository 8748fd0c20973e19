//! Feature versioning (KIP-584 in KRaft form, Kafka's `QuorumFeatures` and
//! `FeatureControlManager`): the feature levels this build supports, the levels a cluster
//! is finalized at (`FeatureLevel` records in the metadata log, written at bootstrap and by
//! UpdateFeatures), and the controller's checks of a change.
//!
//! - Supported: metadata.version 7..=27 (3.3-IV3..=4.1-IV1), group.version 0..=1 (the
//!   consumer protocol, KIP-848), kraft.version 0..=1 (KIP-853). Kafka 4.1's other features
//!   are known at level 0 only: transaction.version 1-2 (KIP-890's EndTxn v5),
//!   eligible.leader.replicas.version 1 and share.version 1 are not implemented, and clients
//!   read transaction.version to choose their transaction protocol.
//! - kraft.version is the quorum's, not the metadata log's (Kafka keeps it in a raft control
//!   record): 1 for a dynamic quorum (`controller.quorum.bootstrap.servers`), 0 for a static
//!   one (`controller.quorum.voters`). It is never a `FeatureLevel` record (one is skipped,
//!   as Kafka 4.1 skips it), so it is not among the image's finalized levels: ApiVersions
//!   adds it when above 0 (Kafka's `KRaftMetadataCache.features`), and broker registration
//!   does not check it. UpdateFeatures: the level it has is a no-op; a downgrade is refused
//!   ("Can't downgrade the version of this feature."); the upgrade 0 → 1 of a static quorum
//!   is refused as Kafka's leader refuses it while its voters have not announced kraft.version
//!   1 (through UpdateRaftVoter, which Ironlog's static voters never send): "Invalid upgrade
//!   of kraft.version to 1 because not all of the voters support it".
//! - Finalized: a metadata log written before feature records existed has none; it runs at
//!   what those builds answered ([`LEGACY_FINALIZED`]). The controller writes that state
//!   out as records with the first change, so the image never mixes the two.
//! - A change (UpdateFeatures) is checked as Kafka 4.1 checks it, in request order, the
//!   first refusal refusing all: the upgrade type is known, the level is not negative, this
//!   controller and every registered broker support it, a lower level needs a downgrade
//!   type and a higher one must not have it; metadata.version downgrades are refused when
//!   any level between changed the metadata format (unsafe ones always, as Kafka 4.1).
//!   Every refusal is INVALID_UPDATE_VERSION with Kafka's sentence.
//!
//! Nothing here touches the log or the network: the controller proposes what
//! [`plan_update`] returns.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::records::MetadataRecord;
use crate::error::{ApiError, ResponseError};

pub(crate) const METADATA_VERSION: &str = "metadata.version";
pub(crate) const GROUP_VERSION: &str = "group.version";
pub(crate) const KRAFT_VERSION: &str = "kraft.version";

/// An inclusive range of feature levels (Kafka's `VersionRange`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FeatureRange {
    pub min: i16,
    pub max: i16,
}

impl FeatureRange {
    pub(crate) const DISABLED: FeatureRange = FeatureRange { min: 0, max: 0 };

    pub(crate) fn contains(self, level: i16) -> bool {
        self.min <= level && level <= self.max
    }
}

impl std::fmt::Display for FeatureRange {
    /// Kafka's `VersionRange.toString`: `7-27`, or `0` for a single level.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.min == self.max {
            write!(f, "{}", self.min)
        } else {
            write!(f, "{}-{}", self.min, self.max)
        }
    }
}

/// Kafka 4.1's features and the levels this build supports, by name.
const SUPPORTED: &[(&str, FeatureRange)] = &[
    ("eligible.leader.replicas.version", FeatureRange::DISABLED),
    (GROUP_VERSION, FeatureRange { min: 0, max: 1 }),
    (KRAFT_VERSION, FeatureRange { min: 0, max: 1 }),
    (METADATA_VERSION, FeatureRange { min: 7, max: 27 }),
    ("share.version", FeatureRange::DISABLED),
    ("transaction.version", FeatureRange::DISABLED),
];

/// What a metadata log without feature records runs at (what every build before them
/// answered): a new Kafka 4.1 cluster's levels within the supported ones.
pub(crate) const LEGACY_FINALIZED: &[(&str, i16)] = &[(GROUP_VERSION, 1), (METADATA_VERSION, 27)];

/// The metadata version a new cluster gets (Kafka 4.1's latest production one).
pub(crate) const METADATA_VERSION_LATEST: i16 =
    ironlog_config::metadata_version::METADATA_VERSION_LATEST;
/// 4.0-IV0: from here a release's default group.version is 1 (Kafka's `GroupVersion`).
const METADATA_VERSION_4_0_IV0: i16 = 22;

/// The levels this build supports, by feature name.
pub(crate) fn supported() -> BTreeMap<String, FeatureRange> {
    SUPPORTED
        .iter()
        .map(|(name, range)| (name.to_string(), *range))
        .collect()
}

/// The range this build supports for `name` (unknown features: level 0 only).
pub(crate) fn supported_range(name: &str) -> FeatureRange {
    SUPPORTED
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(FeatureRange::DISABLED, |(_, range)| *range)
}

fn is_known(name: &str) -> bool {
    SUPPORTED.iter().any(|(n, _)| *n == name)
}

pub(crate) use ironlog_config::metadata_version::{
    known_release_versions, metadata_version_from_release, metadata_version_name,
};

/// The default levels of a cluster formatted at `metadata_version` (Kafka's
/// `Feature.defaultLevel`, capped at what this build supports): metadata.version itself,
/// group.version 1 from 4.0 on. Only levels above 0 are listed.
pub(crate) fn default_levels(metadata_version: i16) -> BTreeMap<String, i16> {
    let mut levels = BTreeMap::from([(METADATA_VERSION.to_string(), metadata_version)]);
    if metadata_version >= METADATA_VERSION_4_0_IV0 {
        levels.insert(GROUP_VERSION.to_string(), 1);
    }
    levels
}

/// The bootstrap records of `levels`: metadata.version first, as Kafka's bootstrap
/// checkpoint.
pub(crate) fn level_records(levels: &BTreeMap<String, i16>) -> Vec<MetadataRecord> {
    let record = |(name, level): (&String, &i16)| MetadataRecord::FeatureLevel {
        name: name.clone(),
        level: *level,
    };
    levels
        .iter()
        .filter(|(name, _)| name.as_str() == METADATA_VERSION)
        .map(record)
        .chain(
            levels
                .iter()
                .filter(|(name, _)| name.as_str() != METADATA_VERSION)
                .map(record),
        )
        .collect()
}

/// `records` with the default feature levels of a new cluster at `metadata_version` in
/// front unless they set metadata.version already (a broker that formats itself on its
/// first start).
pub(crate) fn with_default_levels(
    records: Vec<MetadataRecord>,
    metadata_version: i16,
) -> Vec<MetadataRecord> {
    let has_metadata_version = records.iter().any(
        |r| matches!(r, MetadataRecord::FeatureLevel { name, .. } if name == METADATA_VERSION),
    );
    if has_metadata_version {
        return records;
    }
    let mut all = level_records(&default_levels(metadata_version));
    all.extend(records);
    all
}

/// A `--feature name=level` of the format command, checked against this build.
pub(crate) fn parse_feature_argument(argument: &str) -> Result<(String, i16), String> {
    let (name, level) = argument
        .split_once('=')
        .ok_or_else(|| format!("Can't parse feature={argument}: it must be name=level"))?;
    let (name, level) = (name.trim(), level.trim());
    if name == METADATA_VERSION {
        return Err(
            "Use --release-version instead of --feature metadata.version=X to avoid ambiguity."
                .into(),
        );
    }
    if !is_known(name) {
        let names: Vec<&str> = SUPPORTED.iter().map(|(n, _)| *n).collect();
        return Err(format!(
            "Unsupported feature: {name}. Supported features are: {}",
            names.join(", ")
        ));
    }
    let level: i16 = level
        .parse()
        .map_err(|_| format!("Can't parse level {level} of feature {name}"))?;
    let range = supported_range(name);
    if !range.contains(level) {
        return Err(format!(
            "Unsupported level {level} of feature {name}: this build supports {range}"
        ));
    }
    Ok((name.to_string(), level))
}

/// How UpdateFeatures may move a level (Kafka's `FeatureUpdate.UpgradeType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UpgradeType {
    Upgrade,
    SafeDowngrade,
    UnsafeDowngrade,
    Unknown,
}

impl UpgradeType {
    /// The request's code (v1+): 1 upgrade, 2 safe downgrade, 3 unsafe downgrade.
    pub(crate) fn from_code(code: i8) -> Self {
        match code {
            1 => Self::Upgrade,
            2 => Self::SafeDowngrade,
            3 => Self::UnsafeDowngrade,
            _ => Self::Unknown,
        }
    }
}

/// One requested change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FeatureUpdate {
    pub name: String,
    pub level: i16,
    pub upgrade_type: UpgradeType,
}

fn invalid_update(name: &str, level: i16, reason: &str) -> ApiError {
    ApiError::new(
        ResponseError::InvalidUpdateVersion,
        format!("Invalid update version {level} for feature {name}. {reason}"),
    )
}

fn invalid_metadata_version(level: i16, reason: &str) -> ApiError {
    ApiError::new(
        ResponseError::InvalidUpdateVersion,
        format!("Invalid metadata.version {level}. {reason}"),
    )
}

/// Kafka's `QuorumFeatures.reasonNotSupported`.
fn reason_not_supported(level: i16, what: &str, range: FeatureRange) -> Option<String> {
    if range.contains(level) {
        None
    } else if range.max == 0 {
        Some(format!("{what} does not support this feature."))
    } else {
        Some(format!("{what} only supports versions {range}"))
    }
}

use ironlog_config::metadata_version::metadata_changed_between;

/// Whether `finalized` levels let groups use the consumer rebalance protocol (KIP-848):
/// group.version 1 or more, as Kafka's `isConsumerGroupProtocolEnabled` asks.
pub(crate) fn consumer_protocol_enabled(finalized: &BTreeMap<String, i16>) -> bool {
    finalized.get(GROUP_VERSION).copied().unwrap_or(0) >= 1
}

/// The records that make `updates` happen on top of `finalized` (the effective levels,
/// [`super::MetadataImage::finalized_features`]), checked against this controller
/// (`controller_id`) and every registered broker's supported levels; an empty list when
/// nothing changes. `legacy`: the image has no feature records yet, so the records start
/// with the levels it runs at. `kraft_version`: the quorum's (see the module header).
pub(crate) fn plan_update(
    finalized: &BTreeMap<String, i16>,
    legacy: bool,
    kraft_version: i16,
    updates: &[FeatureUpdate],
    controller_id: i32,
    brokers: &[(i32, BTreeMap<String, FeatureRange>)],
) -> Result<Vec<MetadataRecord>, ApiError> {
    let mut records = Vec::new();
    for update in updates {
        let (name, level) = (update.name.as_str(), update.level);
        if update.upgrade_type == UpgradeType::Unknown {
            return Err(invalid_update(
                name,
                level,
                "The controller does not support the given upgrade type.",
            ));
        }
        let current = if name == KRAFT_VERSION {
            kraft_version
        } else {
            finalized.get(name).copied().unwrap_or(0)
        };
        if level < 0 {
            return Err(invalid_update(
                name,
                level,
                "A feature version cannot be less than 0.",
            ));
        }
        let local = format!("Local controller {controller_id}");
        if let Some(reason) = reason_not_supported(level, &local, supported_range(name)) {
            return Err(invalid_update(name, level, &reason));
        }
        for (broker_id, ranges) in brokers {
            let range = ranges.get(name).copied().unwrap_or(FeatureRange::DISABLED);
            if let Some(reason) = reason_not_supported(level, &format!("Broker {broker_id}"), range)
            {
                return Err(invalid_update(name, level, &reason));
            }
        }
        if level < current && update.upgrade_type == UpgradeType::Upgrade {
            return Err(invalid_update(
                name,
                level,
                "Can't downgrade the version of this feature without setting the upgrade type \
                 to either safe or unsafe downgrade.",
            ));
        }
        if level > current && update.upgrade_type != UpgradeType::Upgrade {
            return Err(invalid_update(
                name,
                level,
                "Can't downgrade to a newer version.",
            ));
        }
        if name == KRAFT_VERSION {
            // Kafka's `FeatureControlManager` hands kraft.version to the raft layer; no
            // `FeatureLevel` record is written for it.
            if update.upgrade_type != UpgradeType::Upgrade && level != current {
                return Err(invalid_update(
                    name,
                    level,
                    "Can't downgrade the version of this feature.",
                ));
            }
            if level > current {
                return Err(ApiError::new(
                    ResponseError::InvalidUpdateVersion,
                    format!(
                        "Invalid upgrade of {KRAFT_VERSION} to {level} because not all of the \
                         voters support it"
                    ),
                ));
            }
            continue;
        }
        if name == METADATA_VERSION {
            if metadata_version_name(level).is_none() {
                return Err(invalid_metadata_version(level, "Unknown metadata.version."));
            }
            if level < current && metadata_changed_between(level, current) {
                return Err(invalid_metadata_version(
                    level,
                    if update.upgrade_type == UpgradeType::UnsafeDowngrade {
                        "Unsafe metadata downgrade is not supported in this version."
                    } else {
                        "Refusing to perform the requested downgrade because it might delete \
                         metadata information."
                    },
                ));
            }
            if level != current {
                tracing::warn!(from = current, to = level, "changing metadata.version");
            }
        } else if !is_known(name) {
            return Err(invalid_update(
                name,
                level,
                &format!("Feature {name} not found."),
            ));
        }
        records.push(MetadataRecord::FeatureLevel {
            name: name.to_string(),
            level,
        });
    }
    if legacy && !records.is_empty() {
        let levels: BTreeMap<String, i16> = finalized.clone();
        let mut all = level_records(&levels);
        all.extend(records);
        records = all;
    }
    Ok(records)
}

/// Kafka's registration check: a broker must support every finalized level (a feature it
/// does not list counts as level 0 only).
pub(crate) fn check_registration(
    finalized: &BTreeMap<String, i16>,
    broker: &BTreeMap<String, FeatureRange>,
) -> Result<(), ApiError> {
    for (name, level) in finalized {
        let range = broker.get(name).copied().unwrap_or(FeatureRange::DISABLED);
        if !range.contains(*level) {
            return Err(ApiError::new(
                ResponseError::UnsupportedVersion,
                format!(
                    "Unable to register because the broker does not support finalized version \
                     {level} of {name}. The broker wants a version between {} and {}, inclusive.",
                    range.min, range.max
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn levels(pairs: &[(&str, i16)]) -> BTreeMap<String, i16> {
        pairs.iter().map(|(n, l)| (n.to_string(), *l)).collect()
    }

    fn update(name: &str, level: i16, upgrade_type: UpgradeType) -> FeatureUpdate {
        FeatureUpdate {
            name: name.into(),
            level,
            upgrade_type,
        }
    }

    fn ours() -> Vec<(i32, BTreeMap<String, FeatureRange>)> {
        vec![(1, supported()), (2, supported())]
    }

    fn refusal(result: Result<Vec<MetadataRecord>, ApiError>) -> String {
        let error = result.expect_err("the update is refused");
        assert_eq!(error.code, ResponseError::InvalidUpdateVersion);
        error.message.unwrap_or_default()
    }

    #[test]
    fn an_upgrade_every_broker_supports_is_one_record() {
        let at_3_9 = levels(&[(METADATA_VERSION, 21)]);
        let records = plan_update(
            &at_3_9,
            false,
            0,
            &[update(METADATA_VERSION, 27, UpgradeType::Upgrade)],
            1,
            &ours(),
        )
        .unwrap();
        assert_eq!(
            records,
            vec![MetadataRecord::FeatureLevel {
                name: METADATA_VERSION.into(),
                level: 27
            }]
        );
    }

    #[test]
    fn a_level_a_broker_lacks_is_refused_naming_the_broker() {
        let mut old = supported();
        old.insert(METADATA_VERSION.into(), FeatureRange { min: 7, max: 21 });
        let brokers = vec![(1, supported()), (3, old)];
        let message = refusal(plan_update(
            &levels(&[(METADATA_VERSION, 21)]),
            false,
            0,
            &[update(METADATA_VERSION, 27, UpgradeType::Upgrade)],
            1,
            &brokers,
        ));
        assert_eq!(
            message,
            "Invalid update version 27 for feature metadata.version. Broker 3 only supports versions 7-21"
        );
        let message = refusal(plan_update(
            &levels(&[(METADATA_VERSION, 27)]),
            false,
            0,
            &[update("transaction.version", 2, UpgradeType::Upgrade)],
            1,
            &ours(),
        ));
        assert!(
            message.ends_with("Local controller 1 does not support this feature."),
            "{message}"
        );
    }

    #[test]
    fn downgrades_need_their_type_and_metadata_version_keeps_its_format() {
        let at_4_1 = levels(&[(METADATA_VERSION, 27), (GROUP_VERSION, 1)]);
        let message = refusal(plan_update(
            &at_4_1,
            false,
            0,
            &[update(GROUP_VERSION, 0, UpgradeType::Upgrade)],
            1,
            &ours(),
        ));
        assert!(
            message.contains("without setting the upgrade type"),
            "{message}"
        );
        let records = plan_update(
            &at_4_1,
            false,
            0,
            &[update(GROUP_VERSION, 0, UpgradeType::SafeDowngrade)],
            1,
            &ours(),
        )
        .unwrap();
        assert_eq!(
            records.len(),
            1,
            "a safe downgrade of group.version is fine"
        );
        let message = refusal(plan_update(
            &levels(&[(METADATA_VERSION, 21)]),
            false,
            0,
            &[update(METADATA_VERSION, 27, UpgradeType::SafeDowngrade)],
            1,
            &ours(),
        ));
        assert!(
            message.contains("Can't downgrade to a newer version."),
            "{message}"
        );
        // 4.0-IV1 (23) changed the metadata format: no way below it.
        let message = refusal(plan_update(
            &at_4_1,
            false,
            0,
            &[update(METADATA_VERSION, 21, UpgradeType::SafeDowngrade)],
            1,
            &ours(),
        ));
        assert_eq!(
            message,
            "Invalid metadata.version 21. Refusing to perform the requested downgrade because it might delete metadata information."
        );
        let message = refusal(plan_update(
            &at_4_1,
            false,
            0,
            &[update(METADATA_VERSION, 21, UpgradeType::UnsafeDowngrade)],
            1,
            &ours(),
        ));
        assert!(
            message.contains("Unsafe metadata downgrade is not supported"),
            "{message}"
        );
        // 4.1-IV1 → 4.1-IV0 changes nothing on disk: allowed.
        assert!(plan_update(
            &at_4_1,
            false,
            0,
            &[update(METADATA_VERSION, 26, UpgradeType::SafeDowngrade)],
            1,
            &ours(),
        )
        .is_ok());
    }

    #[test]
    fn bad_input_is_refused_and_one_refusal_refuses_all() {
        let at_3_9 = levels(&[(METADATA_VERSION, 21)]);
        for (bad, expected) in [
            (
                update("no.such.feature", 1, UpgradeType::Upgrade),
                "does not support this feature",
            ),
            (
                update(GROUP_VERSION, -1, UpgradeType::Upgrade),
                "cannot be less than 0",
            ),
            (
                update(GROUP_VERSION, 1, UpgradeType::Unknown),
                "does not support the given upgrade type",
            ),
            (
                update(METADATA_VERSION, 99, UpgradeType::Upgrade),
                "only supports versions 7-27",
            ),
        ] {
            let message = refusal(plan_update(
                &at_3_9,
                false,
                0,
                &[update(GROUP_VERSION, 1, UpgradeType::Upgrade), bad.clone()],
                1,
                &ours(),
            ));
            assert!(message.contains(expected), "{bad:?}: {message}");
        }
        let message = refusal(plan_update(
            &at_3_9,
            false,
            0,
            &[update("no.such.feature", 0, UpgradeType::Upgrade)],
            1,
            &ours(),
        ));
        assert!(
            message.contains("Feature no.such.feature not found."),
            "{message}"
        );
    }

    #[test]
    fn kraft_version_is_the_quorums_and_never_a_record() {
        let at_4_1 = levels(&[(METADATA_VERSION, 27), (GROUP_VERSION, 1)]);
        let plan = |kraft_version: i16, level: i16, upgrade_type: UpgradeType| {
            plan_update(
                &at_4_1,
                false,
                kraft_version,
                &[update(KRAFT_VERSION, level, upgrade_type)],
                1,
                &ours(),
            )
        };
        assert_eq!(
            plan(1, 1, UpgradeType::Upgrade).unwrap(),
            vec![],
            "a dynamic quorum's own level changes nothing"
        );
        assert_eq!(plan(0, 0, UpgradeType::SafeDowngrade).unwrap(), vec![]);
        assert_eq!(
            refusal(plan(0, 1, UpgradeType::Upgrade)),
            "Invalid upgrade of kraft.version to 1 because not all of the voters support it"
        );
        assert_eq!(
            refusal(plan(1, 0, UpgradeType::SafeDowngrade)),
            "Invalid update version 0 for feature kraft.version. Can't downgrade the version of this feature."
        );
        assert_eq!(
            refusal(plan(1, 0, UpgradeType::Upgrade)),
            "Invalid update version 0 for feature kraft.version. Can't downgrade the version of \
             this feature without setting the upgrade type to either safe or unsafe downgrade."
        );
        assert!(refusal(plan(1, 2, UpgradeType::Upgrade))
            .ends_with("Local controller 1 only supports versions 0-1"));
        // A broker that does not know kraft.version 1 blocks nothing at the level it has.
        let mut old = supported();
        old.insert(KRAFT_VERSION.into(), FeatureRange::DISABLED);
        let message = refusal(plan_update(
            &at_4_1,
            false,
            0,
            &[update(KRAFT_VERSION, 1, UpgradeType::Upgrade)],
            1,
            &[(2, old)],
        ));
        assert_eq!(
            message,
            "Invalid update version 1 for feature kraft.version. Broker 2 does not support this feature."
        );
    }

    #[test]
    fn a_legacy_image_is_written_out_with_the_first_change() {
        let legacy: BTreeMap<String, i16> = LEGACY_FINALIZED
            .iter()
            .map(|(n, l)| (n.to_string(), *l))
            .collect();
        let records = plan_update(
            &legacy,
            true,
            0,
            &[update(GROUP_VERSION, 0, UpgradeType::SafeDowngrade)],
            1,
            &ours(),
        )
        .unwrap();
        assert_eq!(
            records,
            vec![
                MetadataRecord::FeatureLevel {
                    name: METADATA_VERSION.into(),
                    level: 27
                },
                MetadataRecord::FeatureLevel {
                    name: GROUP_VERSION.into(),
                    level: 1
                },
                MetadataRecord::FeatureLevel {
                    name: GROUP_VERSION.into(),
                    level: 0
                },
            ]
        );
    }

    #[test]
    fn registration_needs_every_finalized_level() {
        let at_4_1 = levels(&[(METADATA_VERSION, 27), (GROUP_VERSION, 1)]);
        assert!(check_registration(&at_4_1, &supported()).is_ok());
        let mut old = supported();
        old.insert(METADATA_VERSION.into(), FeatureRange { min: 7, max: 21 });
        let error = check_registration(&at_4_1, &old).unwrap_err();
        assert_eq!(error.code, ResponseError::UnsupportedVersion);
        assert_eq!(
            error.message.as_deref(),
            Some("Unable to register because the broker does not support finalized version 27 of metadata.version. The broker wants a version between 7 and 21, inclusive.")
        );
        assert!(check_registration(&levels(&[(METADATA_VERSION, 21)]), &old).is_ok());
    }

    #[test]
    fn release_versions_and_defaults() {
        assert_eq!(metadata_version_from_release("3.9"), Some(21));
        assert_eq!(metadata_version_from_release("4.0"), Some(25));
        assert_eq!(metadata_version_from_release("4.1"), Some(27));
        assert_eq!(metadata_version_from_release("3.7-IV2"), Some(17));
        assert_eq!(metadata_version_from_release("3.2"), None);
        assert_eq!(metadata_version_from_release("4.2"), None);
        assert_eq!(default_levels(21), levels(&[(METADATA_VERSION, 21)]));
        assert_eq!(
            default_levels(27),
            levels(&[(METADATA_VERSION, 27), (GROUP_VERSION, 1)])
        );
        assert!(parse_feature_argument("metadata.version=21")
            .unwrap_err()
            .contains("--release-version"));
        assert_eq!(
            parse_feature_argument("group.version=1"),
            Ok((GROUP_VERSION.to_string(), 1))
        );
        assert!(parse_feature_argument("transaction.version=2")
            .unwrap_err()
            .contains("supports 0"));
    }
}
