//! `certificate`: a TLS User's client certificate — signed by its cluster's clients CA, the
//! subject `CN=<user>` (the principal the broker's default `ssl.principal.mapping.rules`
//! give: `User:CN=<user>`). Its Secret holds `user.crt`, `user.key` and `ca.crt` (the
//! clients CA that signed it, as Strimzi's user Secrets do; clients verify the brokers with
//! `<cluster>-cluster-ca-cert`). Pure: the certificate is kept while it is valid beyond the
//! renewal window and was issued under the current clients CA, else issued afresh.

use std::collections::BTreeMap;

use crate::cluster::certs::{self, Authority, CaKind, CertError, CertRequest, Issued};

/// The keys of a TLS User's Secret.
pub const USER_CERT: &str = "user.crt";
pub const USER_KEY: &str = "user.key";
pub const CA_CERT: &str = "ca.crt";

/// The Secret data of TLS user `user` of cluster `cluster` (namespace `namespace`), given
/// what its Secret holds now (`stored`) and the cluster's clients CA; the second value
/// says why the certificate was issued, `None` when it was kept.
pub fn secret_data(
    stored: &BTreeMap<String, String>,
    clients_ca: &Authority,
    cluster: &str,
    namespace: &str,
    user: &str,
    now: i64,
) -> Result<(BTreeMap<String, String>, Option<String>), CertError> {
    let before = Issued::stored(
        stored.get(USER_CERT).cloned(),
        stored.get(USER_KEY).cloned(),
    );
    let issued_under = certs::issuing_ca(stored.get(CA_CERT).map(String::as_str));
    let request = CertRequest {
        common_name: user.to_string(),
        dns_names: Vec::new(),
        server: false,
    };
    let (issued, why) = certs::ensure_issued(
        before.as_ref().map(|b| (b, issued_under.as_str())),
        clients_ca,
        CaKind::Clients,
        cluster,
        namespace,
        &request,
        now,
    )?;
    Ok((
        BTreeMap::from([
            (USER_CERT.to_string(), issued.cert_pem),
            (USER_KEY.to_string(), issued.key_pem),
            (CA_CERT.to_string(), clients_ca.trusted_pem.clone()),
        ]),
        why,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_certificate_is_issued_once_and_again_when_the_clients_ca_changes() {
        let now = 1_800_000_000;
        let (ca, _) =
            certs::ensure_authority(None, CaKind::Clients, "demo", "kafka", now).expect("a CA");
        let (first, why) =
            secret_data(&BTreeMap::new(), &ca, "demo", "kafka", "alice", now).expect("issued");
        assert_eq!(why.as_deref(), Some("no certificate yet"));
        let keys: Vec<&str> = first.keys().map(String::as_str).collect();
        assert_eq!(keys, ["ca.crt", "user.crt", "user.key"]);
        let (_, pem) =
            x509_parser::pem::parse_x509_pem(first[USER_CERT].as_bytes()).expect("a PEM");
        let cert = pem.parse_x509().expect("a certificate");
        assert_eq!(cert.subject().to_string(), "CN=alice");
        assert!(
            cert.issuer().to_string().contains("clients CA"),
            "{}",
            cert.issuer()
        );

        let (kept, why) =
            secret_data(&first, &ca, "demo", "kafka", "alice", now + 60).expect("kept");
        assert_eq!((kept, why), (first.clone(), None));

        let (other, _) =
            certs::ensure_authority(None, CaKind::Clients, "demo", "kafka", now).expect("a CA");
        let (renewed, why) =
            secret_data(&first, &other, "demo", "kafka", "alice", now).expect("issued");
        assert_eq!(why.as_deref(), Some("the CA was renewed"));
        assert_ne!(renewed[USER_CERT], first[USER_CERT]);
    }
}
