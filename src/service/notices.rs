//! Withdrawal reaches partners: when grants end, every partner that received a
//! token for them gets a signed Security Event Token (RFC 8417) pushed to its
//! webhook (RFC 8935 style), retried with backoff until acknowledged.

use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

use super::{Result, ServiceError, Services};
use crate::domain::client::ClientId;
use crate::domain::Slug;
use crate::storage::{Notice, WriteTx};

/// The event type of a SET telling a partner that consent behind its tokens ended.
pub const CONSENT_REVOKED: &str = "urn:samtykke:secevent:consent-revoked";
const MAX_ATTEMPTS: i64 = 12;

/// A grant that ended in this transaction.
#[derive(Debug, Clone)]
pub struct Ended {
    pub consent_id: Uuid,
    pub org_id: Uuid,
    pub category: Slug,
}

/// Delay before attempt `n + 1`: 1 s, 2 s, 4 s, … at most an hour.
pub fn backoff(attempts: i64) -> i64 {
    1000i64
        .saturating_mul(1i64 << attempts.clamp(0, 12))
        .min(3_600_000)
}

impl Services {
    /// Creates the notices for grants that end in `tx`, inside it, so a withdrawal
    /// and the duty to tell partners commit together. Returns how many.
    pub(super) async fn prepare_notices(
        &self,
        tx: &mut WriteTx<'_>,
        pupil: Uuid,
        ended: &[Ended],
        reason: &str,
    ) -> Result<usize> {
        if ended.is_empty() {
            return Ok(0);
        }
        let mut by_client: BTreeMap<String, (Uuid, Uuid, Vec<String>)> = BTreeMap::new();
        for t in tx.tokens_of_pupil_in_tx(pupil).await? {
            for scope in &t.scopes {
                let category = scope.split(':').nth(1).unwrap_or_default();
                if let Some(e) = ended
                    .iter()
                    .find(|e| e.org_id == t.org_id && e.category.as_str() == category)
                {
                    let entry = by_client.entry(t.client_id.clone()).or_insert((
                        e.consent_id,
                        t.org_id,
                        Vec::new(),
                    ));
                    if !entry.2.contains(scope) {
                        entry.2.push(scope.clone());
                    }
                }
            }
        }
        let now = self.now();
        for (client_id, (consent_id, org_id, scopes)) in &by_client {
            let webhook = match ClientId::parse(client_id) {
                Ok(id) => self
                    .store
                    .client(&id)
                    .await
                    .ok()
                    .and_then(|c| c.webhook_url),
                Err(_) => None,
            };
            let id = Uuid::new_v4();
            let claims = json!({
                "iss": self.issuer, "iat": now / 1000, "jti": id, "aud": client_id,
                "events": { CONSENT_REVOKED: {
                    "subject": { "format": "opaque", "id": self.vault.pairwise(org_id.as_bytes(), pupil.as_bytes()) },
                    "scopes": scopes, "reason": reason, "event_timestamp": now / 1000,
                }},
            });
            let set_jwt = self
                .keys
                .load()
                .sign("secevent+jwt", &claims)
                .map_err(|e| ServiceError::invalid("signing_key", e))?;
            tx.insert_notice(&Notice {
                id,
                client_id: client_id.clone(),
                pupil_id: pupil,
                consent_id: *consent_id,
                scopes: scopes.clone(),
                reason: reason.to_owned(),
                set_jwt,
                next_attempt_at: webhook.as_ref().map(|_| now),
                webhook_url: webhook,
                created_at: now,
                attempts: 0,
                last_error: None,
                acknowledged_at: None,
                gave_up_at: None,
            })
            .await?;
        }
        Ok(by_client.len())
    }

    /// Sends due notices until `stop` says so. Several instances may run this: an
    /// attempt is claimed in the database first, so each is sent once.
    pub async fn deliver_notices(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        loop {
            if let Err(e) = self.deliver_due_notices().await {
                tracing::warn!(error = %e, "delivering withdrawal notices failed; retrying");
            }
            tokio::select! {
                () = self.deliveries.notified() => {}
                () = tokio::time::sleep(Duration::from_millis(250)) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// Sends every notice that is due now and records how each went. One delivery
    /// round runs at a time in this process, so a caller that returns has seen every
    /// due notice attempted (the background sender's round included).
    pub async fn deliver_due_notices(&self) -> Result<()> {
        let _one_at_a_time = self.delivery.lock().await;
        let http = match self.delivery_http.get() {
            Some(c) => c,
            None => {
                // Never a default client: it would follow redirects and wait forever.
                let c = reqwest::Client::builder()
                    .timeout(Duration::from_secs(5))
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .map_err(|e| ServiceError::Conflict(format!("no HTTP client: {e}")))?;
                self.delivery_http.get_or_init(|| c)
            }
        };
        self.deliver_due(http).await
    }

    async fn deliver_due(&self, http: &reqwest::Client) -> Result<()> {
        let now = self.now();
        for n in self.store.due_notices(now, 20).await? {
            let (Some(url), Some(due)) = (&n.webhook_url, n.next_attempt_at) else {
                continue;
            };
            if !self.store.claim_notice(n.id, due, now + 30_000).await? {
                continue;
            }
            let sent = http
                .post(url)
                .header("content-type", "application/secevent+jwt")
                .header("accept", "application/json")
                .body(n.set_jwt.clone())
                .send()
                .await;
            let now = self.now();
            match sent {
                Ok(r) if r.status().is_success() => self.store.notice_delivered(n.id, now).await?,
                other => {
                    let error = match other {
                        Ok(r) => format!("HTTP {}", r.status().as_u16()),
                        Err(e) => e.without_url().to_string(),
                    };
                    let next = (n.attempts + 1 < MAX_ATTEMPTS).then(|| now + backoff(n.attempts));
                    self.store.notice_failed(n.id, &error, next, now).await?;
                }
            }
        }
        Ok(())
    }
}
