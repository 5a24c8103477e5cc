//! The OpenAPI document, generated from the handlers' annotations.

use axum::Json;
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

pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
