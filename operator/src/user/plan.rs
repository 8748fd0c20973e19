//! `plan`: what a User's spec means on a Kafka cluster — its principal, the ACL bindings
//! and client quotas it asks for, the Secret its clients read — and what to change so the
//! cluster matches (ACLs and quotas converged both ways). Pure: a refused spec is found
//! here, before anything is applied.

use std::collections::{BTreeMap, BTreeSet};

use rand::distributions::{Alphanumeric, DistString};

use crate::crd::user::{
    AclOperation, AclPatternType, AclResourceType, AclRule, UserAuthenticationType, UserQuotas,
};
use crate::crd::UserSpec;
use crate::kafka_admin::AclBinding;

/// How long a generated password is (alphanumeric: about 190 bits).
pub const GENERATED_PASSWORD_LEN: usize = 32;
/// The name of the cluster resource in ACLs.
pub const CLUSTER_RESOURCE_NAME: &str = "kafka-cluster";
/// The SASL mechanism a SCRAM user's clients use.
pub const SASL_MECHANISM: &str = "SCRAM-SHA-512";

/// The user's Kafka name: the SCRAM user name, or the subject of a TLS user's certificate
/// (`CN=<name>`, which the broker's default `ssl.principal.mapping.rules` keep whole).
pub fn kafka_user_name(spec: &UserSpec, name: &str) -> String {
    match spec.authentication.type_ {
        UserAuthenticationType::ScramSha512 => name.to_string(),
        UserAuthenticationType::Tls => format!("CN={name}"),
    }
}

/// The principal ACLs name: `User:<kafka user name>`.
pub fn principal(kafka_user: &str) -> String {
    format!("User:{kafka_user}")
}

/// The operations Kafka's authorizer knows on a resource type (what `kafka-acls` accepts).
fn valid_operations(t: AclResourceType) -> &'static [AclOperation] {
    use AclOperation::*;
    match t {
        AclResourceType::Topic => &[
            All,
            Read,
            Write,
            Create,
            Delete,
            Alter,
            Describe,
            DescribeConfigs,
            AlterConfigs,
        ],
        AclResourceType::Group => &[All, Read, Delete, Describe],
        AclResourceType::Cluster => &[
            All,
            Create,
            Alter,
            Describe,
            ClusterAction,
            DescribeConfigs,
            AlterConfigs,
            IdempotentWrite,
        ],
        AclResourceType::TransactionalId => &[All, Write, Describe],
    }
}

/// The ACL bindings `rules` ask for, for `principal`; or every problem with them, in words.
pub fn desired_acls(
    rules: &[AclRule],
    principal: &str,
) -> Result<BTreeSet<AclBinding>, Vec<String>> {
    let mut bindings = BTreeSet::new();
    let mut problems = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        let resource = &rule.resource;
        let name = match (resource.type_, &resource.name) {
            (AclResourceType::Cluster, _) => CLUSTER_RESOURCE_NAME.to_string(),
            (_, Some(name)) => name.clone(),
            (t, None) => {
                problems.push(format!(
                    "spec.authorization.acls[{i}]: a {t:?} rule needs resource.name"
                ));
                continue;
            }
        };
        if resource.type_ == AclResourceType::Cluster
            && resource.pattern_type == AclPatternType::Prefixed
        {
            problems.push(format!(
                "spec.authorization.acls[{i}]: a cluster rule cannot be prefixed"
            ));
            continue;
        }
        let valid = valid_operations(resource.type_);
        for op in &rule.operations {
            if !valid.contains(op) {
                problems.push(format!(
                    "spec.authorization.acls[{i}]: {op:?} is no operation on a {:?} (valid: {valid:?})",
                    resource.type_
                ));
                continue;
            }
            bindings.insert(AclBinding {
                resource_type: resource.type_ as i8,
                resource_name: name.clone(),
                pattern_type: resource.pattern_type as i8,
                principal: principal.to_string(),
                host: rule.host.clone(),
                operation: *op as i8,
                permission_type: rule.type_ as i8,
            });
        }
    }
    if problems.is_empty() {
        Ok(bindings)
    } else {
        Err(problems)
    }
}

/// ACL changes that make the principal's ACLs exactly the desired ones.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AclPlan {
    pub create: Vec<AclBinding>,
    pub delete: Vec<AclBinding>,
}

/// Creates what is missing, deletes what the spec does not name.
pub fn plan_acls(desired: &BTreeSet<AclBinding>, observed: &[AclBinding]) -> AclPlan {
    let observed: BTreeSet<&AclBinding> = observed.iter().collect();
    AclPlan {
        create: desired
            .iter()
            .filter(|b| !observed.contains(b))
            .cloned()
            .collect(),
        delete: observed
            .into_iter()
            .filter(|b| !desired.contains(*b))
            .cloned()
            .collect(),
    }
}

/// The client quotas `quotas` set, under Kafka's keys.
pub fn desired_quotas(quotas: Option<&UserQuotas>) -> BTreeMap<String, f64> {
    let Some(q) = quotas else {
        return BTreeMap::new();
    };
    [
        ("producer_byte_rate", q.producer_byte_rate.map(|v| v as f64)),
        ("consumer_byte_rate", q.consumer_byte_rate.map(|v| v as f64)),
        ("request_percentage", q.request_percentage.map(f64::from)),
        (
            "controller_mutation_rate",
            q.controller_mutation_rate.map(f64::from),
        ),
    ]
    .into_iter()
    .filter_map(|(k, v)| Some((k.to_string(), v?)))
    .collect()
}

/// Quota changes: set the new and changed values, remove those the spec dropped.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QuotaPlan {
    pub set: BTreeMap<String, f64>,
    pub remove: Vec<String>,
}

