//! `network`: [`PodNetwork`], the pods' network — a bridge in a namespace of its own, one
//! network namespace per pod (made the first time a pod of that name runs and kept, with its
//! address, for the pod's later incarnations: the StatefulSet's pod `x-0` keeps its address
//! as it keeps its volume), and one veth from the test process's namespace into the bridge,
//! so the test (the agent's probes) reaches every pod by its address.
//!
//! Names resolve through one hosts file the agent rewrites from the Pods and Services (see
//! `hosts` in the agent): every process that runs "in the cluster" — a pod's container, the
//! operator, a test's client thread — enters its namespace with that file bind-mounted over
//! `/etc/hosts` in a mount namespace of its own ([`Enter`]), as `ip netns exec` does with
//! `/etc/netns/NAME/hosts`. glibc reads `/etc/hosts` on every lookup, so a rewrite is seen
//! by the next one.
//!
//! The API server listens on the test's loopback only; [`PodNetwork::relay_api_server`]
//! forwards a port on the test's bridge address to it, and the hosts file names that
//! address `kubernetes.default.svc` (a name the API server's certificate carries), so the
//! operator reaches it as it would in a cluster.
//!
//! Names and clean-up are the network lab's (`crate::netns`): `ilnet-<pid>-<n>-…`, removed on
//! drop and by the next lab when the process died.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::netns::{
    free_subnet, quiet, remove_stale_labs, run, HOST_LINK_PREFIX, HOST_OCTET, LAB_SEQUENCE,
    NAMESPACE_PREFIX,
};

/// The highest host octet a pod may get (the test's side is [`HOST_OCTET`]).
const ADDRESS_MAX: u8 = 250;
/// How many connections to the API server the relay carries at once.
const RELAY_CONNECTIONS_MAX: usize = 256;

/// Why a process could not be placed in a pod's namespace.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("the pod network has no address left ({ADDRESS_MAX} pods)")]
    Exhausted,
    #[error("`{0}` failed: {1}")]
    Command(String, String),
    #[error("cannot relay the API server: {0}")]
    Relay(std::io::Error),
}

/// The pods' network; see the module docs. Dropping it removes every namespace.
#[derive(Debug)]
pub struct PodNetwork {
    name: String,
    subnet: [u8; 3],
    /// Sticky: the namespace and address of each key (`<namespace>/<pod>`) ever seen.
    slots: Mutex<BTreeMap<String, u8>>,
    hosts_file: PathBuf,
}

impl PodNetwork {
    /// A bridge and the test's link into it; `hosts_file` is the file every namespace
    /// reads as `/etc/hosts`. Panics, naming the command, when the network cannot be made.
    pub fn new(hosts_file: PathBuf) -> PodNetwork {
        remove_stale_labs();
        let seq = LAB_SEQUENCE.fetch_add(1, Ordering::SeqCst);
        let network = PodNetwork {
            name: format!("{NAMESPACE_PREFIX}{}-{seq}", std::process::id()),
            subnet: free_subnet(seq),
            slots: Mutex::new(BTreeMap::new()),
            hosts_file,
        };
        let bridge = network.bridge_namespace();
        run("ip", &["netns", "add", &bridge]);
        run(
            "ip",
            &["-n", &bridge, "link", "add", "br0", "type", "bridge"],
        );
        run("ip", &["-n", &bridge, "link", "set", "br0", "up"]);
        let host_link = network.host_link();
        run(
            "ip",
            &[
                "link", "add", &host_link, "type", "veth", "peer", "name", "host", "netns", &bridge,
            ],
        );
        run(
            "ip",
            &["-n", &bridge, "link", "set", "host", "master", "br0", "up"],
        );
        let address = format!("{}/24", network.host_address());
        run("ip", &["addr", "add", &address, "dev", &host_link]);
        run("ip", &["link", "set", &host_link, "up"]);
        network
    }

    /// The test process's address on the pods' network.
    pub fn host_address(&self) -> IpAddr {
        let [a, b, c] = self.subnet;
        IpAddr::V4(Ipv4Addr::new(a, b, c, HOST_OCTET))
    }

    pub fn hosts_file(&self) -> &Path {
        &self.hosts_file
    }

