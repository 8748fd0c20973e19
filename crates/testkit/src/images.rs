//! `images`: the Dockerfile's images built and run with podman as a user would with
//! docker, for the container tests (the broker's `broker/tests/container.rs`, the
//! operator's `operator/tests/container.rs`).
//!
//! Podman runs as root with the vfs storage driver, runc and cgroupfs, explicit ulimits, and
//! its storage under [`CACHE_DIR`], outside the clone: the base images, the images, the
//! build's cargo cache (a cache mount, so a rebuild compiles only what changed) and the
//! downloaded Debian packages survive between runs. No registry is reachable here: the
//! base images the Dockerfile names are made from Debian packages and the host's Rust
//! toolchain by `broker/tests/images/make-base-images.sh` when absent, and each image is
//! built with `--network none`, its crates coming from the host's Cargo registry. An image
//! is always built from source, exactly as `docker build --target TARGET` builds it, and
//! built again only when an input (Dockerfile, .dockerignore, a file of the context, a base
//! image) changed. Without podman, runc or debootstrap the tests fail, naming what to
//! install (`./test.sh` installs them).

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One target of the Dockerfile and the tag the tests build it as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Image {
    pub target: &'static str,
    pub tag: &'static str,
}

/// The broker image (`--target broker`).
pub const BROKER: Image = Image {
    target: "broker",
    tag: "localhost/ironlog:test",
};
/// The operator image (`--target operator`).
pub const OPERATOR: Image = Image {
    target: "operator",
    tag: "localhost/ironlog-operator:test",
};

