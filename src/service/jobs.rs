//! The work that comes due with time, as operations: the running app calls them on
//! a schedule (`startup::Background`), tests call them directly after moving the
//! clock. Each is idempotent and safe on several instances at once.

use super::{Result, ServiceError, Services};

/// Runs every step even when one fails; the first failure is returned, every
/// failure is logged with the step it came from.
fn each(results: Vec<(&str, Result<()>)>) -> Result<()> {
    let mut first: Option<ServiceError> = None;
    for (step, r) in results {
        if let Err(e) = r {
            tracing::error!(error = %e, step, "scheduled work failed");
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}

impl Services {
    /// Every minute: consents that have expired are recorded (and partners told),
    /// what rested on a guardian lapses at the pupil's birthday, then the audit
    /// chain is checkpointed if it grew. A failure of one does not
    /// stop the other.
    pub async fn minute_work(&self) -> Result<()> {
        let due = self.due_work().await;
        let checkpoint = self.checkpoint_if_grown().await;
        each(vec![("due work", due), ("checkpoint", checkpoint)])
    }

    /// What comes due with time: expiries and birthdays. Also run at start, so
    /// what came due while the service was down is not left for a minute.
    pub async fn due_work(&self) -> Result<()> {
        let expired = self.expire_due().await.map(|_| ());
        let lapsed = self.lapse_due().await.map(|_| ());
        each(vec![("expiry", expired), ("coming of age", lapsed)])
    }

    /// Every ten minutes: the signing keys are brought forward, and used assertion
    /// ids and ended sessions are forgotten; each step runs whatever the others do.
    pub async fn housekeeping(&self, session_idle_ms: i64, session_absolute_ms: i64) -> Result<()> {
        let keys = self.load_keys().await;
        let ids = self
            .store
            .purge_jtis(self.now())
            .await
            .map(|_| ())
            .map_err(Into::into);
        let sessions = self
            .purge_sessions(session_idle_ms, session_absolute_ms)
            .await
            .map(|_| ());
        each(vec![
            ("keys", keys),
            ("assertion ids", ids),
            ("sessions", sessions),
        ])
    }
}
