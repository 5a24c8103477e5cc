//! The one storage layer. Queries are portable SQL run through sqlx's `Any` driver
//! (`$n` placeholders work on both SQLite and PostgreSQL); only the migrations differ
//! per backend. Times are stored as BIGINT milliseconds since the epoch and ids as
//! text, the types both backends share.

mod batch;
mod caseload;
mod catalogue;
mod chain;
mod clients;
mod consents;
mod credentials;
mod disputes;
mod guardians;
mod index;
mod notices;
mod orgs;
mod policy;
mod pupils;
mod rows;
mod search;
mod sessions;
mod staff;
mod templates;
mod tokens;

pub use batch::OnceId;
pub use caseload::{CaseRow, InvitationRow, PaperRow, TeamRow};
pub use chain::ReadyEntry;
pub use consents::ConsentFilter;
pub use credentials::CredentialRow;
pub use disputes::DisputeRow;
pub use guardians::{DuePart, ExceptionRow, GuardianInvitationRow};
pub use notices::Notice;
pub use policy::{StoredRule, CHANNEL};
pub use pupils::PupilRow;
pub use search::{Found, LogColumn, LogFilter};
pub use sessions::SessionRow;
pub use tokens::{IssuedToken, KeyRow};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, Connection, Executor, Transaction};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Once};
use std::time::Duration;
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::config::Backend;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A unique or foreign-key constraint refused the write.
    #[error("conflicts with stored data: {0}")]
    Conflict(String),
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
    /// A write shared with others (group commit) failed; the cause is logged.
    #[error("the write was not committed: {0}")]
    NotCommitted(String),
    /// The database cannot be reached now (no connection within the configured
    /// time, or the connection broke): the caller may try again.
    #[error("the database cannot be reached: {0}")]
    Unavailable(String),
    #[error("database: {0}")]
    Database(#[source] sqlx::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => Self::NotFound,
            sqlx::Error::Database(db) => match db.kind() {
                sqlx::error::ErrorKind::UniqueViolation => Self::Conflict("already exists".into()),
                sqlx::error::ErrorKind::ForeignKeyViolation => {
                    Self::Conflict("refers to something that does not exist".into())
                }
                _ => Self::Database(e),
            },
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => Self::Unavailable(e.to_string()),
            _ => Self::Database(e),
        }
    }
}

impl StoreError {
    /// A failure that is no one's fault but the database's absence: 503, retry.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::NotCommitted(_))
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Where the schema stands against the migrations this binary carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaStatus {
    Current,
    Pending(Vec<i64>),
    /// The database has migrations this binary does not know: a newer release ran.
    Unknown(Vec<i64>),
}

#[derive(Clone)]
pub struct Store {
    /// Readers. On SQLite they are `query_only`: a write that bypasses the writer
    /// fails at once (and in tests) instead of racing it.
    pool: AnyPool,
    /// Writers. On SQLite a pool of one connection, so no two writes ever overlap
    /// and none fails with SQLITE_BUSY; on PostgreSQL the same pool as `pool`.
    writers: AnyPool,
    backend: Backend,
    /// SQLite: the queue for the one writer connection. Taken before the connection,
    /// so waiting for it has no pool timeout and the order is first come, first served.
    write_gate: Option<Arc<Mutex<()>>>,
    /// Write transactions committed by this process: what group commit saves.
    commits: Arc<AtomicU64>,
}

/// The writer's connection, outside a transaction: for single statements that need
/// no transaction (sessions, claims). Held, it keeps every other write waiting.
pub struct WriteConn {
    conn: PoolConnection<Any>,
    _gate: Option<OwnedMutexGuard<()>>,
}

impl std::ops::Deref for WriteConn {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for WriteConn {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.conn
    }
}

/// A write transaction, on a writer connection (`'static`) or on one the caller
/// holds. Dropping it without `commit` rolls back.
pub struct WriteTx<'c> {
    tx: Transaction<'c, Any>,
    _gate: Option<OwnedMutexGuard<()>>,
    backend: Backend,
    commits: Arc<AtomicU64>,
}

