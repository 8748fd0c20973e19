//! The ACL authorizer (Kafka's `StandardAuthorizer`): [`AclCache`], the ACL bindings of the
//! metadata image indexed by resource type and name, and [`Authorizer`], which decides an
//! [`Action`] for a principal from a host — pure, no I/O; the request handlers log and
//! count its denials (`handlers::authorization`).
//!
//! Rules, as Kafka's: a super user (`super.users`) may do anything; otherwise the bindings
//! that apply to the resource are its LITERAL bindings of the same name, the LITERAL `*`
//! wildcard and the PREFIXED bindings whose name starts the resource's; of those naming
//! the principal (or `User:*`) and the host (or `*`), a DENY of the operation (or ALL)
//! wins, else an ALLOW of the operation, of ALL or of an operation implying it (READ,
//! WRITE, DELETE and ALTER imply DESCRIBE; ALTER_CONFIGS implies DESCRIBE_CONFIGS) allows;
//! else the request is denied — unless no binding at all applies to the resource, when
//! `allow.everyone.if.no.acl.found` decides.
//!
//! Cost of a decision: two hash lookups (the name, `*`) plus one per distinct PREFIXED
//! name length in use for the resource type, then a scan of the bindings found — never of
//! every binding.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use uuid::Uuid;

use super::acl::{
    AclBindingFilter, AclOperation, AclPermissionType, PatternType, ResourceType, StandardAcl,
    WILDCARD, WILDCARD_PRINCIPAL,
};
use super::KafkaPrincipal;
use ironlog_config::BrokerConfig;

/// The bindings of one resource type, by pattern.
#[derive(Debug, Clone, Default)]
struct TypeAcls {
    literal: HashMap<String, Vec<(Uuid, Arc<StandardAcl>)>>,
    prefixed: HashMap<String, Vec<(Uuid, Arc<StandardAcl>)>>,
    /// Byte lengths of the PREFIXED names in `prefixed`, with how many names have each.
    prefix_lengths: BTreeMap<usize, usize>,
}

impl TypeAcls {
    fn is_empty(&self) -> bool {
        self.literal.is_empty() && self.prefixed.is_empty()
    }
}

/// Every ACL binding of the image, by id and indexed for decisions.
#[derive(Debug, Clone, Default)]
pub(crate) struct AclCache {
    by_id: BTreeMap<Uuid, Arc<StandardAcl>>,
    by_type: HashMap<ResourceType, TypeAcls>,
}

impl PartialEq for AclCache {
    fn eq(&self, other: &Self) -> bool {
        self.by_id == other.by_id
    }
}

impl Eq for AclCache {}

