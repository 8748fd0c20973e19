//! `certs`: the operator's two certificate authorities per cluster and the certificates
//! they sign — pure functions of what the Secrets hold and the time, so each decision is
//! unit tested.
//!
//! - The **cluster CA** signs every node's certificate: the server certificate of its TLS
//!   listeners (SANs: the pod's name through the headless Service, the bootstrap Service's
//!   names), also good for client authentication between nodes. Clients trust it through
//!   `<cluster>-cluster-ca-cert` (`ca.crt`).
//! - The **clients CA** signs the certificates of TLS Users (and the operator's own); mTLS
//!   listeners trust it. Its public part is `<cluster>-clients-ca-cert`.
//!
//! Each CA's key and certificate live in `<cluster>-cluster-ca` / `<cluster>-clients-ca`
//! (`ca.key`, `ca.crt`), as Strimzi names them. A CA is made once and kept while it is
//! valid; within [`CA_RENEWAL_DAYS`] of its expiry (or when what is stored is unusable) a
//! new key and certificate replace it, and the public bundle keeps trusting the old
//! certificate until it expires, so clients and nodes still holding certificates of the old
//! CA keep working while they are replaced. A node's certificate is kept while it is valid
//! beyond [`CERT_RENEWAL_DAYS`], names exactly the wanted SANs and was signed by the current
//! CA; otherwise it is issued afresh.

use std::collections::BTreeMap;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use time::OffsetDateTime;

/// How long a CA certificate is valid.
pub const CA_VALIDITY_DAYS: i64 = 5 * 365;
/// How long before a CA's expiry it is replaced.
pub const CA_RENEWAL_DAYS: i64 = 180;
/// How long a node's or user's certificate is valid.
pub const CERT_VALIDITY_DAYS: i64 = 365;
/// How long before a certificate's expiry it is issued afresh.
pub const CERT_RENEWAL_DAYS: i64 = 30;
/// How far back a new certificate's `notBefore` is set (clocks of other machines).
pub const BACKDATE_SECONDS: i64 = 3600;

const DAY_SECONDS: i64 = 24 * 3600;

/// Why a certificate could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("generating {what}: {source}")]
    Generate { what: String, source: rcgen::Error },
    #[error("the time {0} is out of range for a certificate")]
    Time(i64),
    #[error("{0}")]
    Unusable(String),
}

/// Keep a stored certificate or replace it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Renewal {
    Keep,
    /// Replace it, and why (for the Event and the log).
    Renew(String),
}

/// A certificate authority: its key and certificate (PEM), and the bundle clients trust —
/// its certificate first, then earlier CA certificates that are still valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    pub cert_pem: String,
    pub key_pem: String,
    pub trusted_pem: String,
}

/// A certificate and its key (PEM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

impl Issued {
    /// A certificate read back from where it is kept: `Some` when both it and its key are.
    pub fn stored(cert_pem: Option<String>, key_pem: Option<String>) -> Option<Issued> {
        Some(Issued {
            cert_pem: cert_pem?,
            key_pem: key_pem?,
        })
    }
}

/// Which CA of a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaKind {
    Cluster,
    Clients,
}

impl CaKind {
    fn common_name(self, cluster: &str, namespace: &str) -> String {
        match self {
            CaKind::Cluster => format!("{namespace}/{cluster} cluster CA"),
            CaKind::Clients => format!("{namespace}/{cluster} clients CA"),
        }
    }
}

/// What a parsed certificate says that the decisions need.
struct Facts {
    not_before: i64,
    not_after: i64,
    dns_names: Vec<String>,
    public_key: Vec<u8>,
}

fn facts(cert_pem: &str) -> Option<Facts> {
    let (_, pem) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes()).ok()?;
    let cert = pem.parse_x509().ok()?;
    let validity = cert.validity();
    let mut dns_names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(dns) = name {
                dns_names.push(dns.to_string());
            }
        }
    }
    Some(Facts {
        not_before: validity.not_before.timestamp(),
        not_after: validity.not_after.timestamp(),
        dns_names,
        public_key: cert.public_key().raw.to_vec(),
    })
}

/// The CA certificate a stored certificate was issued under, for [`ensure_issued`]: the
/// first of the CA bundle kept beside it; empty when none is (the certificate is then
/// issued again).
pub fn issuing_ca(bundle: Option<&str>) -> String {
    bundle
        .and_then(|bundle| split_bundle(bundle).into_iter().next())
        .unwrap_or_default()
}

/// Every certificate in a PEM bundle, each as its own PEM text.
pub fn split_bundle(bundle: &str) -> Vec<String> {
    const END: &str = "-----END CERTIFICATE-----";
    bundle
        .split_inclusive(END)
        .filter(|part| part.contains(END))
        .map(|part| format!("{}\n", part.trim()))
        .collect()
}

