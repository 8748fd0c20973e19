//! `ironlog format` (Kafka's `kafka-storage.sh format`): prepares a node's empty data
//! directories before its first start — `meta.properties` (cluster id, node id, a fresh
//! directory id) in every log dir and the metadata log dir, and the bootstrap records (see
//! [`crate::metadata::bootstrap`]) the first leader commits with the cluster id. The
//! records are the `--add-scram` credentials, parsed as Kafka's `ScramParser` does:
//! `SCRAM-SHA-256=[name=alice,password=alice-secret]`, with `iterations=` (4096..=16384,
//! default 4096) and `salt=` (base64) or `saltedpassword=` (base64, needs `salt=`) instead
//! of the password.
//!
//! The bootstrap records also hold the cluster's first feature levels: `--release-version`
//! (`3.9`, `3.9-IV0`; default the latest this build supports) picks metadata.version and
//! the release's default levels (capped at this build's), `--feature name=level` sets one
//! other feature. A broker that formats itself on its first start starts at
//! `bootstrap.release.version` (Ironlog's setting; the latest levels when empty), as
//! Kafka 3.x's KRaft took `inter.broker.protocol.version` without a bootstrap checkpoint.
//!
//! A controller of a dynamic quorum (`controller.quorum.bootstrap.servers`, KIP-853) is
//! formatted as Kafka's is: `--standalone` makes it the quorum's first and only voter,
//! `--initial-controllers 1@host:port:DIRID,2@...` one of the quorum's first voters (each
//! with its controller endpoint and directory id, parsed as Kafka's `DynamicVoter`; the
//! entry of this node gives the directory id its metadata log dir's `meta.properties` gets,
//! and every voter is formatted with the same list), `--no-initial-controllers` an observer
//! that joins the quorum and waits to be added as a voter (AddRaftVoter); exactly one of the
//! three is required for such a controller, none is allowed for any other node.
//! `--feature kraft.version=L` must agree: 1 with controller.quorum.bootstrap.servers, 0
//! without (the level is the quorum's, never a record; see
//! [`crate::metadata::features`]).
//!
//! Everything is checked before anything is written: a bad `--add-scram` or a formatted
//! directory (without `--ignore-formatted`) writes nothing. A broker also formats itself on
//! its first start (without bootstrap records); the command exists for what only a format
//! can do.

use std::path::PathBuf;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ironlog_config::BrokerConfig;
use rand::RngCore;

use crate::metadata::bootstrap::InitialController;
use crate::metadata::records::MetadataRecord;
use crate::metadata::{bootstrap, features};
use crate::security::sasl::scram::ScramMechanism;
use crate::server::{
    meta_properties_text, meta_properties_text_with, metadata_log_dir, write_atomically,
    META_PROPERTIES,
};

/// Bytes of a salt the command makes up when `--add-scram` gives none.
const GENERATED_SALT_BYTES: usize = 32;

/// What to format with, besides the node's configuration.
#[derive(Debug, Clone, Default)]
pub struct FormatRequest {
    /// `--add-scram` arguments, as given.
    pub add_scram: Vec<String>,
    /// `--ignore-formatted`: skip directories that have `meta.properties` instead of failing.
    pub ignore_formatted: bool,
    /// `--release-version`: the metadata.version (and default feature levels) the cluster
    /// starts at, `3.9` or `3.9-IV0`; `None`: the latest this build supports.
    pub release_version: Option<String>,
    /// `--feature name=level` arguments, as given (any but metadata.version).
    pub features: Vec<String>,
    /// `--standalone`: this controller is a dynamic quorum's first voter.
    pub standalone: bool,
    /// `--no-initial-controllers`: this controller joins a dynamic quorum as an observer.
    pub no_initial_controllers: bool,
    /// `--initial-controllers`: a dynamic quorum's first voters, as given.
    pub initial_controllers: Option<String>,
}

