//! ACL bindings as Kafka defines them (`org.apache.kafka.common.acl` / `.resource`): the
//! resource a binding guards (type, name, LITERAL or PREFIXED pattern), who it names
//! (principal, host), the operation and ALLOW or DENY — [`StandardAcl`], what a metadata
//! record stores —, and [`AclBindingFilter`], the ANY/MATCH filters of DescribeAcls and
//! DeleteAcls. Codes and names are Kafka's wire codes and enum names.

use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ResponseError};

/// The name of the one CLUSTER resource (Kafka's `Resource.CLUSTER_NAME`).
pub(crate) const CLUSTER_NAME: &str = "kafka-cluster";
/// The literal resource name matching every resource (and the host matching every host).
pub(crate) const WILDCARD: &str = "*";
/// The principal matching every user (`User:*`).
pub(crate) const WILDCARD_PRINCIPAL: &str = "User:*";

macro_rules! kafka_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $code:literal, $text:literal;)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        pub(crate) enum $name {
            $($variant,)*
        }

        impl $name {
            /// The value of a wire code; codes this build does not know are `Unknown`, as
            /// Kafka's `fromCode`.
            pub(crate) fn from_code(code: i8) -> Self {
                match code {
                    $($code => Self::$variant,)*
                    _ => Self::Unknown,
                }
            }

            pub(crate) fn code(self) -> i8 {
                match self {
                    $(Self::$variant => $code,)*
                }
            }

            /// Kafka's enum name (`PREFIXED`, `DESCRIBE_CONFIGS`).
            pub(crate) fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)*
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

kafka_enum! {
    /// Kafka's `ResourceType`.
    ResourceType {
        Unknown = 0, "UNKNOWN";
        Any = 1, "ANY";
        Topic = 2, "TOPIC";
        Group = 3, "GROUP";
        Cluster = 4, "CLUSTER";
        TransactionalId = 5, "TRANSACTIONAL_ID";
        DelegationToken = 6, "DELEGATION_TOKEN";
        User = 7, "USER";
    }
}

kafka_enum! {
    /// Kafka's `PatternType`.
    PatternType {
        Unknown = 0, "UNKNOWN";
        Any = 1, "ANY";
        Match = 2, "MATCH";
        Literal = 3, "LITERAL";
        Prefixed = 4, "PREFIXED";
    }
}

kafka_enum! {
    /// Kafka's `AclOperation`.
    AclOperation {
        Unknown = 0, "UNKNOWN";
        Any = 1, "ANY";
        All = 2, "ALL";
        Read = 3, "READ";
        Write = 4, "WRITE";
        Create = 5, "CREATE";
        Delete = 6, "DELETE";
        Alter = 7, "ALTER";
        Describe = 8, "DESCRIBE";
        ClusterAction = 9, "CLUSTER_ACTION";
        DescribeConfigs = 10, "DESCRIBE_CONFIGS";
        AlterConfigs = 11, "ALTER_CONFIGS";
        IdempotentWrite = 12, "IDEMPOTENT_WRITE";
        CreateTokens = 13, "CREATE_TOKENS";
        DescribeTokens = 14, "DESCRIBE_TOKENS";
        TwoPhaseCommit = 15, "TWO_PHASE_COMMIT";
    }
}

kafka_enum! {
    /// Kafka's `AclPermissionType`.
    AclPermissionType {
        Unknown = 0, "UNKNOWN";
        Any = 1, "ANY";
        Deny = 2, "DENY";
        Allow = 3, "ALLOW";
    }
}

impl ResourceType {
    /// The operations an ACL on this resource type can grant, as the authorized-operations
    /// fields list them (Kafka's `AclEntry.supportedOperations`).
    pub(crate) fn supported_operations(self) -> &'static [AclOperation] {
        use AclOperation::*;
        match self {
            ResourceType::Topic => &[
                Read,
                Write,
                Create,
                Describe,
                Delete,
                Alter,
                DescribeConfigs,
                AlterConfigs,
            ],
            ResourceType::Group => &[Read, Describe, Delete, DescribeConfigs, AlterConfigs],
            ResourceType::Cluster => &[
                Create,
                ClusterAction,
                DescribeConfigs,
                AlterConfigs,
                IdempotentWrite,
                Alter,
                Describe,
            ],
            ResourceType::TransactionalId => &[Describe, Write, TwoPhaseCommit],
            ResourceType::DelegationToken => &[Describe],
            ResourceType::User => &[CreateTokens, DescribeTokens],
            _ => &[],
        }
    }
}

