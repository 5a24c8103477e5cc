//! openidconnect's types, specialised to ID-porten's extra `pid` claim and the
//! end-session endpoint of RP-initiated logout.

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreRevocableToken,
    CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, Client, EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet,
    IdToken, IdTokenFields, ProviderMetadataWithLogout, StandardErrorResponse,
    StandardTokenResponse,
};
use serde::{Deserialize, Serialize};

/// ID-porten's identity number claim.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdPortenClaims {
    pub pid: Option<String>,
}
impl AdditionalClaims for IdPortenClaims {}

pub type Metadata = ProviderMetadataWithLogout;

pub type IdPortenIdToken = IdToken<
    IdPortenClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

type Fields = IdTokenFields<
    IdPortenClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

pub type RpClient = Client<
    IdPortenClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    StandardTokenResponse<Fields, CoreTokenType>,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;
