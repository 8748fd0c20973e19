//! `TestControlPlane` with every component: the API server answers as the admin the
//! kubeconfig names, kube-scheduler binds a pod to a registered Node, and dropping the plane
//! stops every process.

use std::time::{Duration, Instant};

use ironlog_testkit::control_plane::{ControlPlaneSpec, TestControlPlane};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, PostParams};

const BIND_TIMEOUT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_binds_a_pod_to_a_registered_node_and_drop_stops_everything() {
    let plane = TestControlPlane::start(ControlPlaneSpec {
        controller_manager: true,
        scheduler: true,
    })
    .await;
    let client = plane.client().await;
    let version = client
        .apiserver_version()
        .await
        .unwrap_or_else(|e| panic!("the API server did not answer: {e}"));
    assert_eq!(
        format!("v{}.{}", version.major, version.minor),
        "v1.36",
        "the API server reports the version it was built as: {version:?}"
    );

    let node: Node = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "test-node", "labels": {"kubernetes.io/hostname": "test-node"}},
    }))
    .expect("a Node");
    let nodes: Api<Node> = Api::all(client.clone());
    nodes
        .create(&PostParams::default(), &node)
        .await
        .unwrap_or_else(|e| panic!("cannot register the node: {e}"));
    // a node is schedulable once its status says Ready with room for pods
    let status = serde_json::json!({"status": {
        "conditions": [{"type": "Ready", "status": "True", "reason": "TestNode", "message": "",
                        "lastHeartbeatTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
        "capacity": {"cpu": "4", "memory": "8Gi", "pods": "20"},
        "allocatable": {"cpu": "4", "memory": "8Gi", "pods": "20"},
    }});
    nodes
        .patch_status(
            "test-node",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&status),
        )
        .await
        .unwrap_or_else(|e| panic!("cannot mark the node ready: {e}"));

    let pod: Pod = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "scheduled", "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "ironlog:latest"}],
                 "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists"}]},
    }))
    .expect("a Pod");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    pods.create(&PostParams::default(), &pod)
        .await
        .unwrap_or_else(|e| panic!("cannot create the pod: {e}"));
    let deadline = Instant::now() + BIND_TIMEOUT;
    loop {
        let pod = pods.get("scheduled").await.expect("the pod");
        if pod.spec.and_then(|s| s.node_name).as_deref() == Some("test-node") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "kube-scheduler did not bind the pod within {BIND_TIMEOUT:?}; its log:\n{}",
            plane.log_tail("kube-scheduler")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let server = plane.server_url.clone();
    drop(plane);
    let refused = client.apiserver_version().await;
    assert!(
        refused.is_err(),
        "the API server at {server} still answers after the plane was dropped"
    );
}
