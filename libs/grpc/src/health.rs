//! Health that tells the truth about read models: a service whose read model stopped at a
//! message it cannot read answers `NOT_SERVING`, and so does the read model's own entry
//! (`luukku.read_model.<name>`), until an operator skips the message or the service is
//! upgraded. Why it stopped is in `luukku ops streams` and `luukku ops quarantine list`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use luukku_app::Standing;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

/// How often the read models are looked at.
const POLL: Duration = Duration::from_millis(500);

/// The health entry of the read model `name`.
pub fn read_model_entry(name: &str) -> String {
    format!("luukku.read_model.{}", luukku_app::standing::token(name))
}

/// Keeps the health of `services` true to the read models `standings` gives (asked again each
/// time, so a swapped-in projection counts): `NOT_SERVING` while any of them is stopped.
pub fn follow_read_models(
    reporter: HealthReporter,
    services: Vec<&'static str>,
    standings: impl Fn() -> Vec<Arc<Standing>> + Send + 'static,
) {
    tokio::spawn(async move {
        let mut shown: BTreeMap<String, ServingStatus> = BTreeMap::new();
        loop {
            let mut wanted = BTreeMap::new();
            let mut all_serving = true;
            for standing in standings() {
                let stopped = standing.stopped().is_some();
                all_serving &= !stopped;
                metrics::gauge!("luukku_read_model_stopped", "read_model" => standing.name().to_owned())
                    .set(f64::from(u8::from(stopped)));
                let status = if stopped { ServingStatus::NotServing } else { ServingStatus::Serving };
                wanted.insert(read_model_entry(standing.name()), status);
            }
            let overall = if all_serving { ServingStatus::Serving } else { ServingStatus::NotServing };
            for service in [""].into_iter().chain(services.iter().copied()) {
                wanted.insert(service.to_owned(), overall);
            }
            for service in &services {
                metrics::gauge!("luukku_service_serving", "service" => *service)
                    .set(f64::from(u8::from(all_serving)));
            }
            for (entry, status) in &wanted {
                if shown.get(entry) != Some(status) {
                    reporter.set_service_status(entry, *status).await;
                }
            }
            shown = wanted;
            tokio::time::sleep(POLL).await;
        }
    });
}
