use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::{Found, Result, ServiceError, Services};
use crate::audit::Actor;
use crate::domain::org::{Municipality, Network, OrgNumber, OrgType, Organisation};

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrg {
    pub name: String,
    #[schema(value_type = String, example = "974123452")]
    pub number: OrgNumber,
    #[schema(value_type = String, example = "ppt")]
    pub org_type: OrgType,
    /// The municipality it serves; services the catalogue offers where the pupil
    /// lives (child welfare, the NAV office) are found by it.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "4601")]
    pub municipality: Option<Municipality>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNetwork {
    pub name: String,
    pub school_id: Uuid,
    #[serde(default)]
    pub member_ids: Vec<Uuid>,
    /// Who is responsible, as the network's agreement names them.
    #[serde(default)]
    pub controller: Option<String>,
    /// How pupils reach the data protection officer.
    #[serde(default)]
    pub dpo: Option<String>,
}

fn check_name(field: &str, name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(ServiceError::invalid(
            field,
            "must be 1-200 characters, no control characters",
        ));
    }
    Ok(name.to_owned())
}

impl Services {
    pub async fn orgs(&self) -> Result<Vec<Organisation>> {
        Ok(self.store.orgs().await?)
    }

    pub async fn org(&self, id: Uuid) -> Result<Organisation> {
        self.store.org(id).await.found("organisation")
    }

    pub async fn networks(&self) -> Result<Vec<Network>> {
        Ok(self.store.networks().await?)
    }

    pub async fn network(&self, id: Uuid) -> Result<Network> {
        self.store.network(id).await.found("network")
    }

    pub async fn network_by_name(&self, name: &str) -> Result<Network> {
        self.store.network_by_name(name).await.found("network")
    }

    pub async fn add_org(&self, new: NewOrg, by: &Actor) -> Result<Organisation> {
        let name = check_name("name", &new.name)?;
        match self.catalogue().org_type(&new.org_type) {
            None => {
                return Err(ServiceError::invalid(
                    "org_type",
                    format!("unknown organisation type {}", new.org_type),
                ))
            }
            Some(t) if t.party => {
                return Err(ServiceError::invalid(
                    "org_type",
                    format!(
                        "{} is a party of its own, not an organisation",
                        new.org_type
                    ),
                ))
            }
            Some(_) => {}
        }
        let org = Organisation {
            id: Uuid::new_v4(),
            name,
            number: new.number,
            org_type: new.org_type,
            enabled: true,
            municipality: new.municipality,
        };
        let mut tx = self.store.write().await?;
        tx.insert_org(&org, self.now()).await.map_err(|e| match e {
            crate::storage::StoreError::Conflict(_) => ServiceError::Conflict(format!(
                "organisation number {} is registered already",
                org.number
            )),
            other => other.into(),
        })?;
        tx.notify(self.store.backend(), super::DIRECTORY_CHANGED)
            .await?;
        tx.chain(&[self.operator(by, "organisation", json!({ "action": "added", "org": org.id, "number": org.number.as_str(), "type": org.org_type.as_str() }))])
            .await?;
        tx.commit().await?;
        self.forget_directory();
        Ok(org)
    }

    pub async fn set_org_enabled(
        &self,
        id: Uuid,
        enabled: bool,
        by: &Actor,
    ) -> Result<Organisation> {
        let mut tx = self.store.write().await?;
        tx.set_org_enabled(id, enabled)
            .await
            .found("organisation")?;
        tx.notify(self.store.backend(), super::DIRECTORY_CHANGED)
            .await?;
        tx.chain(&[self.operator(
            by,
            "organisation",
            json!({ "action": if enabled { "enabled" } else { "disabled" }, "org": id }),
        )])
        .await?;
        tx.commit().await?;
        self.forget_directory();
        self.store.org(id).await.found("organisation")
    }

    pub async fn add_network(&self, new: NewNetwork, by: &Actor) -> Result<Network> {
        let name = check_name("name", &new.name)?;
        let school = self.store.org(new.school_id).await.found("school")?;
        if school.org_type.as_str() != crate::domain::org::SCHOOL {
            return Err(ServiceError::invalid(
                "school_id",
                "the network's school must be an organisation of type school",
            ));
        }
        let mut members = new.member_ids.clone();
        members.sort();
        members.dedup();
        members.retain(|m| *m != new.school_id);
        let network = Network {
            id: Uuid::new_v4(),
            name,
            school_id: new.school_id,
            member_ids: members,
            controller: new
                .controller
                .as_deref()
                .map(|c| check_name("controller", c))
                .transpose()?,
            dpo: new
                .dpo
                .as_deref()
                .map(|d| check_name("dpo", d))
                .transpose()?,
            template_key: None,
        };
        let mut tx = self.store.write().await?;
        let found = tx.orgs_in_tx(&network.member_ids).await?;
        if let Some(missing) = network
            .member_ids
            .iter()
            .find(|m| !found.iter().any(|o| o.id == **m))
        {
            return Err(ServiceError::invalid(
                "member_ids",
                format!("no organisation {missing}"),
            ));
        }
        tx.insert_network(&network, self.now()).await?;
        tx.notify(self.store.backend(), super::DIRECTORY_CHANGED)
            .await?;
        tx.chain(&[self.operator(
            by,
            "network",
            json!({ "action": "added", "network": network.id, "school": network.school_id }),
        )])
        .await?;
        tx.commit().await?;
        self.forget_directory();
        Ok(network)
    }

    pub async fn add_network_member(
        &self,
        network: Uuid,
        org: Uuid,
        by: &Actor,
    ) -> Result<Network> {
        let mut tx = self.store.write().await?;
        let n = tx.network_in_tx(network).await.found("network")?;
        if n.contains(org) {
            return Err(ServiceError::Conflict(
                "the organisation is in the network already".into(),
            ));
        }
        if tx.orgs_in_tx(&[org]).await?.is_empty() {
            return Err(ServiceError::invalid(
                "org_id",
                format!("no organisation {org}"),
            ));
        }
        tx.add_member(network, org).await?;
        tx.notify(self.store.backend(), super::DIRECTORY_CHANGED)
            .await?;
        let n = tx.network_in_tx(network).await?;
        tx.chain(&[self.operator(
            by,
            "network",
            json!({ "action": "member added", "network": network, "org": org }),
        )])
        .await?;
        tx.commit().await?;
        self.forget_directory();
        Ok(n)
    }
}
