//! The tamper-evident audit log as plain rules: what an entry is, how it is hashed
//! into the chain, and how a chain (or an exported part of one) is checked. No SQL,
//! no HTTP.
//!
//! hash(n) = SHA-256(hash(n-1) ‖ "\n" ‖ body(n)), hash(0) = 64 zeros, where body(n)
//! is the entry's canonical JSON (keys sorted, no whitespace) including its `seq`.
//! Editing an entry changes its hash; removing or reordering entries breaks the
//! `seq` sequence or the link to the previous hash; cutting the end off is caught
//! against the recorded head and the signed checkpoints.

pub mod event;

pub use event::{Actor, Event, Record};

use ring::digest;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// The hash before the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One thing that happened, as the log keeps it. `pupil` is samtykke's internal
/// pseudonym, never an identity number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub at: i64,
    /// e.g. `consent.signed`, `decision`, `token`, `login`, `admin.organisation`.
    pub kind: String,
    pub actor: String,
    pub pupil: Option<Uuid>,
    /// What else there is to say: organisation, client, category, purpose, legal
    /// basis, outcome, reason.
    pub detail: Value,
    pub request_id: Option<String>,
}

impl Entry {
    pub fn new(at: i64, kind: &str, actor: &str, pupil: Option<Uuid>, detail: Value) -> Self {
        Self {
            at,
            kind: kind.to_owned(),
            actor: actor.to_owned(),
            pupil,
            detail,
            request_id: None,
        }
    }
}

/// The canonical body of entry `seq`: the bytes that are hashed.
pub fn body(seq: i64, e: &Entry) -> String {
    body_at(&body_head(e), seq)
}

/// The canonical body without its position. Keys are sorted and `seq` sorts last,
/// so the body is this text followed by the position: what a request can write
/// before it knows where its entry will stand, leaving the one appending writer
/// only the position and the hash.
pub fn body_head(e: &Entry) -> String {
    // Fields in key order, so the text is canonical (`detail`'s own keys are kept
    // sorted by serde_json); `seq` would come last.
    #[derive(Serialize)]
    struct Head<'a> {
        actor: &'a str,
        at: i64,
        detail: &'a Value,
        kind: &'a str,
        pupil: Option<Uuid>,
        request_id: Option<&'a str>,
    }
    let head = Head {
        actor: &e.actor,
        at: e.at,
        detail: &e.detail,
        kind: &e.kind,
        pupil: e.pupil,
        request_id: e.request_id.as_deref(),
    };
    // Cannot fail: strings, numbers and a `Value`, whose map keys are strings.
    let mut text = serde_json::to_string(&head).unwrap_or_default();
    text.pop(); // the closing brace
    text.push(',');
    text
}

/// The body of the entry whose `body_head` is `head`, at position `seq`.
pub fn body_at(head: &str, seq: i64) -> String {
    format!("{head}\"seq\":{seq}}}")
}

pub fn link(prev: &str, body: &str) -> String {
    hex::encode(link_digest(prev, body))
}

fn link_digest(prev: &str, body: &str) -> digest::Digest {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(prev.as_bytes());
    ctx.update(b"\n");
    ctx.update(body.as_bytes());
    ctx.finish()
}

/// Whether `hash` is [`link`]`(prev, body)`, without building the string.
fn links(prev: &str, body: &str, hash: &str) -> bool {
    let mut hex = [0u8; 64];
    hex::encode_to_slice(link_digest(prev, body), &mut hex).is_ok() && hex == hash.as_bytes()
}

/// The position a body names, read without keeping the rest of it.
#[derive(Deserialize)]
struct Position {
    seq: i64,
}

/// A stored entry as verification reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Row {
    pub seq: i64,
    pub body: String,
    pub hash: String,
}

/// Where a chain stops verifying, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema, thiserror::Error)]
#[error("entry {seq}: {reason}")]
pub struct Broken {
    /// The first entry that does not verify.
    pub seq: i64,
    pub reason: String,
}

/// Checks rows fed in order, from any starting point whose previous hash is known.
pub struct Verifier {
    next_seq: i64,
    prev: String,
}

impl Verifier {
    /// From the start of the chain.
    pub fn new() -> Self {
        Self::after(0, GENESIS)
    }

    /// After entry `seq` whose hash was `hash` (an exported range).
    pub fn after(seq: i64, hash: &str) -> Self {
        Self {
            next_seq: seq + 1,
            prev: hash.to_owned(),
        }
    }

    pub fn feed(&mut self, row: &Row) -> Result<(), Broken> {
        let broken = |reason: &str| Broken {
            seq: self.next_seq,
            reason: reason.to_owned(),
        };
        if row.seq != self.next_seq {
            return Err(broken(&format!(
                "missing or out of order (found {} next)",
                row.seq
            )));
        }
        // A body is a JSON object (canonical: each key once) naming its position.
        let claimed = serde_json::from_str::<Position>(&row.body).map(|p| p.seq);
        if !row.body.starts_with('{') || claimed.ok() != Some(row.seq) {
            return Err(broken("its body names another position"));
        }
        if !links(&self.prev, &row.body, &row.hash) {
            return Err(broken(
                "its hash does not match its body and the entry before it",
            ));
        }
        self.prev.clear();
        self.prev.push_str(&row.hash);
        self.next_seq += 1;
        Ok(())
    }

