//! Kafka's metadata versions (`MetadataVersion`): the `metadata.version` feature levels this
//! build knows, their release names (`3.9-IV0`) and whether the metadata format changed at
//! a level (Kafka's `didMetadataChange`), which decides whether a downgrade across it could
//! lose metadata. The broker's feature checks, its format command and the operator's
//! `spec.metadataVersion` read the one table.

/// Level, name, and whether the metadata format changed at that level.
const METADATA_VERSIONS: &[(i16, &str, bool)] = &[
    (7, "3.3-IV3", true),
    (8, "3.4-IV0", true),
    (9, "3.5-IV0", false),
    (10, "3.5-IV1", false),
    (11, "3.5-IV2", true),
    (12, "3.6-IV0", false),
    (13, "3.6-IV1", true),
    (14, "3.6-IV2", true),
    (15, "3.7-IV0", true),
    (16, "3.7-IV1", false),
    (17, "3.7-IV2", true),
    (18, "3.7-IV3", false),
    (19, "3.7-IV4", false),
    (20, "3.8-IV0", false),
    (21, "3.9-IV0", false),
    (22, "4.0-IV0", false),
    (23, "4.0-IV1", true),
    (24, "4.0-IV2", false),
    (25, "4.0-IV3", false),
    (26, "4.1-IV0", false),
    (27, "4.1-IV1", false),
];

/// The lowest metadata version this build knows (3.3-IV3, the first KRaft production one).
pub const METADATA_VERSION_MIN: i16 = 7;
/// The metadata version a new cluster gets (Kafka 4.1's latest production one).
pub const METADATA_VERSION_LATEST: i16 = 27;

/// The name of a metadata version level (`21` → `3.9-IV0`).
pub fn metadata_version_name(level: i16) -> Option<&'static str> {
    METADATA_VERSIONS
        .iter()
        .find(|(l, _, _)| *l == level)
        .map(|(_, name, _)| *name)
}

/// A release version as `kafka-storage format --release-version` (and Strimzi's
/// `metadataVersion`) takes it: `3.9` (its latest internal version) or `3.9-IV0`; `None`
/// when this build does not know it.
pub fn metadata_version_from_release(release: &str) -> Option<i16> {
    let release = release.trim();
    if release.contains("-IV") {
        return METADATA_VERSIONS
            .iter()
            .find(|(_, name, _)| *name == release)
            .map(|(level, _, _)| *level);
    }
    METADATA_VERSIONS
        .iter()
        .filter(|(_, name, _)| name.split('-').next() == Some(release))
        .map(|(level, _, _)| *level)
        .max()
}

/// The release versions this build knows, for error messages.
pub fn known_release_versions() -> String {
    METADATA_VERSIONS
        .iter()
        .map(|(_, name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether the metadata format changed at any level in `(low, high]`: a downgrade from
/// `high` to `low` could then lose metadata (Kafka refuses it).
pub fn metadata_changed_between(low: i16, high: i16) -> bool {
    METADATA_VERSIONS
        .iter()
        .any(|(level, _, changed)| *changed && *level > low && *level <= high)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_releases() {
        assert_eq!(metadata_version_name(21), Some("3.9-IV0"));
        assert_eq!(metadata_version_name(6), None);
        assert_eq!(metadata_version_from_release("3.9"), Some(21));
        assert_eq!(metadata_version_from_release("4.0"), Some(25));
        assert_eq!(metadata_version_from_release("4.1-IV1"), Some(27));
        assert_eq!(metadata_version_from_release("4.2-IV0"), None);
        assert_eq!(metadata_version_from_release("3.9-IV9"), None);
        assert_eq!(
            metadata_version_name(METADATA_VERSION_LATEST),
            Some("4.1-IV1")
        );
        assert_eq!(metadata_version_name(METADATA_VERSION_MIN), Some("3.3-IV3"));
        // 4.0-IV1 changed the format; nothing between 4.0-IV1 and 4.1-IV1 did
        assert!(metadata_changed_between(21, 27));
        assert!(!metadata_changed_between(23, 27));
    }
}
