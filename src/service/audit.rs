//! Verifying the audit chain and signing checkpoints of it.

use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;

use super::{Result, ServiceError, Services};
use crate::audit::{Broken, Checkpoint, Row, Verifier};
use crate::tokens::signing::KeyRing;

/// The media type of a checkpoint's JWS header.
pub const CHECKPOINT_TYP: &str = "audit-checkpoint+jwt";
/// Entries read per page while verifying (one packed string of about 2 MB).
const PAGE: i64 = 5_000;

/// What a full verification found.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChainReport {
    pub verified: bool,
    /// Entries that verified, from the first.
    pub size: i64,
    pub head: String,
    /// The first entry or checkpoint that does not verify.
    pub broken: Option<Broken>,
    pub checkpoints: usize,
    pub last_checkpoint: Option<Checkpoint>,
}

impl Services {
    /// Checks every entry in order, the recorded head, and every signed checkpoint.
    pub async fn verify_chain(&self) -> Result<ChainReport> {
        let checkpoints = self.store.checkpoints().await?;
        // The end as recorded when the check starts. Entries appended meanwhile
        // are not this check's: the head moves with them, in the same transaction.
        let (size, head) = self.store.chain_head().await?;
        // Every entry stores its own hash, so each half can be checked from the
        // stored hash before it, at once (two cores, not one); the first half must
        // then end on that very hash.
        let half = match self.store.chain_hash_at(size / 2).await? {
            Some(h) if size >= 2 => (size / 2, h),
            _ => (0, crate::audit::GENESIS.to_owned()),
        };
        let wanted = |from: i64, to: i64| -> HashMap<i64, String> {
            checkpoints
                .iter()
                .filter(|(c, _)| c.size > from && c.size <= to)
                .map(|(c, _)| (c.size, c.head.clone()))
                .collect()
        };
        // Both stop when this check is dropped (`Aborting`), and the second is not
        // waited for once the first has found a break.
        let (mut first, mut second) = (
            Aborting(tokio::spawn(verify_range(
                self.store.clone(),
                Verifier::new(),
                half.0,
                wanted(0, half.0),
            ))),
            Aborting(tokio::spawn(verify_range(
                self.store.clone(),
                Verifier::after(half.0, &half.1),
                size,
                wanted(half.0, size),
            ))),
        );
        let (v1, broken1) = joined((&mut first.0).await)??;
        let (v, broken2) = if broken1.is_some() {
            drop(second);
            (Verifier::new(), None)
        } else {
            joined((&mut second.0).await)??
        };
        let mut broken = broken1.or_else(|| {
            (v1.size() != half.0 || v1.head() != half.1).then(|| Broken {
                seq: v1.size() + 1,
                reason: format!(
                    "the entries end at {}, or their hash there is not the next one's link",
                    v1.size()
                ),
            })
        });
        let v = if broken.is_some() { v1 } else { v };
        broken = broken.or(broken2);
        if broken.is_none() && (size != v.size() || head != v.head()) {
            broken = Some(Broken {
                seq: v.size() + 1,
                reason: format!(
                    "the recorded end is entry {size}, but the entries end at {}",
                    v.size()
                ),
            });
        }
        if broken.is_none() {
            // Entries before the first or past the recorded end were not appended
            // as entries are (the head moves with every append): read the bounds,
            // then the end.
            let (first, last, count) = self.store.chain_bounds().await?;
            let (end, _) = self.store.chain_head().await?;
            if first < 1 {
                broken = Some(Broken {
                    seq: first,
                    reason: "an entry before the first".into(),
                });
            } else if last > end {
                broken = Some(Broken {
                    seq: end + 1,
                    reason: format!("entries past the recorded end (entry {end})"),
                });
            } else if count != last - first + 1 {
                broken = Some(Broken {
                    seq: end + 1,
                    reason: "an entry without a position".into(),
                });
            }
        }
        // A checkpoint past where the entries end vouches for entries now gone.
        let missing = checkpoints
            .iter()
            .map(|(c, _)| c.size)
            .filter(|s| *s > v.size())
            .min();
        if broken.is_none() {
            if let Some(cp) = missing {
                broken = Some(Broken {
                    seq: v.size() + 1,
                    reason: format!("a checkpoint vouches for {cp} entries: some were removed"),
                });
            }
        }
        if broken.is_none() {
            broken = self.check_signatures(&checkpoints).await?;
        }
        Ok(ChainReport {
            verified: broken.is_none(),
            size: v.size(),
            head: v.head().to_owned(),
            broken,
            checkpoints: checkpoints.len(),
            last_checkpoint: checkpoints.last().map(|(c, _)| c.clone()),
        })
    }

    /// Every checkpoint must be signed by one of samtykke's keys (retired ones too)
    /// and say what its row says.
    async fn check_signatures(&self, cps: &[(Checkpoint, String)]) -> Result<Option<Broken>> {
        let published = self
            .store
            .keys()
            .await?
            .into_iter()
            .map(|k| k.public_jwk)
            .collect();
        let ring = KeyRing::new(None, published)
            .map_err(|e| ServiceError::Conflict(format!("keys: {e}")))?;
        for (cp, jws) in cps {
            let ok = ring
                .verify(jws, CHECKPOINT_TYP)
                .ok()
                .is_some_and(|c| c["size"] == cp.size && c["head"] == cp.head.as_str());
            if !ok {
                return Ok(Some(Broken {
                    seq: cp.size,
                    reason: format!("the checkpoint at {} is not signed by samtykke", cp.size),
                }));
            }
        }
        Ok(None)
    }

