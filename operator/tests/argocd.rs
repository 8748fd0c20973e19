//! The Argo CD health check `docs/argocd.md` documents, run as Argo CD runs it (Lua 5.1, the
//! language of Argo CD's gopher-lua; Debian's `lua5.1`, which test.sh installs) on the
//! statuses the operator writes: no status yet, a status of an older generation, Paused,
//! Degraded, Ready and not yet Ready. A missing `lua5.1` fails the test; nothing is skipped.

mod common;

use std::process::{Command, Stdio};

use serde_json::{json, Value};

/// The Lua script of the KafkaCluster health check in docs/argocd.md (the other kinds use
/// the same one through a YAML anchor).
fn health_script() -> String {
    let path = common::repo_root().join("docs/argocd.md");
    let doc = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let start = doc
        .find("resource.customizations.health.ironlog.dev_KafkaCluster: &ironlog-health |\n")
        .expect("docs/argocd.md has the KafkaCluster health check");
    let body = &doc[start..];
    let body = &body[body.find('\n').expect("a script") + 1..];
    let mut script = String::new();
    for line in body.lines() {
        if !line.starts_with("    ") && !line.trim().is_empty() {
            break;
        }
        script.push_str(line.strip_prefix("    ").unwrap_or(line));
        script.push('\n');
    }
    for kind in ["Topic", "User", "Connector"] {
        assert!(
            doc.contains(&format!(
                "resource.customizations.health.ironlog.dev_{kind}: *ironlog-health"
            )),
            "docs/argocd.md gives {kind} no health check"
        );
    }
    script
}

/// `value` as a Lua expression (objects as tables, arrays as sequences).
fn lua(value: &Value) -> String {
    match value {
        Value::Null => "nil".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => format!("{s:?}"),
        Value::Array(items) => format!(
            "{{{}}}",
            items.iter().map(lua).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(fields) => format!(
            "{{{}}}",
            fields
                .iter()
                .map(|(k, v)| format!("[{k:?}] = {}", lua(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Argo CD's verdict on `object`: (status, message).
fn health(script: &str, object: &Value) -> (String, String) {
    let program = format!(
        "local obj = {}\nlocal function check(obj)\n{script}\nend\nlocal hs = check(obj)\n\
         io.write(hs.status, \"\\n\", hs.message or \"\", \"\\n\")\n",
        lua(object)
    );
    let output = Command::new("lua5.1")
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(program.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap_or_else(|e| panic!("cannot run lua5.1 (test.sh installs Debian's lua5.1): {e}"));
    assert!(
        output.status.success(),
        "the health check failed on {object}:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (status, message) = text.split_once('\n').expect("status and message");
    (status.to_string(), message.trim_end().to_string())
}

fn condition(type_: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({"type": type_, "status": status, "reason": reason, "message": message,
           "observedGeneration": 2, "lastTransitionTime": "2026-01-01T00:00:00Z"})
}

fn object(status: Option<Value>) -> Value {
    let mut object = json!({"apiVersion": "ironlog.dev/v1alpha1", "kind": "KafkaCluster",
        "metadata": {"name": "c", "namespace": "kafka", "generation": 2}, "spec": {}});
    if let Some(status) = status {
        object["status"] = status;
    }
    object
}

#[test]
fn argo_cd_health_follows_observed_generation_and_the_conditions() {
    let script = health_script();
    let cases = [
        ("no status yet", object(None), "Progressing"),
        (
            "a status of the previous generation, Ready then",
            object(Some(json!({"observedGeneration": 1,
                "conditions": [condition("Ready", "True", "Ready", "3/3 brokers ready")]}))),
            "Progressing",
        ),
        (
            "paused",
            object(Some(json!({"observedGeneration": 2, "conditions": [
                condition("Ready", "True", "Ready", ""),
                condition("Paused", "True", "Annotated", "paused by the ironlog.dev/paused annotation")]}))),
            "Suspended",
        ),
        (
            "a refused spec",
            object(Some(json!({"observedGeneration": 2, "conditions": [
                condition("Ready", "False", "InvalidSpec", "nothing applied"),
                condition("Degraded", "True", "InvalidSpec", "listener tls is not supported yet"),
                condition("Paused", "False", "NotPaused", "")]}))),
            "Degraded",
        ),
        (
            "ready",
            object(Some(json!({"observedGeneration": 2, "conditions": [
                condition("Ready", "True", "Ready", "3/3 brokers ready"),
                condition("Progressing", "False", "Converged", ""),
                condition("Degraded", "False", "Applied", "")]}))),
            "Healthy",
        ),
        (
            "brokers starting",
            object(Some(json!({"observedGeneration": 2, "conditions": [
                condition("Ready", "False", "BrokersNotReady", "1/3 brokers ready"),
                condition("Progressing", "True", "Applied", ""),
                condition("Degraded", "False", "Applied", "")]}))),
            "Progressing",
        ),
    ];
    for (what, object, expected) in cases {
        let (status, message) = health(&script, &object);
        assert_eq!(
            status, expected,
            "{what}: Argo CD would show {status} ({message}), not {expected}"
        );
    }
    let (_, message) = health(
        &script,
        &object(Some(json!({"observedGeneration": 2, "conditions": [
            condition("Degraded", "True", "InvalidSpec", "listener tls is not supported yet")]}))),
    );
    assert_eq!(
        message, "listener tls is not supported yet",
        "Degraded shows the reason's message"
    );
}