impl AclCache {
    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }

    /// The bindings with their ids, in id order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&Uuid, &StandardAcl)> {
        self.by_id.iter().map(|(id, acl)| (id, acl.as_ref()))
    }

    pub(crate) fn contains(&self, acl: &StandardAcl) -> bool {
        self.by_type
            .get(&acl.resource_type)
            .and_then(|t| match acl.pattern_type {
                PatternType::Prefixed => t.prefixed.get(&acl.resource_name),
                _ => t.literal.get(&acl.resource_name),
            })
            .is_some_and(|acls| acls.iter().any(|(_, a)| **a == *acl))
    }

    pub(crate) fn contains_id(&self, id: &Uuid) -> bool {
        self.by_id.contains_key(id)
    }

    /// The bindings a filter matches, with their ids.
    pub(crate) fn matching<'a>(
        &'a self,
        filter: &'a AclBindingFilter,
    ) -> impl Iterator<Item = (&'a Uuid, &'a StandardAcl)> + 'a {
        self.iter().filter(move |(_, acl)| filter.matches(acl))
    }

    /// Adds a binding (replacing one with the same id).
    pub(crate) fn insert(&mut self, id: Uuid, acl: StandardAcl) {
        self.remove(&id);
        let acl = Arc::new(acl);
        let type_acls = self.by_type.entry(acl.resource_type).or_default();
        if acl.pattern_type == PatternType::Prefixed {
            let entry = type_acls
                .prefixed
                .entry(acl.resource_name.clone())
                .or_default();
            if entry.is_empty() {
                *type_acls
                    .prefix_lengths
                    .entry(acl.resource_name.len())
                    .or_default() += 1;
            }
            entry.push((id, acl.clone()));
        } else {
            type_acls
                .literal
                .entry(acl.resource_name.clone())
                .or_default()
                .push((id, acl.clone()));
        }
        self.by_id.insert(id, acl);
    }

    /// Removes the binding with this id; `false` when there is none.
    pub(crate) fn remove(&mut self, id: &Uuid) -> bool {
        let Some(acl) = self.by_id.remove(id) else {
            return false;
        };
        let Some(type_acls) = self.by_type.get_mut(&acl.resource_type) else {
            return true;
        };
        let prefixed = acl.pattern_type == PatternType::Prefixed;
        let map = if prefixed {
            &mut type_acls.prefixed
        } else {
            &mut type_acls.literal
        };
        if let Some(entries) = map.get_mut(&acl.resource_name) {
            entries.retain(|(other, _)| other != id);
            if entries.is_empty() {
                map.remove(&acl.resource_name);
                if prefixed {
                    let length = acl.resource_name.len();
                    if let Some(count) = type_acls.prefix_lengths.get_mut(&length) {
                        *count -= 1;
                        if *count == 0 {
                            type_acls.prefix_lengths.remove(&length);
                        }
                    }
                }
            }
        }
        if type_acls.is_empty() {
            self.by_type.remove(&acl.resource_type);
        }
        true
    }

    /// Every binding that applies to the resource `name` of `resource_type` (any principal).
    fn applicable<'a>(
        &'a self,
        resource_type: ResourceType,
        name: &'a str,
    ) -> impl Iterator<Item = &'a StandardAcl> + 'a {
        let type_acls = self.by_type.get(&resource_type);
        let literal = type_acls
            .and_then(|t| t.literal.get(name))
            .into_iter()
            .flatten();
        let wildcard = type_acls
            .filter(|_| name != WILDCARD)
            .and_then(|t| t.literal.get(WILDCARD))
            .into_iter()
            .flatten();
        let prefixed = type_acls.into_iter().flat_map(move |t| {
            t.prefix_lengths
                .keys()
                .take_while(move |length| **length <= name.len())
                .filter(move |length| name.is_char_boundary(**length))
                .filter_map(move |length| t.prefixed.get(&name[..*length]))
                .flatten()
        });
        literal
            .chain(wildcard)
            .chain(prefixed)
            .map(|(_, acl)| acl.as_ref())
    }
}

/// What a request wants to do to which resource (the name is always a literal one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Action<'a> {
    pub operation: AclOperation,
    pub resource_type: ResourceType,
    pub resource_name: &'a str,
}

/// Why a decision came out as it did (Kafka's matching rule, as its audit log names it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rule {
    /// No authorizer is configured: everything is allowed.
    NoAuthorizer,
    SuperUser,
    /// No binding applies to the resource: `allow.everyone.if.no.acl.found` decided.
    DefaultAllow,
    /// Bindings apply to the resource, none names this principal, host and operation.
    DefaultDeny,
    MatchingAcl(StandardAcl),
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::NoAuthorizer => f.write_str("NoAuthorizer"),
            Rule::SuperUser => f.write_str("SuperUser"),
            Rule::DefaultAllow => f.write_str("DefaultAllow"),
            Rule::DefaultDeny => f.write_str("DefaultDeny"),
            Rule::MatchingAcl(acl) => write!(
                f,
                "MatchingAcl({} {} on {}:{}:{} for {} from {})",
                acl.permission_type,
                acl.operation,
                acl.resource_type,
                acl.pattern_type,
                acl.resource_name,
                acl.principal,
                acl.host
            ),
        }
    }
}