/// One ACL binding (Kafka's `StandardAcl`): a resource pattern and an access control entry.
/// `principal` is Kafka's `Type:name` form (`User:alice`, `User:*`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) struct StandardAcl {
    pub resource_type: ResourceType,
    pub resource_name: String,
    pub pattern_type: PatternType,
    pub principal: String,
    pub host: String,
    pub operation: AclOperation,
    pub permission_type: AclPermissionType,
}

impl StandardAcl {
    /// Whether any element is UNKNOWN (a code this build does not know), which Kafka
    /// refuses while parsing the request.
    pub(crate) fn has_unknown_elements(&self) -> bool {
        self.resource_type == ResourceType::Unknown
            || self.pattern_type == PatternType::Unknown
            || self.operation == AclOperation::Unknown
            || self.permission_type == AclPermissionType::Unknown
    }

    /// The checks CreateAcls makes of a new binding, in Kafka's order (the request
    /// handler's, then the controller's), with Kafka's messages; all INVALID_REQUEST.
    pub(crate) fn validate_new(&self) -> Result<(), ApiError> {
        let invalid = |message: String| Err(ApiError::new(ResponseError::InvalidRequest, message));
        if self.resource_type == ResourceType::Cluster && self.resource_name != CLUSTER_NAME {
            return invalid(format!(
                "The only valid name for the CLUSTER resource is {CLUSTER_NAME}"
            ));
        }
        if self.resource_name.is_empty() {
            return invalid("Invalid empty resource name".to_string());
        }
        if matches!(
            self.resource_type,
            ResourceType::Unknown | ResourceType::Any
        ) {
            return invalid(format!("Invalid resourceType {}", self.resource_type));
        }
        if !matches!(
            self.pattern_type,
            PatternType::Literal | PatternType::Prefixed
        ) {
            return invalid(format!("Invalid patternType {}", self.pattern_type));
        }
        if matches!(self.operation, AclOperation::Unknown | AclOperation::Any) {
            return invalid(format!("Invalid operation {}", self.operation));
        }
        if !matches!(
            self.permission_type,
            AclPermissionType::Allow | AclPermissionType::Deny
        ) {
            return invalid(format!("Invalid permissionType {}", self.permission_type));
        }
        if !self.principal.contains(':') {
            return invalid(format!(
                "Could not parse principal from `{}` (no colon is present separating the principal type from the principal name)",
                self.principal
            ));
        }
        Ok(())
    }
}

/// A filter over ACL bindings (Kafka's `AclBindingFilter`): `None` strings and ANY enums
/// match everything; pattern type MATCH matches the LITERAL, wildcard and PREFIXED
/// bindings that would apply to the named resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AclBindingFilter {
    pub resource_type: ResourceType,
    pub resource_name: Option<String>,
    pub pattern_type: PatternType,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: AclOperation,
    pub permission_type: AclPermissionType,
}

impl AclBindingFilter {
    /// Whether an element is UNKNOWN, which Kafka refuses while parsing the request.
    pub(crate) fn has_unknown_elements(&self) -> bool {
        self.resource_type == ResourceType::Unknown
            || self.pattern_type == PatternType::Unknown
            || self.operation == AclOperation::Unknown
            || self.permission_type == AclPermissionType::Unknown
    }

    pub(crate) fn matches(&self, acl: &StandardAcl) -> bool {
        self.matches_pattern(acl) && self.matches_entry(acl)
    }

    /// Kafka's `ResourcePatternFilter.matches`.
    fn matches_pattern(&self, acl: &StandardAcl) -> bool {
        if self.resource_type != ResourceType::Any && self.resource_type != acl.resource_type {
            return false;
        }
        if !matches!(self.pattern_type, PatternType::Any | PatternType::Match)
            && self.pattern_type != acl.pattern_type
        {
            return false;
        }
        let Some(name) = &self.resource_name else {
            return true;
        };
        if self.pattern_type == PatternType::Any || self.pattern_type == acl.pattern_type {
            return *name == acl.resource_name;
        }
        match acl.pattern_type {
            PatternType::Literal => *name == acl.resource_name || acl.resource_name == WILDCARD,
            PatternType::Prefixed => name.starts_with(acl.resource_name.as_str()),
            _ => false,
        }
    }

