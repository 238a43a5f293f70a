//! The test behaviours a [`ServerBuilder`](crate::ServerBuilder) can add: traffic shaping,
//! fault injection,
//! auth simulation (Docker token flow or Basic), the request log, and blob redirects to a
//! CDN origin. Each is a `tower` layer that `stack.rs` adds only when it is configured.

mod auth;
mod cdn;
mod fault_layer;
mod faults;
mod log;
mod matcher;
mod rules;
mod shaping;

pub(crate) use auth::AuthLayer;
pub use auth::{Auth, AuthState, TOKEN_PATH, TokenAuth, Users};
pub(crate) use cdn::{Cdn, CdnHandler, RedirectLayer};
pub(crate) use fault_layer::FaultLayer;
pub(crate) use faults::Faults;
pub use faults::{Fault, FaultHandle, FaultRule, RetryAfter};
pub(crate) use log::LogLayer;
pub use log::{Event, EventSink, Origin, RequestLog, RequestRecord, rfc3339};
pub use rules::{Rules, RulesError};
pub(crate) use shaping::{ConnectionInfo, Shaping, ShapingLayer};
pub use shaping::{ShapingHandle, ShapingRule};
