//! The principal of an mTLS client: its certificate's subject as Kafka prints it (Java's
//! `X500Principal.getName()`, RFC 2253: the last RDN first, `,` between RDNs, `+` inside
//! one, RFC 2253 keywords, other attributes as `oid=#hex`), mapped by
//! `ssl.principal.mapping.rules` (Kafka's `SslPrincipalMapper`: `DEFAULT` or
//! `RULE:pattern/replacement/[LU]`, the first rule whose pattern matches the whole name
//! wins; no rule matching is an authentication failure).

use regex::Regex;
use x509_parser::prelude::{FromDer, X509Certificate};

/// Why a certificate yields no principal, or a rule set does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum SslPrincipalError {
    #[error("invalid rule in ssl.principal.mapping.rules: {0}")]
    InvalidRule(String),
    #[error("the client certificate cannot be parsed: {0}")]
    Certificate(String),
    #[error("no rule of ssl.principal.mapping.rules applies to {0}")]
    NoMatchingRule(String),
}

/// The parsed `ssl.principal.mapping.rules`.
#[derive(Debug, Clone)]
pub(crate) struct SslPrincipalMapper {
    rules: Vec<Rule>,
}

#[derive(Debug, Clone)]
enum Rule {
    Default,
    Replace {
        /// The pattern anchored at both ends: a rule applies when it matches the whole name.
        whole: Regex,
        pattern: Regex,
        replacement: String,
        case: Case,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Keep,
    Lower,
    Upper,
}

impl SslPrincipalMapper {
    pub(crate) fn parse(rules: &str) -> Result<Self, SslPrincipalError> {
        let mut parsed = Vec::new();
        let mut rest = rules.trim();
        while !rest.is_empty() {
            rest = rest.trim_start();
            if let Some(after) = rest.strip_prefix(',') {
                rest = after; // an empty rule is ignored, as Kafka does
                continue;
            }
            let (rule, after) = if let Some(after) = rest.strip_prefix("DEFAULT") {
                (Rule::Default, after)
            } else if let Some(after) = rest.strip_prefix("RULE:") {
                let (pattern_text, after) = until_slash(after)
                    .ok_or_else(|| SslPrincipalError::InvalidRule(rest.to_string()))?;
                let (replacement, after) = until_slash(after)
                    .ok_or_else(|| SslPrincipalError::InvalidRule(rest.to_string()))?;
                let (case, after) = match after.chars().next() {
                    Some('L') => (Case::Lower, &after[1..]),
                    Some('U') => (Case::Upper, &after[1..]),
                    _ => (Case::Keep, after),
                };
                let compile = |p: &str| {
                    Regex::new(p)
                        .map_err(|e| SslPrincipalError::InvalidRule(format!("{pattern_text}: {e}")))
                };
                (
                    Rule::Replace {
                        whole: compile(&format!("^(?:{pattern_text})$"))?,
                        pattern: compile(pattern_text)?,
                        replacement: replacement.to_string(),
                        case,
                    },
                    after,
                )
            } else {
                return Err(SslPrincipalError::InvalidRule(rest.to_string()));
            };
            let after = after.trim_start();
            rest = match after.strip_prefix(',') {
                Some(next) => next,
                None if after.is_empty() => after,
                None => {
                    return Err(SslPrincipalError::InvalidRule(format!(
                        "unmatched text `{after}`"
                    )))
                }
            };
            parsed.push(rule);
        }
        Ok(Self { rules: parsed })
    }

    /// The principal name for a distinguished name.
    pub(crate) fn name_for(&self, distinguished_name: &str) -> Result<String, SslPrincipalError> {
        for rule in &self.rules {
            match rule {
                Rule::Default => return Ok(distinguished_name.to_string()),
                Rule::Replace {
                    whole,
                    pattern,
                    replacement,
                    case,
                } => {
                    if !whole.is_match(distinguished_name) {
                        continue;
                    }
                    let replaced = pattern
                        .replace_all(distinguished_name, JavaReplacement(replacement))
                        .into_owned();
                    return Ok(match case {
                        Case::Keep => replaced,
                        Case::Lower => replaced.to_lowercase(),
                        Case::Upper => replaced.to_uppercase(),
                    });
                }
            }
        }
        Err(SslPrincipalError::NoMatchingRule(
            distinguished_name.to_string(),
        ))
    }
}

/// The text up to the next `/` not escaped by `\` (escapes kept), and what follows it.
fn until_slash(text: &str) -> Option<(&str, &str)> {
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '/' => return Some((&text[..i], &text[i + 1..])),
            _ => {}
        }
    }
    None
}

/// Java's `Matcher.replaceAll` replacement syntax: `$n` is group n (digits taken while they
/// name a group; a reference to a group the pattern lacks is literal, as Kafka makes it),
/// `\x` is a literal x.
struct JavaReplacement<'a>(&'a str);

