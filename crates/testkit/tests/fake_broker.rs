//! The kit's process handling against a scripted stand-in for the broker binary: a shell
//! script that keeps the binary's start-up contract (listener lines for the `listeners`
//! it was given, then `ironlog: started`; SIGTERM exits 0) or breaks it on purpose. The
//! real broker is driven through the kit by the broker's own integration tests.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ironlog_testkit::process::{BrokerCommand, BrokerProcess, StartError};
use ironlog_testkit::{BrokerSpec, ClusterSpec, TestBroker};

/// Prints `ironlog: listener NAME bound to HOST:PORT` for every `NAME://HOST:PORT` of its
/// `listeners=` override (port 0 becomes 47001), then `ironlog: started`; exits 0 on
/// SIGTERM. With `$FAKE_PORT_TAKEN_ONCE` naming a file that does not exist yet, it writes
/// its listeners there and exits as a broker whose port is taken does; with
/// `$FAKE_HANG_ONCE`, a node other than node 1 whose `$FAKE_HANG_ONCE.<id>` does not exist
/// yet creates it and never prints `started`, as a node waiting for its quorum (and node 1
/// fails its port only once nodes 2 and 3 are waiting like that).
const FAKE_BROKER: &str = r#"#!/bin/sh
echo "args: $*" >&2
listeners=""
node=""
for arg in "$@"; do
  case "$arg" in
    listeners=*) listeners=${arg#listeners=} ;;
    node.id=*) node=${arg#node.id=} ;;
  esac
done
if [ -n "$FAKE_HANG_ONCE" ] && [ "$node" != 1 ] && [ ! -e "$FAKE_HANG_ONCE.$node" ]; then
  touch "$FAKE_HANG_ONCE.$node"
  exec sleep 600
fi
if [ -n "$FAKE_PORT_TAKEN_ONCE" ] && [ ! -e "$FAKE_PORT_TAKEN_ONCE" ]; then
  if [ -z "$FAKE_HANG_ONCE" ] || [ "$node" = 1 ]; then
    if [ -n "$FAKE_HANG_ONCE" ]; then
      # fail only once the others are waiting, so that their waits are what is given up
      while [ ! -e "$FAKE_HANG_ONCE.2" ] || [ ! -e "$FAKE_HANG_ONCE.3" ]; do sleep 0.05; done
    fi
    echo "$listeners" > "$FAKE_PORT_TAKEN_ONCE"
    echo "Error: broker start-up failed: cannot bind listener: Address already in use (os error 98)" >&2
    exit 1
  fi
fi
# before `started`: a SIGTERM right after it must find the trap in place
trap 'echo "stopping on SIGTERM" >&2; exit 0' TERM
for l in $(echo "$listeners" | tr ',' ' '); do
  name=${l%%://*}; address=${l#*://}
  case "$address" in *:0) address=${address%:0}:47001 ;; esac
  echo "ironlog: listener $name bound to $address"
done
echo "ironlog: started"
while :; do sleep 0.05; done
"#;

/// Exits before it started, as a broker with a bad configuration does.
const FAILING_BROKER: &str =
    "#!/bin/sh\necho 'invalid configuration: listeners: nonsense' >&2\nexit 1\n";

fn script(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write fake broker");
    let mut perms = std::fs::metadata(&path).expect("stat").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&path, perms).expect("chmod fake broker");
    path
}

#[test]
fn a_started_broker_reports_its_listeners_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let binary = script(dir.path(), "ironlog", FAKE_BROKER);
    let mut broker = BrokerSpec::new(&binary)
        .set("log.cleaner.backoff.ms", "100")
        .env("FAKE_EXTRA", "1")
        .start();
    assert_eq!(broker.bootstrap(), "127.0.0.1:47001");
    let log = broker.log_text();
    let args = log
        .lines()
        .find(|l| l.starts_with("[err] args: "))
        .unwrap_or_else(|| panic!("the fake broker's arguments are not in the log:\n{log}"));
    for expected in [
        "broker --override node.id=1 --override log.dirs=",
        "--override listeners=PLAINTEXT://127.0.0.1:0",
        "--override advertised.listeners=PLAINTEXT://127.0.0.1:0",
        "--override log.cleaner.backoff.ms=100",
    ] {
        assert!(args.contains(expected), "{expected:?} missing from {args}");
    }
    assert!(
        args.contains(&format!("log.dirs={}", broker.data_dir().display())),
        "log.dirs must be the data dir the kit reports: {args}"
    );
    assert!(broker.is_running());
    broker.stop();
    assert!(
        broker.log_text().contains("stopping on SIGTERM"),
        "stop must send SIGTERM"
    );
    broker.restart();
    assert!(broker.is_running(), "restarted");
    broker.kill9();
    assert!(!broker.is_running(), "killed");
    assert!(broker.log_text().contains("killed with SIGKILL"));
    let root = broker.root_dir().to_path_buf();
    drop(broker);
    assert!(!root.exists(), "a passing test's broker dir is removed");
}

