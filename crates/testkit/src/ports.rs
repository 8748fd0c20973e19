//! `ports`: fixed ports for listeners that must be known before a process starts (a
//! cluster's controller listeners: every node's `controller.quorum.voters` names them).
//!
//! Port 0 is the rule everywhere else. A port chosen here can still be taken by someone
//! else between choosing and binding; two things make that rare and one makes it harmless:
//! - ports come from outside the kernel's ephemeral range
//!   (`/proc/sys/net/ipv4/ip_local_port_range`), where port-0 binds and outgoing
//!   connections of every other test take theirs;
//! - each port was bindable a moment ago, is not handed out twice by this process, and
//!   starts from a random place in the range, so concurrent test processes rarely meet;
//! - the cluster launcher retries a start whose port was taken with fresh ports (bounded).

use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::sync::Mutex;

/// Used when the ephemeral range cannot be read: Linux's default.
const DEFAULT_EPHEMERAL: (u16, u16) = (32768, 60999);
/// The lowest port handed out (above the well-known and most registered service ports).
const LOWEST_PORT: u16 = 20000;
/// How many candidates one allocation tries before it gives up.
const CANDIDATES_MAX: usize = 2000;

/// Why no port could be allocated.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    #[error(
        "no free port on {host} among {tried} candidates outside the ephemeral range {low}-{high}"
    )]
    Exhausted {
        host: IpAddr,
        tried: usize,
        low: u16,
        high: u16,
    },
}

/// Ports this process handed out already (never handed out twice).
static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// One port on `host` that was free a moment ago and lies outside the ephemeral range.
pub fn allocate_port(host: IpAddr) -> Result<u16, PortError> {
    let (low, high) = ephemeral_range();
    let candidates = candidate_ports(low, high);
    if candidates.is_empty() {
        return Err(PortError::Exhausted {
            host,
            tried: 0,
            low,
            high,
        });
    }
    let start = (random_u64() % candidates.len() as u64) as usize;
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let handed_out = handed_out.get_or_insert_with(HashSet::new);
    let tried = candidates.len().min(CANDIDATES_MAX);
    for i in 0..tried {
        let port = candidates[(start + i) % candidates.len()];
        if handed_out.contains(&port) {
            continue;
        }
        if TcpListener::bind(SocketAddr::new(host, port)).is_ok() {
            handed_out.insert(port);
            return Ok(port);
        }
    }
    Err(PortError::Exhausted {
        host,
        tried,
        low,
        high,
    })
}

/// A TCP port that was free a moment ago, from the ephemeral range (what port 0 gives).
/// Another test may take it before it is bound: use it only for an address nobody should
/// answer on, and for a broker that keeps its port across restarts use
/// `TestBroker::restart_on_same_port` instead.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral port")
}

/// The ports from [`LOWEST_PORT`] up that lie outside `low..=high`.
fn candidate_ports(low: u16, high: u16) -> Vec<u16> {
    (LOWEST_PORT..=u16::MAX)
        .filter(|p| *p < low || *p > high)
        .collect()
}

/// The kernel's ephemeral port range.
fn ephemeral_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|text| parse_range(&text))
        .unwrap_or(DEFAULT_EPHEMERAL)
}

fn parse_range(text: &str) -> Option<(u16, u16)> {
    let mut parts = text.split_whitespace().map(str::parse::<u16>);
    match (parts.next(), parts.next()) {
        (Some(Ok(low)), Some(Ok(high))) if low <= high => Some((low, high)),
        _ => None,
    }
}

/// A random number from the standard library's randomly keyed hasher.
fn random_u64() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    #[test]
    fn the_ephemeral_range_parses_and_is_avoided() {
        assert_eq!(parse_range("32768\t60999\n"), Some((32768, 60999)));
        assert_eq!(parse_range("garbage"), None);
        assert_eq!(parse_range("5 1"), None);
        let candidates = candidate_ports(32768, 60999);
        assert!(candidates.iter().all(|p| *p < 32768 || *p > 60999));
        assert!(candidates.contains(&20000) && candidates.contains(&61000));
    }

    #[test]
    fn allocated_ports_are_bindable_distinct_and_outside_the_ephemeral_range() {
        let host = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let (low, high) = ephemeral_range();
        let ports: Vec<u16> = (0..20).map(|_| allocate_port(host).unwrap()).collect();
        let distinct: HashSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len(), "a port was handed out twice");
        for port in ports {
            assert!(
                port < low || port > high,
                "{port} is in the ephemeral range"
            );
            // bindable now, unless another process took it meanwhile: then it must be
            // because it is in use, which is what the cluster launcher retries on
            if let Err(e) = TcpListener::bind(SocketAddr::new(host, port)) {
                assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse, "port {port}: {e}");
            }
        }
    }
}
