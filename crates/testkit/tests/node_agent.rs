//! `NodeAgent` against a real control plane (the scheduler binds the pods): a pod runs with
//! its command, `$(VAR)` expansion, downward-API fields, a Secret key and a ConfigMap volume;
//! its exec readiness probe makes it Ready; a changed ConfigMap reaches the mounted file
//! without a restart; a container that exits is restarted with its
//! last state reported; deleting a pod sends SIGTERM and the pod goes away.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ironlog_testkit::control_plane::{ControlPlaneSpec, TestControlPlane};
use ironlog_testkit::node_agent::{AgentConfig, ImageConfig, NodeAgent};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, PostParams};
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(120);

async fn wait_for<T, F, Fut>(what: &str, agent: &NodeAgent, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if Instant::now() >= deadline {
            let statuses: Vec<String> = Api::<Pod>::namespaced(plane_client().await, "default")
                .list(&Default::default())
                .await
                .map(|l| {
                    l.items
                        .iter()
                        .map(|p| {
                            format!(
                                "{}: {:?}",
                                p.metadata.name.clone().unwrap_or_default(),
                                p.status
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            panic!(
                "{what}: not within {TIMEOUT:?}\npods: {statuses:#?}\nlogs:\n{}",
                agent.logs()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A client of the test binary's plane.
async fn plane_client() -> kube::Client {
    TestControlPlane::shared(SPEC).client().await
}

const SPEC: ControlPlaneSpec = ControlPlaneSpec {
    controller_manager: true,
    scheduler: true,
};

async fn create(client: &kube::Client, ns: &str, object: serde_json::Value) {
    let kind = object["kind"].as_str().unwrap_or_default().to_string();
    let result = match kind.as_str() {
        "Secret" => Api::<k8s_openapi::api::core::v1::Secret>::namespaced(client.clone(), ns)
            .create(
                &PostParams::default(),
                &serde_json::from_value(object).expect("a Secret"),
            )
            .await
            .map(|_| ()),
        "ConfigMap" => Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(client.clone(), ns)
            .create(
                &PostParams::default(),
                &serde_json::from_value(object).expect("a ConfigMap"),
            )
            .await
            .map(|_| ()),
        "PersistentVolumeClaim" => {
            Api::<k8s_openapi::api::core::v1::PersistentVolumeClaim>::namespaced(client.clone(), ns)
                .create(
                    &PostParams::default(),
                    &serde_json::from_value(object).expect("a PersistentVolumeClaim"),
                )
                .await
                .map(|_| ())
        }
        _ => Api::<Pod>::namespaced(client.clone(), ns)
            .create(
                &PostParams::default(),
                &serde_json::from_value(object).expect("a Pod"),
            )
            .await
            .map(|_| ()),
    };
    result.unwrap_or_else(|e| panic!("cannot create a {kind}: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_run_with_their_env_and_volumes_restart_and_stop_on_deletion() {
    let handle = TestControlPlane::shared(SPEC);
    let client = handle.client().await;
    let ns = "default";
    let agent = NodeAgent::start(handle, shell_agent(&["zone-a"], ns)).await;

    create(
        &client,
        ns,
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "app-secret"},
               "stringData": {"token": "s3cret"}}),
    )
    .await;
    create(
        &client,
        ns,
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app-config"},
               "data": {"greeting": "hello"}}),
    )
    .await;
    create(
        &client,
        ns,
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "app", "labels": {"app": "demo"}},
            "spec": {
                // no projected service-account token: the agent refuses projected volumes
                "automountServiceAccountToken": false,
                "terminationGracePeriodSeconds": 10,
                "containers": [{
                    "name": "main",
                    "image": "shell:1",
                    "command": ["sh", "-c",
                        "echo \"greeting=$(cat /mnt/greeting) token=$TOKEN name=$POD_NAME ip=$POD_IP node=$NODE label=$APP tag=$TAG\"; \
                         trap 'echo got TERM; exit 0' TERM; \
                         while true; do echo \"now=$(cat /mnt/greeting)\"; sleep 1 & wait; done"],
                    "env": [
                        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                        {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                        {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "app-secret", "key": "token"}}},
                        {"name": "TAG", "value": "$(POD_NAME)-x"},
                    ],
                    "volumeMounts": [{"name": "config", "mountPath": "/mnt", "readOnly": true}],
                    "readinessProbe": {"exec": {"command": ["sh", "-c", "test -f /mnt/greeting"]},
                                       "periodSeconds": 1},
                }],
                "volumes": [{"name": "config", "configMap": {"name": "app-config"}}],
            }
        }),
    )
    .await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let pod = wait_for("pod app is Ready", &agent, || {
        let pods = pods.clone();
        async move {
            let pod = pods.get("app").await.ok()?;
            let ready = pod
                .status
                .as_ref()?
                .conditions
                .as_ref()?
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True");
            ready.then_some(pod)
        }
    })
    .await;
    let status = pod.status.expect("a status");
    assert_eq!(status.phase.as_deref(), Some("Running"));
    let ip = status.pod_ip.expect("a pod IP");
    let node = pod.spec.and_then(|s| s.node_name).expect("bound to a node");
    assert_eq!(node, agent.node_names()[0]);
    let log = agent.log(ns, "app", "main");
    let expected =
        format!("greeting=hello token=s3cret name=app ip={ip} node={node} label=demo tag=app-x");
    assert!(
        log.contains(&expected),
        "the container saw its env and volume: want {expected:?} in:\n{log}"
    );

    // a changed ConfigMap reaches the mounted file of the running container
    Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(client.clone(), ns)
        .patch(
            "app-config",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"data": {"greeting": "bye"}})),
        )
        .await
        .unwrap_or_else(|e| panic!("cannot change the ConfigMap: {e}"));
    wait_for("the container reads the changed key", &agent, || {
        let agent = &agent;
        async move {
            agent
                .log(ns, "app", "main")
                .contains("now=bye")
                .then_some(())
        }
    })
    .await;
    assert_eq!(
        pods.get("app").await.ok().and_then(|p| p
            .status?
            .container_statuses?
            .first()
            .map(|c| c.restart_count)),
        Some(0),
        "a changed volume restarts nothing"
    );

    // a container that exits is started again, its last state reported
    create(
        &client,
        ns,
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "crasher"},
            "spec": {"automountServiceAccountToken": false,
                     "containers": [{"name": "main", "image": "shell:1",
                                      "command": ["sh", "-c", "echo run; exit 3"]}]}
        }),
    )
    .await;
    let exit_code = wait_for("pod crasher restarted twice", &agent, || {
        let pods = pods.clone();
        async move {
            let pod = pods.get("crasher").await.ok()?;
            let c = pod.status?.container_statuses?.into_iter().next()?;
            (c.restart_count >= 2).then_some(c.last_state?.terminated?.exit_code)
        }
    })
    .await;
    assert_eq!(exit_code, 3, "the last state is the exit it had");

    // deletion: SIGTERM within the grace period, then the pod is gone
    for name in ["app", "crasher"] {
        pods.delete(name, &DeleteParams::default())
            .await
            .unwrap_or_else(|e| panic!("cannot delete pod {name}: {e}"));
    }
    wait_for("both pods are gone and stopped", &agent, || {
        let pods = pods.clone();
        let agent = &agent;
        async move {
            let gone = pods.get_opt("app").await.ok()?.is_none()
                && pods.get_opt("crasher").await.ok()?.is_none();
            (gone && agent.pods_running() == 0).then_some(())
        }
    })
    .await;
    let log = agent.log(ns, "app", "main");
    assert!(
        log.contains("got TERM"),
        "the container was asked to stop with SIGTERM:\n{log}"
    );
    agent.stop().await;
}