    /// Appends entries durably (fail closed: an error means they are not in the log),
    /// sharing the commit with whatever else is being logged at the same time.
    pub async fn log(&self, entries: Vec<crate::audit::Entry>) -> Result<()> {
        self.chain_writer
            .append(&self.store, entries)
            .await
            .map_err(|e| ServiceError::Store(crate::storage::StoreError::NotCommitted(e)))
    }

    /// Write transactions this process has committed (for `/metrics`): what group
    /// commit keeps low.
    pub fn commits(&self) -> u64 {
        self.store.commits()
    }

    /// The chain's recorded size and head hash.
    pub async fn chain_size(&self) -> Result<(i64, String)> {
        Ok(self.store.chain_head().await?)
    }

    /// Every signed checkpoint with its JWS, oldest first.
    pub async fn checkpoints(&self) -> Result<Vec<(Checkpoint, String)>> {
        Ok(self.store.checkpoints().await?)
    }

    /// Up to `limit` entries after position `after`, exactly as stored, and the
    /// hash of entry `after`: a range to verify offline against a checkpoint.
    pub async fn export_chain(&self, after: i64, limit: i64) -> Result<(String, Vec<Row>)> {
        if !(1..=10_000).contains(&limit) {
            return Err(ServiceError::invalid(
                "limit",
                "must be between 1 and 10000",
            ));
        }
        if after < 0 {
            return Err(ServiceError::invalid("after", "must not be negative"));
        }
        let prev = self
            .store
            .chain_hash_at(after)
            .await?
            .ok_or(ServiceError::NotFound("entry"))?;
        Ok((prev, self.store.chain_rows(after, limit).await?))
    }

    /// Signs the chain's current size and head.
    pub async fn checkpoint(&self) -> Result<(Checkpoint, String)> {
        let (size, head) = self.store.chain_head().await?;
        let cp = Checkpoint {
            size,
            head,
            at: self.now(),
        };
        let claims =
            json!({ "iss": self.issuer, "size": cp.size, "head": cp.head, "iat": cp.at / 1000 });
        let jws = self
            .keys
            .load()
            .sign(CHECKPOINT_TYP, &claims)
            .map_err(|e| ServiceError::Conflict(format!("cannot sign a checkpoint: {e}")))?;
        self.store.insert_checkpoint(&cp, &jws).await?;
        Ok((cp, jws))
    }

    /// A checkpoint if the chain grew since the last one.
    pub async fn checkpoint_if_grown(&self) -> Result<()> {
        let (size, _) = self.store.chain_head().await?;
        let last = self
            .store
            .checkpoints()
            .await?
            .last()
            .map_or(0, |(c, _)| c.size);
        if size > last {
            self.checkpoint().await?;
        }
        Ok(())
    }
}

/// Checks the entries after `v`'s position up to `end`, and the checkpoints
/// `wanted` (size → head) among them: where it got, and the first break.
async fn verify_range(
    store: crate::storage::Store,
    mut v: Verifier,
    end: i64,
    mut wanted: HashMap<i64, String>,
) -> Result<(Verifier, Option<Broken>)> {
    // The next page is read while this one is checked, so the database builds
    // one while this task hashes the other. Pages are ranges of positions: a
    // missing entry is found where the next one does not follow.
    let fetch = |after: i64| {
        let store = store.clone();
        Aborting(tokio::spawn(async move {
            store.chain_packed(after, PAGE.min(end - after)).await
        }))
    };
    let mut after = v.size();
    let mut next = (after < end).then(|| fetch(after));
    while let Some(mut reading) = next.take() {
        let page = joined((&mut reading.0).await)??;
        after = after.saturating_add(PAGE).min(end);
        next = (after < end).then(|| fetch(after));
        let checked = v.feed_packed(&page, |v| match wanted.remove(&v.size()) {
            Some(cp) if cp != v.head() => Err(Broken {
                seq: v.size(),
                reason: format!("the checkpoint at {} names another head", v.size()),
            }),
            _ => Ok(()),
        });
        if let Err(b) = checked {
            return Ok((v, Some(b)));
        }
        // Every position of the page was there: otherwise the first missing one
        // is the break, found here and not after reading to a recorded end that
        // may have been moved far past the entries.
        if v.size() != after {
            let seq = v.size() + 1;
            let reason = format!("missing (the entries stop at {})", v.size());
            return Ok((v, Some(Broken { seq, reason })));
        }
    }
    Ok((v, None))
}

/// A task a check started, stopped when the check is dropped or done with it.
struct Aborting<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for Aborting<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn joined<T>(r: std::result::Result<T, tokio::task::JoinError>) -> Result<T> {
    r.map_err(|e| {
        ServiceError::Store(crate::storage::StoreError::Unavailable(format!(
            "reading the chain: {e}"
        )))
    })
}
