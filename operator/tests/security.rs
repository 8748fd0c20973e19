//! Secured KafkaClusters against a real control plane, with the test kit's node agent
//! running the pods as real `ironlog` processes and the real operator binary in the
//! cluster's network: the operator's CAs and node certificates are made once and kept
//! across reconciles, a broker's TLS listener serves a certificate that chains to the
//! cluster CA for the pod's DNS name, librdkafka talks to it with only the CA from the
//! public `<cluster>-cluster-ca-cert` Secret, an mTLS listener refuses a client without a
//! certificate, and a User's SCRAM-SHA-512 credentials work over SASL_SSL. The cluster has
//! no plaintext client listener: the operator's admin calls go to the brokers' own
//! REPLICATION listener. An oauth listener validates JWTs against the JSON Web Key Set of
//! a ConfigMap the operator mounts: a token of its key produces and consumes, a token of
//! another key is refused until the ConfigMap holds that key too, with no restart.

mod common;

use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use ironlog_operator::crd::KafkaCluster;
use ironlog_testkit::control_plane::ControlPlaneSpec;
use kube::api::Api;
use kube::Client;
use serde_json::json;

use common::cluster::OperatorEnv;
use common::secured::{client_script, secret_data, user_ready, STEP_TIMEOUT};
use common::{apply, wait_until};

const SPEC: ControlPlaneSpec = ControlPlaneSpec {
    controller_manager: true,
    scheduler: true,
};
/// How long the cluster may take from apply to Ready on a loaded machine.
const READY_TIMEOUT: Duration = Duration::from_secs(300);
const CLUSTER: &str = "secure";
const TLS_PORT: u16 = 9094;
const SCRAM_PORT: u16 = 9095;
const MTLS_PORT: u16 = 9096;

fn cluster_manifest(retention_ms: &str) -> serde_json::Value {
    json!({
        "apiVersion": "ironlog.dev/v1alpha1",
        "kind": "KafkaCluster",
        "metadata": {"name": CLUSTER},
        "spec": {
            "version": "0.1.0",
            "nodePools": [{
                "name": "combined", "replicas": 1, "roles": ["broker", "controller"],
                "storage": {"size": "1Gi"}
            }],
            "listeners": [
                {"name": "tls", "port": TLS_PORT, "type": "internal", "tls": true},
                {"name": "scram", "port": SCRAM_PORT, "type": "internal", "tls": true,
                 "authentication": {"type": "scram-sha-512"}},
                {"name": "mtls", "port": MTLS_PORT, "type": "internal", "tls": true,
                 "authentication": {"type": "tls"}}
            ],
            "config": {
                "offsets.topic.replication.factor": "1",
                "transaction.state.log.replication.factor": "1",
                "transaction.state.log.min.isr": "1",
                "log.retention.ms": retention_ms
            }
        }
    })
}

/// Waits until the cluster is Ready at its current generation; returns that generation.
async fn ready(client: &Client, ns: &str, timeout: Duration) -> i64 {
    let api: Api<KafkaCluster> = Api::namespaced(client.clone(), ns);
    wait_until(
        timeout,
        &format!("KafkaCluster {CLUSTER} Ready at its generation"),
        || {
            let api = api.clone();
            async move {
                let cluster = api.get(CLUSTER).await.ok()?;
                let generation = cluster.metadata.generation?;
                let status = cluster.status?;
                let ready = ironlog_operator::cluster::reconcile::condition(&status, "Ready")?;
                (status.observed_generation == Some(generation)
                    && ready.status == "True"
                    && ready.observed_generation == Some(generation))
                .then_some(generation)
            }
        },
    )
    .await
}