impl QuotaPlan {
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.remove.is_empty()
    }
}

pub fn plan_quotas(desired: &BTreeMap<String, f64>, observed: &BTreeMap<String, f64>) -> QuotaPlan {
    QuotaPlan {
        set: desired
            .iter()
            .filter(|(k, v)| observed.get(*k) != Some(*v))
            .map(|(k, v)| (k.clone(), *v))
            .collect(),
        remove: observed
            .keys()
            .filter(|k| !desired.contains_key(*k))
            .cloned()
            .collect(),
    }
}

/// A new random password.
pub fn generate_password() -> String {
    Alphanumeric.sample_string(&mut rand::thread_rng(), GENERATED_PASSWORD_LEN)
}

/// A value inside a JAAS option's double quotes.
fn jaas_quoted(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The keys of a SCRAM user's Secret: the password, Java's `sasl.jaas.config` line, and
/// librdkafka's `sasl.mechanism`, `sasl.username`, `sasl.password`.
pub fn secret_data(user: &str, password: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("password".to_string(), password.to_string()),
        (
            "sasl.jaas.config".to_string(),
            format!(
                "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"{}\" password=\"{}\";",
                jaas_quoted(user),
                jaas_quoted(password)
            ),
        ),
        ("sasl.mechanism".to_string(), SASL_MECHANISM.to_string()),
        ("sasl.username".to_string(), user.to_string()),
        ("sasl.password".to_string(), password.to_string()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::user::{AclPermissionType, AclResource};

    fn rule(t: AclResourceType, name: Option<&str>, ops: &[AclOperation]) -> AclRule {
        AclRule {
            resource: AclResource {
                type_: t,
                name: name.map(String::from),
                pattern_type: AclPatternType::Literal,
            },
            operations: ops.to_vec(),
            host: "*".to_string(),
            type_: AclPermissionType::Allow,
        }
    }

    #[test]
    fn rules_become_one_binding_per_operation() {
        let acls = desired_acls(
            &[
                rule(
                    AclResourceType::Topic,
                    Some("orders"),
                    &[AclOperation::Read, AclOperation::Write],
                ),
                rule(
                    AclResourceType::Cluster,
                    None,
                    &[AclOperation::IdempotentWrite],
                ),
            ],
            "User:alice",
        )
        .expect("valid rules");
        assert_eq!(acls.len(), 3);
        assert!(acls.iter().all(|b| b.principal == "User:alice"));
        assert!(acls.iter().any(|b| b.resource_type == 4
            && b.resource_name == "kafka-cluster"
            && b.operation == 12));
    }

    #[test]
    fn an_operation_the_resource_type_does_not_have_refuses_the_whole_spec() {
        let problems = desired_acls(
            &[
                rule(
                    AclResourceType::Topic,
                    Some("orders"),
                    &[AclOperation::Read],
                ),
                rule(AclResourceType::Group, Some("g"), &[AclOperation::Write]),
                rule(
                    AclResourceType::Topic,
                    Some("t"),
                    &[AclOperation::IdempotentWrite],
                ),
            ],
            "User:alice",
        )
        .expect_err("Write on a group and IdempotentWrite on a topic are refused");
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("acls[1]: Write is no operation on a Group"));
        assert!(problems[1].contains("acls[2]: IdempotentWrite is no operation on a Topic"));
    }

    #[test]
    fn acls_converge_both_ways() {
        let want = desired_acls(
            &[rule(
                AclResourceType::Topic,
                Some("a"),
                &[AclOperation::Read, AclOperation::Write],
            )],
            "User:u",
        )
        .expect("valid");
        let read_a = want
            .iter()
            .find(|b| b.operation == 3)
            .cloned()
            .expect("read");
        let mut stale = read_a.clone();
        stale.resource_name = "b".to_string();
        let plan = plan_acls(&want, &[read_a, stale.clone()]);
        assert_eq!(plan.create.len(), 1);
        assert_eq!(plan.create[0].operation, 4, "Write on a is missing");
        assert_eq!(plan.delete, [stale], "Read on b is no longer in the spec");
    }

    #[test]
    fn quotas_are_set_changed_and_removed() {
        let want = desired_quotas(Some(&UserQuotas {
            producer_byte_rate: Some(1024),
            request_percentage: Some(50),
            ..UserQuotas::default()
        }));
        let have = BTreeMap::from([
            ("producer_byte_rate".to_string(), 2048.0),
            ("consumer_byte_rate".to_string(), 10.0),
        ]);
        let plan = plan_quotas(&want, &have);
        assert_eq!(
            plan.set,
            BTreeMap::from([
                ("producer_byte_rate".to_string(), 1024.0),
                ("request_percentage".to_string(), 50.0)
            ])
        );
        assert_eq!(plan.remove, ["consumer_byte_rate"]);
        assert!(plan_quotas(&want, &want).is_empty());
    }

    #[test]
    fn the_secret_has_javas_and_librdkafkas_keys() {
        let data = secret_data("alice", r#"pa"ss\word"#);
        assert_eq!(
            data["sasl.jaas.config"],
            r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="pa\"ss\\word";"#
        );
        assert_eq!(data["sasl.mechanism"], "SCRAM-SHA-512");
        assert_eq!(data["sasl.username"], "alice");
        assert_eq!(data["sasl.password"], r#"pa"ss\word"#);
        assert_eq!(data["password"], r#"pa"ss\word"#);
        let generated = generate_password();
        assert_eq!(generated.len(), GENERATED_PASSWORD_LEN);
        assert_ne!(generated, generate_password(), "passwords are random");
    }
}