/// What `format` did, for the command to print.
#[derive(Debug, Clone, Default)]
pub struct FormatOutcome {
    /// The directories formatted now.
    pub formatted: Vec<PathBuf>,
    /// The directories skipped because they were formatted already (`--ignore-formatted`).
    pub skipped: Vec<PathBuf>,
    /// SCRAM credentials written.
    pub bootstrap_records: usize,
    /// The metadata.version formatted with (`3.9-IV0`).
    pub metadata_version: String,
}

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("You must specify the cluster id (--cluster-id, or cluster.id in the configuration).")]
    NoClusterId,
    #[error("Invalid --add-scram argument: {0}")]
    Scram(String),
    #[error("Unknown release version '{0}'. Supported versions are: {versions}", versions = features::known_release_versions())]
    ReleaseVersion(String),
    #[error("{0}")]
    Feature(String),
    #[error("{0}")]
    QuorumTopology(String),
    #[error("Invalid --initial-controllers: {0}")]
    InitialControllers(String),
    #[error(
        "Log directory {0} is already formatted. Use --ignore-formatted to ignore this directory and format the others."
    )]
    AlreadyFormatted(PathBuf),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("Error while writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Formats the node `config` describes (its `cluster.id` is the cluster id to format with).
pub fn format_storage(
    config: &BrokerConfig,
    request: &FormatRequest,
) -> Result<FormatOutcome, FormatError> {
    let cluster_id = config.cluster_id.clone().ok_or(FormatError::NoClusterId)?;
    check_quorum_topology(config, request)?;
    let initial_controllers = match &request.initial_controllers {
        Some(text) => parse_initial_controllers(text).map_err(FormatError::InitialControllers)?,
        None => Vec::new(),
    };
    let own_directory_id = match &request.initial_controllers {
        Some(_) => Some(
            initial_controllers
                .iter()
                .find(|c| c.node_id == config.node_id)
                .map(|c| c.directory_id)
                .ok_or_else(|| {
                    FormatError::InitialControllers(format!(
                        "this node (node.id {}) is not one of the initial controllers; format \
                         it with --no-initial-controllers to join as an observer",
                        config.node_id
                    ))
                })?,
        ),
        None => None,
    };
    let metadata_version = match &request.release_version {
        Some(release) => features::metadata_version_from_release(release)
            .ok_or_else(|| FormatError::ReleaseVersion(release.clone()))?,
        None => features::METADATA_VERSION_LATEST,
    };
    let mut levels = features::default_levels(metadata_version);
    for argument in &request.features {
        let (name, level) =
            features::parse_feature_argument(argument).map_err(FormatError::Feature)?;
        if name == features::KRAFT_VERSION {
            check_kraft_version(config, level)?;
            continue;
        }
        if level == 0 {
            levels.remove(&name);
        } else {
            levels.insert(name, level);
        }
    }
    let credentials = request
        .add_scram
        .iter()
        .map(|argument| parse_add_scram(argument))
        .collect::<Result<Vec<_>, _>>()?;
    let credential_count = credentials.len();
    let mut records = features::level_records(&levels);
    records.extend(credentials);
    let bootstrap_bytes = bootstrap::encode(&records, request.standalone, &initial_controllers)
        .map_err(|e| FormatError::Scram(format!("cannot encode the credentials: {e}")))?;

    let mut dirs: Vec<PathBuf> = config.log_dirs.clone();
    let metadata_dir = metadata_log_dir(config);
    if !dirs.contains(&metadata_dir) {
        dirs.push(metadata_dir.clone());
    }
    let mut outcome = FormatOutcome {
        bootstrap_records: credential_count,
        metadata_version: features::metadata_version_name(metadata_version)
            .unwrap_or_default()
            .to_string(),
        ..FormatOutcome::default()
    };
    let mut to_format = Vec::new();
    for dir in dirs {
        let path = dir.join(META_PROPERTIES);
        match std::fs::metadata(&path) {
            Ok(_) if request.ignore_formatted => outcome.skipped.push(dir),
            Ok(_) => return Err(FormatError::AlreadyFormatted(dir)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => to_format.push(dir),
            Err(source) => return Err(FormatError::Read { path, source }),
        }
    }
    for dir in to_format {
        // The bootstrap file first: a directory with meta.properties counts as formatted.
        let path = dir.join(bootstrap::BOOTSTRAP_FILE_NAME);
        write_atomically(&dir, &path, &bootstrap_bytes)
            .map_err(|source| FormatError::Write { path, source })?;
        let path = dir.join(META_PROPERTIES);
        // an initial controller's metadata log dir has the directory id its entry names
        let text = match own_directory_id {
            Some(directory_id) if dir == metadata_dir => {
                meta_properties_text_with(&cluster_id, config.node_id, directory_id)
            }
            _ => meta_properties_text(&cluster_id, config.node_id),
        };
        write_atomically(&dir, &path, text.as_bytes())
            .map_err(|source| FormatError::Write { path, source })?;
        outcome.formatted.push(dir);
    }
    Ok(outcome)
}

/// `--standalone` / `--initial-controllers` / `--no-initial-controllers`: exactly one for a
/// controller of a dynamic quorum, none for any other node.
fn check_quorum_topology(
    config: &BrokerConfig,
    request: &FormatRequest,
) -> Result<(), FormatError> {
    let dynamic_controller = config.process_role_controller
        && config.controller_quorum_voters.is_empty()
        && !config.controller_quorum_bootstrap_servers.is_empty();
    let refuse = |message: &str| Err(FormatError::QuorumTopology(message.to_string()));
    let given = [
        request.standalone,
        request.initial_controllers.is_some(),
        request.no_initial_controllers,
    ]
    .into_iter()
    .filter(|flag| *flag)
    .count();
    match given {
        0 if dynamic_controller => refuse(
            "Because controller.quorum.voters is not set on this controller, you must specify \
             --standalone (the quorum's first voter), --initial-controllers (its first voters) \
             or --no-initial-controllers (an observer to be added with kafka-metadata-quorum \
             add-controller).",
        ),
        0 => Ok(()),
        1 if dynamic_controller => Ok(()),
        1 => refuse(
            "--standalone, --initial-controllers and --no-initial-controllers are for a \
             controller with controller.quorum.bootstrap.servers (and no \
             controller.quorum.voters).",
        ),
        _ => refuse(
            "--standalone, --initial-controllers and --no-initial-controllers are mutually \
             exclusive.",
        ),
    }
}

/// `--feature kraft.version=LEVEL`: the level the quorum has anyway (Kafka's checks).
fn check_kraft_version(config: &BrokerConfig, level: i16) -> Result<(), FormatError> {
    let dynamic = config.controller_quorum_voters.is_empty()
        && !config.controller_quorum_bootstrap_servers.is_empty();
    match (level, dynamic) {
        (0, true) => Err(FormatError::Feature(
            "Cannot set kraft.version to 0 if KIP-853 configuration is present. Try removing \
             the --feature flag for kraft.version."
                .into(),
        )),
        (1, false) => Err(FormatError::Feature(
            "Cannot set kraft.version to 1 unless KIP-853 configuration is present. Try \
             removing the --feature flag for kraft.version."
                .into(),
        )),
        _ => Ok(()),
    }
}

/// `--initial-controllers`: comma-separated `id@host:port:directoryId` entries (a host in
/// brackets for IPv6), as Kafka's `DynamicVoters.parse`, with its messages; node ids
/// unique.
fn parse_initial_controllers(text: &str) -> Result<Vec<InitialController>, String> {
    let mut voters: Vec<InitialController> = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let voter = parse_initial_controller(entry).map_err(|e| format!("{e} ({entry})"))?;
        if voters.iter().any(|v| v.node_id == voter.node_id) {
            return Err(format!(
                "Node id {} was specified more than once.",
                voter.node_id
            ));
        }
        if let Some(other) = voters.iter().find(|v| v.directory_id == voter.directory_id) {
            return Err(format!(
                "Nodes {} and {} have the same directory id {}.",
                other.node_id,
                voter.node_id,
                crate::types::kafka_uuid_string(voter.directory_id)
            ));
        }
        voters.push(voter);
    }
    if voters.is_empty() {
        return Err("No voters given.".into());
    }
    Ok(voters)
}

/// One `id@host:port:directoryId` (Kafka's `DynamicVoter.parse`).
fn parse_initial_controller(entry: &str) -> Result<InitialController, String> {
    let (id, rest) = entry
        .split_once('@')
        .ok_or("No @ found in dynamic voter string.")?;
    if id.is_empty() {
        return Err("Invalid @ at beginning of dynamic voter string.".into());
    }
    let node_id: i32 = id
        .parse()
        .map_err(|_| "Failed to parse node id in dynamic voter string.")?;
    if node_id < 0 {
        return Err(format!(
            "Invalid negative node id {node_id} in dynamic voter string."
        ));
    }
    if rest.is_empty() {
        return Err("No hostname found after node id.".into());
    }
    let (host, rest) = match rest.strip_prefix('[') {
        Some(bracketed) => bracketed
            .split_once(']')
            .ok_or("Hostname began with left bracket, but no right bracket was found.")?,
        None => {
            let colon = rest
                .find(':')
                .ok_or("No colon following hostname could be found.")?;
            rest.split_at(colon)
        }
    };
    let rest = rest
        .strip_prefix(':')
        .ok_or("Port section must start with a colon.")?;
    let (port, directory_id) = rest
        .split_once(':')
        .ok_or("No colon following port could be found.")?;
    let port: i64 = port
        .parse()
        .map_err(|_| "Failed to parse port in dynamic voter string.")?;
    let port =
        u16::try_from(port).map_err(|_| format!("Invalid port {port} in dynamic voter string."))?;
    let directory_id = crate::types::parse_kafka_uuid(directory_id)
        .filter(|id| !id.is_nil())
        .ok_or("Failed to parse directory ID in dynamic voter string.")?;
    let addr = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    Ok(InitialController {
        node_id,
        addr,
        directory_id,
    })
}

/// A new cluster id in Kafka's form (`kafka-storage.sh random-uuid`).
pub fn random_uuid() -> String {
    crate::metadata::quorum::random_cluster_id()
}

fn scram_error(message: impl Into<String>) -> FormatError {
    FormatError::Scram(message.into())
}

/// One `--add-scram` argument: `MECHANISM=[key=value,...]` → the user's credential record.
fn parse_add_scram(argument: &str) -> Result<MetadataRecord, FormatError> {
    let argument = argument.trim();
    let (mechanism_name, config) = argument.split_once('=').ok_or_else(|| {
        scram_error(format!(
            "Failed to find equals sign in SCRAM argument '{argument}'"
        ))
    })?;
    let mechanism = ScramMechanism::from_name(mechanism_name).ok_or_else(|| {
        scram_error(format!(
            "The add-scram mechanism {mechanism_name} is not supported (SCRAM-SHA-256 or SCRAM-SHA-512)."
        ))
    })?;
    let config = config
        .strip_prefix('[')
        .ok_or_else(|| scram_error("Expected configuration string to start with ["))?
        .strip_suffix(']')
        .ok_or_else(|| scram_error("Expected configuration string to end with ]"))?;

    let mut components = std::collections::BTreeMap::new();
    for component in config.split(',') {
        let (key, value) = component.split_once('=').ok_or_else(|| {
            scram_error(format!(
                "No equals sign found in SCRAM component: {component}"
            ))
        })?;
        let value = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            Some(unquoted) => unquoted,
            None => value,
        };
        components.insert(key.to_string(), value.to_string());
    }
    let name = components
        .remove("name")
        .filter(|name| !name.is_empty())
        .ok_or_else(|| scram_error("You must supply 'name' to add-scram"))?;
    let salt = components
        .remove("salt")
        .map(|salt| {
            BASE64
                .decode(&salt)
                .map_err(|_| scram_error(format!("Failed to decode given salt: {salt}")))
        })
        .transpose()?;
    let iterations = match components.remove("iterations") {
        Some(text) => text
            .parse::<i32>()
            .map_err(|_| scram_error(format!("Failed to parse iterations count: {text}")))?,
        None => ScramMechanism::MIN_ITERATIONS,
    };
    let password = components.remove("password");
    let salted_password = components.remove("saltedpassword");
    if !components.is_empty() {
        let unknown: Vec<&str> = components.keys().map(String::as_str).collect();
        return Err(scram_error(format!(
            "Unknown SCRAM configurations: {}",
            unknown.join(", ")
        )));
    }
    if iterations < ScramMechanism::MIN_ITERATIONS {
        return Err(scram_error(format!(
            "The 'iterations' value must be >= {} for add-scram using {}",
            ScramMechanism::MIN_ITERATIONS,
            mechanism.name()
        )));
    }
    if iterations > ScramMechanism::MAX_ITERATIONS {
        return Err(scram_error(format!(
            "The 'iterations' value must be <= {} for add-scram using {}",
            ScramMechanism::MAX_ITERATIONS,
            mechanism.name()
        )));
    }
    let (salt, salted_password) = match (password, salted_password, salt) {
        (Some(password), _, salt) => {
            let salt = salt.unwrap_or_else(generated_salt);
            // In range: checked against 4096..=16384 above.
            let rounds = iterations.unsigned_abs();
            let salted = mechanism.salted_password(password.as_bytes(), &salt, rounds);
            (salt, salted)
        }
        (None, Some(salted), Some(salt)) => {
            let salted = BASE64.decode(&salted).map_err(|_| {
                scram_error(format!("Failed to decode given saltedPassword: {salted}"))
            })?;
            (salt, salted)
        }
        (None, Some(_), None) => {
            return Err(scram_error(
                "You must supply 'salt' with 'saltedpassword' to add-scram",
            ))
        }
        (None, None, _) => {
            return Err(scram_error(
                "You must supply one of 'password' or 'saltedpassword' to add-scram",
            ))
        }
    };
    Ok(MetadataRecord::UserScramCredential {
        name,
        mechanism,
        credential: crate::security::sasl::scram::ScramCredential::derive(
            mechanism,
            &salt,
            &salted_password,
            iterations,
        ),
    })
}