    /// Kafka's `AccessControlEntryFilter.matches`.
    fn matches_entry(&self, acl: &StandardAcl) -> bool {
        self.principal.as_ref().is_none_or(|p| *p == acl.principal)
            && self.host.as_ref().is_none_or(|h| *h == acl.host)
            && (self.operation == AclOperation::Any || self.operation == acl.operation)
            && (self.permission_type == AclPermissionType::Any
                || self.permission_type == acl.permission_type)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn acl(
        resource_type: ResourceType,
        name: &str,
        pattern_type: PatternType,
        principal: &str,
        operation: AclOperation,
        permission_type: AclPermissionType,
    ) -> StandardAcl {
        StandardAcl {
            resource_type,
            resource_name: name.into(),
            pattern_type,
            principal: principal.into(),
            host: WILDCARD.into(),
            operation,
            permission_type,
        }
    }

    fn filter(
        resource_type: ResourceType,
        name: Option<&str>,
        pattern: PatternType,
    ) -> AclBindingFilter {
        AclBindingFilter {
            resource_type,
            resource_name: name.map(String::from),
            pattern_type: pattern,
            principal: None,
            host: None,
            operation: AclOperation::Any,
            permission_type: AclPermissionType::Any,
        }
    }

    #[test]
    fn codes_are_kafkas() {
        assert_eq!(ResourceType::from_code(2), ResourceType::Topic);
        assert_eq!(ResourceType::from_code(42), ResourceType::Unknown);
        assert_eq!(PatternType::Prefixed.code(), 4);
        assert_eq!(AclOperation::from_code(12), AclOperation::IdempotentWrite);
        assert_eq!(AclPermissionType::Allow.code(), 3);
        assert_eq!(
            AclOperation::DescribeConfigs.to_string(),
            "DESCRIBE_CONFIGS"
        );
    }

    #[test]
    fn filters_match_as_kafkas() {
        use AclOperation::Read;
        use AclPermissionType::Allow;
        let literal = acl(
            ResourceType::Topic,
            "orders",
            PatternType::Literal,
            "User:a",
            Read,
            Allow,
        );
        let wildcard = acl(
            ResourceType::Topic,
            "*",
            PatternType::Literal,
            "User:a",
            Read,
            Allow,
        );
        let prefixed = acl(
            ResourceType::Topic,
            "ord",
            PatternType::Prefixed,
            "User:a",
            Read,
            Allow,
        );
        let any = filter(ResourceType::Any, None, PatternType::Any);
        assert!(any.matches(&literal) && any.matches(&wildcard) && any.matches(&prefixed));
        let by_match = filter(ResourceType::Topic, Some("orders"), PatternType::Match);
        assert!(
            by_match.matches(&literal)
                && by_match.matches(&wildcard)
                && by_match.matches(&prefixed)
        );
        let exact = filter(ResourceType::Topic, Some("orders"), PatternType::Any);
        assert!(exact.matches(&literal));
        assert!(!exact.matches(&wildcard) && !exact.matches(&prefixed));
        let prefixed_only = filter(ResourceType::Topic, Some("ord"), PatternType::Prefixed);
        assert!(prefixed_only.matches(&prefixed) && !prefixed_only.matches(&literal));
        let group = filter(ResourceType::Group, None, PatternType::Any);
        assert!(!group.matches(&literal));
        let mut by_principal = any.clone();
        by_principal.principal = Some("User:b".into());
        assert!(!by_principal.matches(&literal));
    }

    #[test]
    fn new_bindings_are_checked_as_kafka_checks_them() {
        use AclOperation::Read;
        use AclPermissionType::Allow;
        let message = |a: StandardAcl| a.validate_new().err().and_then(|e| e.message);
        let ok = acl(
            ResourceType::Topic,
            "t",
            PatternType::Literal,
            "User:a",
            Read,
            Allow,
        );
        assert_eq!(message(ok.clone()), None);
        assert_eq!(
            message(StandardAcl {
                resource_type: ResourceType::Cluster,
                ..ok.clone()
            })
            .as_deref(),
            Some("The only valid name for the CLUSTER resource is kafka-cluster")
        );
        assert_eq!(
            message(StandardAcl {
                resource_name: String::new(),
                ..ok.clone()
            })
            .as_deref(),
            Some("Invalid empty resource name")
        );
        assert_eq!(
            message(StandardAcl {
                pattern_type: PatternType::Match,
                ..ok.clone()
            })
            .as_deref(),
            Some("Invalid patternType MATCH")
        );
        assert_eq!(
            message(StandardAcl {
                operation: AclOperation::Any,
                ..ok.clone()
            })
            .as_deref(),
            Some("Invalid operation ANY")
        );
        assert!(message(StandardAcl {
            principal: "alice".into(),
            ..ok
        })
        .is_some_and(|m| m.starts_with("Could not parse principal from `alice`")));
    }
}
