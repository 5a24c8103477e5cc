//! Client keys registered by URL: fetched, cached for five minutes, fetched again
//! when an assertion names a kid the cached set lacks. Anyone can send an assertion
//! with a made-up kid, so a fetch for a client is never repeated within a second,
//! whether the last one worked or not, and only one is in flight per client (the
//! others wait for it); the answer is read in pieces and dropped past 64 KiB.

use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::Services;
use crate::domain::client::PartnerClient;
use crate::tokens::assertion::AssertionError;

/// How long a fetched set is used (ms, samtykke's clock).
const FRESH_MS: i64 = 300_000;
/// No fetch for a client sooner than this after the last attempt.
const REFETCH_AFTER_MS: i64 = 1_000;
const MAX_BYTES: usize = 64 * 1024;
const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Default, Clone)]
struct Cached {
    /// When a fetch was last tried (ms).
    tried_at: Option<i64>,
    /// The last set fetched, and when.
    set: Option<(i64, Value)>,
}

#[derive(Default)]
pub struct JwksCache {
    sets: Mutex<HashMap<String, Cached>>,
    /// One fetch in flight per client.
    flights: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// What the cache says without fetching.
enum Look {
    Use(Value),
    /// Tried too recently, and nothing fresh to use.
    Wait,
    Fetch,
}

impl JwksCache {
    fn look(&self, client: &str, kid: Option<&str>, now: i64) -> Look {
        let cached = self
            .sets
            .lock()
            .map(|m| m.get(client).cloned().unwrap_or_default())
            .unwrap_or_default();
        // A clock that moved back makes nothing fresh and nothing recent.
        let recent = cached
            .tried_at
            .is_some_and(|t| (0..REFETCH_AFTER_MS).contains(&(now - t)));
        match cached.set {
            Some((at, set))
                if (0..FRESH_MS).contains(&(now - at)) && (has(&set, kid) || recent) =>
            {
                Look::Use(set)
            }
            _ if recent => Look::Wait,
            _ => Look::Fetch,
        }
    }

    fn flight(&self, client: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut m = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(client.to_owned()).or_default().clone()
    }

    fn record(&self, client: &str, now: i64, set: Option<&Value>) {
        if let Ok(mut m) = self.sets.lock() {
            let c = m.entry(client.to_owned()).or_default();
            c.tried_at = Some(now);
            if let Some(s) = set {
                c.set = Some((now, s.clone()));
            }
        }
    }
}

fn has(set: &Value, kid: Option<&str>) -> bool {
    kid.is_none_or(|k| {
        set.get("keys").and_then(Value::as_array).is_some_and(|ks| {
            ks.iter()
                .any(|j| j.get("kid").and_then(Value::as_str) == Some(k))
        })
    })
}

impl Services {
    pub(super) fn forget_jwks(&self, client_id: &str) {
        if let Ok(mut m) = self.jwks_cache.sets.lock() {
            m.remove(client_id);
        }
    }

    /// The client with its keys in hand: inline ones as registered, or the set at
    /// its `jwks_uri`.
    pub(super) async fn with_keys(
        &self,
        mut client: PartnerClient,
        kid: Option<&str>,
    ) -> Result<PartnerClient, AssertionError> {
        let Some(uri) = client.jwks_uri.clone().filter(|_| client.jwks.is_none()) else {
            return Ok(client);
        };
        let id = client.client_id.to_string();
        let cache = &self.jwks_cache;
        let keys = match cache.look(&id, kid, self.now()) {
            Look::Use(set) => set,
            Look::Wait => return Err(AssertionError::NoKey),
            Look::Fetch => {
                let flight = cache.flight(&id);
                let _one = flight.lock().await;
                // Whoever held the flight before may have fetched already.
                match cache.look(&id, kid, self.now()) {
                    Look::Use(set) => set,
                    Look::Wait => return Err(AssertionError::NoKey),
                    Look::Fetch => {
                        let now = self.now();
                        let set = fetch(&uri).await;
                        cache.record(&id, now, set.as_ref());
                        set.ok_or(AssertionError::NoKey)?
                    }
                }
            }
        };
        client.jwks = Some(keys);
        Ok(client)
    }
}

async fn fetch(uri: &str) -> Option<Value> {
    let http = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .ok()?;
    let mut res = http.get(uri).send().await.ok()?;
    if !res.status().is_success() {
        tracing::warn!(
            status = res.status().as_u16(),
            "a client's jwks_uri did not answer"
        );
        return None;
    }
    if res.content_length().is_some_and(|n| n > MAX_BYTES as u64) {
        tracing::warn!("a client's jwks_uri answered with more than 64 KiB");
        return None;
    }
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await.ok()? {
        if body.len() + chunk.len() > MAX_BYTES {
            tracing::warn!("a client's jwks_uri answered with more than 64 KiB");
            return None;
        }
        body.extend_from_slice(&chunk);
    }
    let set: Value = serde_json::from_slice(&body).ok()?;
    let is_set = set.get("keys").is_some_and(Value::is_array);
    is_set.then_some(set)
}