/// Keep `cert_pem` or renew it: renewed within `renewal_days` of its expiry, before its
/// `notBefore`, or when it cannot be read.
pub fn renewal(cert_pem: &str, now: i64, renewal_days: i64) -> Renewal {
    let Some(facts) = facts(cert_pem) else {
        return Renewal::Renew("the stored certificate cannot be read".to_string());
    };
    if now < facts.not_before {
        return Renewal::Renew(format!(
            "the stored certificate is not valid before {} (now {now})",
            facts.not_before
        ));
    }
    if now >= facts.not_after - renewal_days * DAY_SECONDS {
        return Renewal::Renew(format!(
            "the stored certificate expires at {} (unix seconds), within {renewal_days} days",
            facts.not_after
        ));
    }
    Renewal::Keep
}

fn datetime(seconds: i64) -> Result<OffsetDateTime, CertError> {
    OffsetDateTime::from_unix_timestamp(seconds).map_err(|_| CertError::Time(seconds))
}

fn generate(what: &str) -> impl Fn(rcgen::Error) -> CertError + '_ {
    move |source| CertError::Generate {
        what: what.to_string(),
        source,
    }
}

/// The CA's parameters: the same for making it and for signing with it (the subject a
/// signed certificate names as its issuer).
fn ca_params(
    common_name: &str,
    not_before: i64,
    not_after: i64,
) -> Result<CertificateParams, CertError> {
    let mut params = CertificateParams::default();
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "ironlog.dev");
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    params.not_before = datetime(not_before)?;
    params.not_after = datetime(not_after)?;
    Ok(params)
}

/// The CA `kind` of cluster `cluster`: `stored` kept while valid and usable, else a new
/// one. The second value says why it was (re)made, `None` when kept.
pub fn ensure_authority(
    stored: Option<&Authority>,
    kind: CaKind,
    cluster: &str,
    namespace: &str,
    now: i64,
) -> Result<(Authority, Option<String>), CertError> {
    let reason = match stored {
        None => "no CA yet".to_string(),
        Some(ca) => match renewal(&ca.cert_pem, now, CA_RENEWAL_DAYS) {
            Renewal::Keep => match (KeyPair::from_pem(&ca.key_pem), facts(&ca.cert_pem)) {
                (Ok(key), Some(f)) if key.public_key_der() == f.public_key => {
                    return Ok((ca.clone(), None))
                }
                _ => "the stored CA key does not match its certificate".to_string(),
            },
            Renewal::Renew(why) => why,
        },
    };
    let what = format!("{kind:?} CA");
    let key = KeyPair::generate().map_err(generate(&what))?;
    let params = ca_params(
        &kind.common_name(cluster, namespace),
        now - BACKDATE_SECONDS,
        now + CA_VALIDITY_DAYS * DAY_SECONDS,
    )?;
    let cert = params.self_signed(&key).map_err(generate(&what))?;
    let cert_pem = cert.pem();
    // the old CA's certificates stay trusted until they expire
    let mut trusted_pem = cert_pem.clone();
    if let Some(old) = stored {
        for pem in split_bundle(&old.trusted_pem) {
            if facts(&pem).is_some_and(|f| now < f.not_after) {
                trusted_pem.push_str(&pem);
            }
        }
    }
    Ok((
        Authority {
            cert_pem,
            key_pem: key.serialize_pem(),
            trusted_pem,
        },
        Some(reason),
    ))
}

/// What a certificate is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertRequest {
    /// The subject's common name.
    pub common_name: String,
    /// DNS names (SANs); empty for a user's client certificate.
    pub dns_names: Vec<String>,
    /// A server certificate (server and client auth) or a client-only one.
    pub server: bool,
}

/// `stored` (signed by `stored_ca`, the CA certificate it was issued under) kept while it is
/// valid, names exactly the requested SANs and `stored_ca` is `ca`'s current certificate;
/// else a certificate issued afresh by `ca`. The second value says why it was issued.
pub fn ensure_issued(
    stored: Option<(&Issued, &str)>,
    ca: &Authority,
    kind: CaKind,
    cluster: &str,
    namespace: &str,
    request: &CertRequest,
    now: i64,
) -> Result<(Issued, Option<String>), CertError> {
    let reason = match stored {
        None => "no certificate yet".to_string(),
        Some((_, stored_ca)) if stored_ca.trim() != ca.cert_pem.trim() => {
            "the CA was renewed".to_string()
        }
        Some((issued, _)) => match renewal(&issued.cert_pem, now, CERT_RENEWAL_DAYS) {
            Renewal::Renew(why) => why,
            Renewal::Keep => {
                let mut have = facts(&issued.cert_pem)
                    .map(|f| f.dns_names)
                    .unwrap_or_default();
                let mut want = request.dns_names.clone();
                have.sort();
                want.sort();
                if have == want {
                    return Ok((issued.clone(), None));
                }
                format!("its names {have:?} are not the wanted {want:?}")
            }
        },
    };
    let issued = issue(ca, kind, cluster, namespace, request, now)?;
    Ok((issued, Some(reason)))
}