/// A TLS handshake with `host:port` trusting only `ca_pem`, verifying the server's name as
/// any TLS client does; the DNS names of the certificate the server presented.
fn handshake(host: &str, port: u16, ca_pem: &str) -> Result<Vec<String>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots
            .add(ca.map_err(|e| format!("the CA bundle: {e}"))?)
            .map_err(|e| format!("the CA: {e}"))?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = ServerName::try_from(host.to_string()).map_err(|e| e.to_string())?;
    let mut connection =
        rustls::ClientConnection::new(Arc::new(config), name).map_err(|e| e.to_string())?;
    let mut tcp = TcpStream::connect((host, port)).map_err(|e| format!("connect: {e}"))?;
    tcp.set_read_timeout(Some(Duration::from_secs(20)))
        .map_err(|e| e.to_string())?;
    while connection.is_handshaking() {
        connection
            .complete_io(&mut tcp)
            .map_err(|e| format!("the TLS handshake failed: {e}"))?;
    }
    let leaf = connection
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or("the server sent no certificate")?
        .clone();
    let (_, cert) = x509_parser::parse_x509_certificate(&leaf).map_err(|e| e.to_string())?;
    let names = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(names)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_cluster_keeps_its_cas_and_serves_certificates_clients_trust() {
    let env = OperatorEnv::start(SPEC, "tls", &["zone-a"]).await;
    let (client, ns, agent) = (&env.client, &env.ns, &env.agent);
    apply(client, ns, &cluster_manifest("604800000"))
        .await
        .expect("the API server takes the cluster");
    let first_generation = ready(client, ns, READY_TIMEOUT).await;

    // the CAs and the node certificates, under Strimzi's names
    let cluster_ca = secret_data(client, ns, "secure-cluster-ca").await;
    let clients_ca = secret_data(client, ns, "secure-clients-ca").await;
    let cluster_ca_cert = secret_data(client, ns, "secure-cluster-ca-cert").await;
    let clients_ca_cert = secret_data(client, ns, "secure-clients-ca-cert").await;
    let node_certs = secret_data(client, ns, "secure-node-certs").await;
    for (name, data, keys) in [
        ("secure-cluster-ca", &cluster_ca, &["ca.crt", "ca.key"][..]),
        ("secure-clients-ca", &clients_ca, &["ca.crt", "ca.key"][..]),
        ("secure-cluster-ca-cert", &cluster_ca_cert, &["ca.crt"][..]),
        ("secure-clients-ca-cert", &clients_ca_cert, &["ca.crt"][..]),
    ] {
        let have: Vec<&str> = data.keys().map(String::as_str).collect();
        assert_eq!(have, keys, "the keys of Secret {name}");
    }
    assert!(
        !cluster_ca_cert["ca.crt"].contains("PRIVATE KEY"),
        "the public CA Secret holds no key"
    );
    assert_eq!(cluster_ca_cert["ca.crt"], cluster_ca["ca.crt"]);
    assert!(node_certs.contains_key("secure-combined-0.keystore.pem"));
    assert_ne!(
        cluster_ca["ca.crt"], clients_ca["ca.crt"],
        "two different CAs"
    );

    // another generation, reconciled: nothing about the certificates changes
    apply(client, ns, &cluster_manifest("86400000"))
        .await
        .expect("the API server takes the changed cluster");
    let second_generation = ready(client, ns, STEP_TIMEOUT).await;
    assert!(second_generation > first_generation);
    for (name, before) in [
        ("secure-cluster-ca", &cluster_ca),
        ("secure-clients-ca", &clients_ca),
        ("secure-node-certs", &node_certs),
    ] {
        assert_eq!(
            &secret_data(client, ns, name).await,
            before,
            "Secret {name} must be kept as it is across reconciles"
        );
    }

    // the TLS listener: a certificate chaining to the cluster CA for the pod's DNS name
    let host = format!("secure-combined-0.secure-nodes.{ns}.svc");
    let bootstrap_host = format!("secure-bootstrap.{ns}.svc");
    let ca_pem = cluster_ca_cert["ca.crt"].clone();
    let names = {
        let (host, ca_pem) = (host.clone(), ca_pem.clone());
        tokio::task::block_in_place(|| {
            agent.on_cluster_thread("client", move || handshake(&host, TLS_PORT, &ca_pem))
        })
    }
    .unwrap_or_else(|e| panic!("a TLS client trusting the cluster CA: {e}"));
    assert!(names.contains(&host), "the pod's DNS name in {names:?}");
    assert!(
        names.contains(&bootstrap_host),
        "the bootstrap Service's name in {names:?}"
    );
    // through the bootstrap Service's name too
    let through_bootstrap = {
        let (host, ca_pem) = (bootstrap_host.clone(), ca_pem.clone());
        tokio::task::block_in_place(|| {
            agent.on_cluster_thread("client", move || handshake(&host, TLS_PORT, &ca_pem))
        })
    };
    assert!(
        through_bootstrap.is_ok(),
        "the bootstrap Service's name verifies: {through_bootstrap:?}"
    );
    // a client trusting the clients CA instead does not accept the brokers' certificate
    let wrong_ca = {
        let (host, ca_pem) = (host.clone(), clients_ca_cert["ca.crt"].clone());
        tokio::task::block_in_place(|| {
            agent.on_cluster_thread("client", move || handshake(&host, TLS_PORT, &ca_pem))
        })
    };
    assert!(
        wrong_ca.is_err(),
        "a certificate of the cluster CA must not verify against the clients CA"
    );

    // librdkafka over SSL with only the public CA Secret's certificate, and SCRAM over
    // SASL_SSL with a User's credentials
    let files = tempfile::tempdir().expect("a dir for the client's files");
    let ca_file = files.path().join("ca.crt");
    std::fs::write(&ca_file, &ca_pem).expect("the CA file");
    let ca_file = ca_file.to_string_lossy().into_owned();
    apply(
        client,
        ns,
        &json!({
            "apiVersion": "ironlog.dev/v1alpha1",
            "kind": "User",
            "metadata": {"name": "alice"},
            "spec": {"clusterRef": {"name": CLUSTER},
                     "authentication": {"type": "scram-sha-512"}}
        }),
    )
    .await
    .expect("the API server takes the User");
    user_ready(client, ns, "alice").await;
    let password = secret_data(client, ns, "alice").await["password"].clone();

    let ca = ("ssl.ca.location", ca_file.as_str());
    let tls = [
        ("bootstrap.servers", format!("{bootstrap_host}:{TLS_PORT}")),
        ("security.protocol", "SSL".to_string()),
    ];
    let mut settings: Vec<(&str, String)> = tls.to_vec();
    settings.push((ca.0, ca.1.to_string()));
    assert_eq!(
        client_script(agent, &settings, &["produce", "over-tls", "sealed"]).await,
        "OK",
        "librdkafka produces over SSL trusting the cluster CA"
    );
    let scram = vec![
        (
            "bootstrap.servers",
            format!("{bootstrap_host}:{SCRAM_PORT}"),
        ),
        ("security.protocol", "SASL_SSL".to_string()),
        (ca.0, ca.1.to_string()),
        ("sasl.mechanism", "SCRAM-SHA-512".to_string()),
        ("sasl.username", "alice".to_string()),
        ("sasl.password", password.clone()),
    ];
    assert_eq!(
        client_script(
            agent,
            &scram,
            &["consume", "over-tls", "alice-group", "sealed"]
        )
        .await,
        "OK",
        "alice reads the record over SASL_SSL with her SCRAM credentials"
    );
    let mut wrong = scram.clone();
    wrong.retain(|(k, _)| *k != "sasl.password");
    wrong.push(("sasl.password", "not-her-password".to_string()));
    assert_eq!(
        client_script(agent, &wrong, &["produce", "over-tls", "forged"]).await,
        "_AUTHENTICATION",
        "a wrong password is refused"
    );
    // an mTLS listener refuses a client without a certificate
    let mtls = vec![
        ("bootstrap.servers", format!("{host}:{MTLS_PORT}")),
        ("security.protocol", "SSL".to_string()),
        (ca.0, ca.1.to_string()),
    ];
    let anonymous = client_script(agent, &mtls, &["produce", "over-tls", "anonymous"]).await;
    assert_ne!(
        anonymous, "OK",
        "the mTLS listener must refuse a client without a certificate"
    );

    // a TLS User gets a certificate of the clients CA that the mTLS listener accepts
    apply(
        client,
        ns,
        &json!({
            "apiVersion": "ironlog.dev/v1alpha1",
            "kind": "User",
            "metadata": {"name": "bob"},
            "spec": {"clusterRef": {"name": CLUSTER}, "authentication": {"type": "tls"}}
        }),
    )
    .await
    .expect("the API server takes the TLS User");
    user_ready(client, ns, "bob").await;
    let bob = secret_data(client, ns, "bob").await;
    let keys: Vec<&str> = bob.keys().map(String::as_str).collect();
    assert_eq!(keys, ["ca.crt", "user.crt", "user.key"], "bob's Secret");
    assert_eq!(
        bob["ca.crt"], clients_ca["ca.crt"],
        "ca.crt is the clients CA that signed bob's certificate"
    );
    let (cert_file, key_file) = (files.path().join("bob.crt"), files.path().join("bob.key"));
    std::fs::write(&cert_file, &bob["user.crt"]).expect("bob's certificate file");
    std::fs::write(&key_file, &bob["user.key"]).expect("bob's key file");
    let mut with_certificate = mtls.clone();
    with_certificate.push((
        "ssl.certificate.location",
        cert_file.to_string_lossy().into_owned(),
    ));
    with_certificate.push(("ssl.key.location", key_file.to_string_lossy().into_owned()));
    assert_eq!(
        client_script(
            agent,
            &with_certificate,
            &["produce", "over-tls", "from-bob"]
        )
        .await,
        "OK",
        "bob's certificate is accepted on the mTLS listener"
    );
}

