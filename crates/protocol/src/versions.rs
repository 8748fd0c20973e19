//! `versions`: what a peer advertised in ApiVersions and the version a request goes out at.
//!
//! Ours is what the `kafka-protocol` codec can encode and decode (`ApiKey::valid_versions`);
//! the peer's is its ApiVersions response. A request goes out at the highest version in both
//! ranges unless the caller caps or pins it; an API the peer does not list, or ranges that do
//! not meet, is an error before anything is sent.

use std::collections::BTreeMap;

use kafka_protocol::messages::{ApiKey, ApiVersionsResponse};
use kafka_protocol::protocol::VersionRange;

use crate::error::Error;

/// Which version of an API to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VersionChoice {
    /// The highest version both sides support.
    #[default]
    Highest,
    /// The highest version both sides support, but not above this one.
    AtMost(i16),
    /// Exactly this version; an error unless both sides support it.
    Exactly(i16),
}

/// The API version ranges a peer advertised, by API key (including keys the codec does not
/// know, which only raw requests can use).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApiVersionTable {
    ranges: BTreeMap<i16, VersionRange>,
}

impl ApiVersionTable {
    /// The table of an ApiVersions response (its error code is the caller's business).
    pub fn from_response(response: &ApiVersionsResponse) -> Self {
        let ranges = response
            .api_keys
            .iter()
            .map(|k| {
                (
                    k.api_key,
                    VersionRange {
                        min: k.min_version,
                        max: k.max_version,
                    },
                )
            })
            .collect();
        ApiVersionTable { ranges }
    }

    /// The range the peer advertised for `api_key`, `None` when it did not list it.
    pub fn peer_range(&self, api_key: i16) -> Option<VersionRange> {
        self.ranges.get(&api_key).copied()
    }

    /// Every API key the peer listed, in key order.
    pub fn api_keys(&self) -> impl Iterator<Item = i16> + '_ {
        self.ranges.keys().copied()
    }

    /// The version to send `api` at: [`Error::UnsupportedApi`] when the peer does not list
    /// it, [`Error::UnsupportedVersion`] when no version satisfies both ranges and `choice`.
    pub fn negotiate(&self, api: ApiKey, choice: VersionChoice) -> Result<i16, Error> {
        let ours = api.valid_versions();
        let Some(peer) = self.peer_range(api as i16) else {
            return Err(Error::UnsupportedApi { api });
        };
        let both = ours.intersect(&peer);
        let unsupported = || Error::UnsupportedVersion {
            api,
            choice,
            ours,
            peer,
        };
        match choice {
            VersionChoice::Highest if !both.is_empty() => Ok(both.max),
            VersionChoice::AtMost(cap) if both.min <= cap.min(both.max) => Ok(cap.min(both.max)),
            VersionChoice::Exactly(v) if both.min <= v && v <= both.max => Ok(v),
            _ => Err(unsupported()),
        }
    }
}

/// An ApiVersions response listing `entries` (API, min, max), for tests.
#[cfg(test)]
pub(crate) fn api_versions_response(
    entries: &[(ApiKey, i16, i16)],
    error_code: i16,
) -> ApiVersionsResponse {
    use kafka_protocol::messages::api_versions_response::ApiVersion;
    ApiVersionsResponse::default()
        .with_error_code(error_code)
        .with_api_keys(
            entries
                .iter()
                .map(|(k, min, max)| {
                    ApiVersion::default()
                        .with_api_key(*k as i16)
                        .with_min_version(*min)
                        .with_max_version(*max)
                })
                .collect(),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(entries: &[(ApiKey, i16, i16)]) -> ApiVersionTable {
        ApiVersionTable::from_response(&api_versions_response(entries, 0))
    }

    #[test]
    fn highest_common_version_is_chosen() {
        // the codec knows Produce 3..=13; a Kafka 4.0 broker serves 3..=12
        let t = table(&[(ApiKey::Produce, 3, 12), (ApiKey::Metadata, 0, 99)]);
        assert_eq!(
            t.negotiate(ApiKey::Produce, VersionChoice::Highest).ok(),
            Some(12)
        );
        assert_eq!(
            t.negotiate(ApiKey::Metadata, VersionChoice::Highest).ok(),
            Some(ApiKey::Metadata.valid_versions().max),
            "a peer newer than the codec gets the codec's highest"
        );
    }

    #[test]
    fn caps_and_pins_stay_inside_both_ranges() {
        let t = table(&[(ApiKey::Fetch, 4, 17)]);
        assert_eq!(
            t.negotiate(ApiKey::Fetch, VersionChoice::AtMost(12)).ok(),
            Some(12)
        );
        assert_eq!(
            t.negotiate(ApiKey::Fetch, VersionChoice::AtMost(40)).ok(),
            Some(17)
        );
        assert_eq!(
            t.negotiate(ApiKey::Fetch, VersionChoice::Exactly(4)).ok(),
            Some(4)
        );
        for choice in [
            VersionChoice::AtMost(3),
            VersionChoice::Exactly(3),
            VersionChoice::Exactly(18),
        ] {
            assert!(
                matches!(
                    t.negotiate(ApiKey::Fetch, choice),
                    Err(Error::UnsupportedVersion { .. })
                ),
                "{choice:?} is outside Fetch 4..=17"
            );
        }
    }

    #[test]
    fn unlisted_api_and_disjoint_ranges_are_errors() {
        let t = table(&[(ApiKey::Produce, 0, 2)]);
        assert!(matches!(
            t.negotiate(ApiKey::Fetch, VersionChoice::Highest),
            Err(Error::UnsupportedApi { api: ApiKey::Fetch })
        ));
        // the codec starts Produce at v3: a peer that stops at v2 shares nothing with us
        assert!(matches!(
            t.negotiate(ApiKey::Produce, VersionChoice::Highest),
            Err(Error::UnsupportedVersion {
                api: ApiKey::Produce,
                ..
            })
        ));
    }
}
