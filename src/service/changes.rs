//! Following the other instances (PostgreSQL `LISTEN`): a consent change makes the
//! decision index forget that pupil (a new re-consent deadline: every pupil), a
//! policy or catalogue change reloads the policy, a directory change drops the
//! cached clients and organisations. While not listening, the decision index keeps
//! nothing (each decision reads the database); after a lost connection everything
//! is reloaded and the index starts empty, since notifications may have been missed.

use std::sync::Arc;

use super::Services;

/// Listens until `stop` says so.
pub async fn follow_changes(
    services: Arc<Services>,
    database_url: String,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    use sqlx::postgres::PgListener;
    loop {
        // Until listening again, changes made elsewhere may be missed: decisions
        // read the database and nothing is kept.
        services.policy.index.pause();
        let connected = tokio::select! {
            c = PgListener::connect(&database_url) => c,
            _ = stop.changed() => return,
        };
        let mut listener = match connected {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "change listener cannot connect; retrying");
                tokio::select! {
                    () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                    _ = stop.changed() => return,
                }
                continue;
            }
        };
        if let Err(e) = listener.listen(crate::storage::CHANNEL).await {
            tracing::warn!(error = %e, "change listener cannot listen; retrying");
            tokio::select! {
                () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
                _ = stop.changed() => return,
            }
            continue;
        }
        // Catch up on anything missed while not listening; keep reads again.
        resync(&services).await;
        services.policy.index.resume();
        loop {
            let received = tokio::select! {
                r = listener.try_recv() => r,
                _ = stop.changed() => return,
            };
            match received {
                Ok(Some(n)) => apply_change(&services, n.payload()).await,
                Ok(None) => {
                    // Connect and listen again before catching up (the outer loop).
                    tracing::warn!("change listener lost its connection; reconnecting");
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "change listener failed; reconnecting");
                    break;
                }
            }
        }
    }
}

async fn resync(services: &Services) {
    services.forget_directory();
    let loaded = async {
        services.load_catalogue().await?;
        services.reload_policy().await?;
        services.reload_keys().await
    };
    if let Err(e) = loaded.await {
        tracing::error!(error = %e, "resync failed");
    }
}

async fn apply_change(services: &Services, payload: &str) {
    let result = if let Some(pupil) = payload.strip_prefix("consent:") {
        if let Ok(id) = uuid::Uuid::parse_str(pupil) {
            services.refresh_pupil(id);
        }
        Ok(())
    } else if payload == "catalogue" {
        async {
            services.load_catalogue().await?;
            services.reload_policy().await.map(|_| ())
        }
        .await
    } else if payload == super::INDEX_CHANGED {
        services.reset_index();
        Ok(())
    } else if payload == super::DIRECTORY_CHANGED {
        services.forget_directory();
        Ok(())
    } else if payload == "keys" {
        services.reload_keys().await
    } else if payload == "console" {
        services.reload_console().await
    } else if payload == "policy" {
        services.reload_policy().await.map(|_| ())
    } else {
        Ok(())
    };
    if let Err(e) = result {
        tracing::error!(error = %e, change = payload, "applying a change from another instance failed");
    }
}
