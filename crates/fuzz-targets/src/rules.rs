//! `rules`: the fault and shaping rule schema — the `ocipull serve --faults` file and the
//! bodies of the control API's `POST /faults` and `POST /shaping` — read from any bytes.
//!
//! Input: a JSON document, read three ways: as a whole rules file
//! ([`ocipull_server::Rules`]), as one [`ocipull_server::FaultRule`] and as one
//! [`ocipull_server::ShapingRule`].
//!
//! Properties: reading never panics (errors are values); whatever is accepted writes back
//! to JSON that reads again to the same JSON (one schema, both ways); and a server built
//! from an accepted rules file answers a request without panicking.

use ocipull_server::{FaultRule, Rules, Server, ShapingRule};
use tower::ServiceExt;

fn round_trip<T: serde::Serialize + serde::de::DeserializeOwned>(value: &T) {
    let json = serde_json::to_string(value).expect("an accepted rule serialises");
    let again: T = serde_json::from_str(&json).expect("a written rule reads back");
    assert_eq!(
        serde_json::to_string(&again).expect("serialises"),
        json,
        "a rule changed in a round trip"
    );
}

/// The target's body.
pub fn run(data: &[u8]) {
    if let Ok(rules) = Rules::from_json(data) {
        round_trip(&rules);
        let server = Server::builder().rules(rules).build();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            let request = http::Request::get("/v2/a/manifests/v1")
                .body(())
                .expect("a request");
            let _ = server.oneshot(request).await;
        });
    }
    if let Ok(rule) = serde_json::from_slice::<FaultRule>(data) {
        round_trip(&rule);
    }
    if let Ok(rule) = serde_json::from_slice::<ShapingRule>(data) {
        round_trip(&rule);
    }
}
