//! The policy decision point. Every question "may organisation O receive category C
//! of pupil P for purpose U?" is answered by [`decide::decide`]: the baseline policy
//! (casbin, `policies/`) AND the pupil's consent in force. The AuthZEN endpoints, the
//! CLI and (later) token issuance all call it through [`PolicyEngine`].

pub mod baseline;
pub mod console;
pub mod decide;
pub mod index;
pub mod table;

use arc_swap::ArcSwap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use baseline::{parse_rules, BaselineTable, PolicyError, Rule};
use index::ConsentIndex;

use crate::domain::catalogue::Catalogue;

/// The model and baseline shipped with this release, used when no policy directory
/// is configured or found.
pub const DEFAULT_MODEL: &str = include_str!("../../policies/model.conf");
pub const DEFAULT_BASELINE: &str = include_str!("../../policies/baseline.csv");

/// Where the policy files are read from at each (re)load.
#[derive(Debug, Clone)]
pub enum PolicySource {
    Dir(PathBuf),
    Builtin,
}

impl PolicySource {
    pub fn from_dir(dir: &Path) -> Self {
        if dir.join("model.conf").is_file() && dir.join("baseline.csv").is_file() {
            Self::Dir(dir.to_path_buf())
        } else {
            Self::Builtin
        }
    }

    /// The model text and the file rules.
    pub fn read(&self) -> Result<(String, Vec<Rule>), PolicyError> {
        match self {
            Self::Builtin => Ok((
                DEFAULT_MODEL.to_owned(),
                parse_rules(DEFAULT_BASELINE, "baseline.csv")?,
            )),
            Self::Dir(dir) => {
                let read = |name: &str| {
                    std::fs::read_to_string(dir.join(name)).map_err(|e| PolicyError::Parse {
                        source_name: dir.join(name).display().to_string(),
                        line: 0,
                        reason: e.to_string(),
                    })
                };
                let model = read("model.conf")?;
                let path = dir.join("baseline.csv").display().to_string();
                Ok((model, parse_rules(&read("baseline.csv")?, &path)?))
            }
        }
    }
}

pub struct PolicyEngine {
    pub source: PolicySource,
    baseline: ArcSwap<BaselineTable>,
    pub index: Arc<ConsentIndex>,
}

impl PolicyEngine {
    /// `index_pupils`: how many pupils' consents the index keeps at once.
    pub fn new(source: PolicySource, index_pupils: usize) -> Self {
        Self {
            source,
            baseline: ArcSwap::from_pointee(BaselineTable::default()),
            index: Arc::new(ConsentIndex::with_capacity(index_pupils)),
        }
    }

    pub fn baseline(&self) -> Arc<BaselineTable> {
        self.baseline.load_full()
    }

    /// Reads the files, adds the runtime rules and swaps the new table in. On any
    /// error the policy in force stays as it was.
    pub async fn reload(
        &self,
        runtime_rules: Vec<Rule>,
        catalogue: &Catalogue,
    ) -> Result<usize, PolicyError> {
        let (model, mut rules) = self.source.read()?;
        rules.extend(runtime_rules);
        let count = rules.len();
        let table = BaselineTable::build(&model, rules, catalogue).await?;
        self.baseline.store(Arc::new(table));
        Ok(count)
    }
}

#[cfg(test)]
mod tests;
