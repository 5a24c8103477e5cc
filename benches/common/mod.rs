//! What the benchmarks share: where their database lives.

use std::path::Path;

/// The database a benchmark runs on: with SAMTYKKE_BENCH_DATABASE_URL a fresh
/// PostgreSQL database next to the one named (dropped by `drop_scratch`), else a
/// SQLite file in `dir`. Returns the URL and, for PostgreSQL, (admin URL, name).
pub async fn database(dir: &Path) -> Result<(String, Option<(String, String)>), String> {
    match std::env::var("SAMTYKKE_BENCH_DATABASE_URL") {
        Ok(admin) if !admin.is_empty() => {
            use sqlx::Connection;
            let name = format!("samtykke_bench_{}", uuid::Uuid::new_v4().simple());
            let mut conn = sqlx::PgConnection::connect(&admin)
                .await
                .map_err(|e| format!("cannot reach {admin}: {e}"))?;
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .await
                .map_err(|e| format!("cannot create a database: {e}"))?;
            let mut u = url::Url::parse(&admin).map_err(|e| e.to_string())?;
            u.set_path(&name);
            Ok((u.to_string(), Some((admin, name))))
        }
        _ => Ok((format!("sqlite://{}/bench.db", dir.display()), None)),
    }
}

/// Drops the scratch PostgreSQL database, if there was one.
pub async fn drop_scratch(scratch: Option<(String, String)>) {
    use sqlx::Connection;
    if let Some((admin, name)) = scratch {
        if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn)
                .await;
        }
    }
}

/// samtykke built on `url` with fresh keys, logging only warnings.
pub async fn build(
    dir: &Path,
    url: &str,
    public_url: Option<String>,
    demo: bool,
) -> Result<samtykke::App, String> {
    use base64::Engine;
    let keys = samtykke::crypto::KeyMaterial::generate_system().map_err(|e| e.to_string())?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let defaults = samtykke::config::Settings::default();
    let settings = samtykke::config::Settings {
        database_url: url.to_owned(),
        public_url: public_url.unwrap_or(defaults.public_url.clone()),
        key_file: dir.join("keys.json"),
        hmac_key: Some(b64.encode(keys.hmac_key.expose())),
        kek: Some(b64.encode(keys.kek.expose())),
        demo: Some(demo),
        log_filter: "warn".into(),
        ..defaults
    };
    let config = samtykke::config::Config::from_settings(settings).map_err(|e| e.to_string())?;
    samtykke::build(config, std::sync::Arc::new(samtykke::clock::SystemClock))
        .await
        .map_err(|e| format!("cannot start: {e}"))
}