impl WriteTx<'_> {
    pub fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        self.commits.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

impl Store {
    /// Connects; a connection not had within `wait` is an `Unavailable` error.
    pub async fn connect(
        url: &str,
        backend: Backend,
        max_connections: u32,
        wait: Duration,
    ) -> Result<Self> {
        static DRIVERS: Once = Once::new();
        DRIVERS.call_once(sqlx::any::install_default_drivers);
        let url = match backend {
            Backend::Sqlite => sqlite_url(url)?,
            Backend::Postgres => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let pool = |max: u32, query_only: bool| {
            AnyPoolOptions::new()
                .max_connections(max)
                .acquire_timeout(wait)
                .after_connect(move |conn, _| {
                    Box::pin(async move {
                        if backend == Backend::Sqlite {
                            // WAL for concurrent readers; FULL so a commit survives power loss.
                            conn.execute("PRAGMA journal_mode = WAL").await?;
                            conn.execute("PRAGMA synchronous = FULL").await?;
                            conn.execute("PRAGMA foreign_keys = ON").await?;
                            // Only another process (the CLI beside a server) can be
                            // waited for: in this one, writes never overlap.
                            conn.execute("PRAGMA busy_timeout = 10000").await?;
                            if query_only {
                                conn.execute("PRAGMA query_only = ON").await?;
                            }
                        }
                        Ok(())
                    })
                })
        };
        let (pool, writers) = match backend {
            Backend::Postgres => {
                let p = pool(max_connections, false).connect_with(options).await?;
                (p.clone(), p)
            }
            Backend::Sqlite => {
                // The writer first: it creates the file and sets WAL mode.
                let writers = pool(1, false).connect_with(options.clone()).await?;
                let readers = pool(max_connections, true).connect_with(options).await?;
                (readers, writers)
            }
        };
        Ok(Self {
            pool,
            writers,
            backend,
            write_gate: (backend == Backend::Sqlite).then(|| Arc::new(Mutex::new(()))),
            commits: Arc::default(),
        })
    }

    /// Write transactions this process has committed.
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    fn migrator(&self) -> &'static Migrator {
        match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        }
    }

    /// Applies pending migrations. Refuses (without changing anything) when the
    /// database carries migrations this binary does not know or that were edited.
    pub async fn migrate(&self) -> Result<()> {
        if let SchemaStatus::Unknown(v) = self.schema_status().await? {
            return Err(StoreError::Corrupt(format!(
                "the database has migrations {v:?} that this release does not know; run a newer samtykke"
            )));
        }
        self.migrator().run(&self.writers).await?;
        Ok(())
    }

    pub async fn schema_status(&self) -> Result<SchemaStatus> {
        let mut conn = self.read().await?;
        let exists = match self.backend {
            Backend::Sqlite => "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
            Backend::Postgres => "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = '_sqlx_migrations'",
        };
        let n: i64 = sqlx::query_scalar(exists).fetch_one(&mut *conn).await?;
        let applied: Vec<i64> = if n == 0 {
            Vec::new()
        } else {
            sqlx::query_scalar(
                "SELECT version FROM _sqlx_migrations WHERE success = $1 ORDER BY version",
            )
            .bind(true)
            .fetch_all(&mut *conn)
            .await?
        };
        let known: Vec<i64> = self.migrator().iter().map(|m| m.version).collect();
        let unknown: Vec<i64> = applied
            .iter()
            .filter(|v| !known.contains(v))
            .copied()
            .collect();
        let pending: Vec<i64> = known
            .iter()
            .filter(|v| !applied.contains(v))
            .copied()
            .collect();
        Ok(if !unknown.is_empty() {
            SchemaStatus::Unknown(unknown)
        } else if !pending.is_empty() {
            SchemaStatus::Pending(pending)
        } else {
            SchemaStatus::Current
        })
    }

    pub async fn ping(&self) -> Result<()> {
        let mut conn = self.read().await?;
        conn.ping().await?;
        Ok(())
    }

    pub async fn read(&self) -> Result<PoolConnection<Any>> {
        Ok(self.pool.acquire().await?)
    }

    /// A write transaction on the writer connection. On SQLite it takes the write
    /// lock at once (`BEGIN IMMEDIATE`), so another process writing beside this one
    /// (the CLI) is waited for by the busy timeout instead of failing a
    /// read-then-write transaction with a stale snapshot.
    pub async fn write(&self) -> Result<WriteTx<'static>> {
        let gate = self.gate().await;
        let tx = match self.backend {
            Backend::Sqlite => self.writers.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.writers.begin().await?,
        };
        Ok(WriteTx {
            tx,
            _gate: gate,
            backend: self.backend,
            commits: self.commits.clone(),
        })
    }

    /// The writer connection for statements that need no transaction.
    pub async fn writer(&self) -> Result<WriteConn> {
        let gate = self.gate().await;
        let conn = self.writers.acquire().await?;
        Ok(WriteConn { conn, _gate: gate })
    }

    /// A write transaction on a connection the caller holds (PostgreSQL): for a
    /// writer that commits one batch after another without going back to the pool.
    /// SQLite has one writer connection, which nobody may hold between writes.
    pub async fn write_on<'c>(&self, conn: &'c mut AnyConnection) -> Result<WriteTx<'c>> {
        if self.backend == Backend::Sqlite {
            return Err(StoreError::Corrupt(
                "SQLite writes go through Store::write".into(),
            ));
        }
        let tx = conn.begin().await?;
        Ok(WriteTx {
            tx,
            _gate: None,
            backend: self.backend,
            commits: self.commits.clone(),
        })
    }

    async fn gate(&self) -> Option<OwnedMutexGuard<()>> {
        match &self.write_gate {
            Some(g) => Some(g.clone().lock_owned().await),
            None => None,
        }
    }

    pub async fn close(&self) {
        self.pool.close().await;
        self.writers.close().await;
    }
}

