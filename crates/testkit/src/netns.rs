//! `netns`: [`NetworkLab`], a private network of Linux network namespaces for partition
//! tests — one namespace per cluster node, each with one veth into a bridge that lives in a
//! namespace of its own, and one veth from the test process's namespace into the same
//! bridge, so the test's clients reach every node by its own address. Everything is in a
//! private `10.x.y.0/24` chosen to clash with no address or route this machine has; the
//! host's existing interfaces are never touched, and no packet leaves the lab.
//!
//! Faults are made inside the nodes' namespaces: [`NetworkLab::cut`] drops every packet
//! between two nodes (iptables DROP both ways in both namespaces: the peers see silence,
//! not refusals, as with a failed switch), [`NetworkLab::isolate`] cuts a node from every
//! other node (the test process still reaches it, as clients on its side of the split
//! would), [`NetworkLab::lose`] drops a share of a node's packets at random (iptables
//! `statistic`), [`NetworkLab::throttle`] limits a node's outgoing rate (tc `tbf`), which
//! queues — delays — what exceeds it. The kernel here has no `netem`, so no fixed delay.
//! [`NetworkLab::heal`] removes every fault.
//!
//! Names: `ilnet-<pid>-<n>-…` for namespaces, `iln<pid>-<n>` for the one interface in the
//! test's namespace, so parallel test processes never collide; a lab whose process died
//! (a crashed run) is removed by the next lab that starts. Dropping a lab removes its
//! namespaces, which removes their interfaces and the test's veth with them.
//!
//! Needs root (the test kit runs as root here) and `ip` / `iptables` / `tc`.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

/// The prefix of every namespace a lab creates.
pub(crate) const NAMESPACE_PREFIX: &str = "ilnet-";
/// The prefix of the test-side interface of a lab.
pub(crate) const HOST_LINK_PREFIX: &str = "iln";
/// The host part of the test process's address on the lab's subnet.
pub(crate) const HOST_OCTET: u8 = 254;
/// How many subnets a lab tries before it gives up.
const SUBNET_CANDIDATES_MAX: u32 = 500;

/// Labs started by this process, numbering their names.
pub(crate) static LAB_SEQUENCE: AtomicU32 = AtomicU32::new(0);

/// One private network of namespaces; see the module docs.
#[derive(Debug)]
pub struct NetworkLab {
    /// `ilnet-<pid>-<n>`.
    name: String,
    /// The first three octets of the lab's `/24`.
    subnet: [u8; 3],
    /// Node ids, each with namespace `<name>-n<id>` and address `<subnet>.<id>`.
    nodes: Vec<i32>,
    /// Faults in place, by the commands that undo them (for [`NetworkLab::heal`]).
    faults: Mutex<Vec<Fault>>,
}

/// One fault in place.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fault {
    /// iptables rules in a node's namespace (its args after `-I`, deleted with `-D`).
    Rule { node: i32, rule: Vec<String> },
    /// A tc qdisc on a node's interface.
    Qdisc { node: i32 },
}

impl NetworkLab {
    /// A lab with one namespace per node id (ids 1..=253), wired to one bridge and to the
    /// test process. Panics, saying which command failed, if the network cannot be made.
    pub fn new(nodes: &[i32]) -> NetworkLab {
        for id in nodes {
            assert!(
                (1..HOST_OCTET as i32).contains(id),
                "node id {id} cannot be a lab address (1..=253)"
            );
        }
        remove_stale_labs();
        let seq = LAB_SEQUENCE.fetch_add(1, Ordering::SeqCst);
        let name = format!("{NAMESPACE_PREFIX}{}-{seq}", std::process::id());
        let subnet = free_subnet(seq);
        let lab = NetworkLab {
            name,
            subnet,
            nodes: nodes.to_vec(),
            faults: Mutex::new(Vec::new()),
        };
        // From here on a failure drops `lab`, which removes what was made.
        lab.build();
        lab
    }

    fn build(&self) {
        let bridge_ns = self.bridge_namespace();
        run("ip", &["netns", "add", &bridge_ns]);
        run(
            "ip",
            &["-n", &bridge_ns, "link", "add", "br0", "type", "bridge"],
        );
        run("ip", &["-n", &bridge_ns, "link", "set", "br0", "up"]);
        for &id in &self.nodes {
            let ns = self.namespace(id);
            let port = format!("p{id}");
            run("ip", &["netns", "add", &ns]);
            run(
                "ip",
                &[
                    "link", "add", "eth0", "netns", &ns, "type", "veth", "peer", "name", &port,
                    "netns", &bridge_ns,
                ],
            );
            run(
                "ip",
                &[
                    "-n", &bridge_ns, "link", "set", &port, "master", "br0", "up",
                ],
            );
            let address = format!("{}/24", self.address(id));
            run("ip", &["-n", &ns, "addr", "add", &address, "dev", "eth0"]);
            run("ip", &["-n", &ns, "link", "set", "eth0", "up"]);
            run("ip", &["-n", &ns, "link", "set", "lo", "up"]);
        }
        let host_link = self.host_link();
        run(
            "ip",
            &[
                "link", "add", &host_link, "type", "veth", "peer", "name", "host", "netns",
                &bridge_ns,
            ],
        );
        run(
            "ip",
            &[
                "-n", &bridge_ns, "link", "set", "host", "master", "br0", "up",
            ],
        );
        let host_address = format!("{}/24", self.host_address());
        run("ip", &["addr", "add", &host_address, "dev", &host_link]);
        run("ip", &["link", "set", &host_link, "up"]);
    }

