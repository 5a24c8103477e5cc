//! The baseline policy: a casbin model and rules in `policies/`, plus runtime rules
//! an admin stored. casbin evaluates every (organisation type, category, action,
//! purpose) in the catalogue once per load; decisions then read the table, so the
//! hot path never runs the matcher and never takes a write lock.

use casbin::{CoreApi, DefaultModel, Enforcer, MemoryAdapter, MgmtApi};
use std::collections::HashMap;
use std::sync::Arc;

use super::decide::Action;
use crate::domain::catalogue::Catalogue;
use crate::domain::category::CategoryKey;
use crate::domain::org::OrgType;
use crate::domain::Slug;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    Allow,
    Deny,
}

/// One baseline rule: `p, org_type, category, action, purpose, effect`; `*` matches any.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub org_type: String,
    pub category: String,
    pub action: String,
    pub purpose: String,
    pub effect: Effect,
}

impl Rule {
    pub fn to_line(&self) -> String {
        let eft = match self.effect {
            Effect::Allow => "allow",
            Effect::Deny => "deny",
        };
        format!(
            "p, {}, {}, {}, {}, {eft}",
            self.org_type, self.category, self.action, self.purpose
        )
    }

    fn to_casbin(&self) -> Vec<String> {
        let eft = match self.effect {
            Effect::Allow => "allow",
            Effect::Deny => "deny",
        };
        vec![
            self.org_type.clone(),
            self.category.clone(),
            self.action.clone(),
            self.purpose.clone(),
            eft.into(),
        ]
    }

    /// Each field is a key or `*`; the action is read, write, disclose or `*`.
    pub fn check(&self) -> Result<(), String> {
        let key = |name: &str, v: &str| {
            if v == "*" || Slug::parse(v).is_ok() {
                Ok(())
            } else {
                Err(format!("{name} {v:?} is not a key or *"))
            }
        };
        key("org_type", &self.org_type)?;
        key("category", &self.category)?;
        key("purpose", &self.purpose)?;
        if !matches!(self.action.as_str(), "read" | "write" | "disclose" | "*") {
            return Err(format!(
                "action {:?} is not read, write, disclose or *",
                self.action
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("{source_name} line {line}: {reason}")]
    Parse {
        source_name: String,
        line: usize,
        reason: String,
    },
    #[error("policy model: {0}")]
    Model(String),
    #[error("policy evaluation: {0}")]
    Enforce(String),
}

/// Parses a policy CSV: `p, org_type, category, action, purpose, allow|deny`;
/// blank lines and `#` comments are skipped.
pub fn parse_rules(text: &str, source_name: &str) -> Result<Vec<Rule>, PolicyError> {
    let mut rules = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |reason: String| PolicyError::Parse {
            source_name: source_name.into(),
            line: i + 1,
            reason,
        };
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        if f.len() != 6 || f[0] != "p" {
            return Err(err(
                "expected: p, org_type, category, action, purpose, allow|deny".into(),
            ));
        }
        let effect = match f[5] {
            "allow" => Effect::Allow,
            "deny" => Effect::Deny,
            other => return Err(err(format!("effect {other:?} is not allow or deny"))),
        };
        let rule = Rule {
            org_type: f[1].into(),
            category: f[2].into(),
            action: f[3].into(),
            purpose: f[4].into(),
            effect,
        };
        rule.check().map_err(err)?;
        rules.push(rule);
    }
    Ok(rules)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BaselineVerdict<'a> {
    pub allowed: bool,
    /// The rule that decided; `None` when no rule matched (default deny).
    pub rule: Option<&'a Arc<str>>,
}

/// Whether a combination is allowed, and the rule that decided (its text shared
/// with every decision that names it).
type Answer = (bool, Option<Arc<str>>);

/// Every baseline answer for the catalogue, computed by casbin at load.
#[derive(Debug, Default)]
pub struct BaselineTable {
    /// Keyed by [`key`].
    table: HashMap<Box<[u8]>, Answer, foldhash::fast::RandomState>,
    pub rules: Vec<Rule>,
}

/// The rule that decided, for explanations: the first matching deny rule for a
/// deny, the first matching allow rule for an allow. casbin's verdict is the
/// decision; this only names the rule, and names none if the model file's matcher
/// has been changed so that the two no longer agree.
fn attribute<'a>(
    rules: &'a [Rule],
    (t, c, a, p): (&str, &str, &str, &str),
    allowed: bool,
) -> Option<&'a Rule> {
    let hit = |r: &&Rule| {
        r.org_type == t
            && (r.category == "*" || r.category == c)
            && ((r.action == "*" && a != "disclose") || r.action == a)
            && (r.purpose == "*" || r.purpose == p)
    };
    let deny = rules.iter().filter(hit).find(|r| r.effect == Effect::Deny);
    let allow = rules.iter().filter(hit).find(|r| r.effect == Effect::Allow);
    match (allowed, allow, deny) {
        (true, Some(r), None) => Some(r),
        (false, _, Some(r)) => Some(r),
        _ => None,
    }
}

