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
