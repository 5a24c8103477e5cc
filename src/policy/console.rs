//! Access to the compliance console: roles and what they may do, in casbin
//! (`policies/console_model.conf`, `policies/console_policy.csv`), with the staff's
//! role assignments from the database as `g` lines. Default deny.

use casbin::{CoreApi, DefaultModel, Enforcer, MemoryAdapter, MgmtApi};
use std::sync::RwLock;

pub const MODEL: &str = include_str!("../../policies/console_model.conf");
pub const POLICY: &str = include_str!("../../policies/console_policy.csv");

/// The roles an operator may assign.
pub const ROLES: [&str; 3] = ["compliance_officer", "tutor", "admin"];

#[derive(Default)]
pub struct ConsoleAccess {
    enforcer: RwLock<Option<Enforcer>>,
}

fn rules(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("p,"))
        .map(|l| l.split(',').skip(1).map(|f| f.trim().to_owned()).collect())
        .collect()
}

impl ConsoleAccess {
    /// Builds the enforcer with `assignments` as (subject, role).
    pub async fn load(&self, assignments: Vec<(String, String)>) -> Result<(), String> {
        let model = DefaultModel::from_str(MODEL)
            .await
            .map_err(|e| e.to_string())?;
        let mut e = Enforcer::new(model, MemoryAdapter::default())
            .await
            .map_err(|e| e.to_string())?;
        e.add_policies(rules(POLICY))
            .await
            .map_err(|e| e.to_string())?;
        let g: Vec<Vec<String>> = assignments.into_iter().map(|(s, r)| vec![s, r]).collect();
        if !g.is_empty() {
            e.add_grouping_policies(g)
                .await
                .map_err(|e| e.to_string())?;
        }
        if let Ok(mut slot) = self.enforcer.write() {
            *slot = Some(e);
        }
        Ok(())
    }

    pub fn allows(&self, subject: &str, obj: &str, act: &str) -> bool {
        self.enforcer
            .read()
            .ok()
            .and_then(|e| {
                e.as_ref()
                    .map(|e| e.enforce((subject, obj, act)).unwrap_or(false))
            })
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn roles_decide_and_everything_else_is_denied() {
        let a = ConsoleAccess::default();
        assert!(
            !a.allows("staff:x", "audit", "read"),
            "nothing before loading"
        );
        a.load(vec![
            ("staff:officer".into(), "compliance_officer".into()),
            ("staff:tutor".into(), "tutor".into()),
        ])
        .await
        .unwrap();
        let cases = [
            ("staff:officer", "audit", "read", true),
            ("staff:officer", "statistics", "read", true),
            ("staff:officer", "audit", "write", false),
            ("staff:tutor", "audit", "read", false),
            ("staff:tutor", "statistics", "read", false),
            ("staff:nobody", "audit", "read", false),
            ("compliance_officer", "audit", "read", true),
        ];
        for (sub, obj, act, want) in cases {
            assert_eq!(a.allows(sub, obj, act), want, "{sub} {obj} {act}");
        }
    }
}