/// A certificate for `request`, signed by `ca`.
pub fn issue(
    ca: &Authority,
    kind: CaKind,
    cluster: &str,
    namespace: &str,
    request: &CertRequest,
    now: i64,
) -> Result<Issued, CertError> {
    let what = format!("a certificate for {}", request.common_name);
    let ca_key = KeyPair::from_pem(&ca.key_pem).map_err(generate(&what))?;
    // the issuer as the CA certificate names it: the same subject, the same key
    let ca_facts = facts(&ca.cert_pem);
    let issuer = ca_params(
        &kind.common_name(cluster, namespace),
        ca_facts.as_ref().map_or(now, |f| f.not_before),
        ca_facts.as_ref().map_or(now, |f| f.not_after),
    )?
    .self_signed(&ca_key)
    .map_err(generate(&what))?;
    let key = KeyPair::generate().map_err(generate(&what))?;
    let mut params = CertificateParams::new(request.dns_names.clone()).map_err(generate(&what))?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, request.common_name.as_str());
    params.distinguished_name = dn;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = if request.server {
        vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ]
    } else {
        vec![ExtendedKeyUsagePurpose::ClientAuth]
    };
    params.use_authority_key_identifier_extension = true;
    params.not_before = datetime(now - BACKDATE_SECONDS)?;
    // never beyond the CA's own expiry
    let not_after =
        (now + CERT_VALIDITY_DAYS * DAY_SECONDS).min(ca_facts.map_or(i64::MAX, |f| f.not_after));
    params.not_after = datetime(not_after)?;
    let cert = params
        .signed_by(&key, &issuer, &ca_key)
        .map_err(generate(&what))?;
    Ok(Issued {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// A PEM keystore as the broker reads it (`ssl.keystore.type=PEM`): the key, the
/// certificate, then the CA's.
pub fn keystore(issued: &Issued, ca: &Authority) -> String {
    format!("{}{}{}", issued.key_pem, issued.cert_pem, ca.cert_pem)
}

/// Reads the PEM texts of a Secret's `data` (`None` when a key is missing or not UTF-8).
pub fn secret_text(data: &BTreeMap<String, k8s_openapi::ByteString>, key: &str) -> Option<String> {
    data.get(key)
        .and_then(|v| String::from_utf8(v.0.clone()).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn ca(now: i64) -> Authority {
        ensure_authority(None, CaKind::Cluster, "demo", "kafka", now)
            .expect("a CA")
            .0
    }

    fn request() -> CertRequest {
        CertRequest {
            common_name: "demo-combined-0.demo-nodes.kafka.svc".into(),
            dns_names: vec![
                "demo-combined-0.demo-nodes.kafka.svc".into(),
                "demo-bootstrap.kafka.svc".into(),
            ],
            server: true,
        }
    }

    #[test]
    fn a_valid_ca_is_kept_and_one_near_expiry_is_renewed_trusting_the_old_one() {
        let first = ca(NOW);
        let (kept, why) = ensure_authority(
            Some(&first),
            CaKind::Cluster,
            "demo",
            "kafka",
            NOW + DAY_SECONDS,
        )
        .expect("kept");
        assert_eq!(why, None, "a valid CA must be kept");
        assert_eq!(kept, first);

        let late = NOW + (CA_VALIDITY_DAYS - CA_RENEWAL_DAYS + 1) * DAY_SECONDS;
        assert!(matches!(
            renewal(&first.cert_pem, late, CA_RENEWAL_DAYS),
            Renewal::Renew(_)
        ));
        let (renewed, why) = ensure_authority(Some(&first), CaKind::Cluster, "demo", "kafka", late)
            .expect("renewed");
        assert!(
            why.is_some_and(|w| w.contains("within")),
            "renewed because it expires soon"
        );
        assert_ne!(renewed.cert_pem, first.cert_pem);
        assert_ne!(renewed.key_pem, first.key_pem);
        let bundle = split_bundle(&renewed.trusted_pem);
        assert_eq!(bundle.len(), 2, "the new CA and the old, still valid one");
        assert_eq!(bundle[0].trim(), renewed.cert_pem.trim());
        assert_eq!(bundle[1].trim(), first.cert_pem.trim());

        // once the old one has expired, the next renewal drops it
        let much_later = late + CA_VALIDITY_DAYS * DAY_SECONDS;
        let (again, _) =
            ensure_authority(Some(&renewed), CaKind::Cluster, "demo", "kafka", much_later)
                .expect("renewed again");
        assert_eq!(
            split_bundle(&again.trusted_pem).len(),
            1,
            "expired CAs are not trusted"
        );
    }

    #[test]
    fn an_unreadable_or_mismatched_ca_is_replaced() {
        let good = ca(NOW);
        let broken = Authority {
            cert_pem: "not a certificate".into(),
            ..good.clone()
        };
        let (_, why) = ensure_authority(Some(&broken), CaKind::Cluster, "demo", "kafka", NOW)
            .expect("replaced");
        assert!(why.is_some_and(|w| w.contains("cannot be read")));
        let other = ca(NOW);
        let mismatched = Authority {
            key_pem: other.key_pem,
            ..good
        };
        let (_, why) = ensure_authority(Some(&mismatched), CaKind::Cluster, "demo", "kafka", NOW)
            .expect("replaced");
        assert!(why.is_some_and(|w| w.contains("does not match")));
    }

    #[test]
    fn a_node_certificate_names_its_sans_chains_to_the_ca_and_is_kept_while_good() {
        let ca = ca(NOW);
        let (cert, why) =
            ensure_issued(None, &ca, CaKind::Cluster, "demo", "kafka", &request(), NOW)
                .expect("issued");
        assert!(why.is_some());
        let f = facts(&cert.cert_pem).expect("a readable certificate");
        let mut names = f.dns_names.clone();
        names.sort();
        assert_eq!(
            names,
            [
                "demo-bootstrap.kafka.svc",
                "demo-combined-0.demo-nodes.kafka.svc"
            ]
        );
        assert!(f.not_after <= facts(&ca.cert_pem).expect("ca").not_after);
        verify_chain(&cert, &ca, "demo-combined-0.demo-nodes.kafka.svc", NOW);

        // kept: same CA, same names, valid
        let (kept, why) = ensure_issued(
            Some((&cert, &ca.cert_pem)),
            &ca,
            CaKind::Cluster,
            "demo",
            "kafka",
            &request(),
            NOW + DAY_SECONDS,
        )
        .expect("kept");
        assert_eq!((kept, why), (cert.clone(), None));

        // new names, a renewed CA, or near expiry: issued again
        let mut more = request();
        more.dns_names.push("demo-bootstrap".into());
        let (_, why) = ensure_issued(
            Some((&cert, &ca.cert_pem)),
            &ca,
            CaKind::Cluster,
            "demo",
            "kafka",
            &more,
            NOW,
        )
        .expect("reissued");
        assert!(why.is_some_and(|w| w.contains("names")));
        let (_, why) = ensure_issued(
            Some((&cert, "an older CA")),
            &ca,
            CaKind::Cluster,
            "demo",
            "kafka",
            &request(),
            NOW,
        )
        .expect("reissued");
        assert_eq!(why.as_deref(), Some("the CA was renewed"));
        let late = NOW + (CERT_VALIDITY_DAYS - CERT_RENEWAL_DAYS + 1) * DAY_SECONDS;
        let (_, why) = ensure_issued(
            Some((&cert, &ca.cert_pem)),
            &ca,
            CaKind::Cluster,
            "demo",
            "kafka",
            &request(),
            late,
        )
        .expect("reissued");
        assert!(why.is_some_and(|w| w.contains("within")));
    }

    /// Checks with rustls' webpki, as a TLS client would, that `cert` chains to `ca` for
    /// `host` at `now`.
    fn verify_chain(cert: &Issued, ca: &Authority, host: &str, now: i64) {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
        let ca_der = CertificateDer::from_pem_slice(ca.cert_pem.as_bytes()).expect("CA DER");
        let leaf = CertificateDer::from_pem_slice(cert.cert_pem.as_bytes()).expect("leaf DER");
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca_der).expect("a root");
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            std::sync::Arc::new(roots),
            std::sync::Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .expect("a verifier");
        use rustls::client::danger::ServerCertVerifier;
        verifier
            .verify_server_cert(
                &leaf,
                &[],
                &ServerName::try_from(host.to_string()).expect("a DNS name"),
                &[],
                UnixTime::since_unix_epoch(std::time::Duration::from_secs(now as u64)),
            )
            .unwrap_or_else(|e| panic!("the certificate does not chain to the CA for {host}: {e}"));
    }
}