    /// The namespace and address of `key`, made on first use and kept.
    pub fn slot(&self, key: &str) -> Result<(String, IpAddr), NetworkError> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&octet) = slots.get(key) {
            return Ok((self.namespace(octet), self.address(octet)));
        }
        let octet = (1..=ADDRESS_MAX)
            .find(|o| !slots.values().any(|taken| taken == o))
            .ok_or(NetworkError::Exhausted)?;
        let ns = self.namespace(octet);
        let bridge = self.bridge_namespace();
        let port = format!("p{octet}");
        let address = format!("{}/24", self.address(octet));
        let steps: Vec<Vec<&str>> = vec![
            vec!["netns", "add", &ns],
            vec![
                "link", "add", "eth0", "netns", &ns, "type", "veth", "peer", "name", &port,
                "netns", &bridge,
            ],
            vec!["-n", &bridge, "link", "set", &port, "master", "br0", "up"],
            vec!["-n", &ns, "addr", "add", &address, "dev", "eth0"],
            vec!["-n", &ns, "link", "set", "eth0", "up"],
            vec!["-n", &ns, "link", "set", "lo", "up"],
        ];
        for args in steps {
            quiet("ip", &args).map_err(|e| NetworkError::Command(args.join(" "), e))?;
        }
        slots.insert(key.to_string(), octet);
        Ok((ns, self.address(octet)))
    }

    /// Forwards connections to `host_address():<port>` to `target` (the API server on the
    /// test's loopback) until the runtime ends; returns the port.
    pub async fn relay_api_server(&self, target: SocketAddr) -> Result<u16, NetworkError> {
        let listener = TcpListener::bind((self.host_address(), 0))
            .await
            .map_err(NetworkError::Relay)?;
        let port = listener.local_addr().map_err(NetworkError::Relay)?.port();
        let permits = Arc::new(Semaphore::new(RELAY_CONNECTIONS_MAX));
        tokio::spawn(async move {
            loop {
                let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
                    return;
                };
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(async move {
                    let _permit = permit;
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Ok(port)
    }

    fn namespace(&self, octet: u8) -> String {
        format!("{}-p{octet}", self.name)
    }

    fn address(&self, octet: u8) -> IpAddr {
        let [a, b, c] = self.subnet;
        IpAddr::V4(Ipv4Addr::new(a, b, c, octet))
    }

    fn bridge_namespace(&self) -> String {
        format!("{}-br", self.name)
    }

    fn host_link(&self) -> String {
        let suffix = self.name.trim_start_matches(NAMESPACE_PREFIX);
        format!("{HOST_LINK_PREFIX}{suffix}")
    }
}

impl Drop for PodNetwork {
    fn drop(&mut self) {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        for &octet in slots.values() {
            let _ = quiet("ip", &["netns", "del", &self.namespace(octet)]);
        }
        let _ = quiet("ip", &["netns", "del", &self.bridge_namespace()]);
        let _ = quiet("ip", &["link", "del", &self.host_link()]);
    }
}

/// One bind mount of a process's view: `source` appears at `target`.
#[derive(Debug, Clone)]
pub struct Bind {
    pub source: PathBuf,
    pub target: PathBuf,
    pub read_only: bool,
}

/// What entering a pod's namespace does — a mount namespace of its own (mounts do not
/// propagate back), the binds (the hosts file first), then the network namespace — prepared
/// as C strings before a fork, so [`Enter::enter`] only makes system calls.
pub struct Enter {
    netns: CString,
    binds: Vec<(CString, CString, bool)>,
    working_dir: Option<CString>,
}

fn c_path(path: &Path) -> Result<CString, std::io::Error> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::other(format!("{} has a NUL byte", path.display())))
}

impl Enter {
    /// Entering network namespace `netns` (a name under `/run/netns`) with `hosts` as
    /// `/etc/hosts` and `binds` after it. Each bind's target must exist (see
    /// [`prepare_targets`]).
    pub fn new(netns: &str, hosts: &Path, binds: &[Bind]) -> Result<Enter, std::io::Error> {
        let mut all = vec![(c_path(hosts)?, c_path(Path::new("/etc/hosts"))?, false)];
        for bind in binds {
            all.push((c_path(&bind.source)?, c_path(&bind.target)?, bind.read_only));
        }
        Ok(Enter {
            netns: c_path(&Path::new("/run/netns").join(netns))?,
            binds: all,
            working_dir: None,
        })
    }

    /// Changes to `dir` once inside (a path of the new mount namespace's view).
    pub fn working_dir(mut self, dir: &Path) -> Result<Enter, std::io::Error> {
        self.working_dir = Some(c_path(dir)?);
        Ok(self)
    }

    /// Moves the calling thread (or a child between fork and exec) into the namespaces.
    /// Only system calls: safe between fork and exec.
    pub fn enter(&self) -> Result<(), std::io::Error> {
        let fail = || Err(std::io::Error::last_os_error());
        // SAFETY: plain system calls on NUL-terminated strings this struct owns.
        unsafe {
            // a mount namespace (and fs attributes) of this thread's own
            if libc::unshare(libc::CLONE_NEWNS) != 0 {
                return fail();
            }
            let root = c"/";
            if libc::mount(
                std::ptr::null(),
                root.as_ptr(),
                std::ptr::null(),
                libc::MS_SLAVE | libc::MS_REC,
                std::ptr::null(),
            ) != 0
            {
                return fail();
            }
            for (source, target, read_only) in &self.binds {
                if libc::mount(
                    source.as_ptr(),
                    target.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND,
                    std::ptr::null(),
                ) != 0
                {
                    return fail();
                }
                if *read_only
                    && libc::mount(
                        std::ptr::null(),
                        target.as_ptr(),
                        std::ptr::null(),
                        libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY,
                        std::ptr::null(),
                    ) != 0
                {
                    return fail();
                }
            }
            let fd = libc::open(self.netns.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
            if fd < 0 {
                return fail();
            }
            let joined = libc::setns(fd, libc::CLONE_NEWNET);
            libc::close(fd);
            if joined != 0 {
                return fail();
            }
            if let Some(dir) = &self.working_dir {
                if libc::chdir(dir.as_ptr()) != 0 {
                    return fail();
                }
            }
        }
        Ok(())
    }
}

/// Starts processes from one thread that lives as long as the agent: `PR_SET_PDEATHSIG`
/// fires when the *thread* that forked a child ends, and a runtime's threads come and go
/// (`block_in_place`, idle blocking threads), which would kill a pod's process midway.
/// Dropping the spawner ends its thread, and with it every process it started.
pub(crate) struct Spawner {
    requests: Mutex<std::sync::mpsc::Sender<SpawnRequest>>,
}

type SpawnRequest = (
    std::process::Command,
    std::sync::mpsc::Sender<std::io::Result<std::process::Child>>,
);

impl Spawner {
    pub(crate) fn new() -> Result<Spawner, std::io::Error> {
        let (requests, incoming) = std::sync::mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("agent-spawner".to_string())
            .spawn(move || {
                for (mut command, reply) in incoming {
                    let _ = reply.send(command.spawn());
                }
            })?;
        Ok(Spawner {
            requests: Mutex::new(requests),
        })
    }

    /// Spawns `command` on the spawner's thread (a fork: it blocks only briefly).
    pub(crate) fn spawn(
        &self,
        command: std::process::Command,
    ) -> Result<std::process::Child, std::io::Error> {
        let (reply, answer) = std::sync::mpsc::channel();
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send((command, reply))
            .map_err(|_| std::io::Error::other("the agent's spawner thread is gone"))?;
        answer
            .recv()
            .map_err(|_| std::io::Error::other("the agent's spawner thread is gone"))?
    }
}

/// Makes each bind's target exist (a directory, or an empty file when the source is a
/// file), as a container runtime makes mount points in a container's root. Here the root
/// is the machine's, so a target outside the test's dirs stays behind as an empty mount
/// point (`/var/lib/ironlog`, `/etc/ironlog` for the broker's pods).
pub fn prepare_targets(binds: &[Bind]) -> Result<(), std::io::Error> {
    for bind in binds {
        if bind.target.exists() {
            continue;
        }
        if bind.source.is_dir() {
            std::fs::create_dir_all(&bind.target)?;
        } else {
            if let Some(parent) = bind.target.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::File::create(&bind.target)?;
        }
    }
    Ok(())
}
