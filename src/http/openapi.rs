//! The OpenAPI document, generated from the handlers' annotations.

use axum::Json;
use serde_json::{json, Map, Value};
use std::sync::OnceLock;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::admin::{audit, catalogue, clients, consents, credentials, orgs, policy};
use super::authzen;
use super::health;

struct AdminAuth;

impl Modify for AdminAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "samtykke admin API", description = "Consent and data sharing for pupils followed up by a NAV tutor. Errors are RFC 9457 problem JSON."),
    modifiers(&AdminAuth),
    paths(
        health::healthz, health::readyz,
        orgs::list, orgs::create, orgs::get, orgs::patch,
        orgs::list_networks, orgs::create_network, orgs::get_network, orgs::add_member,
        catalogue::get, catalogue::replace, catalogue::categories, catalogue::add_category,
        catalogue::templates, catalogue::add_template, catalogue::template, catalogue::edit_template, catalogue::publish,
        consents::list, consents::sign, consents::get, consents::events, consents::change, consents::withdraw,
        consents::lookup, consents::pupil_consents, consents::erase,
        clients::list, clients::create, clients::get, clients::notices, clients::rotate_keys, clients::set_keys, clients::patch,
        policy::view, policy::add_rule, policy::remove_rule, policy::reload, policy::explain,
        credentials::list, credentials::create, credentials::revoke,
        audit::verify, audit::checkpoint, audit::checkpoints, audit::entries, audit::grant_role, audit::revoke_role,
        authzen::evaluation, authzen::evaluations, authzen::configuration,
    ),
    components(schemas(super::problem::Problem))
)]
pub struct ApiDoc;

/// The document as served: generated once, then made to say what the server does.
pub async fn document() -> Json<Value> {
    static DOC: OnceLock<Value> = OnceLock::new();
    Json(
        DOC.get_or_init(|| corrected(serde_json::to_value(ApiDoc::openapi()).unwrap_or_default()))
            .clone(),
    )
}

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

/// What the annotations leave out and every operation shares, filled in one place
/// rather than on each handler: path parameters not declared (a string; `id` is a
/// UUID), error bodies as `application/problem+json`, and the answers every
/// operation can give (a malformed request, no or the wrong credential, nothing
/// at that id, an unusable body, a rate limit, the database out of reach).
fn corrected(mut doc: Value) -> Value {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return doc;
    };
    for (path, item) in paths.iter_mut() {
        let names: Vec<&str> = path
            .split('{')
            .skip(1)
            .filter_map(|s| s.split('}').next())
            .collect();
        for method in METHODS {
            let Some(op) = item.get_mut(method).and_then(Value::as_object_mut) else {
                continue;
            };
            declare_path_parameters(op, &names);
            // utoipa names an operation by its function (`get`, `list`): unique
            // only with the module, which the tag names.
            let tag = op["tags"][0].as_str().unwrap_or("api").to_owned();
            if let Some(Value::String(id)) = op.get_mut("operationId") {
                *id = format!("{tag}_{id}");
            }
            let secured = op.contains_key("security");
            let has_body = op.contains_key("requestBody");
            let responses = op
                .entry("responses")
                .or_insert_with(|| json!({}))
                .as_object_mut();
            let Some(responses) = responses else { continue };
            for (code, response) in responses.iter_mut() {
                if code.starts_with('4') || code.starts_with('5') {
                    as_problem(response);
                }
            }
            let mut shared = vec![
                ("400", "the request is malformed"),
                (
                    "503",
                    "the database is out of reach; try again (Retry-After)",
                ),
            ];
            if secured {
                shared.push(("401", "no valid credential"));
                shared.push(("403", "the credential's scope does not allow this"));
            }
            shared.push(("422", "a value is not one this operation takes"));
            if !names.is_empty() || has_body {
                shared.push(("404", "nothing at that id, or at an id the body names"));
            }
            if has_body {
                shared.push(("408", "the body did not arrive in time"));
                shared.push(("413", "the body is too large"));
                shared.push(("415", "the body is not JSON"));
            }
            if path.starts_with("/access/") {
                shared.push(("429", "too many requests (Retry-After)"));
            }
            for (code, description) in shared {
                responses.entry(code).or_insert_with(|| {
                    json!({
                        "description": description,
                        "content": { PROBLEM: { "schema": { "$ref": "#/components/schemas/Problem" } } }
                    })
                });
            }
        }
    }
    doc
}

const PROBLEM: &str = "application/problem+json";

fn declare_path_parameters(op: &mut Map<String, Value>, names: &[&str]) {
    let params = op.entry("parameters").or_insert_with(|| json!([]));
    let Some(params) = params.as_array_mut() else {
        return;
    };
    for name in names {
        let declared = params
            .iter()
            .any(|p| p["in"] == "path" && p["name"] == *name);
        if !declared {
            let schema = if *name == "id" {
                json!({ "type": "string", "format": "uuid" })
            } else {
                json!({ "type": "string" })
            };
            params.push(json!({ "name": name, "in": "path", "required": true, "schema": schema }));
        }
    }
    if params.is_empty() {
        op.remove("parameters");
    }
}

/// Error bodies are served as `application/problem+json` (RFC 9457).
fn as_problem(response: &mut Value) {
    let Some(content) = response.get_mut("content").and_then(Value::as_object_mut) else {
        return;
    };
    if let Some(json) = content.remove("application/json") {
        content.insert(PROBLEM.to_owned(), json);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The served document declares every path parameter it names, only there,
    /// serves errors as problem JSON, and names each operation once.
    #[test]
    fn the_served_document_says_what_the_server_does() {
        let doc = corrected(serde_json::to_value(ApiDoc::openapi()).unwrap());
        let mut ids = std::collections::BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in METHODS {
                let Some(op) = item.get(method) else { continue };
                assert!(ids.insert(op["operationId"].to_string()), "{method} {path}");
                let params = op["parameters"].as_array().cloned().unwrap_or_default();
                for p in params.iter().filter(|p| p["in"] == "path") {
                    let name = p["name"].as_str().unwrap();
                    assert!(
                        path.contains(&format!("{{{name}}}")),
                        "{method} {path}: {name}"
                    );
                }
                for name in path
                    .split('{')
                    .skip(1)
                    .map(|s| s.split('}').next().unwrap())
                {
                    assert!(
                        params
                            .iter()
                            .any(|p| p["in"] == "path" && p["name"] == name),
                        "{method} {path}: {name} undeclared"
                    );
                }
                for (code, r) in op["responses"].as_object().unwrap() {
                    if code.starts_with('4') || code.starts_with('5') {
                        assert!(
                            r["content"].get("application/json").is_none(),
                            "{method} {path} {code}"
                        );
                    }
                }
                for code in ["400", "422", "503"] {
                    assert!(
                        op["responses"].get(code).is_some(),
                        "{method} {path} {code}"
                    );
                }
            }
        }
        assert!(ids.len() > 40);
        // Every schema named is one the document has (a new field's type too).
        fn refs(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    if let Some(Value::String(r)) = m.get("$ref") {
                        out.push(r.clone());
                    }
                    m.values().for_each(|x| refs(x, out));
                }
                Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
                _ => {}
            }
        }
        let mut named = Vec::new();
        refs(&doc, &mut named);
        for r in named {
            let name = r.trim_start_matches("#/components/schemas/");
            assert!(
                doc["components"]["schemas"].get(name).is_some(),
                "{r} is not in the document"
            );
        }
    }
}