fn generated_salt() -> Vec<u8> {
    let mut salt = vec![0u8; GENERATED_SALT_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    salt
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credential(argument: &str) -> (String, ScramMechanism, i32, Vec<u8>) {
        match parse_add_scram(argument).unwrap() {
            MetadataRecord::UserScramCredential {
                name,
                mechanism,
                credential,
            } => (name, mechanism, credential.iterations, credential.salt),
            other => panic!("not a credential record: {other:?}"),
        }
    }

    fn error(argument: &str) -> String {
        parse_add_scram(argument).unwrap_err().to_string()
    }

    #[test]
    fn initial_controllers_parse_as_kafkas_dynamic_voters() {
        let voters = parse_initial_controllers(
            "1@localhost:9093:AAAAAAAAAAAAAAAAAAAAAQ,2@[::1]:9094:AAAAAAAAAAAAAAAAAAAAAg",
        )
        .unwrap();
        assert_eq!(
            voters,
            vec![
                InitialController {
                    node_id: 1,
                    addr: "localhost:9093".into(),
                    directory_id: uuid::Uuid::from_u128(1),
                },
                InitialController {
                    node_id: 2,
                    addr: "[::1]:9094".into(),
                    directory_id: uuid::Uuid::from_u128(2),
                },
            ]
        );
        for (text, expected) in [
            ("", "No voters given."),
            ("localhost:9093:AAAAAAAAAAAAAAAAAAAAAQ", "No @ found"),
            (
                "@localhost:9093:AAAAAAAAAAAAAAAAAAAAAQ",
                "Invalid @ at beginning",
            ),
            (
                "x@localhost:9093:AAAAAAAAAAAAAAAAAAAAAQ",
                "Failed to parse node id",
            ),
            (
                "-1@localhost:9093:AAAAAAAAAAAAAAAAAAAAAQ",
                "Invalid negative node id -1",
            ),
            ("1@", "No hostname found"),
            ("1@[::1:9093:AAAAAAAAAAAAAAAAAAAAAQ", "no right bracket"),
            ("1@localhost", "No colon following hostname"),
            ("1@localhost:9093", "No colon following port"),
            (
                "1@localhost:x:AAAAAAAAAAAAAAAAAAAAAQ",
                "Failed to parse port",
            ),
            (
                "1@localhost:70000:AAAAAAAAAAAAAAAAAAAAAQ",
                "Invalid port 70000",
            ),
            ("1@localhost:9093:nope", "Failed to parse directory ID"),
            (
                "1@localhost:9093:AAAAAAAAAAAAAAAAAAAAAA",
                "Failed to parse directory ID",
            ),
            (
                "1@a:1:AAAAAAAAAAAAAAAAAAAAAQ,1@b:2:AAAAAAAAAAAAAAAAAAAAAg",
                "Node id 1 was specified more than once.",
            ),
            (
                "1@a:1:AAAAAAAAAAAAAAAAAAAAAQ,2@b:2:AAAAAAAAAAAAAAAAAAAAAQ",
                "the same directory id",
            ),
        ] {
            let error = parse_initial_controllers(text).unwrap_err();
            assert!(error.contains(expected), "{text}: {error}");
        }
    }

    #[test]
    fn kafkas_forms_parse() {
        let (name, mechanism, iterations, salt) =
            credential("SCRAM-SHA-256=[name=alice,password=alice-secret]");
        assert_eq!(
            (name.as_str(), mechanism, iterations),
            ("alice", ScramMechanism::Sha256, 4096)
        );
        assert_eq!(salt.len(), GENERATED_SALT_BYTES, "a generated salt");
        let (name, mechanism, iterations, salt) =
            credential(r#"SCRAM-SHA-512=[name="bob",password="bob-secret",iterations=8192]"#);
        assert_eq!(
            (name.as_str(), mechanism, iterations),
            ("bob", ScramMechanism::Sha512, 8192)
        );
        assert_eq!(salt.len(), GENERATED_SALT_BYTES);
        let (_, _, _, salt) = credential("SCRAM-SHA-256=[name=carol,salt=c2FsdA==,password=x]");
        assert_eq!(salt, b"salt");
    }

    #[test]
    fn a_salted_password_gives_the_credential_the_password_would() {
        let salt = b"0123456789abcdef";
        let salted = ScramMechanism::Sha256.salted_password(b"alice-secret", salt, 4096);
        let from_salted = parse_add_scram(&format!(
            "SCRAM-SHA-256=[name=alice,iterations=4096,salt={},saltedpassword={}]",
            BASE64.encode(salt),
            BASE64.encode(&salted)
        ))
        .unwrap();
        let from_password = parse_add_scram(&format!(
            "SCRAM-SHA-256=[name=alice,iterations=4096,salt={},password=alice-secret]",
            BASE64.encode(salt)
        ))
        .unwrap();
        assert_eq!(from_salted, from_password);
    }

    #[test]
    fn bad_arguments_say_what_is_wrong() {
        for (argument, expected) in [
            (
                "SCRAM-SHA-1=[name=a,password=b]",
                "mechanism SCRAM-SHA-1 is not supported",
            ),
            ("SCRAM-SHA-256", "Failed to find equals sign"),
            ("SCRAM-SHA-256=name=a,password=b", "start with ["),
            ("SCRAM-SHA-256=[name=a,password=b", "end with ]"),
            (
                "SCRAM-SHA-256=[name=alice]",
                "one of 'password' or 'saltedpassword'",
            ),
            ("SCRAM-SHA-256=[password=x]", "supply 'name'"),
            (
                "SCRAM-SHA-256=[name=a,password=b,iterations=4095]",
                "must be >= 4096",
            ),
            (
                "SCRAM-SHA-512=[name=a,password=b,iterations=16385]",
                "must be <= 16384",
            ),
            (
                "SCRAM-SHA-256=[name=a,password=b,iterations=many]",
                "parse iterations",
            ),
            (
                "SCRAM-SHA-256=[name=a,saltedpassword=AAAA]",
                "'salt' with 'saltedpassword'",
            ),
            (
                "SCRAM-SHA-256=[name=a,salt=!!,password=b]",
                "decode given salt",
            ),
            (
                "SCRAM-SHA-256=[name=a,password=b,colour=blue]",
                "Unknown SCRAM configurations: colour",
            ),
            ("SCRAM-SHA-256=[name=a,password]", "No equals sign found"),
        ] {
            let message = error(argument);
            assert!(
                message.contains(expected),
                "{argument}: expected an error saying {expected:?}, got {message:?}"
            );
        }
    }
}