impl regex::Replacer for JavaReplacement<'_> {
    fn replace_append(&mut self, caps: &regex::Captures<'_>, dst: &mut String) {
        let groups = caps.len() - 1;
        let mut chars = self.0.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    if let Some(next) = chars.next() {
                        dst.push(next);
                    }
                }
                '$' => {
                    let Some(first) = chars.peek().and_then(|d| d.to_digit(10)) else {
                        dst.push('$');
                        continue;
                    };
                    if first as usize > groups {
                        dst.push('$');
                        continue;
                    }
                    chars.next();
                    let mut group = first as usize;
                    while let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                        let longer = group * 10 + d as usize;
                        if longer > groups {
                            break;
                        }
                        group = longer;
                        chars.next();
                    }
                    if let Some(m) = caps.get(group) {
                        dst.push_str(m.as_str());
                    }
                }
                other => dst.push(other),
            }
        }
    }
}

/// The subject of a DER certificate as Java's `X500Principal.getName()` prints it.
pub(crate) fn subject_distinguished_name(der: &[u8]) -> Result<String, SslPrincipalError> {
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|e| SslPrincipalError::Certificate(e.to_string()))?;
    let rdns: Vec<String> = cert
        .subject()
        .iter()
        .map(|rdn| {
            rdn.iter()
                .map(|atv| {
                    let oid = atv.attr_type().to_id_string();
                    let keyword = rfc2253_keyword(&oid);
                    match (keyword, atv.as_str()) {
                        (Some(keyword), Ok(value)) => format!("{keyword}={}", escape(value)),
                        _ => format!("{oid}=#{}", hex_der(atv.attr_value())),
                    }
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    // RFC 2253 writes the last RDN of the sequence first.
    Ok(rdns.into_iter().rev().collect::<Vec<_>>().join(","))
}

/// The keywords Java's RFC 2253 form uses; every other attribute is printed by OID.
fn rfc2253_keyword(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "STREET",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

/// RFC 2253 escaping of an attribute value.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The value's DER encoding (tag, length, content) in lower-case hex.
fn hex_der(value: &x509_parser::der_parser::asn1_rs::Any<'_>) -> String {
    let data = value.data;
    let mut der = vec![value.header.tag().0 as u8];
    match data.len() {
        n if n < 0x80 => der.push(n as u8),
        n => {
            let bytes: Vec<u8> = n
                .to_be_bytes()
                .into_iter()
                .skip_while(|b| *b == 0)
                .collect();
            der.push(0x80 | bytes.len() as u8);
            der.extend(bytes);
        }
    }
    der.extend_from_slice(data);
    der.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(rules: &str, dn: &str) -> Result<String, SslPrincipalError> {
        SslPrincipalMapper::parse(rules)?.name_for(dn)
    }

    #[test]
    fn default_rule_keeps_the_distinguished_name() {
        assert_eq!(
            name("DEFAULT", "CN=alice,O=acme").unwrap(),
            "CN=alice,O=acme"
        );
    }

    #[test]
    fn rules_apply_in_order_with_back_references_and_case() {
        let rules = "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,RULE:^CN=(.*?),OU=(.*?),O=(.*?)$/$1@$2/L, DEFAULT";
        assert_eq!(name(rules, "CN=svc,OU=ServiceUsers,O=acme").unwrap(), "svc");
        assert_eq!(name(rules, "CN=Bob,OU=Eng,O=acme").unwrap(), "bob@eng");
        assert_eq!(
            name(rules, "CN=x,O=acme").unwrap(),
            "CN=x,O=acme",
            "DEFAULT last"
        );
        assert_eq!(
            name("RULE:^CN=(.*)$/$1/U", "CN=alice").unwrap(),
            "ALICE",
            "U upper-cases"
        );
    }

    #[test]
    fn a_reference_to_a_missing_group_is_literal_and_escapes_are_kept_literal() {
        assert_eq!(name("RULE:^CN=(.*)$/$1$4/", "CN=a").unwrap(), "a$4");
        assert_eq!(name(r"RULE:^CN=(.*)\/x$/\/$1/", "CN=a/x").unwrap(), "/a");
    }

    #[test]
    fn no_matching_rule_is_an_error_and_bad_rules_are_refused() {
        assert!(matches!(
            name("RULE:^CN=(.*)$/$1/", "O=acme"),
            Err(SslPrincipalError::NoMatchingRule(_))
        ));
        for bad in [
            "RULE:^CN=(.*)$/$1",
            "NOPE",
            "RULE:^CN=(.*)$/$1/L junk",
            "RULE:(/x/",
        ] {
            assert!(
                matches!(
                    SslPrincipalMapper::parse(bad),
                    Err(SslPrincipalError::InvalidRule(_))
                ),
                "`{bad}` must be refused"
            );
        }
    }

    #[test]
    fn values_are_escaped_as_rfc_2253_writes_them() {
        assert_eq!(escape("a,b+c"), r"a\,b\+c");
        assert_eq!(escape(" #x "), r"\ #x\ ");
        assert_eq!(escape("#x"), r"\#x");
    }
}
