//! `spec`: what a pod's container runs with, read from the Pod as a kubelet reads it — the
//! command line (the image's entrypoint and cmd under the pod's `command` / `args`), the
//! environment (values with `$(VAR)` references, `fieldRef`, `configMapKeyRef`,
//! `secretKeyRef`, `envFrom`), and the volumes (ConfigMap and Secret files, claims bound to
//! the agent's volumes, `emptyDir`, `hostPath`). Pure functions where they can be; the
//! ConfigMaps, Secrets and claims are fetched by the caller's [`Lookup`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{ConfigMap, Container, KeyToPath, Pod, Secret};

use super::network::Bind;

/// What an image brings when the pod does not say: Docker's `ENTRYPOINT`, `CMD`, `ENV` and
/// `WORKDIR`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageConfig {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub working_dir: Option<String>,
}

/// Why a container cannot start (its status says `CreateContainerConfigError` with this).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SpecError {
    #[error("no image config for image {0} (the agent knows {1:?})")]
    UnknownImage(String, Vec<String>),
    #[error("the container has no command and its image no entrypoint")]
    NoCommand,
    #[error("no binary stands for `{0}` on this machine (the agent knows {1:?})")]
    UnknownProgram(String, Vec<String>),
    #[error("{0}")]
    Missing(String),
    #[error("unsupported by the node agent: {0}")]
    Unsupported(String),
}

/// ConfigMaps, Secrets and volume paths of claims, as the API server has them now.
pub trait Lookup {
    fn config_map(&self, name: &str) -> Option<ConfigMap>;
    fn secret(&self, name: &str) -> Option<Secret>;
    /// The directory of the volume bound to claim `name`, or why there is none.
    fn claim_path(&self, name: &str) -> Result<PathBuf, String>;
}

/// The image's repository: `registry/name:tag@digest` → `registry/name`.
pub fn repository(image: &str) -> &str {
    let image = image.split('@').next().unwrap_or(image);
    match image.rfind(':') {
        Some(colon) if !image[colon..].contains('/') => &image[..colon],
        _ => image,
    }
}

/// The argv the container runs, before program lookup: Kubernetes' rules — `command`
/// replaces the entrypoint (and drops the image's cmd), `args` replace the cmd — with
/// `$(VAR)` expanded from the container's environment.
pub fn argv(
    container: &Container,
    image: &ImageConfig,
    env: &BTreeMap<String, String>,
) -> Result<Vec<String>, SpecError> {
    let (command, args) = match (&container.command, &container.args) {
        (Some(command), Some(args)) => (command.clone(), args.clone()),
        (Some(command), None) => (command.clone(), Vec::new()),
        (None, Some(args)) => (image.entrypoint.clone(), args.clone()),
        (None, None) => (image.entrypoint.clone(), image.cmd.clone()),
    };
    let argv: Vec<String> = command
        .iter()
        .chain(args.iter())
        .map(|a| expand(a, env))
        .collect();
    if argv.is_empty() {
        return Err(SpecError::NoCommand);
    }
    Ok(argv)
}