#[test]
fn a_failing_test_keeps_the_broker_dir_and_log() {
    let dir = tempfile::tempdir().unwrap();
    let binary = script(dir.path(), "ironlog", FAKE_BROKER);
    let (root_tx, root_rx) = std::sync::mpsc::channel();
    let outcome = std::thread::spawn(move || {
        let broker = TestBroker::start_binary(&binary, &[]);
        root_tx.send(broker.root_dir().to_path_buf()).unwrap();
        panic!("the test using the broker fails");
    })
    .join();
    assert!(outcome.is_err());
    let root = root_rx.recv().unwrap();
    let log = root.join("broker.log");
    assert!(
        log.is_file(),
        "the log of a failed test's broker must stay at {}",
        log.display()
    );
    assert!(root.join("data").is_dir(), "and its data dir");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn start_failures_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("broker.log");
    let missing = BrokerCommand::new(dir.path().join("no-such-ironlog"));
    assert!(matches!(
        BrokerProcess::start(&missing, &log, Duration::from_secs(5)),
        Err(StartError::BinaryMissing { .. })
    ));
    let failing = BrokerCommand::new(script(dir.path(), "failing", FAILING_BROKER));
    let err = BrokerProcess::start(&failing, &log, Duration::from_secs(30)).unwrap_err();
    assert!(matches!(err, StartError::Exited { .. }), "{err}");
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("[err] invalid configuration"),
        "the broker's stderr is in its log"
    );
    let mut taken = BrokerCommand::new(script(dir.path(), "taken", FAKE_BROKER));
    taken.set_env(
        "FAKE_PORT_TAKEN_ONCE",
        &dir.path().join("taken-marker").display().to_string(),
    );
    let err = BrokerProcess::start(&taken, &log, Duration::from_secs(30)).unwrap_err();
    assert!(matches!(err, StartError::AddressInUse { .. }), "{err}");
}

#[test]
fn a_cluster_whose_port_was_taken_starts_again_with_fresh_ports() {
    let dir = tempfile::tempdir().unwrap();
    let binary = script(dir.path(), "ironlog", FAKE_BROKER);
    let marker = dir.path().join("taken-marker");
    let mut cluster = ClusterSpec::new(&binary, 3)
        .env("FAKE_PORT_TAKEN_ONCE", &marker.display().to_string())
        .launch();
    assert_eq!(
        cluster.start_attempts(),
        2,
        "the first attempt found a port taken"
    );
    let first_listeners = std::fs::read_to_string(&marker).unwrap();
    let voters = cluster.voters();
    for id in cluster.node_ids() {
        let ports = cluster.ports(id);
        let (client, controller) = (ports.client.unwrap(), ports.controller.unwrap());
        assert!(
            !first_listeners.contains(&format!(":{controller}")),
            "node {id} got fresh ports ({first_listeners} was the taken attempt)"
        );
        assert_eq!(
            cluster.node(id).bootstrap(),
            format!("127.0.0.1:{client}"),
            "node {id} serves clients on its fixed port"
        );
        assert_eq!(
            cluster.node(id).listener("CONTROLLER"),
            Some(format!("127.0.0.1:{controller}"))
        );
        assert!(voters.contains(&format!("{id}@127.0.0.1:{controller}")));
        assert_eq!(
            cluster.node(id).command().get("controller.quorum.voters"),
            Some(voters.as_str()),
            "every node has the same voters"
        );
    }
    assert_eq!(
        cluster.bootstrap().split(',').count(),
        3,
        "the bootstrap names every broker"
    );
    cluster.kill9_node(2);
    assert!(!cluster.node_mut(2).is_running());
    let before = cluster.ports(2);
    cluster.restart_node(2);
    assert!(cluster.node_mut(2).is_running());
    assert_eq!(cluster.ports(2), before, "a restarted node keeps its ports");
    assert_eq!(
        cluster.node(2).bootstrap(),
        format!("127.0.0.1:{}", before.client.unwrap())
    );
    cluster.stop_node(3);
    assert!(!cluster.node_mut(3).is_running());
}

/// Node 1's port is taken while nodes 2 and 3 wait for their quorum (they never print
/// `started` on their own): the launcher gives up their waits at once and starts again
/// with fresh ports, instead of waiting out their start timeout first.
#[test]
fn a_taken_port_gives_up_the_other_nodes_waits() {
    let dir = tempfile::tempdir().unwrap();
    let binary = script(dir.path(), "ironlog", FAKE_BROKER);
    let started = std::time::Instant::now();
    let cluster = ClusterSpec::new(&binary, 3)
        .env(
            "FAKE_PORT_TAKEN_ONCE",
            &dir.path().join("taken").display().to_string(),
        )
        .env(
            "FAKE_HANG_ONCE",
            &dir.path().join("hang").display().to_string(),
        )
        .launch();
    assert_eq!(cluster.start_attempts(), 2);
    for id in [2, 3] {
        assert!(
            dir.path().join(format!("hang.{id}")).exists(),
            "node {id} hung in the first attempt"
        );
    }
    // Waiting out the hanging nodes would take their whole start timeout
    // (BROKER_START_TIMEOUT) before the second attempt; giving their waits up does not.
    assert!(
        started.elapsed() < ironlog_testkit::BROKER_START_TIMEOUT,
        "the second attempt came only after {:?}: the hanging nodes were waited for",
        started.elapsed()
    );
}
