//! Authentication: challenges, credentials and where they come from (Docker config files,
//! containers auth files, credential helpers), Bearer tokens.

mod challenge;
mod credentials;
mod docker_config;
mod error;
mod helper;
mod layer;
mod source;
mod token;

pub use challenge::{Challenge, ChallengeError, parse_challenges};
pub use credentials::Credentials;
pub use docker_config::{ContainersAuthFile, DockerConfig};
pub use error::CredentialError;
pub use helper::{
    CredentialHelper, DEFAULT_HELPER_OUTPUT_LIMIT, DEFAULT_HELPER_TIMEOUT, HelperSettings,
};
pub use source::{CredentialChain, CredentialSource};
pub use token::{DEFAULT_TOKEN_LIFETIME, TOKEN_RENEWAL_MARGIN};

pub(crate) use layer::{AuthConfig, AuthLayer, CredentialSetting};
