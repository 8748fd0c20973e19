//! `tls`: the reconcile step that keeps a cluster's certificate Secrets — read what the
//! Secrets hold, let [`certs`](super::certs) decide what to keep and what to make (pure),
//! apply the result. Runs before the other objects are applied, so a pod never starts
//! without the certificates its configuration names.
//!
//! The Secrets: `<cluster>-cluster-ca` and `<cluster>-clients-ca` (`ca.key`, `ca.crt`: the
//! CAs), `<cluster>-cluster-ca-cert` and `<cluster>-clients-ca-cert` (`ca.crt`: what
//! clients trust), `<cluster>-node-certs` (every node's `<pod>.keystore.pem`, `<pod>.crt`,
//! `<pod>.key`, and the CA bundles `cluster-ca.crt` and `clients-ca.crt`), and on a cluster
//! with authorization `<cluster>-operator-cert` (`tls.crt`, `tls.key`: the operator's own
//! client certificate of the cluster CA, `CN=ironlog-operator`; `ca.crt`: the cluster CA
//! bundle it verifies the brokers with) — read by the operator's admin client
//! ([`operator_tls`]), mounted into no pod. Each carries the cluster's labels and an owner
//! reference: they go with the cluster.

use std::collections::BTreeMap;

use ironlog_protocol::tls::{TlsClient, TlsError};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::ByteString;
use kube::api::{Api, Patch, PatchParams};
use kube::Client;

use super::build::metadata;
use super::certs::{self, Authority, CaKind, CertRequest, Issued};
use super::names;
use super::reconcile::ReconcileError;
use super::validate::ValidCluster;

const CA_KEY: &str = "ca.key";
const CA_CERT: &str = "ca.crt";
/// The operator's certificate and key in `<cluster>-operator-cert`.
pub const OPERATOR_CERT: &str = "tls.crt";
pub const OPERATOR_KEY: &str = "tls.key";

/// The Secrets a cluster's certificates need, with what was (re)made and why, for Events.
#[derive(Debug, Clone, Default)]
pub struct CertificateSecrets {
    pub secrets: Vec<Secret>,
    /// One line per CA or certificate made: what and why.
    pub changes: Vec<String>,
    /// The cluster CA (the operator's admin clients trust it).
    pub cluster_ca: Option<Authority>,
    /// The clients CA (it signs TLS Users' certificates).
    pub clients_ca: Option<Authority>,
    /// The operator's TLS client for the brokers' REPLICATION listener (authorization).
    pub operator_tls: Option<TlsClient>,
}

/// The operator's TLS client from the data of `<cluster>-operator-cert`: its certificate
/// as the client identity, the cluster CA bundle as the CAs it trusts.
pub fn operator_tls(secret: &Secret) -> Result<TlsClient, TlsError> {
    let text = |key: &str| text(Some(secret), key).unwrap_or_default();
    let (cert, key) = (text(OPERATOR_CERT), text(OPERATOR_KEY));
    TlsClient::from_pem(&text(CA_CERT), Some((cert.as_str(), key.as_str())))
}

/// The DNS names a node's certificate carries: its own name through the headless Service
/// (with and without the cluster domain) and the bootstrap Service's names.
pub fn node_dns_names(cluster: &ValidCluster, pod_host: &str) -> Vec<String> {
    let bootstrap = names::bootstrap_service(&cluster.name);
    let ns = &cluster.namespace;
    vec![
        pod_host.to_string(),
        format!("{pod_host}.cluster.local"),
        bootstrap.clone(),
        format!("{bootstrap}.{ns}"),
        format!("{bootstrap}.{ns}.svc"),
        format!("{bootstrap}.{ns}.svc.cluster.local"),
    ]
}

fn text(secret: Option<&Secret>, key: &str) -> Option<String> {
    secret
        .and_then(|s| s.data.as_ref())
        .and_then(|d| certs::secret_text(d, key))
}

fn stored_authority(key_secret: Option<&Secret>, public: Option<&Secret>) -> Option<Authority> {
    Some(Authority {
        cert_pem: text(key_secret, CA_CERT)?,
        key_pem: text(key_secret, CA_KEY)?,
        trusted_pem: text(public, CA_CERT).or_else(|| text(key_secret, CA_CERT))?,
    })
}