/// Where podman keeps its storage for the image tests, the base images' package cache, the
/// build's cache mounts and logs.
pub const CACHE_DIR: &str = "/var/cache/ironlog-images";
/// Podman's run-time state for [`CACHE_DIR`]'s storage.
pub const RUN_ROOT: &str = "/run/ironlog-images";
/// The images' fixed non-root user and group.
pub const UID_GID: &str = "1000:1000";
/// Bound on one image build. A cold build compiles every dependency in release mode: the
/// broker's about 4 minutes on 2 idle cores, the operator's (the Kubernetes client crates)
/// past 30 minutes on 2 cores other builds share, at the build's lower priority; a rebuild
/// after a source change, the workspace crates only.
pub const BUILD_TIMEOUT: Duration = Duration::from_secs(60 * 60);
/// Bound on making the base images (debootstrap downloads and unpacks Debian twice).
pub const BASE_IMAGES_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// Bound on any other podman or podman-compose command.
pub const PODMAN_TIMEOUT: Duration = Duration::from_secs(180);
/// Podman's global options: root, vfs, runc, cgroupfs, this suite's storage.
pub fn podman_global_args() -> Vec<String> {
    [
        "--root",
        &format!("{CACHE_DIR}/storage"),
        "--runroot",
        RUN_ROOT,
        "--storage-driver",
        "vfs",
        "--runtime",
        "runc",
        "--cgroup-manager",
        "cgroupfs",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// `--ulimit nofile=N:N --ulimit nproc=N:N`: this process's hard limits (a container cannot
/// get more than that here, and podman's default nofile, 2^20, can be more), nproc at most
/// 32768 (podman's build default; podman refuses more here even under a higher hard limit).
pub fn ulimit_args() -> Vec<String> {
    fn hard_limit(resource: libc::__rlimit_resource_t, cap: u64) -> u64 {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `limit` is a valid out-pointer for getrlimit.
        let ok = unsafe { libc::getrlimit(resource, &mut limit) } == 0;
        if ok {
            limit.rlim_max.min(cap)
        } else {
            1024
        }
    }
    let nofile = hard_limit(libc::RLIMIT_NOFILE, 1 << 20);
    let nproc = hard_limit(libc::RLIMIT_NPROC, 32768);
    vec![
        "--ulimit".into(),
        format!("nofile={nofile}:{nofile}"),
        "--ulimit".into(),
        format!("nproc={nproc}:{nproc}"),
    ]
}

/// `timeout SECS podman GLOBAL... ARGS...` (coreutils `timeout` bounds every call).
pub fn podman_command(args: &[&str], timeout: Duration) -> Command {
    let mut command = Command::new("timeout");
    command
        .arg(timeout.as_secs().to_string())
        .arg("podman")
        .args(podman_global_args())
        .args(args)
        .stdin(Stdio::null());
    command
}

pub fn podman_output(args: &[&str], timeout: Duration) -> Output {
    podman_command(args, timeout)
        .output()
        .unwrap_or_else(|e| panic!("cannot run podman {args:?}: {e}"))
}

/// Runs podman and returns its stdout (trimmed); panics with its stderr if it fails.
pub fn podman(args: &[&str]) -> String {
    let output = podman_output(args, PODMAN_TIMEOUT);
    assert!(
        output.status.success(),
        "podman {} failed ({}):\n{}{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// Fails the test, naming what to install, unless `tool ARGS` runs.
pub fn require_tool(tool: &str, args: &[&str], packages: &str) {
    let runs = Command::new(tool)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        runs,
        "{tool} is not installed: apt-get install {packages} (./test.sh does)"
    );
}

/// Podman (with runc, netavark and debootstrap for the base images) must be installed and
/// able to run containers here.
pub fn require_podman() {
    require_tool(
        "podman",
        &["--version"],
        "podman runc netavark aardvark-dns iptables",
    );
    require_tool("runc", &["--version"], "runc");
    require_tool("debootstrap", &["--version"], "debootstrap");
    let info = podman_output(
        &["info", "--format", "{{.Host.OCIRuntime.Name}}"],
        PODMAN_TIMEOUT,
    );
    assert!(
        info.status.success(),
        "podman is installed but does not work here (podman info failed):\n{}",
        String::from_utf8_lossy(&info.stderr)
    );
}

/// The repository's root (the Dockerfile's directory).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
}

/// The default of `ARG NAME=...` in the Dockerfile.
pub fn dockerfile_arg(name: &str) -> String {
    let path = repo_root().join("Dockerfile");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let prefix = format!("ARG {name}=");
    text.lines()
        .find_map(|line| line.trim().strip_prefix(&prefix))
        .map(|value| value.trim().to_string())
        .unwrap_or_else(|| panic!("the Dockerfile has no `{prefix}...` line"))
}

/// The host's Cargo registry (`$CARGO_HOME/registry`), which the offline build reads.
fn cargo_registry() -> PathBuf {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")))
        .expect("neither CARGO_HOME nor HOME is set: cannot find the Cargo registry");
    let registry = cargo_home.join("registry");
    assert!(
        registry.join("index").is_dir(),
        "no Cargo registry at {}: the image is built without network, from the crates this \
         machine's cargo downloaded (build the workspace first)",
        registry.display()
    );
    registry
}

/// The label that records what [`IMAGE`] was built from ([`build_inputs_key`]).
const INPUTS_LABEL: &str = "org.ironlog.test.inputs";

/// What an allow-list `.dockerignore` as ours lets into the build context: `!PATH` lines
/// add a path, `**/NAME` and `**/*SUFFIX` lines drop names anywhere, other lines but `*`
/// drop a path.
struct ContextRules {
    included: Vec<String>,
    excluded_names: Vec<String>,
    excluded_paths: HashSet<PathBuf>,
}

impl ContextRules {
    fn read(root: &Path) -> Self {
        let text = std::fs::read_to_string(root.join(".dockerignore")).expect("read .dockerignore");
        let mut rules = ContextRules {
            included: Vec::new(),
            excluded_names: Vec::new(),
            excluded_paths: HashSet::new(),
        };
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') || line == "*" {
                continue;
            }
            if let Some(path) = line.strip_prefix('!') {
                rules.included.push(path.to_string());
            } else if let Some(name) = line.strip_prefix("**/") {
                rules.excluded_names.push(name.to_string());
            } else {
                rules.excluded_paths.insert(root.join(line));
            }
        }
        rules
    }

    fn excludes(&self, path: &Path) -> bool {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.excluded_paths.contains(path)
            || self
                .excluded_names
                .iter()
                .any(|pattern| match pattern.strip_prefix('*') {
                    Some(suffix) => name.ends_with(suffix),
                    None => name == *pattern,
                })
    }

    /// Every file of the context under `path`.
    fn walk(&self, path: &Path, files: &mut Vec<PathBuf>) {
        if self.excludes(path) {
            return;
        }
        if !path.is_dir() {
            files.push(path.to_path_buf());
            return;
        }
        let Ok(entries) = std::fs::read_dir(path) else {
            return;
        };
        for entry in entries.flatten() {
            self.walk(&entry.path(), files);
        }
    }
}

/// A hash of everything the image is built from: the Dockerfile, `.dockerignore`, every
/// file of the build context and the base images' ids.
fn build_inputs_key(base_image_ids: &[String]) -> String {
    use std::hash::{Hash, Hasher};
    let root = repo_root();
    let rules = ContextRules::read(&root);
    let mut files = vec![root.join("Dockerfile"), root.join(".dockerignore")];
    for path in &rules.included {
        rules.walk(&root.join(path), &mut files);
    }
    files.sort();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for path in &files {
        path.strip_prefix(&root).unwrap_or(path).hash(&mut hasher);
        std::fs::read(path).unwrap_or_default().hash(&mut hasher);
    }
    base_image_ids.hash(&mut hasher);
    format!("{:016x}-{}", hasher.finish(), files.len())
}

/// Builds `image`'s target of the Dockerfile as its tag unless it was built from the same
/// inputs already (once per image per test process; one build at a time on the machine),
/// making the base images first where absent. Returns the tag.
pub fn ensure_image(image: &Image) -> &'static str {
    static BUILT: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let mut built = BUILT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if !built.contains(&image.tag) {
        build_image(image);
        built.push(image.tag);
    }
    image.tag
}

