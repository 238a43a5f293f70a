//! Authentication: challenges, credentials, Docker config files, Bearer tokens.

mod challenge;
mod credentials;
mod docker_config;
mod layer;
mod token;

pub use challenge::{Challenge, ChallengeError, parse_challenges};
pub use credentials::Credentials;
pub use docker_config::DockerConfig;
pub use token::{DEFAULT_TOKEN_LIFETIME, TOKEN_RENEWAL_MARGIN};

pub(crate) use layer::{AuthConfig, AuthLayer};
