//! Entry points for the fuzz targets in `fuzz/`: each takes bytes as a caller sends
//! them and runs the parsing the service runs on them. None may panic, loop or
//! allocate without bound, whatever the bytes; `cargo fuzz` searches for bytes
//! that do, and the table below keeps the known-hostile ones in `cargo test`.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::domain::client::{ClientId, PartnerClient};

fn text(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes).ok()
}

/// The token endpoint's form and its `authorization_details` (RFC 9396).
pub fn oauth_form(bytes: &[u8]) {
    if let Ok(form) = crate::http::oauth::form(bytes) {
        let _ = crate::http::oauth::details(&form);
    }
}

/// An AuthZEN batch (the single request is its `defaults`), each item merged and
/// read into a question as the evaluation endpoints do.
pub fn authzen(bytes: &[u8]) {
    use crate::http::authzen::{merge, to_ask, EvaluationsBody};
    let Ok(body) = crate::http::extract::parse_json::<EvaluationsBody>(bytes) else {
        return;
    };
    let Some(caller) = caller() else { return };
    let _ = to_ask(&body.defaults, &caller);
    for e in body.evaluations.iter().take(100) {
        let _ = to_ask(&merge(&body.defaults, e), &caller);
    }
}

/// A client assertion (RFC 7523): the claimed client, then the signature and
/// claims against a registered P-256 key.
pub fn client_assertion(bytes: &[u8]) {
    let Some(token) = text(bytes) else { return };
    let _ = crate::tokens::assertion::claimed_client(token);
    let audiences = ["https://samtykke.example".to_owned()];
    if let Some(caller) = caller() {
        let _ = crate::tokens::assertion::verify(token, &caller, &audiences, 0);
    }
}

/// A DPoP proof (RFC 9449) for the token endpoint.
pub fn dpop_proof(bytes: &[u8]) {
    let Some(proof) = text(bytes) else { return };
    let _ = crate::tokens::dpop::verify(proof, "POST", "https://samtykke.example/oauth/token", 0);
}

/// A form posted to the pupil's or the tutor's pages.
pub fn page_form(bytes: &[u8]) {
    if let Ok(form) = crate::web::Form::fields(bytes) {
        let _ = form.get("csrf");
        let _ = form.all("grant").count();
    }
}

/// Identity, organisation and municipality numbers as typed into a form or a body.
pub fn numbers(bytes: &[u8]) {
    let Some(s) = text(bytes) else { return };
    let _ = crate::domain::identity::IdentityNumber::parse(s);
    let _ = crate::domain::org::OrgNumber::parse(s);
    let _ = crate::domain::org::Municipality::parse(s);
}

/// The baseline policy (`policies/baseline.csv`) and the catalogue
/// (`policies/catalogue.toml`), as an operator loads them.
pub fn policy_files(bytes: &[u8]) {
    let Some(s) = text(bytes) else { return };
    let _ = crate::policy::baseline::parse_rules(s, "fuzz");
    let _ = crate::service::parse_catalogue(s, "fuzz");
}

/// A partner registered with one P-256 key, as the assertions are checked against.
fn caller() -> Option<PartnerClient> {
    let jwk: Value = json!({
        "kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256",
        "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
        "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
    });
    Some(PartnerClient {
        id: Uuid::nil(),
        client_id: ClientId::parse("fuzz-client").ok()?,
        org_id: Uuid::nil(),
        name: "fuzz".into(),
        scopes: vec!["pupil:attendance:read".into()],
        jwks: Some(json!({ "keys": [jwk] })),
        jwks_uri: None,
        webhook_url: None,
        enabled: true,
        created_at: 0,
    })
}

#[cfg(test)]
mod tests {
    /// Inputs that once broke a parser somewhere, or are built to: each entry point
    /// takes each without a panic.
    #[test]
    fn hostile_inputs_are_refused_without_a_panic() {
        let deep = "[".repeat(10_000);
        let keys = format!("{{{}}}", [r#""a":1"#; 2].join(","));
        let inputs: Vec<&[u8]> = vec![
            b"",
            b"\xff\xfe\x00",
            b"a=1&a=2",
            b"grant_type=client_credentials&authorization_details=%5B%7B%22type%22%3A%22pupil_data%22%7D%5D",
            b"eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.",
            b"eyJhbGciOiJFUzI1NiIsImNyaXQiOlsieCJdfQ.e30.AAAA",
            b"....",
            deep.as_bytes(),
            keys.as_bytes(),
            br#"{"evaluations":[{"subject":{"type":"organisation","id":"974123452"},"resource":{"type":"pupil_data","id":"1","properties":{"holder":7}}}]}"#,
            b"p, tutor, pupil_data, *, read\n\"",
            b"[[org_types]]\nkey = 1",
            "\u{202e}12345678901".as_bytes(),
        ];
        for bytes in inputs {
            super::oauth_form(bytes);
            super::authzen(bytes);
            super::client_assertion(bytes);
            super::dpop_proof(bytes);
            super::page_form(bytes);
            super::numbers(bytes);
            super::policy_files(bytes);
        }
    }
}