    /// The namespace node `id` runs in.
    pub fn namespace(&self, id: i32) -> String {
        self.check_node(id);
        format!("{}-n{id}", self.name)
    }

    /// Node `id`'s address (its listeners bind it).
    pub fn address(&self, id: i32) -> IpAddr {
        self.check_node(id);
        let [a, b, c] = self.subnet;
        IpAddr::V4(Ipv4Addr::new(a, b, c, id as u8))
    }

    /// The test process's address on the lab's network.
    pub fn host_address(&self) -> IpAddr {
        let [a, b, c] = self.subnet;
        IpAddr::V4(Ipv4Addr::new(a, b, c, HOST_OCTET))
    }

    /// The command wrapper that starts a program in node `id`'s namespace.
    pub fn wrapper(&self, id: i32) -> Vec<String> {
        vec![
            "ip".to_string(),
            "netns".to_string(),
            "exec".to_string(),
            self.namespace(id),
        ]
    }

    pub fn nodes(&self) -> &[i32] {
        &self.nodes
    }

    /// Drops every packet between nodes `a` and `b`, both ways.
    pub fn cut(&self, a: i32, b: i32) {
        assert_ne!(a, b, "a node cannot be cut from itself");
        let (address_a, address_b) = (self.address(a).to_string(), self.address(b).to_string());
        for (node, peer) in [(a, &address_b), (b, &address_a)] {
            self.add_rule(node, &["INPUT", "-s", peer, "-j", "DROP"]);
            self.add_rule(node, &["OUTPUT", "-d", peer, "-j", "DROP"]);
        }
    }

    /// Cuts node `id` from every other node of the lab (not from the test process).
    pub fn isolate(&self, id: i32) {
        for other in self.nodes.clone() {
            if other != id {
                self.cut(id, other);
            }
        }
    }

    /// Drops `percent` % of the packets node `id` receives from other nodes, at random.
    pub fn lose(&self, id: i32, percent: u32) {
        assert!(
            (1..100).contains(&percent),
            "a loss of {percent} % is not a lossy link"
        );
        let probability = format!("{:.2}", f64::from(percent) / 100.0);
        self.add_rule(
            id,
            &[
                "INPUT",
                "-i",
                "eth0",
                "-m",
                "statistic",
                "--mode",
                "random",
                "--probability",
                &probability,
                "-j",
                "DROP",
            ],
        );
    }

    /// Limits what node `id` sends to `kbit_per_s` (tc tbf, queueing up to
    /// `queue_latency_ms` before it drops): a slow link, whose excess waits.
    pub fn throttle(&self, id: i32, kbit_per_s: u32, queue_latency_ms: u32) {
        let ns = self.namespace(id);
        let rate = format!("{kbit_per_s}kbit");
        let latency = format!("{queue_latency_ms}ms");
        run(
            "ip",
            &[
                "netns", "exec", &ns, "tc", "qdisc", "replace", "dev", "eth0", "root", "tbf",
                "rate", &rate, "burst", "32kbit", "latency", &latency,
            ],
        );
        let mut faults = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        faults.retain(|f| *f != Fault::Qdisc { node: id });
        faults.push(Fault::Qdisc { node: id });
    }

    /// Removes every fault: cut links, losses and throttles.
    pub fn heal(&self) {
        let faults: Vec<Fault> =
            std::mem::take(&mut *self.faults.lock().unwrap_or_else(|e| e.into_inner()));
        for fault in faults.into_iter().rev() {
            match fault {
                Fault::Rule { node, rule } => {
                    let ns = self.namespace(node);
                    let mut args: Vec<&str> = vec!["netns", "exec", &ns, "iptables", "-D"];
                    args.extend(rule.iter().map(String::as_str));
                    run("ip", &args);
                }
                Fault::Qdisc { node } => {
                    let ns = self.namespace(node);
                    run(
                        "ip",
                        &[
                            "netns", "exec", &ns, "tc", "qdisc", "del", "dev", "eth0", "root",
                        ],
                    );
                }
            }
        }
    }