/// Removes the working containers that interrupted builds (a timeout, a cancelled test run)
/// left in this storage: under vfs each is a full copy of its image, and they pile up run
/// after run. Called under the build lock, when no build is using one. Best effort.
fn remove_interrupted_build_containers() {
    let listed = podman_output(
        &[
            "ps",
            "--all",
            "--external",
            "--format",
            "{{.ID}} {{.Command}}",
        ],
        PODMAN_TIMEOUT,
    );
    if !listed.status.success() {
        return;
    }
    let stale: Vec<String> = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter_map(|line| {
            let (id, command) = line.split_once(' ')?;
            (command.trim() == "buildah").then(|| id.to_string())
        })
        .collect();
    if stale.is_empty() {
        return;
    }
    let mut args = vec!["rm", "--force", "--storage"];
    args.extend(stale.iter().map(String::as_str));
    let removed = podman_output(&args, PODMAN_TIMEOUT);
    eprintln!(
        "removed {} working container(s) interrupted image builds left behind{}",
        stale.len(),
        if removed.status.success() {
            ""
        } else {
            " (some could not be removed)"
        }
    );
}

fn build_image(image: &Image) {
    let Image { target, tag } = *image;
    {
        require_podman();
        std::fs::create_dir_all(format!("{CACHE_DIR}/tmp")).expect("create the cache dir");
        let lock_path = format!("{CACHE_DIR}/build.lock");
        let lock =
            File::create(&lock_path).unwrap_or_else(|e| panic!("cannot create {lock_path}: {e}"));
        lock.lock()
            .unwrap_or_else(|e| panic!("cannot lock {lock_path}: {e}"));
        remove_interrupted_build_containers();

        let runtime_image = dockerfile_arg("RUNTIME_IMAGE");
        let rust_image = dockerfile_arg("RUST_IMAGE");
        let script = repo_root().join("broker/tests/images/make-base-images.sh");
        let started = Instant::now();
        let output = Command::new("timeout")
            .arg(BASE_IMAGES_TIMEOUT.as_secs().to_string())
            .arg(&script)
            .arg(&runtime_image)
            .arg(&rust_image)
            .env(
                "PODMAN",
                format!("podman {}", podman_global_args().join(" ")),
            )
            .env("CACHE_DIR", CACHE_DIR)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        assert!(
            output.status.success(),
            "making the base images {runtime_image} and {rust_image} failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        eprintln!(
            "{}base images ready in {:.1} s",
            String::from_utf8_lossy(&output.stderr),
            started.elapsed().as_secs_f64()
        );

        let base_image_ids: Vec<String> = [&runtime_image, &rust_image]
            .iter()
            .map(|image| podman(&["image", "inspect", "--format", "{{.Id}}", image]))
            .collect();
        let inputs = build_inputs_key(&base_image_ids);
        let built_from = podman_output(
            &[
                "image",
                "inspect",
                "--format",
                &format!("{{{{index .Labels \"{INPUTS_LABEL}\"}}}}"),
                tag,
            ],
            PODMAN_TIMEOUT,
        );
        if built_from.status.success()
            && String::from_utf8_lossy(&built_from.stdout).trim() == inputs
        {
            eprintln!("{tag} was built from these sources already (inputs {inputs})");
            return;
        }

        let started = Instant::now();
        let registry = cargo_registry();
        let inputs_label = format!("{INPUTS_LABEL}={inputs}");
        let build_context = format!("cargo-registry={}", registry.display());
        let root = repo_root();
        let mut args: Vec<String> = [
            "build",
            "--pull=never",
            // one layer per stage: vfs copies the whole file system for every layer
            "--layers=false",
            // docker format: OCI images cannot carry the HEALTHCHECK
            "--format",
            "docker",
            "--network",
            "none",
            "--build-context",
            &build_context,
            "--target",
            target,
            "--tag",
            tag,
            "--label",
            &inputs_label,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(ulimit_args());
        args.push(root.display().to_string());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        // At a lower priority: the build's compilers share the machine with other tests,
        // whose deadlines matter more than this build's speed.
        let mut build = Command::new("nice");
        build
            .args([
                "-n",
                "10",
                "timeout",
                &BUILD_TIMEOUT.as_secs().to_string(),
                "podman",
            ])
            .args(podman_global_args())
            .args(&args)
            .stdin(Stdio::null());
        let output = build
            // buildah keeps the cache mounts (cargo registry and target dir) under TMPDIR
            .env("TMPDIR", format!("{CACHE_DIR}/tmp"))
            .output()
            .unwrap_or_else(|e| panic!("cannot run podman build: {e}"));
        let log_path = format!("{CACHE_DIR}/build-{target}.log");
        let _ = std::fs::write(&log_path, [&output.stdout[..], &output.stderr[..]].concat());
        if !output.status.success() {
            let text = String::from_utf8_lossy(&output.stdout).into_owned()
                + &String::from_utf8_lossy(&output.stderr);
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(80)..].join("\n");
            panic!(
                "podman build of the Dockerfile's {target} target failed ({}; whole log in {log_path}):\n{tail}",
                output.status
            );
        }
        // The images of earlier builds, now untagged: vfs keeps every one as a full copy.
        podman(&["image", "prune", "--force"]);
        eprintln!(
            "built {tag} (target {target}) from the Dockerfile in {:.1} s (log: {log_path})",
            started.elapsed().as_secs_f64()
        );
    }
}
