//! Group commit. Partner requests (token issuance, AuthZEN) hand their records —
//! the ids they use up, a token, their decisions and event as audit entries — to a
//! `Settler`; standalone audit entries (logins, introspections, staff searches …) go
//! to a `ChainWriter`. Each writer commits whatever has queued up in one durable
//! transaction and then answers every request in it. Nothing is acknowledged before
//! its commit; a failed commit fails them all.

use sqlx::pool::PoolConnection;
use sqlx::Any;
use std::sync::{Arc, OnceLock};
use tokio::sync::{mpsc, oneshot, Mutex};

use crate::config::Backend;
use crate::storage::{IssuedToken, OnceId, ReadyEntry, Store, WriteTx};

/// At most this many requests share one transaction.
const MAX_BATCH: usize = 256;

/// What one token request writes.
pub struct Records {
    /// The client assertion's jti, and the DPoP proof's if there was one.
    pub once: Vec<OnceId>,
    pub token: Option<IssuedToken>,
    /// Its decisions and its event, for the audit log.
    pub entries: Vec<ReadyEntry>,
    /// Recorded instead of `entries` when `once[i]` was used before.
    pub replay_entries: Vec<ReadyEntry>,
}

/// How a request's records fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    Written,
    /// `once[i]` was used before: nothing but the replay event was written.
    Replayed(usize),
}

type Job = (Records, oneshot::Sender<Result<Settled, String>>);

#[derive(Default)]
pub struct Settler {
    queue: OnceLock<mpsc::Sender<Job>>,
}

impl Settler {
    /// Writes `records` with whatever else is waiting; returns once it is durable.
    pub async fn settle(&self, store: &Store, records: Records) -> Result<Settled, String> {
        let queue = self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
            let rx = Arc::new(Mutex::new(rx));
            for _ in 0..writers(store.backend()) {
                tokio::spawn(writer(store.clone(), rx.clone()));
            }
            tx
        });
        let (done, answer) = oneshot::channel();
        queue
            .send((records, done))
            .await
            .map_err(|_| "the writer has stopped".to_owned())?;
        answer
            .await
            .map_err(|_| "the writer dropped the request".to_owned())?
    }
}

/// Writers taking batches from one queue. On PostgreSQL two overlap: one prepares
/// its transaction while the other holds the audit chain's head and commits. SQLite
/// has one writer at a time anyway.
fn writers(backend: Backend) -> usize {
    match backend {
        Backend::Postgres => 2,
        Backend::Sqlite => 1,
    }
}

async fn writer(store: Store, rx: Arc<Mutex<mpsc::Receiver<Job>>>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    // While requests keep coming the writer keeps its connection from batch to
    // batch (one round trip fewer each). It gives it back when the queue runs dry
    // and after a failure: after a quiet spell (in which the database may have
    // restarted or timed the session out) the next batch gets one the pool checks.
    let mut held: Option<PoolConnection<Any>> = None;
    while rx.lock().await.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let records: Vec<&Records> = jobs.iter().map(|(r, _)| r).collect();
        let written = match (store.backend(), held.as_mut()) {
            // SQLite's one writer connection is never held between batches.
            (Backend::Sqlite, _) => match store.write().await {
                Ok(tx) => write(tx, &records).await,
                Err(e) => Err(e),
            },
            (Backend::Postgres, Some(conn)) => match store.write_on(conn).await {
                Ok(tx) => write(tx, &records).await,
                Err(e) => Err(e),
            },
            (Backend::Postgres, None) => match store.read().await {
                Ok(conn) => match store.write_on(held.insert(conn)).await {
                    Ok(tx) => write(tx, &records).await,
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            },
        };
        // The other writer holding the queue means it is waiting for work: none queued.
        let more = rx.try_lock().is_ok_and(|q| !q.is_empty());
        if written.is_err() || !more {
            held = None;
        }
        match written {
            Ok(outcomes) => {
                // A request that gave up waiting (its client went away) has nobody
                // to tell; its records are written all the same.
                for ((_, done), o) in jobs.drain(..).zip(outcomes) {
                    let _ = done.send(Ok(o));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, requests = jobs.len(), "a batch of token records was not written");
                for (_, done) in jobs.drain(..) {
                    let _ = done.send(Err(e.to_string()));
                }
            }
        }
    }
}

async fn write(
    mut tx: WriteTx<'_>,
    batch: &[&Records],
) -> Result<Vec<Settled>, crate::storage::StoreError> {
    let ids: Vec<OnceId> = batch.iter().flat_map(|r| r.once.iter().cloned()).collect();
    let fresh = tx.use_once_ids(&ids).await?;
    let mut fresh = fresh.into_iter();
    let (mut tokens, mut entries, mut outcomes) = (Vec::new(), Vec::new(), Vec::new());
    for r in batch {
        let mine: Vec<bool> = fresh.by_ref().take(r.once.len()).collect();
        if let Some(i) = mine.iter().position(|f| !f) {
            // Ids of this request that were new stay used: a replay burns them too.
            entries.extend(r.replay_entries.get(i));
            outcomes.push(Settled::Replayed(i));
            continue;
        }
        tokens.extend(r.token.iter());
        entries.extend(r.entries.iter());
        outcomes.push(Settled::Written);
    }
    tx.insert_tokens_in_tx(&tokens).await?;
    // One append to the chain for the whole batch: one read and update of its head.
    tx.chain_ready(&entries).await?;
    tx.commit().await?;
    Ok(outcomes)
}

type LogJob = (Vec<ReadyEntry>, oneshot::Sender<Result<(), String>>);

/// Group commit for audit entries written on their own: what is queued while one
/// transaction commits goes into the next, and each caller returns only when its
/// entries are durable.
#[derive(Default)]
pub struct ChainWriter {
    queue: OnceLock<mpsc::Sender<LogJob>>,
}

impl ChainWriter {
    pub async fn append(
        &self,
        store: &Store,
        entries: Vec<crate::audit::Entry>,
    ) -> Result<(), String> {
        let queue = self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
            tokio::spawn(chain_writer(store.clone(), rx));
            tx
        });
        let (done, answer) = oneshot::channel();
        let ready = entries.iter().map(ReadyEntry::from).collect();
        queue
            .send((ready, done))
            .await
            .map_err(|_| "the writer has stopped".to_owned())?;
        answer
            .await
            .map_err(|_| "the writer dropped the request".to_owned())?
    }
}

async fn chain_writer(store: Store, mut rx: mpsc::Receiver<LogJob>) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        let all: Vec<&ReadyEntry> = jobs.iter().flat_map(|(e, _)| e.iter()).collect();
        let result = store.append_chain(&all).await.map_err(|e| e.to_string());
        if let Err(e) = &result {
            tracing::error!(error = %e, entries = all.len(), "audit entries were not written");
        }
        // As above: a caller that went away has nobody to tell.
        for (_, done) in jobs.drain(..) {
            let _ = done.send(result.clone());
        }
    }
}
