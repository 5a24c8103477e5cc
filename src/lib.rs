//! samtykke: consent and data sharing for pupils followed up by a NAV tutor.
//!
//! Layers, from the outside in: `http` (axum handlers, thin) and `cli` → `service`
//! (one transaction per operation) → `domain` (pure rules) and `storage` (SQL),
//! with `crypto` sealing identity numbers. See docs/ARCHITECTURE.md.

pub mod audit;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod demo;
pub mod domain;
pub mod fuzzing;
pub mod http;
pub mod json_keys;
pub mod oidc;
pub mod policy;
pub mod secrets_file;
pub mod service;
pub mod startup;
pub mod storage;
pub mod telemetry;
pub mod tokens;
pub mod web;

pub use startup::{build, App, StartError};
