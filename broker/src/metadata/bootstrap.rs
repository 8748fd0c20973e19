//! The bootstrap records (Kafka's `bootstrap.checkpoint`): metadata records `ironlog format`
//! wrote next to `meta.properties`, which the first leader of a fresh metadata log commits
//! in the batch of the `ClusterId` record — so the records exist from the cluster's first
//! entry on, before any client (or node) could have created them through the admin API.
//! Today these are the `--add-scram` credentials: brokers whose inter-broker listener
//! authenticates with SCRAM could not replicate without them. (The controller listener
//! cannot use SCRAM, as in Kafka: voters authenticate each other before any log exists.)
//!
//! It also says how a controller of a dynamic quorum (`controller.quorum.bootstrap.servers`,
//! KIP-853) was formatted: `"standalone": true` (`ironlog format --standalone`) makes a fresh
//! metadata log start with this controller as its one voter; `"initial_controllers"`
//! (`--initial-controllers`) with those voters — id, controller endpoint and directory id,
//! the same list on every one of them; otherwise (Kafka's `--no-initial-controllers`) it
//! joins the quorum as an observer.
//!
//! File form: `bootstrap.json` in the metadata log dir (`metadata.log.dir`, else the first
//! of `log.dirs`) and every other formatted dir, `{"version":1,"records":[..]}` with
//! records in the metadata log's own JSON form. A file that is there but
//! unreadable stops the start (its records would be lost otherwise). It holds SCRAM
//! credentials, never passwords.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::records::MetadataRecord;

/// The file's name inside a formatted directory.
pub(crate) const BOOTSTRAP_FILE_NAME: &str = "bootstrap.json";
/// The form written by this build.
const BOOTSTRAP_VERSION: u16 = 1;

#[derive(Debug, thiserror::Error)]
pub(crate) enum BootstrapError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a bootstrap records file: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

#[derive(Debug, Serialize, Deserialize)]
struct BootstrapFile {
    version: u16,
    records: Vec<MetadataRecord>,
    /// `format --standalone` (absent in files of builds before dynamic quorums: false).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    standalone: bool,
    /// `format --initial-controllers` (absent: none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    initial_controllers: Vec<InitialController>,
}

/// One voter of `ironlog format --initial-controllers` (Kafka's `DynamicVoter`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct InitialController {
    pub node_id: i32,
    /// `host:port` of its controller listener (an IPv6 host in brackets).
    pub addr: String,
    pub directory_id: uuid::Uuid,
}

/// What `ironlog format` left for the first start.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Bootstrap {
    pub records: Vec<MetadataRecord>,
    /// `--standalone`: a dynamic quorum's first voter.
    pub standalone: bool,
    /// `--initial-controllers`: a dynamic quorum's first voters (empty: not given).
    pub initial_controllers: Vec<InitialController>,
}

/// `dir`'s bootstrap file; an empty one when there is no file.
pub(crate) fn read_bootstrap(dir: &Path) -> Result<Bootstrap, BootstrapError> {
    let path = dir.join(BOOTSTRAP_FILE_NAME);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Bootstrap::default()),
        Err(source) => return Err(BootstrapError::Read { path, source }),
    };
    let file: BootstrapFile =
        serde_json::from_slice(&bytes).map_err(|e| BootstrapError::Invalid {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    if file.version != BOOTSTRAP_VERSION {
        return Err(BootstrapError::Invalid {
            path,
            reason: format!(
                "version {} (this build reads {BOOTSTRAP_VERSION})",
                file.version
            ),
        });
    }
    Ok(Bootstrap {
        records: file.records,
        standalone: file.standalone,
        initial_controllers: file.initial_controllers,
    })
}

/// The bootstrap file's bytes for `records` (the format command writes them atomically).
pub(crate) fn encode(
    records: &[MetadataRecord],
    standalone: bool,
    initial_controllers: &[InitialController],
) -> Result<Vec<u8>, serde_json::Error> {
    let file = BootstrapFile {
        version: BOOTSTRAP_VERSION,
        records: records.to_vec(),
        standalone,
        initial_controllers: initial_controllers.to_vec(),
    };
    serde_json::to_vec_pretty(&file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::sasl::scram::ScramMechanism;

    #[test]
    fn records_round_trip_and_a_missing_file_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_bootstrap(dir.path())
            .map(|b| b.records)
            .unwrap()
            .is_empty());
        let records = vec![MetadataRecord::UserScramCredential {
            name: "alice".into(),
            mechanism: ScramMechanism::Sha256,
            credential: crate::security::sasl::scram::ScramCredential::derive(
                ScramMechanism::Sha256,
                b"salt",
                &[1; 32],
                4096,
            ),
        }];
        std::fs::write(
            dir.path().join(BOOTSTRAP_FILE_NAME),
            encode(&records, false, &[]).unwrap(),
        )
        .unwrap();
        assert_eq!(
            read_bootstrap(dir.path()).map(|b| b.records).unwrap(),
            records
        );
        assert!(!read_bootstrap(dir.path()).unwrap().standalone);
        std::fs::write(
            dir.path().join(BOOTSTRAP_FILE_NAME),
            encode(&records, true, &[]).unwrap(),
        )
        .unwrap();
        assert_eq!(
            read_bootstrap(dir.path()).unwrap(),
            Bootstrap {
                records: records.clone(),
                standalone: true,
                initial_controllers: vec![],
            }
        );
        let voters = vec![InitialController {
            node_id: 2,
            addr: "[::1]:9093".into(),
            directory_id: uuid::Uuid::from_u128(7),
        }];
        std::fs::write(
            dir.path().join(BOOTSTRAP_FILE_NAME),
            encode(&records, false, &voters).unwrap(),
        )
        .unwrap();
        assert_eq!(
            read_bootstrap(dir.path()).unwrap().initial_controllers,
            voters
        );
    }

    #[test]
    fn a_damaged_file_is_an_error_not_an_empty_bootstrap() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(BOOTSTRAP_FILE_NAME), b"{\"version\":1,").unwrap();
        assert!(matches!(
            read_bootstrap(dir.path()).map(|b| b.records),
            Err(BootstrapError::Invalid { .. })
        ));
        std::fs::write(
            dir.path().join(BOOTSTRAP_FILE_NAME),
            b"{\"version\":9,\"records\":[]}",
        )
        .unwrap();
        let error = read_bootstrap(dir.path())
            .map(|b| b.records)
            .unwrap_err()
            .to_string();
        assert!(error.contains("version 9"), "{error}");
    }
}
