//! Reading typed values out of portable rows.

use sqlx::any::AnyRow;
use sqlx::Row;
use uuid::Uuid;

use super::StoreError;
use crate::domain::Slug;

pub fn uuid(row: &AnyRow, col: &str) -> Result<Uuid, StoreError> {
    let s: String = row.try_get(col)?;
    Uuid::parse_str(&s).map_err(|_| StoreError::Corrupt(format!("{col} is not a uuid")))
}

pub fn slug(row: &AnyRow, col: &str) -> Result<Slug, StoreError> {
    let s: String = row.try_get(col)?;
    Slug::parse(&s).map_err(|_| StoreError::Corrupt(format!("{col} is not a key")))
}

pub fn json<T: serde::de::DeserializeOwned>(row: &AnyRow, col: &str) -> Result<T, StoreError> {
    let s: String = row.try_get(col)?;
    serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
}

pub fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(|e| StoreError::Corrupt(e.to_string()))
}