/// An authorization decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decision {
    pub allowed: bool,
    pub rule: Rule,
}

/// `authorizer.class.name`, `super.users` and `allow.everyone.if.no.acl.found`, and the
/// decisions they make with an image's [`AclCache`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Authorizer {
    enabled: bool,
    super_users: HashSet<String>,
    allow_everyone_if_no_acl_found: bool,
}

impl Authorizer {
    pub(crate) fn from_config(config: &BrokerConfig) -> Self {
        Self::new(
            config.authorizer_enabled,
            config.super_users.iter().cloned(),
            config.allow_everyone_if_no_acl_found,
        )
    }

    pub(crate) fn new(
        enabled: bool,
        super_users: impl IntoIterator<Item = String>,
        allow_everyone_if_no_acl_found: bool,
    ) -> Self {
        Self {
            enabled,
            super_users: super_users.into_iter().collect(),
            allow_everyone_if_no_acl_found,
        }
    }

    /// Whether an authorizer is configured (else every action is allowed and the ACL APIs
    /// answer SECURITY_DISABLED).
    pub(crate) fn enabled(&self) -> bool {
        self.enabled
    }

    fn is_super_user(&self, principal: &str) -> bool {
        self.super_users.contains(principal)
    }

    pub(crate) fn authorize(
        &self,
        acls: &AclCache,
        principal: &KafkaPrincipal,
        host: IpAddr,
        action: Action<'_>,
    ) -> Decision {
        if !self.enabled {
            return Decision {
                allowed: true,
                rule: Rule::NoAuthorizer,
            };
        }
        let principal = principal.to_string();
        if self.is_super_user(&principal) {
            return Decision {
                allowed: true,
                rule: Rule::SuperUser,
            };
        }
        let host = java_host_address(host);
        let mut allow = None;
        let mut any_applies = false;
        for acl in acls.applicable(action.resource_type, action.resource_name) {
            any_applies = true;
            match result_of(acl, &principal, &host, action.operation) {
                Some(AclPermissionType::Deny) => {
                    return Decision {
                        allowed: false,
                        rule: Rule::MatchingAcl(acl.clone()),
                    }
                }
                Some(_) if allow.is_none() => allow = Some(acl),
                _ => {}
            }
        }
        match allow {
            Some(acl) => Decision {
                allowed: true,
                rule: Rule::MatchingAcl(acl.clone()),
            },
            None if any_applies => Decision {
                allowed: false,
                rule: Rule::DefaultDeny,
            },
            None => Decision {
                allowed: self.allow_everyone_if_no_acl_found,
                rule: if self.allow_everyone_if_no_acl_found {
                    Rule::DefaultAllow
                } else {
                    Rule::DefaultDeny
                },
            },
        }
    }

