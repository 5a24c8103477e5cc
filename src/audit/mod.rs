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

/// Entries packed by the database into one string, so verification pays no
/// per-row hand-off between threads and no per-row conversion
/// (`Store::chain_packed`): for each, `seq`, the hash's and the body's lengths in
/// bytes, each followed by a space, then the hash and the body. Lengths frame the
/// text, so no body or hash can be read as another's. `None` where it does not
/// read.
struct Packed<'a>(&'a str);

impl<'a> Iterator for Packed<'a> {
    type Item = Option<(i64, &'a str, &'a str)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let entry = self.entry();
        if entry.is_none() {
            self.0 = ""; // nothing after a part that does not read is trusted
        }
        Some(entry)
    }
}

impl<'a> Packed<'a> {
    fn number(&mut self) -> Option<i64> {
        let (n, rest) = self.0.split_once(' ')?;
        self.0 = rest;
        n.parse().ok()
    }

    fn text(&mut self, len: i64) -> Option<&'a str> {
        let len = usize::try_from(len).ok()?;
        let (text, rest) = (self.0.get(..len)?, self.0.get(len..)?);
        self.0 = rest;
        Some(text)
    }

    fn entry(&mut self) -> Option<(i64, &'a str, &'a str)> {
        let (seq, hash_len, body_len) = (self.number()?, self.number()?, self.number()?);
        // Every hash is 64 hex digits: anything else is not read at all.
        (hash_len == 64).then_some(())?;
        Some((seq, self.text(hash_len)?, self.text(body_len)?))
    }
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
        self.feed_entry(row.seq, &row.body, &row.hash)
    }

    /// The next entry, as its three stored columns.
    fn feed_entry(&mut self, seq: i64, body: &str, hash: &str) -> Result<(), Broken> {
        let broken = |reason: &str| Broken {
            seq: self.next_seq,
            reason: reason.to_owned(),
        };
        if seq != self.next_seq {
            return Err(broken(&format!(
                "missing or out of order (found {seq} next)"
            )));
        }
        // A body is a JSON object (canonical: each key once) naming its position.
        let claimed = serde_json::from_str::<Position>(body).map(|p| p.seq);
        if !body.starts_with('{') || claimed.ok() != Some(seq) {
            return Err(broken("its body names another position"));
        }
        if !links(&self.prev, body, hash) {
            return Err(broken(
                "its hash does not match its body and the entry before it",
            ));
        }
        self.prev.clear();
        self.prev.push_str(hash);
        self.next_seq += 1;
        Ok(())
    }

    /// The entries of a packed page (see [`Packed`]). A page that does not read
    /// is a break where it stops reading: it is never taken as verified.
    pub fn feed_packed(
        &mut self,
        page: &str,
        mut each: impl FnMut(&Self) -> Result<(), Broken>,
    ) -> Result<(), Broken> {
        for e in Packed(page) {
            let Some((seq, hash, body)) = e else {
                return Err(Broken {
                    seq: self.next_seq,
                    reason: "its stored form could not be read".into(),
                });
            };
            self.feed_entry(seq, body, hash)?;
            each(self)?;
        }
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

    /// Rows packed as `Store::chain_packed` packs them.
    fn packed(rows: &[Row]) -> String {
        rows.iter()
            .map(|r| {
                format!(
                    "{} {} {} {}{}",
                    r.seq,
                    r.hash.len(),
                    r.body.len(),
                    r.hash,
                    r.body
                )
            })
            .collect()
    }

    #[test]
    fn a_packed_page_reads_as_its_rows_and_a_misframed_one_breaks() {
        let mut rows = chain(30);
        // Bodies with spaces, digits and letters beyond ASCII frame by bytes.
        rows[3].body = rows[3].body.replace("\"cli\"", "\"2 3 ø 🎒\"");
        rows[3].hash = link(&rows[2].hash, &rows[3].body);
        let mut prev = rows[3].hash.clone();
        for r in &mut rows[4..] {
            r.hash = link(&prev, &r.body);
            prev = r.hash.clone();
        }
        let page = packed(&rows);
        let mut v = Verifier::new();
        let mut seen = Vec::new();
        let read = v.feed_packed(&page, |v| {
            seen.push(v.size());
            Ok(())
        });
        assert_eq!(read, Ok(()));
        assert_eq!((v.size(), v.head()), (30, rows[29].hash.as_str()));
        assert_eq!(seen, (1..=30).collect::<Vec<_>>());
        // A length that does not frame the text, cut text or a bad number: the
        // check stops there and says so, never counting what follows.
        let (a, b) = (packed(&rows[..10]), packed(&rows[10..]));
        let misframed = [
            format!("{a}11 64 9999 {b}"),
            format!("{a}11 64"),
            format!("{a}x 64 10 {b}"),
            format!("{a}11 -1 10 {b}"),
            page[..page.len() - 1].to_owned(),
        ];
        for bad in &misframed {
            let mut v = Verifier::new();
            let broken = v.feed_packed(bad, |_| Ok(())).err().map(|b| b.seq);
            assert!(
                broken.is_some_and(|s| s >= 11) && v.size() < 30,
                "{bad:.40}"
            );
        }
        // An error from the caller's check stops at that entry.
        let mut v = Verifier::new();
        let stop = v.feed_packed(&page, |v| match v.size() {
            7 => Err(Broken {
                seq: 7,
                reason: "checkpoint".into(),
            }),
            _ => Ok(()),
        });
        assert_eq!(stop.map_err(|b| b.seq), Err(7));
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