    /// Entries verified so far (the position of the last one).
    pub fn size(&self) -> i64 {
        self.next_seq - 1
    }

    pub fn head(&self) -> &str {
        &self.prev
    }
}

impl Default for Verifier {
    fn default() -> Self {
        Self::new()
    }
}

/// What checking an exported range found.
#[derive(Debug, Clone, Serialize)]
pub struct RangeReport {
    pub verified: bool,
    /// The positions checked, first and last.
    pub first: i64,
    pub last: i64,
    pub head: String,
    /// Whether the checkpoint (if one was given) matched an entry in the range.
    pub checkpoint_matched: Option<bool>,
    pub broken: Option<Broken>,
}

/// Checks an exported range (`prev_hash` is the hash of the entry before the first)
/// and, if given, that the checkpoint's head is the hash at its position.
pub fn verify_range(prev_hash: &str, rows: &[Row], checkpoint: Option<&Checkpoint>) -> RangeReport {
    let first = rows.first().map_or(0, |r| r.seq);
    let mut v = Verifier::after(first - 1, prev_hash);
    let mut broken = None;
    let mut matched = checkpoint.map(|_| false);
    for r in rows {
        if let Err(b) = v.feed(r) {
            broken = Some(b);
            break;
        }
        if let Some(cp) = checkpoint.filter(|cp| cp.size == r.seq) {
            if cp.head == r.hash {
                matched = Some(true);
            } else {
                broken = Some(Broken {
                    seq: r.seq,
                    reason: "the checkpoint names another head".into(),
                });
                break;
            }
        }
    }
    RangeReport {
        verified: broken.is_none() && matched != Some(false),
        first,
        last: v.size(),
        head: v.head().to_owned(),
        checkpoint_matched: matched,
        broken,
    }
}

/// The claims of a signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Checkpoint {
    pub size: i64,
    pub head: String,
    pub at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn chain(n: i64) -> Vec<Row> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|seq| {
                let e = Entry::new(seq * 10, "decision", "cli", None, json!({ "n": seq }));
                let body = body(seq, &e);
                let hash = link(&prev, &body);
                prev = hash.clone();
                Row { seq, body, hash }
            })
            .collect()
    }

    fn first_broken(rows: &[Row]) -> Option<i64> {
        let mut v = Verifier::new();
        rows.iter().find_map(|r| v.feed(r).err()).map(|b| b.seq)
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let rows = chain(50);
        let mut v = Verifier::new();
        assert!(rows.iter().all(|r| v.feed(r).is_ok()));
        assert_eq!(v.size(), 50);
        assert_eq!(v.head(), rows[49].hash);
        // An exported range verifies from the hash before it.
        let mut part = Verifier::after(20, &rows[19].hash);
        assert!(rows[20..].iter().all(|r| part.feed(r).is_ok()));
    }

    #[test]
    fn body_is_canonical() {
        let e = Entry::new(1, "k", "a", None, json!({ "b": 1, "a": 2 }));
        assert_eq!(
            body(7, &e),
            r#"{"actor":"a","at":1,"detail":{"a":2,"b":1},"kind":"k","pupil":null,"request_id":null,"seq":7}"#
        );
    }

    proptest! {
        #[test]
        fn the_body_is_the_whole_entry_with_its_position(
            at in any::<i64>(), seq in 1i64..i64::MAX, kind in "\\PC{0,12}",
            actor in "\\PC{0,12}", text in "\\PC{0,20}", request in proptest::option::of("[ -~]{0,8}"),
        ) {
            let e = Entry { at, kind, actor, pupil: Some(Uuid::nil()),
                detail: json!({ "z": text, "a": [1, null] }), request_id: request };
            let mut whole = serde_json::to_value(&e).map_err(|e| TestCaseError::fail(e.to_string()))?;
            whole["seq"] = json!(seq);
            prop_assert_eq!(body(seq, &e), whole.to_string());
        }

        #[test]
        fn any_edit_deletion_or_swap_is_found_where_it_is(n in 3i64..40, at in 0usize..40, how in 0u8..3) {
            let mut rows = chain(n);
            let at = at % (rows.len() - 1);
            let want = match how {
                0 => {
                    rows[at].body = rows[at].body.replace("\"decision\"", "\"Decision\"");
                    rows[at].seq
                }
                1 => {
                    let gone = rows.remove(at);
                    gone.seq
                }
                _ => {
                    rows.swap(at, at + 1);
                    rows[at].seq.min(rows[at + 1].seq)
                }
            };
            prop_assert_eq!(first_broken(&rows), Some(want));
        }
    }
}