    /// Whether the principal may do `operation` to some resource of `resource_type`
    /// (Kafka's `authorizeByResourceType`: an ALLOW of a name or prefix that no DENY of the
    /// same principal, host and operation covers; a wildcard DENY refuses all). What an
    /// idempotent producer without IDEMPOTENT_WRITE needs: WRITE on some topic.
    pub(crate) fn authorize_by_resource_type(
        &self,
        acls: &AclCache,
        principal: &KafkaPrincipal,
        host: IpAddr,
        operation: AclOperation,
        resource_type: ResourceType,
    ) -> bool {
        // A name no binding is likely to mention: super users and the no-ACL default.
        let probe = Action {
            operation,
            resource_type,
            resource_name: "hardcode",
        };
        if self.authorize(acls, principal, host, probe).allowed {
            return true;
        }
        let principal = principal.to_string();
        let host = java_host_address(host);
        let mut deny_literal = HashSet::new();
        let mut deny_prefixed = HashSet::new();
        let mut allow = Vec::new();
        for (_, acl) in acls.iter() {
            if acl.resource_type != resource_type
                || (acl.host != host && acl.host != WILDCARD)
                || (acl.principal != principal && acl.principal != WILDCARD_PRINCIPAL)
                || (acl.operation != operation && acl.operation != AclOperation::All)
            {
                continue;
            }
            match (acl.permission_type, acl.pattern_type) {
                (AclPermissionType::Deny, PatternType::Literal)
                    if acl.resource_name == WILDCARD =>
                {
                    return false
                }
                (AclPermissionType::Deny, PatternType::Literal) => {
                    deny_literal.insert(acl.resource_name.as_str());
                }
                (AclPermissionType::Deny, PatternType::Prefixed) => {
                    deny_prefixed.insert(acl.resource_name.as_str());
                }
                (AclPermissionType::Allow, PatternType::Literal)
                    if acl.resource_name == WILDCARD =>
                {
                    return true
                }
                (AclPermissionType::Allow, pattern) => {
                    allow.push((pattern, acl.resource_name.as_str()))
                }
                _ => {}
            }
        }
        allow.into_iter().any(|(pattern, name)| {
            if pattern == PatternType::Literal && deny_literal.contains(name) {
                return false;
            }
            !name
                .char_indices()
                .map(|(i, c)| &name[..i + c.len_utf8()])
                .any(|prefix| deny_prefixed.contains(prefix))
        })
    }

    /// Kafka's authorized-operations bit field: bit `code` set for every operation of the
    /// resource type's supported ones the principal may do (no audit of the denials).
    pub(crate) fn authorized_operations(
        &self,
        acls: &AclCache,
        principal: &KafkaPrincipal,
        host: IpAddr,
        resource_type: ResourceType,
        resource_name: &str,
    ) -> i32 {
        resource_type
            .supported_operations()
            .iter()
            .filter(|operation| {
                let action = Action {
                    operation: **operation,
                    resource_type,
                    resource_name,
                };
                self.authorize(acls, principal, host, action).allowed
            })
            .fold(0, |bits, operation| bits | (1 << operation.code()))
    }
}

/// What an applicable binding says of this principal, host and operation: `None` when it
/// does not name them (an ALLOW of an implying operation names DESCRIBE or
/// DESCRIBE_CONFIGS; a DENY only its own operation, or ALL).
fn result_of(
    acl: &StandardAcl,
    principal: &str,
    host: &str,
    operation: AclOperation,
) -> Option<AclPermissionType> {
    if acl.principal != principal && acl.principal != WILDCARD_PRINCIPAL {
        return None;
    }
    if acl.host != WILDCARD && acl.host != host {
        return None;
    }
    if acl.operation != AclOperation::All {
        let named = if acl.permission_type == AclPermissionType::Allow {
            match operation {
                AclOperation::Describe => matches!(
                    acl.operation,
                    AclOperation::Describe
                        | AclOperation::Read
                        | AclOperation::Write
                        | AclOperation::Delete
                        | AclOperation::Alter
                ),
                AclOperation::DescribeConfigs => matches!(
                    acl.operation,
                    AclOperation::DescribeConfigs | AclOperation::AlterConfigs
                ),
                _ => acl.operation == operation,
            }
        } else {
            acl.operation == operation
        };
        if !named {
            return None;
        }
    }
    Some(acl.permission_type)
}