fn secret(cluster: &ValidCluster, name: String, data: BTreeMap<String, String>) -> Secret {
    Secret {
        metadata: metadata(cluster, name, "certificates"),
        type_: Some("Opaque".to_string()),
        data: Some(
            data.into_iter()
                .map(|(k, v)| (k, ByteString(v.into_bytes())))
                .collect(),
        ),
        ..Default::default()
    }
}

/// What the cluster's certificate Secrets should hold, given what they hold (`stored`, by
/// name) at time `now` (unix seconds). Pure but for key generation.
pub fn plan(
    cluster: &ValidCluster,
    stored: &BTreeMap<String, Secret>,
    now: i64,
) -> Result<CertificateSecrets, certs::CertError> {
    let mut out = CertificateSecrets::default();
    if !cluster.needs_certificates() {
        return Ok(out);
    }
    let (name, ns) = (&cluster.name, &cluster.namespace);
    let mut authorities = Vec::new();
    for (kind, key_name, public_name) in [
        (
            CaKind::Cluster,
            names::cluster_ca(name),
            names::cluster_ca_cert(name),
        ),
        (
            CaKind::Clients,
            names::clients_ca(name),
            names::clients_ca_cert(name),
        ),
    ] {
        let before = stored_authority(stored.get(&key_name), stored.get(&public_name));
        let (ca, why) = certs::ensure_authority(before.as_ref(), kind, name, ns, now)?;
        if let Some(why) = why {
            out.changes.push(format!("{key_name}: a new CA ({why})"));
        }
        out.secrets.push(secret(
            cluster,
            key_name,
            BTreeMap::from([
                (CA_KEY.to_string(), ca.key_pem.clone()),
                (CA_CERT.to_string(), ca.cert_pem.clone()),
            ]),
        ));
        out.secrets.push(secret(
            cluster,
            public_name,
            BTreeMap::from([(CA_CERT.to_string(), ca.trusted_pem.clone())]),
        ));
        authorities.push(ca);
    }
    let clients_ca = authorities.pop().expect("two CAs were made");
    let cluster_ca = authorities.pop().expect("two CAs were made");
    // the nodes' and the operator's certificates are the cluster CA's
    let issue = |before: Option<Issued>, issued_under: &str, request: CertRequest| {
        certs::ensure_issued(
            before.as_ref().map(|b| (b, issued_under)),
            &cluster_ca,
            CaKind::Cluster,
            name,
            ns,
            &request,
            now,
        )
    };

    let node_secret_name = names::node_certs(name);
    let node_secret = stored.get(&node_secret_name);
    // the CA the stored certificates were issued under: the first of the stored bundle
    let issued_under = certs::issuing_ca(text(node_secret, names::CLUSTER_CA_FILE).as_deref());
    let mut data = BTreeMap::new();
    for node in &cluster.nodes {
        let crt = format!("{}.crt", node.pod_name);
        let key = format!("{}.key", node.pod_name);
        let before = Issued::stored(text(node_secret, &crt), text(node_secret, &key));
        let request = CertRequest {
            common_name: node.host.clone(),
            dns_names: node_dns_names(cluster, &node.host),
            server: true,
        };
        let (issued, why) = issue(before, &issued_under, request)?;
        if let Some(why) = why {
            out.changes.push(format!(
                "the certificate of {}: issued ({why})",
                node.pod_name
            ));
        }
        data.insert(
            names::keystore_file(&node.pod_name),
            certs::keystore(&issued, &cluster_ca),
        );
        data.insert(crt, issued.cert_pem);
        data.insert(key, issued.key_pem);
    }
    data.insert(
        names::CLUSTER_CA_FILE.to_string(),
        cluster_ca.trusted_pem.clone(),
    );
    data.insert(
        names::CLIENTS_CA_FILE.to_string(),
        clients_ca.trusted_pem.clone(),
    );
    out.secrets.push(secret(cluster, node_secret_name, data));
    if cluster.spec.authorization.is_some() {
        let operator_secret_name = names::operator_cert(name);
        let stored_secret = stored.get(&operator_secret_name);
        let before = Issued::stored(
            text(stored_secret, OPERATOR_CERT),
            text(stored_secret, OPERATOR_KEY),
        );
        let issued_under = certs::issuing_ca(text(stored_secret, CA_CERT).as_deref());
        let request = CertRequest {
            common_name: names::OPERATOR_COMMON_NAME.to_string(),
            dns_names: Vec::new(),
            server: false,
        };
        let (issued, why) = issue(before, &issued_under, request)?;
        if let Some(why) = why {
            out.changes
                .push(format!("the operator's certificate: issued ({why})"));
        }
        let operator_secret = secret(
            cluster,
            operator_secret_name,
            BTreeMap::from([
                (OPERATOR_CERT.to_string(), issued.cert_pem),
                (OPERATOR_KEY.to_string(), issued.key_pem),
                (CA_CERT.to_string(), cluster_ca.trusted_pem.clone()),
            ]),
        );
        out.operator_tls =
            Some(operator_tls(&operator_secret).map_err(|e| {
                certs::CertError::Unusable(format!("the operator's certificate: {e}"))
            })?);
        out.secrets.push(operator_secret);
    }
    out.cluster_ca = Some(cluster_ca);
    out.clients_ca = Some(clients_ca);
    Ok(out)
}