/// An agent serving `ns` with a node in each of `zones`, whose `shell` image runs `/bin/sh`.
fn shell_agent(zones: &[&str], ns: &str) -> AgentConfig {
    AgentConfig {
        zones: zones.iter().map(|z| z.to_string()).collect(),
        namespaces: vec![ns.to_string()],
        images: BTreeMap::from([(
            "shell".to_string(),
            ImageConfig {
                cmd: vec!["sh".to_string()],
                ..Default::default()
            },
        )]),
        programs: BTreeMap::from([("sh".to_string(), PathBuf::from("/bin/sh"))]),
        settings: Default::default(),
    }
}

/// Two agents on one control plane (two tests of a binary do this): every pod of an
/// agent's namespace is bound to that agent's nodes and run by it, and a claim of its
/// namespace gets a volume in that agent's dir, never the other's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_agents_on_one_control_plane_run_only_the_pods_of_their_namespaces() {
    let handle = TestControlPlane::shared(SPEC);
    let client = handle.client().await;
    let (ns_a, ns_b) = (
        ironlog_testkit::control_plane::create_namespace(&client, "agent-a").await,
        ironlog_testkit::control_plane::create_namespace(&client, "agent-b").await,
    );
    let a = NodeAgent::start(handle, shell_agent(&["zone-a", "zone-b"], &ns_a)).await;
    let b = NodeAgent::start(handle, shell_agent(&["zone-a", "zone-b"], &ns_b)).await;
    for ns in [&ns_a, &ns_b] {
        create(
            &client,
            ns,
            json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                   "metadata": {"name": "data"},
                   "spec": {"accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "1Gi"}}}}),
        )
        .await;
        for i in 0..4 {
            let mut pod = json!({
                "apiVersion": "v1", "kind": "Pod", "metadata": {"name": format!("p{i}")},
                "spec": {"automountServiceAccountToken": false,
                         "terminationGracePeriodSeconds": 1,
                         "containers": [{"name": "main", "image": "shell:1",
                                         "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1 & wait; done"]}]}
            });
            if i == 0 {
                pod["spec"]["containers"][0]["volumeMounts"] =
                    json!([{"name": "data", "mountPath": "/data"}]);
                pod["spec"]["volumes"] =
                    json!([{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]);
            }
            create(&client, ns, pod).await;
        }
    }
    for (ns, agent, other) in [(&ns_a, &a, &b), (&ns_b, &b, &a)] {
        let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
        let placed = wait_for(&format!("the pods of {ns} run"), agent, || {
            let pods = pods.clone();
            async move {
                let list = pods.list(&Default::default()).await.ok()?;
                let running = list
                    .items
                    .iter()
                    .all(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"));
                (list.items.len() == 4 && running).then(|| {
                    list.items
                        .iter()
                        .map(|p| p.spec.as_ref().and_then(|s| s.node_name.clone()))
                        .collect::<Vec<_>>()
                })
            }
        })
        .await;
        for node in &placed {
            let node = node.as_deref().unwrap_or_default();
            assert!(
                agent.node_names().iter().any(|n| n == node),
                "a pod of {ns} is bound to {node}, not to its agent's nodes {:?} (the other agent has {:?})",
                agent.node_names(),
                other.node_names()
            );
        }
        let claim = Api::<k8s_openapi::api::core::v1::PersistentVolumeClaim>::namespaced(
            client.clone(),
            ns,
        )
        .get("data")
        .await
        .unwrap_or_else(|e| panic!("the claim of {ns}: {e}"));
        let volume = claim
            .spec
            .and_then(|s| s.volume_name)
            .expect("the claim is bound");
        let path = Api::<k8s_openapi::api::core::v1::PersistentVolume>::all(client.clone())
            .get(&volume)
            .await
            .unwrap_or_else(|e| panic!("volume {volume}: {e}"))
            .spec
            .and_then(|s| s.host_path)
            .map(|h| h.path)
            .expect("a hostPath volume");
        assert!(
            std::path::Path::new(&path).starts_with(agent.dir()),
            "the volume of {ns}'s claim ({path}) is in its agent's dir {}",
            agent.dir().display()
        );
    }
    a.stop().await;
    b.stop().await;
}
