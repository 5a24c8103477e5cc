//! Rate limits: a token bucket per key (a client, or the address a request came
//! from), on the service's clock so tests can drive it. The map is bounded: past
//! `MAX_KEYS`, buckets that have filled up again (idle keys) are dropped first,
//! and if none has, the request is refused rather than the map grown.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::clock::Millis;

const MAX_KEYS: usize = 50_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Millis,
}

/// `per_second` requests a second on average, `2 × per_second` at once; 0 is off.
#[derive(Debug, Default)]
pub(super) struct Limiter {
    per_second: u32,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Limiter {
    pub(super) fn new(per_second: u32) -> Self {
        Self {
            per_second,
            buckets: Mutex::default(),
        }
    }

    fn burst(&self) -> f64 {
        f64::from(self.per_second) * 2.0
    }

    /// `Ok` and one token taken, or `Err(seconds)` to wait before the next.
    pub(super) fn take(&self, key: &str, now: Millis) -> Result<(), u64> {
        if self.per_second == 0 {
            return Ok(());
        }
        let rate = f64::from(self.per_second) / 1000.0;
        let burst = self.burst();
        let mut all = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let refill = |b: &Bucket| (b.tokens + (now - b.at).max(0) as f64 * rate).min(burst);
        if !all.contains_key(key) && all.len() >= MAX_KEYS {
            all.retain(|_, b| refill(b) < burst);
            if all.len() >= MAX_KEYS {
                return Err(1);
            }
        }
        let b = all.entry(key.to_owned()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let tokens = refill(b);
        if tokens < 1.0 {
            let wait_ms = ((1.0 - tokens) / rate).ceil() as u64;
            return Err(wait_ms.div_ceil(1000).max(1));
        }
        *b = Bucket {
            tokens: tokens - 1.0,
            at: now,
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate_per_key() {
        let l = Limiter::new(5);
        for _ in 0..10 {
            assert_eq!(l.take("a", 0), Ok(()));
        }
        assert_eq!(l.take("a", 0), Err(1), "the burst is twice the rate");
        assert_eq!(l.take("b", 0), Ok(()), "each key on its own");
        assert_eq!(l.take("a", 200), Ok(()), "one back every 200 ms");
        assert_eq!(l.take("a", 200), Err(1));
        assert!(Limiter::new(0).take("a", 0).is_ok(), "0 is off");
    }
}
