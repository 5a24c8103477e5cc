//! One integration-test binary (each test file would be another slow link on a small
//! machine). Every test starts the real server on a random port and talks HTTP.
//! With SAMTYKKE_TEST_DATABASE_URL=postgres://… the same tests run on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod browser;
mod helpers;
mod notices;
mod partner;

mod admin_api;
mod architecture;
mod attacks;
mod audit;
mod bad_input;
mod binary;
mod connections;
mod consents;
mod console;
mod disclosures;
mod disputes;
mod faults;
mod guardians;
mod hardening;
mod login;
mod migration;
mod pages;
mod policy;
mod renewal;
mod scale;
mod storage;
mod tokens;
mod tutor;