/// The longest key: three keys of at most 40 bytes, an action, four separators.
const KEY_MAX: usize = 3 * 40 + 8 + 4;

/// A combination's key, written into `buf` so a decision allocates nothing;
/// `None` for parts longer than keys can be (no such combination is in the table).
fn key<'b>(buf: &'b mut [u8; KEY_MAX], parts: [&str; 4]) -> Option<&'b [u8]> {
    let mut n = 0;
    for part in parts {
        let end = n + part.len();
        buf.get_mut(n..end)?.copy_from_slice(part.as_bytes());
        *buf.get_mut(end)? = 0x1f;
        n = end + 1;
    }
    buf.get(..n)
}

impl BaselineTable {
    /// Loads the model and rules into casbin and evaluates every combination.
    pub async fn build(
        model: &str,
        rules: Vec<Rule>,
        catalogue: &Catalogue,
    ) -> Result<Self, PolicyError> {
        let m = DefaultModel::from_str(model)
            .await
            .map_err(|e| PolicyError::Model(e.to_string()))?;
        let mut e = Enforcer::new(m, MemoryAdapter::default())
            .await
            .map_err(|e| PolicyError::Model(e.to_string()))?;
        let lines: Vec<Vec<String>> = rules.iter().map(Rule::to_casbin).collect();
        if !lines.is_empty() {
            e.add_policies(lines)
                .await
                .map_err(|e| PolicyError::Enforce(e.to_string()))?;
        }
        let mut table = HashMap::default();
        let mut buf = [0; KEY_MAX];
        for t in &catalogue.org_types {
            for c in &catalogue.categories {
                for a in [Action::Read, Action::Write, Action::Disclose] {
                    for p in &catalogue.purposes {
                        let args = (t.key.as_str(), c.key.as_str(), a.as_str(), p.key.as_str());
                        let allowed = e
                            .enforce(args)
                            .map_err(|e| PolicyError::Enforce(e.to_string()))?;
                        let rule = attribute(&rules, args, allowed).map(|r| r.to_line().into());
                        let k =
                            key(&mut buf, [args.0, args.1, args.2, args.3]).ok_or_else(|| {
                                PolicyError::Enforce(format!(
                                    "a key longer than keys can be: {args:?}"
                                ))
                            })?;
                        table.insert(k.into(), (allowed, rule));
                    }
                }
            }
        }
        Ok(Self { table, rules })
    }

    pub fn verdict(
        &self,
        org_type: &OrgType,
        category: &CategoryKey,
        action: Action,
        purpose: &Slug,
    ) -> BaselineVerdict<'_> {
        let mut buf = [0; KEY_MAX];
        let parts = [
            org_type.as_str(),
            category.as_str(),
            action.as_str(),
            purpose.as_str(),
        ];
        match key(&mut buf, parts).and_then(|k| self.table.get(k)) {
            Some((allowed, rule)) => BaselineVerdict {
                allowed: *allowed,
                rule: rule.as_ref(),
            },
            None => BaselineVerdict {
                allowed: false,
                rule: None,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_keys_fit_and_longer_parts_have_no_key() {
        let long = "a".repeat(40);
        let mut buf = [0; KEY_MAX];
        let k = key(&mut buf, [&long, &long, "disclose", &long]).map(<[u8]>::to_vec);
        assert_eq!(k.map(|k| k.len()), Some(KEY_MAX));
        let longer = "a".repeat(41);
        assert_eq!(key(&mut buf, [&longer, &long, "disclose", &long]), None);
        // Parts are separated, so moving text between them changes the key.
        let ab = key(&mut buf, ["ab", "c", "read", "p"]).map(<[u8]>::to_vec);
        assert_ne!(ab.as_deref(), key(&mut buf, ["a", "bc", "read", "p"]));
    }
}
