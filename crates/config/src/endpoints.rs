//! Endpoint values of broker configs: `listeners` / `advertised.listeners` entries
//! (`NAME://host:port`), `listener.security.protocol.map`, `controller.quorum.voters`
//! (`id@host:port`) and `host:port` lists, parsed and checked with Kafka's rules.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Kafka's `SecurityProtocol`, with its wire ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub fn name(&self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    /// Kafka's `SecurityProtocol.id` (as sent in `BrokerRegistration` endpoints).
    pub fn id(&self) -> i16 {
        match self {
            SecurityProtocol::Plaintext => 0,
            SecurityProtocol::Ssl => 1,
            SecurityProtocol::SaslPlaintext => 2,
            SecurityProtocol::SaslSsl => 3,
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Some(SecurityProtocol::Plaintext),
            "SSL" => Some(SecurityProtocol::Ssl),
            "SASL_PLAINTEXT" => Some(SecurityProtocol::SaslPlaintext),
            "SASL_SSL" => Some(SecurityProtocol::SaslSsl),
            _ => None,
        }
    }
}

impl fmt::Display for SecurityProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One listener endpoint, `NAME://host:port`. In `listeners` an empty host has been
/// replaced by `0.0.0.0` (all interfaces); advertised hosts are always routable names.
/// Port 0 = pick a free port (see [`crate::BrokerConfig::set_bound_port`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// Upper-cased listener name (`PLAINTEXT`, `INTERNAL`, ...).
    pub name: String,
    pub host: String,
    pub port: u16,
    pub security_protocol: SecurityProtocol,
}

impl Listener {
    /// `host:port`, with IPv6 hosts in brackets: ready for `TcpListener::bind`.
    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.name, self.host_port())
    }
}

/// One `controller.quorum.voters` entry: `id@host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumVoter {
    pub node_id: i32,
    pub host: String,
    pub port: u16,
}

pub(crate) fn parse_protocol_map(raw: &str) -> Result<BTreeMap<String, SecurityProtocol>, String> {
    let mut map = BTreeMap::new();
    for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, protocol) = entry
            .split_once(':')
            .ok_or_else(|| format!("entry '{entry}' is not NAME:PROTOCOL"))?;
        let protocol = SecurityProtocol::from_name(protocol.trim()).ok_or_else(|| {
            format!(
                "unknown security protocol '{}' for listener {name}",
                protocol.trim()
            )
        })?;
        map.insert(name.trim().to_ascii_uppercase(), protocol);
    }
    Ok(map)
}

pub(crate) fn parse_listener_list(
    raw: &str,
    protocol_map: &BTreeMap<String, SecurityProtocol>,
) -> Result<Vec<Listener>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|entry| parse_listener(entry, protocol_map))
        .collect()
}

/// Parses `NAME://host:port` (`[v6]` hosts allowed, empty host allowed).
pub(crate) fn parse_listener(
    entry: &str,
    protocol_map: &BTreeMap<String, SecurityProtocol>,
) -> Result<Listener, String> {
    let (name, rest) = entry
        .split_once("://")
        .ok_or_else(|| format!("listener '{entry}' is not of the form NAME://host:port"))?;
    let name = name.trim().to_ascii_uppercase();
    if name.is_empty() {
        return Err(format!("listener '{entry}' has no name"));
    }
    let (host, port) =
        parse_host_port_allow_empty(rest).map_err(|m| format!("listener '{entry}': {m}"))?;
    let security_protocol = *protocol_map
        .get(&name)
        .ok_or_else(|| format!("No security protocol defined for listener {name} (add it to listener.security.protocol.map)"))?;
    Ok(Listener {
        name,
        host,
        port,
        security_protocol,
    })
}

pub(crate) fn check_unique_names(listeners: &[Listener]) -> Result<(), String> {
    let mut names = BTreeSet::new();
    match listeners.iter().find(|l| !names.insert(l.name.as_str())) {
        Some(dup) => Err(format!(
            "Each listener must have a different name, {} is used twice",
            dup.name
        )),
        None => Ok(()),
    }
}

fn parse_host_port_allow_empty(raw: &str) -> Result<(String, u16), String> {
    let (host, port) = raw
        .rsplit_once(':')
        .ok_or_else(|| "missing :port".to_string())?;
    let host = match host.strip_prefix('[') {
        Some(inner) => inner
            .strip_suffix(']')
            .ok_or_else(|| "unbalanced [ in host".to_string())?,
        None => host,
    };
    if host.contains(':') && !raw.starts_with('[') {
        return Err("IPv6 hosts must be written in brackets, e.g. [::1]:9092".to_string());
    }
    if host
        .chars()
        .any(|c| c.is_whitespace() || c == '/' || c == '@')
    {
        return Err(format!("invalid host '{host}'"));
    }
    let port: u16 = port
        .trim()
        .parse()
        .map_err(|_| format!("invalid port '{port}' (must be 0..=65535)"))?;
    Ok((host.to_string(), port))
}

/// Parses `admin.listener`: `http://HOST:PORT` (an empty host binds every interface, port
/// 0 any free port), or the empty string for none.
pub(crate) fn parse_admin_listener(raw: &str) -> Result<Option<(String, u16)>, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let rest = raw
        .strip_prefix("http://")
        .ok_or_else(|| format!("'{raw}': must be http://HOST:PORT (or empty for none)"))?;
    let (host, port) = parse_host_port_allow_empty(rest).map_err(|m| format!("'{raw}': {m}"))?;
    Ok(Some((host, port)))
}

/// Parses `host:port` with a non-empty host and non-zero port.
pub(crate) fn parse_host_port(raw: &str) -> Result<(String, u16), String> {
    let (host, port) =
        parse_host_port_allow_empty(raw.trim()).map_err(|m| format!("'{raw}': {m}"))?;
    if host.is_empty() {
        return Err(format!("'{raw}': host must not be empty"));
    }
    if port == 0 {
        return Err(format!("'{raw}': port must not be 0"));
    }
    Ok((host, port))
}

/// Parses one `controller.quorum.voters` entry, `id@host:port`.
pub(crate) fn parse_quorum_voter(raw: &str) -> Result<QuorumVoter, String> {
    let (id, address) = raw
        .trim()
        .split_once('@')
        .ok_or_else(|| format!("voter '{raw}' is not of the form id@host:port"))?;
    let node_id: i32 = id
        .trim()
        .parse()
        .ok()
        .filter(|id| *id >= 0)
        .ok_or_else(|| format!("voter '{raw}': invalid node id '{id}'"))?;
    let (host, port) = parse_host_port(address)?;
    Ok(QuorumVoter {
        node_id,
        host,
        port,
    })
}
