//! The admin API under `/api/v1/`: thin handlers over the service layer.

pub mod audit;
pub mod catalogue;
pub mod clients;
pub mod consents;
pub mod credentials;
pub mod orgs;
pub mod policy;

use axum::extract::FromRef;
use axum::routing::{delete, get, post, put};
use axum::Router;

use super::ApiState;

pub fn routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    ApiState: FromRef<S>,
{
    Router::new()
        .route("/organisations", get(orgs::list).post(orgs::create))
        .route("/organisations/{id}", get(orgs::get).patch(orgs::patch))
        .route(
            "/networks",
            get(orgs::list_networks).post(orgs::create_network),
        )
        .route("/networks/{id}", get(orgs::get_network))
        .route("/networks/{id}/members", post(orgs::add_member))
        .route("/catalogue", get(catalogue::get).put(catalogue::replace))
        .route(
            "/categories",
            get(catalogue::categories).post(catalogue::add_category),
        )
        .route(
            "/templates",
            get(catalogue::templates).post(catalogue::add_template),
        )
        .route(
            "/templates/{id}",
            get(catalogue::template).put(catalogue::edit_template),
        )
        .route("/templates/{id}/publish", post(catalogue::publish))
        .route("/consents", get(consents::list).post(consents::sign))
        .route("/consents/{id}", get(consents::get))
        .route("/consents/{id}/events", get(consents::events))
        .route("/consents/{id}/grants", put(consents::change))
        .route("/consents/{id}/withdrawals", post(consents::withdraw))
        .route("/pupils/lookup", post(consents::lookup))
        .route("/pupils/{id}/consents", get(consents::pupil_consents))
        .route("/pupils/{id}/erasure", post(consents::erase))
        .route("/clients", get(clients::list).post(clients::create))
        .route(
            "/clients/{client_id}",
            get(clients::get).patch(clients::patch),
        )
        .route("/clients/{client_id}/keys", put(clients::set_keys))
        .route("/withdrawal-notices", get(clients::notices))
        .route("/keys/rotate", post(clients::rotate_keys))
        .route("/policy", get(policy::view))
        .route("/policy/rules", post(policy::add_rule))
        .route("/policy/rules/{id}", delete(policy::remove_rule))
        .route("/policy/reload", post(policy::reload))
        .route("/policy/explain", post(policy::explain))
        .route("/audit/verify", get(audit::verify))
        .route(
            "/audit/checkpoints",
            get(audit::checkpoints).post(audit::checkpoint),
        )
        .route("/audit/entries", get(audit::entries))
        .route("/staff", post(audit::grant_role))
        .route("/staff/revoke", post(audit::revoke_role))
        .route(
            "/admin-credentials",
            get(credentials::list).post(credentials::create),
        )
        .route("/admin-credentials/{id}/revoke", post(credentials::revoke))
}