/// Kubernetes' `$(VAR)` expansion: a defined variable is replaced, an undefined reference
/// is kept as written, `$$` is a literal `$`.
pub fn expand(text: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('(') {
            match body.find(')') {
                Some(close) => {
                    let name = &body[..close];
                    match env.get(name) {
                        Some(value) => out.push_str(value),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &body[close + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = body;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// A `fieldRef` path's value for `pod` (the downward API's fields).
pub fn field(pod: &Pod, path: &str) -> Result<String, SpecError> {
    let meta = &pod.metadata;
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();
    let in_map = |map: Option<&BTreeMap<String, String>>, key: &str| {
        map.and_then(|m| m.get(key)).cloned().unwrap_or_default()
    };
    let key_of = |prefix: &str| {
        path.strip_prefix(prefix)
            .and_then(|r| r.strip_suffix("']"))
            .map(str::to_string)
    };
    Ok(match path {
        "metadata.name" => meta.name.clone().unwrap_or_default(),
        "metadata.namespace" => meta.namespace.clone().unwrap_or_default(),
        "metadata.uid" => meta.uid.clone().unwrap_or_default(),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => spec
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_default(),
        "status.podIP" => status.and_then(|s| s.pod_ip.clone()).unwrap_or_default(),
        "status.hostIP" => status.and_then(|s| s.host_ip.clone()).unwrap_or_default(),
        "status.podIPs" => status
            .and_then(|s| s.pod_ips.as_ref())
            .map(|ips| {
                ips.iter()
                    .map(|i| i.ip.clone())
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default(),
        _ => {
            if let Some(key) = key_of("metadata.labels['") {
                in_map(meta.labels.as_ref(), &key)
            } else if let Some(key) = key_of("metadata.annotations['") {
                in_map(meta.annotations.as_ref(), &key)
            } else {
                return Err(SpecError::Unsupported(format!("fieldRef {path}")));
            }
        }
    })
}

fn config_map_value(map: &ConfigMap, key: &str) -> Option<String> {
    if let Some(v) = map.data.as_ref().and_then(|d| d.get(key)) {
        return Some(v.clone());
    }
    map.binary_data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| String::from_utf8_lossy(&b.0).into_owned())
}

fn secret_value(secret: &Secret, key: &str) -> Option<String> {
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| String::from_utf8_lossy(&b.0).into_owned())
        .or_else(|| {
            secret
                .string_data
                .as_ref()
                .and_then(|d| d.get(key))
                .cloned()
        })
}

/// The container's environment in definition order (later definitions win, each value
/// expanded with the ones before it), on top of `base` (`PATH`, `HOSTNAME`).
pub fn environment(
    pod: &Pod,
    container: &Container,
    base: &BTreeMap<String, String>,
    lookup: &dyn Lookup,
) -> Result<BTreeMap<String, String>, SpecError> {
    let mut env = base.clone();
    for source in container.env_from.iter().flatten() {
        let prefix = source.prefix.clone().unwrap_or_default();
        if let Some(r) = &source.config_map_ref {
            match lookup.config_map(&r.name) {
                Some(map) => {
                    for (k, v) in map.data.iter().flatten() {
                        env.insert(format!("{prefix}{k}"), v.clone());
                    }
                }
                None if r.optional == Some(true) => {}
                None => {
                    return Err(SpecError::Missing(format!(
                        "configmap {:?} not found",
                        r.name
                    )))
                }
            }
        }
        if let Some(r) = &source.secret_ref {
            match lookup.secret(&r.name) {
                Some(secret) => {
                    for (k, v) in secret.data.iter().flatten() {
                        env.insert(
                            format!("{prefix}{k}"),
                            String::from_utf8_lossy(&v.0).into_owned(),
                        );
                    }
                }
                None if r.optional == Some(true) => {}
                None => return Err(SpecError::Missing(format!("secret {:?} not found", r.name))),
            }
        }
    }
    for var in container.env.iter().flatten() {
        let value = match (&var.value, &var.value_from) {
            (Some(value), _) => expand(value, &env),
            (None, None) => String::new(),
            (None, Some(from)) => {
                if let Some(f) = &from.field_ref {
                    field(pod, &f.field_path)?
                } else if let Some(r) = &from.config_map_key_ref {
                    match lookup
                        .config_map(&r.name)
                        .and_then(|m| config_map_value(&m, &r.key))
                    {
                        Some(v) => v,
                        None if r.optional == Some(true) => continue,
                        None => {
                            return Err(SpecError::Missing(format!(
                                "couldn't find key {} in ConfigMap {}",
                                r.key, r.name
                            )))
                        }
                    }
                } else if let Some(r) = &from.secret_key_ref {
                    match lookup
                        .secret(&r.name)
                        .and_then(|s| secret_value(&s, &r.key))
                    {
                        Some(v) => v,
                        None if r.optional == Some(true) => continue,
                        None => {
                            return Err(SpecError::Missing(format!(
                                "couldn't find key {} in Secret {}",
                                r.key, r.name
                            )))
                        }
                    }
                } else {
                    return Err(SpecError::Unsupported(format!(
                        "env {}: resourceFieldRef",
                        var.name
                    )));
                }
            }
        };
        env.insert(var.name.clone(), value);
    }
    Ok(env)
}

/// Files of a ConfigMap or Secret volume: `items` (key → path) when given, else every key.
fn volume_files(
    entries: BTreeMap<String, Vec<u8>>,
    items: Option<&Vec<KeyToPath>>,
    what: &str,
) -> Result<BTreeMap<String, Vec<u8>>, SpecError> {
    match items {
        None => Ok(entries),
        Some(items) => items
            .iter()
            .map(|item| {
                entries
                    .get(&item.key)
                    .map(|v| (item.path.clone(), v.clone()))
                    .ok_or_else(|| SpecError::Missing(format!("{what} has no key {}", item.key)))
            })
            .collect(),
    }
}

/// Writes `files` into `dir` (each through a temporary name and a rename, so a reader sees
/// the old or the new file, never half of one); files no longer wanted are removed.
fn write_files(dir: &Path, files: &BTreeMap<String, Vec<u8>>) -> Result<(), SpecError> {
    let io = |e: std::io::Error| SpecError::Missing(format!("writing {}: {e}", dir.display()));
    std::fs::create_dir_all(dir).map_err(io)?;
    for (name, bytes) in files {
        if name.contains("..") || name.starts_with('/') {
            return Err(SpecError::Unsupported(format!("volume path {name}")));
        }
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        if std::fs::read(&path).ok().as_deref() == Some(bytes.as_slice()) {
            continue;
        }
        let temporary = dir.join(format!(".{}.tmp", name.replace('/', "_")));
        std::fs::write(&temporary, bytes).map_err(io)?;
        std::fs::rename(&temporary, &path).map_err(io)?;
    }
    for entry in std::fs::read_dir(dir).map_err(io)?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.path().is_file() && !files.contains_key(&name) && !name.starts_with('.') {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}

/// Where a pod's own volumes live: ConfigMap / Secret files and `emptyDir`s under
/// `pod_dir` (a claim's volume has its own path).
pub struct VolumeRoots<'a> {
    pub pod_dir: &'a Path,
}

/// Makes every volume of `pod` (writing ConfigMap and Secret files afresh) and returns the
/// binds of `container`'s mounts.
pub fn volumes(
    pod: &Pod,
    container: &Container,
    roots: &VolumeRoots<'_>,
    lookup: &dyn Lookup,
) -> Result<Vec<Bind>, SpecError> {
    let mut dirs: BTreeMap<String, PathBuf> = BTreeMap::new();
    for volume in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
        let dir = roots.pod_dir.join("volumes").join(&volume.name);
        let path = if let Some(source) = &volume.config_map {
            match lookup.config_map(&source.name) {
                Some(map) => {
                    let mut entries: BTreeMap<String, Vec<u8>> = map
                        .data
                        .iter()
                        .flatten()
                        .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
                        .collect();
                    for (k, v) in map.binary_data.iter().flatten() {
                        entries.insert(k.clone(), v.0.clone());
                    }
                    let what = format!("ConfigMap {}", source.name);
                    write_files(&dir, &volume_files(entries, source.items.as_ref(), &what)?)?;
                }
                None if source.optional == Some(true) => write_files(&dir, &BTreeMap::new())?,
                None => {
                    return Err(SpecError::Missing(format!(
                        "configmap {:?} not found (volume {})",
                        source.name, volume.name
                    )))
                }
            }
            dir
        } else if let Some(source) = &volume.secret {
            let name = source.secret_name.clone().unwrap_or_default();
            match lookup.secret(&name) {
                Some(secret) => {
                    let entries: BTreeMap<String, Vec<u8>> = secret
                        .data
                        .iter()
                        .flatten()
                        .map(|(k, v)| (k.clone(), v.0.clone()))
                        .collect();
                    let what = format!("Secret {name}");
                    write_files(&dir, &volume_files(entries, source.items.as_ref(), &what)?)?;
                }
                None if source.optional == Some(true) => write_files(&dir, &BTreeMap::new())?,
                None => {
                    return Err(SpecError::Missing(format!(
                        "secret {name:?} not found (volume {})",
                        volume.name
                    )))
                }
            }
            dir
        } else if let Some(claim) = &volume.persistent_volume_claim {
            lookup
                .claim_path(&claim.claim_name)
                .map_err(SpecError::Missing)?
        } else if volume.empty_dir.is_some() {
            std::fs::create_dir_all(&dir)
                .map_err(|e| SpecError::Missing(format!("emptyDir {}: {e}", dir.display())))?;
            dir
        } else if let Some(host) = &volume.host_path {
            PathBuf::from(&host.path)
        } else {
            return Err(SpecError::Unsupported(format!(
                "volume {} (only configMap, secret, persistentVolumeClaim, emptyDir and \
                 hostPath run here)",
                volume.name
            )));
        };
        dirs.insert(volume.name.clone(), path);
    }
    let mut binds = Vec::new();
    for mount in container.volume_mounts.iter().flatten() {
        let source = dirs.get(&mount.name).ok_or_else(|| {
            SpecError::Missing(format!("volume mount {} names no volume", mount.name))
        })?;
        let source = match mount.sub_path.as_deref() {
            Some(sub) if !sub.is_empty() => source.join(sub),
            _ => source.clone(),
        };
        binds.push(Bind {
            source,
            target: PathBuf::from(&mount.mount_path),
            read_only: mount.read_only == Some(true),
        });
    }
    Ok(binds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn expansion_follows_kubernetes_rules() {
        let vars = env(&[("POD_NAME", "web-0"), ("EMPTY", "")]);
        assert_eq!(expand("/etc/$(POD_NAME).conf", &vars), "/etc/web-0.conf");
        assert_eq!(expand("$(MISSING)-x", &vars), "$(MISSING)-x");
        assert_eq!(expand("$$(POD_NAME)", &vars), "$(POD_NAME)");
        assert_eq!(expand("a$(EMPTY)b$", &vars), "ab$");
        assert_eq!(expand("$(unclosed", &vars), "$(unclosed");
    }

    #[test]
    fn args_without_command_run_under_the_image_entrypoint() {
        let image = ImageConfig {
            entrypoint: vec!["ironlog".into(), "broker".into()],
            ..Default::default()
        };
        let vars = env(&[("POD_NAME", "c-0")]);
        let mut container = Container {
            args: Some(vec!["--config".into(), "/etc/$(POD_NAME)".into()]),
            ..Default::default()
        };
        assert_eq!(
            argv(&container, &image, &vars).unwrap(),
            ["ironlog", "broker", "--config", "/etc/c-0"]
        );
        container.command = Some(vec!["ironlog".into()]);
        container.args = Some(vec!["healthcheck".into()]);
        assert_eq!(
            argv(&container, &image, &vars).unwrap(),
            ["ironlog", "healthcheck"]
        );
        container.args = None;
        assert_eq!(argv(&container, &image, &vars).unwrap(), ["ironlog"]);
    }

    #[test]
    fn repositories_drop_tag_and_digest_but_keep_a_registry_port() {
        assert_eq!(repository("ironlog:0.1.0"), "ironlog");
        assert_eq!(
            repository("localhost:5000/ironlog:1"),
            "localhost:5000/ironlog"
        );
        assert_eq!(
            repository("localhost:5000/ironlog"),
            "localhost:5000/ironlog"
        );
        assert_eq!(repository("ironlog@sha256:abc"), "ironlog");
    }
}