    fn add_rule(&self, node: i32, rule: &[&str]) {
        let ns = self.namespace(node);
        let mut args: Vec<&str> = vec!["netns", "exec", &ns, "iptables", "-I"];
        args.extend_from_slice(rule);
        run("ip", &args);
        self.faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Fault::Rule {
                node,
                rule: rule.iter().map(|s| s.to_string()).collect(),
            });
    }

    fn bridge_namespace(&self) -> String {
        format!("{}-br", self.name)
    }

    /// `iln<pid>-<n>`: at most 15 bytes (IFNAMSIZ) for any pid Linux hands out.
    fn host_link(&self) -> String {
        let suffix = self.name.trim_start_matches(NAMESPACE_PREFIX);
        format!("{HOST_LINK_PREFIX}{suffix}")
    }

    fn check_node(&self, id: i32) {
        assert!(
            self.nodes.contains(&id),
            "the network lab has no node {id} (nodes {:?})",
            self.nodes
        );
    }
}

impl Drop for NetworkLab {
    fn drop(&mut self) {
        // Removing a namespace removes its interfaces, and a veth goes with its peer: the
        // bridge's namespace takes the test process's veth along.
        for &id in &self.nodes {
            let _ = quiet("ip", &["netns", "del", &format!("{}-n{id}", self.name)]);
        }
        let _ = quiet("ip", &["netns", "del", &self.bridge_namespace()]);
        let _ = quiet("ip", &["link", "del", &self.host_link()]);
    }
}

/// Runs a command; panics naming it and its stderr if it fails.
pub(crate) fn run(program: &str, args: &[&str]) {
    if let Err(message) = quiet(program, args) {
        panic!("{message}");
    }
}

/// Runs a command; the error names it, its status and its stderr.
pub(crate) fn quiet(program: &str, args: &[&str]) -> Result<String, String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run `{program} {}`: {e}", args.join(" ")))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "`{program} {}` failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// Whether a process with this pid exists.
fn process_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// The pid in a lab name part `<pid>-<n>…`, if it is one.
fn lab_pid(rest: &str) -> Option<u32> {
    let (pid, _) = rest.split_once('-')?;
    pid.parse().ok()
}

/// Removes the namespaces and test-side links of labs whose process is gone.
pub(crate) fn remove_stale_labs() {
    let namespaces = quiet("ip", &["netns", "list"]).unwrap_or_default();
    for line in namespaces.lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(rest) = name.strip_prefix(NAMESPACE_PREFIX) else {
            continue;
        };
        if lab_pid(rest).is_some_and(|pid| !process_alive(pid)) {
            let _ = quiet("ip", &["netns", "del", name]);
        }
    }
    let links = quiet("ip", &["-o", "link", "show"]).unwrap_or_default();
    for line in links.lines() {
        // `7: iln1234-0@if3: <...`
        let Some(name) = line.split(": ").nth(1) else {
            continue;
        };
        let name = name.split('@').next().unwrap_or(name);
        let Some(rest) = name.strip_prefix(HOST_LINK_PREFIX) else {
            continue;
        };
        if lab_pid(rest).is_some_and(|pid| !process_alive(pid)) {
            let _ = quiet("ip", &["link", "del", name]);
        }
    }
}

/// A `/24` in `10.0.0.0/8` no address or route of this machine touches, picked from the pid
/// and the lab's number so parallel labs start apart.
pub(crate) fn free_subnet(seq: u32) -> [u8; 3] {
    let taken = taken_subnets();
    let start = std::process::id()
        .wrapping_mul(7919)
        .wrapping_add(seq.wrapping_mul(104_729));
    for i in 0..SUBNET_CANDIDATES_MAX {
        let n = start.wrapping_add(i.wrapping_mul(7)) % (56 * 256);
        // 10.200.0.0 – 10.255.255.0: away from the low 10.x ranges tools (podman) take
        let subnet = [10, 200 + (n / 256) as u8, (n % 256) as u8];
        if !taken.contains(&subnet) {
            return subnet;
        }
    }
    panic!("no free 10.x.y.0/24 for a network lab among {SUBNET_CANDIDATES_MAX} candidates");
}

/// The `/24`s of every IPv4 address and route this machine's namespace has.
fn taken_subnets() -> BTreeSet<[u8; 3]> {
    let mut text = quiet("ip", &["-4", "-o", "addr", "show"]).unwrap_or_default();
    text.push_str(&quiet("ip", &["-4", "route", "show", "table", "all"]).unwrap_or_default());
    text.split(|c: char| c.is_whitespace() || c == '/')
        .filter_map(|word| word.parse::<Ipv4Addr>().ok())
        .map(|a| {
            let [a, b, c, _] = a.octets();
            [a, b, c]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lab_names_carry_their_pid() {
        assert_eq!(lab_pid("1234-0-n1"), Some(1234));
        assert_eq!(lab_pid("1234-0"), Some(1234));
        assert_eq!(lab_pid("x-0"), None);
        assert_eq!(lab_pid("1234"), None);
    }
}