/// Makes sure the SQLite file can be created (and its folder exists).
fn sqlite_url(url: &str) -> Result<String> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()
        .unwrap_or_default();
    // Readers and the writer are separate connections to one file; an in-memory
    // database would be one per connection.
    if path.is_empty() || path.contains(":memory:") || url.contains("mode=memory") {
        return Err(StoreError::Corrupt(
            "the embedded database needs a file: set database_url to sqlite://<path>".into(),
        ));
    }
    if let Some(dir) = std::path::Path::new(path)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        crate::secrets_file::private_dir(dir)
            .map_err(|e| StoreError::Corrupt(format!("cannot create {}: {e}", dir.display())))?;
    }
    Ok(if url.contains('?') {
        url.to_owned()
    } else {
        format!("sqlite://{path}?mode=rwc")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On SQLite the readers refuse to write: a write that bypassed the one
    /// writer would fail at once, here, instead of racing it under load.
    #[tokio::test]
    async fn sqlite_readers_refuse_writes_and_the_writer_takes_them() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/t.db", dir.path().display());
        let store = Store::connect(&url, Backend::Sqlite, 4, Duration::from_secs(10))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let insert = "INSERT INTO policy_rules (id, org_type, category, action, purpose, effect, created_by, created_at) VALUES ('00000000-0000-0000-0000-000000000001', 'ot', '*', 'read', '*', 'deny', 't', 0)";
        let mut reader = store.read().await.unwrap();
        assert!(sqlx::query(insert).execute(&mut *reader).await.is_err());
        drop(reader);
        let mut tx = store.write().await.unwrap();
        sqlx::query(insert).execute(tx.conn()).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(store.policy_rules().await.unwrap().len(), 1);
        assert_eq!(store.commits(), 1);
    }

    #[test]
    fn an_in_memory_database_is_refused() {
        for url in [
            "sqlite::memory:",
            "sqlite://:memory:",
            "sqlite:",
            "sqlite://x.db?mode=memory",
        ] {
            assert!(sqlite_url(url).is_err(), "{url}");
        }
    }
}