/// Reads the cluster's certificate Secrets, plans them and applies what changed.
pub async fn ensure(
    client: &Client,
    cluster: &ValidCluster,
) -> Result<CertificateSecrets, ReconcileError> {
    if !cluster.needs_certificates() {
        return Ok(CertificateSecrets::default());
    }
    let api: Api<Secret> = Api::namespaced(client.clone(), &cluster.namespace);
    let name = &cluster.name;
    let mut stored = BTreeMap::new();
    for secret_name in [
        names::cluster_ca(name),
        names::cluster_ca_cert(name),
        names::clients_ca(name),
        names::clients_ca_cert(name),
        names::node_certs(name),
        names::operator_cert(name),
    ] {
        let found = api
            .get_opt(&secret_name)
            .await
            .map_err(|source| ReconcileError::List {
                kind: "Secret",
                source,
            })?;
        if let Some(found) = found {
            stored.insert(secret_name, found);
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let planned = plan(cluster, &stored, now).map_err(ReconcileError::Certificates)?;
    for secret in &planned.secrets {
        let secret_name = secret.metadata.name.clone().unwrap_or_default();
        let unchanged = stored.get(&secret_name).is_some_and(|s| {
            s.data == secret.data && s.metadata.owner_references == secret.metadata.owner_references
        });
        if unchanged {
            continue;
        }
        api.patch(
            &secret_name,
            &PatchParams::apply(names::FIELD_MANAGER).force(),
            &Patch::Apply(secret),
        )
        .await
        .map_err(|source| ReconcileError::Apply {
            kind: "Secret",
            name: secret_name.clone(),
            source,
        })?;
    }
    Ok(planned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::test_support::cluster;
    use crate::cluster::validate::validate;

    fn tls_cluster() -> ValidCluster {
        let mut c = cluster();
        c.spec.listeners[0].tls = true;
        validate(&c).expect("a TLS listener is valid")
    }

    fn by_name(secrets: &[Secret]) -> BTreeMap<String, Secret> {
        secrets
            .iter()
            .map(|s| (s.metadata.name.clone().unwrap_or_default(), s.clone()))
            .collect()
    }

    #[test]
    fn a_plaintext_cluster_needs_no_certificates() {
        let valid = validate(&cluster()).expect("valid");
        let planned = plan(&valid, &BTreeMap::new(), 1_800_000_000).expect("planned");
        assert!(planned.secrets.is_empty());
    }

    #[test]
    fn the_secrets_are_made_once_and_then_kept_as_they_are() {
        let valid = tls_cluster();
        let now = 1_800_000_000;
        let first = plan(&valid, &BTreeMap::new(), now).expect("planned");
        let names: Vec<String> = first
            .secrets
            .iter()
            .filter_map(|s| s.metadata.name.clone())
            .collect();
        assert_eq!(
            names,
            [
                "demo-cluster-ca",
                "demo-cluster-ca-cert",
                "demo-clients-ca",
                "demo-clients-ca-cert",
                "demo-node-certs"
            ]
        );
        assert_eq!(
            first.changes.len(),
            2 + 3,
            "two CAs and three node certificates made: {:?}",
            first.changes
        );
        let node_certs = &first.secrets[4];
        let keys: Vec<&String> = node_certs.data.as_ref().expect("data").keys().collect();
        assert!(
            keys.contains(&&"demo-combined-0.keystore.pem".to_string()),
            "{keys:?}"
        );
        assert!(keys.contains(&&"clients-ca.crt".to_string()), "{keys:?}");

        let second = plan(&valid, &by_name(&first.secrets), now + 3600).expect("planned again");
        assert!(
            second.changes.is_empty(),
            "nothing is remade: {:?}",
            second.changes
        );
        assert_eq!(
            second.secrets, first.secrets,
            "the same Secrets, byte for byte"
        );
    }

    #[test]
    fn a_grown_pool_gets_a_certificate_for_the_new_node_only() {
        let now = 1_800_000_000;
        let first = plan(&tls_cluster(), &BTreeMap::new(), now).expect("planned");
        let mut c = cluster();
        c.spec.listeners[0].tls = true;
        c.spec.node_pools[0].replicas = 4;
        let grown = validate(&c).expect("valid");
        let second = plan(&grown, &by_name(&first.secrets), now).expect("planned");
        assert_eq!(
            second.changes,
            ["the certificate of demo-combined-3: issued (no certificate yet)"]
        );
    }

    #[test]
    fn authorization_gives_the_operator_a_client_certificate_of_the_cluster_ca() {
        let mut c = cluster();
        c.spec.listeners[0].authentication.type_ =
            crate::crd::kafka_cluster::AuthenticationType::ScramSha512;
        c.spec.authorization = Some(crate::crd::kafka_cluster::AuthorizationSpec {
            type_: crate::crd::kafka_cluster::AuthorizationType::Simple,
            super_users: Vec::new(),
        });
        let valid = validate(&c).expect("valid");
        let now = 1_800_000_000;
        let first = plan(&valid, &BTreeMap::new(), now).expect("planned");
        assert!(first.operator_tls.is_some(), "the admin client's TLS");
        let operator = first
            .secrets
            .iter()
            .find(|s| s.metadata.name.as_deref() == Some("demo-operator-cert"))
            .expect("the operator's Secret");
        let data = operator.data.as_ref().expect("data");
        let text = |k: &str| String::from_utf8(data[k].0.clone()).expect("text");
        let cluster_ca = first.cluster_ca.as_ref().expect("the cluster CA");
        assert_eq!(text("ca.crt"), cluster_ca.trusted_pem);
        let cert_pem = text("tls.crt");
        let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes()).expect("PEM");
        let cert = pem.parse_x509().expect("a certificate");
        assert_eq!(cert.subject().to_string(), "CN=ironlog-operator");
        let (_, ca_pem) =
            x509_parser::pem::parse_x509_pem(cluster_ca.cert_pem.as_bytes()).expect("CA PEM");
        assert_eq!(
            cert.issuer(),
            ca_pem.parse_x509().expect("the CA").subject(),
            "signed by the cluster CA (what the internal listeners trust)"
        );
        let usage = cert
            .extended_key_usage()
            .expect("parsed")
            .expect("an extended key usage");
        assert!(usage.value.client_auth && !usage.value.server_auth);
        assert!(
            first
                .changes
                .iter()
                .any(|c| c.starts_with("the operator's certificate: issued")),
            "{:?}",
            first.changes
        );

        let second = plan(&valid, &by_name(&first.secrets), now + 3600).expect("planned again");
        assert!(second.changes.is_empty(), "kept: {:?}", second.changes);
        assert_eq!(second.secrets, first.secrets);
    }

    #[test]
    fn without_authorization_there_is_no_operator_certificate() {
        let planned = plan(&tls_cluster(), &BTreeMap::new(), 1_800_000_000).expect("planned");
        assert!(planned.operator_tls.is_none());
        assert!(!planned
            .secrets
            .iter()
            .any(|s| s.metadata.name.as_deref() == Some("demo-operator-cert")));
    }
}