/// A client address as Java's `InetAddress.getHostAddress()` prints it, which is what ACL
/// hosts are compared with: dotted IPv4 (also for IPv4-mapped IPv6), IPv6 as eight
/// uncompressed hexadecimal groups.
pub(crate) fn java_host_address(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => v6
            .segments()
            .iter()
            .map(|s| format!("{s:x}"))
            .collect::<Vec<_>>()
            .join(":"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::acl::tests::acl;
    use AclOperation::*;
    use AclPermissionType::{Allow, Deny};
    use PatternType::{Literal, Prefixed};
    use ResourceType::{Cluster, Group, Topic};

    const HOST: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));

    fn cache(acls: Vec<StandardAcl>) -> AclCache {
        let mut cache = AclCache::default();
        for (i, acl) in acls.into_iter().enumerate() {
            cache.insert(Uuid::from_u128(i as u128 + 1), acl);
        }
        cache
    }

    fn authorizer(allow_everyone: bool) -> Authorizer {
        Authorizer::new(true, ["User:admin".to_string()], allow_everyone)
    }

    fn allowed(
        authorizer: &Authorizer,
        acls: &AclCache,
        user: &str,
        operation: AclOperation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        authorizer
            .authorize(
                acls,
                &KafkaPrincipal::user(user),
                HOST,
                Action {
                    operation,
                    resource_type,
                    resource_name: name,
                },
            )
            .allowed
    }

    #[test]
    fn prefixed_literal_and_wildcard_bindings_apply_to_their_resources() {
        let acls = cache(vec![
            acl(Topic, "orders-", Prefixed, "User:alice", Read, Allow),
            acl(Topic, "audit", Literal, "User:alice", Write, Allow),
            acl(Group, "*", Literal, "User:alice", Read, Allow),
        ]);
        let a = authorizer(false);
        assert!(allowed(&a, &acls, "alice", Read, Topic, "orders-eu"));
        assert!(allowed(&a, &acls, "alice", Read, Topic, "orders-"));
        assert!(
            !allowed(&a, &acls, "alice", Read, Topic, "orders"),
            "a prefix is not the topic"
        );
        assert!(!allowed(&a, &acls, "alice", Read, Topic, "payments"));
        assert!(allowed(&a, &acls, "alice", Write, Topic, "audit"));
        assert!(
            !allowed(&a, &acls, "alice", Write, Topic, "audit-2"),
            "a literal binding is one name"
        );
        assert!(allowed(&a, &acls, "alice", Read, Group, "anything"));
        assert!(
            !allowed(&a, &acls, "bob", Read, Topic, "orders-eu"),
            "bindings name their principal"
        );
    }

    #[test]
    fn deny_wins_over_allow() {
        let acls = cache(vec![
            acl(Topic, "orders-", Prefixed, "User:alice", All, Allow),
            acl(Topic, "orders-secret", Literal, "User:alice", Read, Deny),
            acl(Topic, "*", Literal, "User:*", Write, Deny),
        ]);
        let a = authorizer(false);
        assert!(allowed(&a, &acls, "alice", Read, Topic, "orders-eu"));
        assert!(!allowed(&a, &acls, "alice", Read, Topic, "orders-secret"));
        assert!(
            allowed(&a, &acls, "alice", Describe, Topic, "orders-secret"),
            "a DENY of READ does not deny DESCRIBE"
        );
        assert!(
            !allowed(&a, &acls, "alice", Write, Topic, "orders-eu"),
            "a wildcard DENY for User:*"
        );
        assert!(
            allowed(&a, &acls, "admin", Write, Topic, "orders-eu"),
            "super users bypass DENY"
        );
    }

    #[test]
    fn operations_imply_describe() {
        let acls = cache(vec![
            acl(Topic, "r", Literal, "User:u", Read, Allow),
            acl(Topic, "w", Literal, "User:u", Write, Allow),
            acl(Topic, "c", Literal, "User:u", AlterConfigs, Allow),
            acl(Topic, "x", Literal, "User:u", Create, Allow),
        ]);
        let a = authorizer(false);
        assert!(allowed(&a, &acls, "u", Describe, Topic, "r"));
        assert!(allowed(&a, &acls, "u", Describe, Topic, "w"));
        assert!(!allowed(&a, &acls, "u", Read, Topic, "w"));
        assert!(allowed(&a, &acls, "u", DescribeConfigs, Topic, "c"));
        assert!(!allowed(&a, &acls, "u", Describe, Topic, "c"));
        assert!(
            !allowed(&a, &acls, "u", Describe, Topic, "x"),
            "CREATE does not imply DESCRIBE"
        );
    }

    #[test]
    fn hosts_are_matched() {
        let mut bound = acl(Topic, "t", Literal, "User:u", Read, Allow);
        bound.host = "10.0.0.2".into();
        let acls = cache(vec![bound]);
        assert!(!allowed(&authorizer(true), &acls, "u", Read, Topic, "t"));
        let mut here = acl(Topic, "t", Literal, "User:u", Read, Allow);
        here.host = "10.0.0.1".into();
        assert!(allowed(
            &authorizer(false),
            &cache(vec![here]),
            "u",
            Read,
            Topic,
            "t"
        ));
        assert_eq!(java_host_address("::1".parse().unwrap()), "0:0:0:0:0:0:0:1");
        assert_eq!(
            java_host_address("::ffff:10.1.2.3".parse().unwrap()),
            "10.1.2.3"
        );
    }

    #[test]
    fn allow_everyone_if_no_acl_found_applies_only_to_resources_without_bindings() {
        let acls = cache(vec![acl(
            Topic,
            "guarded",
            Literal,
            "User:other",
            Read,
            Allow,
        )]);
        assert!(allowed(&authorizer(true), &acls, "u", Read, Topic, "open"));
        assert!(!allowed(
            &authorizer(true),
            &acls,
            "u",
            Read,
            Topic,
            "guarded"
        ));
        assert!(!allowed(
            &authorizer(false),
            &acls,
            "u",
            Read,
            Topic,
            "open"
        ));
        let none = Authorizer::default();
        assert!(
            allowed(&none, &acls, "u", Read, Topic, "guarded"),
            "no authorizer, no checks"
        );
    }

    #[test]
    fn removing_bindings_updates_the_index() {
        let mut acls = cache(vec![
            acl(Topic, "a-", Prefixed, "User:u", Read, Allow),
            acl(Topic, "a-", Prefixed, "User:v", Read, Allow),
        ]);
        assert!(acls.remove(&Uuid::from_u128(1)));
        assert!(!allowed(&authorizer(false), &acls, "u", Read, Topic, "a-1"));
        assert!(allowed(&authorizer(false), &acls, "v", Read, Topic, "a-1"));
        assert!(acls.remove(&Uuid::from_u128(2)));
        assert!(!acls.remove(&Uuid::from_u128(2)));
        assert_eq!(acls.len(), 0);
        assert!(acls.by_type.is_empty(), "an empty index keeps nothing");
    }

    #[test]
    fn by_resource_type_finds_an_uncovered_allow() {
        let user = KafkaPrincipal::user("u");
        let a = authorizer(false);
        let check = |acls: &AclCache| a.authorize_by_resource_type(acls, &user, HOST, Write, Topic);
        assert!(!check(&cache(vec![])));
        assert!(check(&cache(vec![acl(
            Topic, "t", Literal, "User:u", Write, Allow
        )])));
        assert!(!check(&cache(vec![
            acl(Topic, "t-1", Literal, "User:u", Write, Allow),
            acl(Topic, "t-", Prefixed, "User:u", Write, Deny),
        ])));
        assert!(!check(&cache(vec![
            acl(Topic, "t", Literal, "User:u", Write, Allow),
            acl(Topic, "*", Literal, "User:*", All, Deny),
        ])));
        assert!(!check(&cache(vec![acl(
            Cluster,
            "kafka-cluster",
            Literal,
            "User:u",
            Write,
            Allow
        )])));
    }

    #[test]
    fn authorized_operations_are_kafkas_bits() {
        let acls = cache(vec![acl(Topic, "t", Literal, "User:u", Read, Allow)]);
        let bits = authorizer(false).authorized_operations(
            &acls,
            &KafkaPrincipal::user("u"),
            HOST,
            Topic,
            "t",
        );
        assert_eq!(bits, (1 << Read.code()) | (1 << Describe.code()));
    }
}
