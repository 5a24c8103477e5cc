//! Tokens partners present: client assertions (RFC 7523) today; access tokens
//! (RFC 9068) come with the authorization server.

pub mod assertion;
