//! Tokens: client assertions partners present (RFC 7523), and the access tokens
//! samtykke signs (RFC 9068) with its own keys.

pub mod assertion;
pub mod dpop;
pub mod jws;
pub mod signing;