/// A P-256 signing key of the test's identity provider.
struct IdpKey {
    kid: String,
    pair: rcgen::KeyPair,
}

impl IdpKey {
    fn generate(kid: &str) -> Self {
        IdpKey {
            kid: kid.to_string(),
            pair: rcgen::KeyPair::generate().expect("generate a P-256 key"),
        }
    }

    fn jwk(&self) -> serde_json::Value {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;
        let point = self.pair.public_key_raw();
        json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": self.kid,
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..]),
        })
    }

    /// A token for `user` from the test's issuer, for audience `kafka`, valid for an hour.
    fn token(&self, user: &str) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("the clock is after 1970")
            .as_secs();
        let claims = json!({
            "iss": OAUTH_ISSUER, "aud": "kafka", "sub": format!("id-of-{user}"),
            "preferred_username": user, "iat": now, "exp": now + 3600,
        });
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        let key = jsonwebtoken::EncodingKey::from_ec_pem(self.pair.serialize_pem().as_bytes())
            .expect("the key as a JWT signing key");
        jsonwebtoken::encode(&header, &claims, &key).expect("sign a JWT")
    }
}

const OAUTH_ISSUER: &str = "https://idp.example.test/realms/kafka";
const OAUTH_PORT: u16 = 9097;

fn jwks_config_map(keys: &[&IdpKey]) -> serde_json::Value {
    let set = json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()});
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "idp-keys"},
        "data": {"jwks.json": set.to_string()}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oauth_listener_validates_tokens_against_the_key_set_of_its_config_map() {
    let env = OperatorEnv::start(SPEC, "oauth", &["zone-a"]).await;
    let (client, ns, agent) = (&env.client, &env.ns, &env.agent);
    let first = IdpKey::generate("idp-key-1");
    let rotated = IdpKey::generate("idp-key-2");
    apply(client, ns, &jwks_config_map(&[&first]))
        .await
        .expect("the API server takes the key set ConfigMap");
    let mut cluster = cluster_manifest("604800000");
    cluster["spec"]["listeners"] = json!([
        {"name": "oauth", "port": OAUTH_PORT, "type": "internal",
         "authentication": {"type": "oauth", "oauth": {
             "jwksConfigMap": {"name": "idp-keys", "key": "jwks.json"},
             "issuer": OAUTH_ISSUER, "audience": ["kafka"],
             "usernameClaim": "preferred_username"}}}
    ]);
    apply(client, ns, &cluster)
        .await
        .expect("the API server takes the oauth cluster");
    ready(client, ns, READY_TIMEOUT).await;

    let bootstrap = format!("secure-bootstrap.{ns}.svc:{OAUTH_PORT}");
    let oauth = |token: String| {
        vec![
            ("bootstrap.servers", bootstrap.clone()),
            ("security.protocol", "SASL_PLAINTEXT".to_string()),
            ("sasl.mechanism", "OAUTHBEARER".to_string()),
            ("test.oauth.token", token),
        ]
    };
    assert_eq!(
        client_script(
            agent,
            &oauth(first.token("alice")),
            &["produce", "with-tokens", "signed"]
        )
        .await,
        "OK",
        "a token of the key set's key produces"
    );
    assert_eq!(
        client_script(
            agent,
            &oauth(first.token("alice")),
            &["consume", "with-tokens", "oauth-group", "signed"]
        )
        .await,
        "OK",
        "and consumes what it produced"
    );
    assert_eq!(
        client_script(
            agent,
            &oauth(rotated.token("alice")),
            &["produce", "with-tokens", "early"]
        )
        .await,
        "_AUTHENTICATION",
        "a token of a key the set does not hold is refused"
    );

    // the identity provider rotates: the ConfigMap gets the new key, the brokers read it
    // again for the unknown key id — no restart
    apply(client, ns, &jwks_config_map(&[&first, &rotated]))
        .await
        .expect("the API server takes the rotated key set");
    let token = rotated.token("alice");
    wait_until(
        STEP_TIMEOUT,
        "a token of the rotated key authenticates",
        || {
            let settings = oauth(token.clone());
            let agent = &agent;
            async move {
                (client_script(agent, &settings, &["produce", "with-tokens", "rotated"]).await
                    == "OK")
                    .then_some(())
            }
        },
    )
    .await;
    let pods = common::cluster::pods(client, ns, CLUSTER).await;
    let restarts: i32 = pods
        .iter()
        .filter_map(|p| p.status.as_ref()?.container_statuses.as_ref())
        .flatten()
        .map(|c| c.restart_count)
        .sum();
    assert_eq!(restarts, 0, "the key set was taken up without a restart");
}
