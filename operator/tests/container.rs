//! The operator image (the Dockerfile's `operator` target), built with podman as a user
//! builds it with docker (`ironlog_testkit::images`: offline, from source, rebuilt when an
//! input changed) and run as the Helm chart runs it: its own non-root user, a read-only
//! root file system, `ironlog-operator` as the entrypoint. Without podman, runc or
//! debootstrap the test fails, naming what to install (`./test.sh` installs them).

use ironlog_testkit::images::{
    ensure_image, podman, podman_output, ulimit_args, OPERATOR, PODMAN_TIMEOUT,
};

/// `podman run --rm --read-only --network none` (with this process's ulimits) `IMAGE
/// ARGS...`: its stdout, or a panic with its stderr.
fn run_in_image(image: &str, args: &[&str]) -> String {
    let limits = ulimit_args();
    let mut all = vec!["run", "--rm", "--read-only", "--network", "none"];
    all.extend(limits.iter().map(String::as_str));
    all.push(image);
    all.extend_from_slice(args);
    let output = podman_output(&all, PODMAN_TIMEOUT);
    assert!(
        output.status.success(),
        "`ironlog-operator {}` in {image} failed ({}):\n{}{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn operator_image_runs_the_operator_as_its_own_user_on_a_read_only_root() {
    let image = ensure_image(&OPERATOR);
    let inspected = podman(&["image", "inspect", image]);
    let config: serde_json::Value = serde_json::from_str(&inspected)
        .unwrap_or_else(|e| panic!("podman image inspect {image}: not JSON ({e}):\n{inspected}"));
    let config = &config[0]["Config"];
    assert_eq!(
        config["User"], "1000:1000",
        "the operator runs as the image's non-root user: {config}"
    );
    assert_eq!(
        config["Entrypoint"],
        serde_json::json!(["ironlog-operator"]),
        "the entrypoint is the operator's binary: {config}"
    );
    assert_eq!(
        config["Cmd"],
        serde_json::json!(["run"]),
        "without arguments the image runs the controllers: {config}"
    );
    assert!(
        config["ExposedPorts"].get("8080/tcp").is_some(),
        "the metrics and health port is exposed: {config}"
    );

    let help = run_in_image(image, &["--help"]);
    for command in ["run", "crds"] {
        assert!(
            help.lines()
                .any(|line| line.trim_start().starts_with(command)),
            "`ironlog-operator --help` in the image lists no `{command}` command:\n{help}"
        );
    }
    let run_help = run_in_image(image, &["run", "--help"]);
    for flag in ["--namespace", "--metrics-address"] {
        assert!(
            run_help.contains(flag),
            "`ironlog-operator run --help` in the image has no {flag}:\n{run_help}"
        );
    }

    // The image prints the CRDs this build generates: the ones `crds/` holds.
    let printed = run_in_image(image, &["crds"]);
    let expected: Vec<String> = ironlog_operator::crd::crds_yaml()
        .expect("the CRDs render")
        .into_iter()
        .map(|(_, yaml)| yaml)
        .collect();
    assert_eq!(
        printed,
        expected.join("---\n"),
        "the image's `ironlog-operator crds` differs from this build's CRDs: the image is stale"
    );
}
