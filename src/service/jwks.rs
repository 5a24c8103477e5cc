//! Client keys registered by URL: fetched, cached for five minutes, fetched again
//! when an assertion names a kid the cached set lacks (at most once a second).

use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use super::Services;
use crate::domain::client::PartnerClient;
use crate::tokens::assertion::AssertionError;

/// How long a fetched set is used (ms, samtykke's clock).
const FRESH_MS: i64 = 300_000;
/// A kid not in the set fetches it again, but not sooner than this after the last.
const REFETCH_AFTER_MS: i64 = 1_000;
const MAX_BYTES: usize = 64 * 1024;

#[derive(Default)]
pub struct JwksCache {
    /// Client → (fetched at, ms; the set).
    sets: Mutex<HashMap<String, (i64, Value)>>,
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
        let cached = self
            .jwks_cache
            .sets
            .lock()
            .ok()
            .and_then(|m| m.get(client.client_id.as_str()).cloned());
        let has_kid = |set: &Value| {
            kid.is_none_or(|k| {
                set.get("keys").and_then(Value::as_array).is_some_and(|ks| {
                    ks.iter()
                        .any(|j| j.get("kid").and_then(Value::as_str) == Some(k))
                })
            })
        };
        let now = self.now();
        let keys = match cached {
            // A clock that moved back makes nothing fresh.
            Some((at, set))
                if (0..FRESH_MS).contains(&(now - at))
                    && (has_kid(&set) || now - at < REFETCH_AFTER_MS) =>
            {
                set
            }
            _ => {
                let set = fetch(&uri).await.ok_or(AssertionError::NoKey)?;
                if let Ok(mut m) = self.jwks_cache.sets.lock() {
                    m.insert(client.client_id.to_string(), (now, set.clone()));
                }
                set
            }
        };
        client.jwks = Some(keys);
        Ok(client)
    }
}

async fn fetch(uri: &str) -> Option<Value> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .ok()?;
    let res = http.get(uri).send().await.ok()?;
    if !res.status().is_success() {
        tracing::warn!(
            status = res.status().as_u16(),
            "a client's jwks_uri did not answer"
        );
        return None;
    }
    let body = res.bytes().await.ok()?;
    if body.len() > MAX_BYTES {
        return None;
    }
    let set: Value = serde_json::from_slice(&body).ok()?;
    let is_set = set.get("keys").is_some_and(Value::is_array);
    is_set.then_some(set)
}
