//! Health that tells the truth about read models: a service whose read model stopped at a
//! message it cannot read answers `NOT_SERVING`, and so does the read model's own entry
//! (`luukku.read_model.<name>`), until an operator skips the message or the service is
//! upgraded. Why it stopped is in `luukku ops streams` and `luukku ops quarantine list`. So it
//! does while a read model starts: until it has reached the streams' ends as they were at its
//! start, so that a rollout moves on only once the new replica holds what the old one did. And
//! so it does while the coordination projection cannot write its folder.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Weak};
use std::time::Duration;

use luukku_app::Standing;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

/// How often the read models are looked at.
const POLL: Duration = Duration::from_millis(500);

/// The read models `standings` names, while every one of them is still held by its service.
pub fn upgraded(standings: &[Weak<Standing>]) -> Option<Vec<Arc<Standing>>> {
    standings.iter().map(Weak::upgrade).collect()
}

/// The health entry of the read model `name`.
pub fn read_model_entry(name: &str) -> String {
    format!("luukku.read_model.{}", luukku_app::standing::token(name))
}

/// Keeps the health of `services` true to the read models `standings` gives (asked again each
/// time, so a swapped-in projection counts): `NOT_SERVING` while any of them is stopped,
/// starting or failing. The first look is taken before this returns, so no probe sees
/// `SERVING` early.
/// `standings` answers `None` once the service's models are gone (a service stopped in a
/// process that goes on, such as a test's): every entry is then set `NOT_SERVING` and the
/// following ends. It holds them only weakly (see [`upgraded`]), so that it keeps nothing
/// alive nor sets their gauges after them: pass weak references to owners that live as long
/// as the service (never to a standing that a rebuild replaces), so that it cannot end early.
/// A model shared with other services in the process (the access relations, as `luukku dev`
/// runs them) lives as long as the last of them: the following of a service stopped before
/// the others ends only then.
pub async fn follow_read_models(
    reporter: HealthReporter,
    services: Vec<&'static str>,
    standings: impl Fn() -> Option<Vec<Arc<Standing>>> + Send + 'static,
) {
    let Some(first) = standings() else {
        return gone(&reporter, &services, &BTreeMap::new()).await;
    };
    let mut shown = show(&reporter, &services, &first, &BTreeMap::new()).await;
    drop(first);
    tokio::spawn(async move {
        loop {
            let Some(current) = standings() else {
                return gone(&reporter, &services, &shown).await;
            };
            // Enabled before looking, so that a change while looking wakes the next look.
            let mut changes: Vec<_> =
                current.iter().map(|standing| Box::pin(standing.health_changed())).collect();
            changes.iter_mut().for_each(|change| {
                change.as_mut().enable();
            });
            shown = show(&reporter, &services, &current, &shown).await;
            // The models are held for one wait at most (`POLL`), then asked for again.
            if changes.is_empty() {
                tokio::time::sleep(POLL).await;
            } else {
                let _ = tokio::time::timeout(POLL, futures::future::select_all(changes)).await;
            }
        }
    });
}

/// The models are gone, so is the service: every entry it showed, and the service's own, is
/// set `NOT_SERVING`, and its `luukku_service_serving` gauge 0. (The read models' own gauges
/// stay: a model shared with another service may live on.)
async fn gone(reporter: &HealthReporter, services: &[&'static str], shown: &BTreeMap<String, ServingStatus>) {
    for service in services {
        metrics::gauge!("luukku_service_serving", "service" => *service).set(0.0);
    }
    let entries = shown.keys().map(String::as_str).chain([""]).chain(services.iter().copied());
    for entry in entries.collect::<BTreeSet<_>>() {
        reporter.set_service_status(entry, ServingStatus::NotServing).await;
    }
}

/// Sets each entry whose status differs from what `shown` holds; answers what is shown now.
async fn show(
    reporter: &HealthReporter,
    services: &[&'static str],
    standings: &[Arc<Standing>],
    shown: &BTreeMap<String, ServingStatus>,
) -> BTreeMap<String, ServingStatus> {
    let mut wanted = BTreeMap::new();
    let mut all_serving = true;
    for standing in standings {
        let stopped = standing.stopped().is_some();
        // Not yet holding what was written before it started: a caller routed here would
        // find families missing.
        let starting_for = standing.starting_for();
        let starting = starting_for.is_some();
        // Its folder cannot be written: it holds less and less of what was written.
        let failing = standing.failing();
        all_serving &= !stopped && !starting && !failing;
        metrics::gauge!("luukku_read_model_stopped", "read_model" => standing.name().to_owned())
            .set(f64::from(u8::from(stopped)));
        metrics::gauge!("luukku_read_model_starting_seconds", "read_model" => standing.name().to_owned())
            .set(starting_for.map_or(0.0, |since| since.as_secs_f64()));
        let status =
            if stopped || starting || failing { ServingStatus::NotServing } else { ServingStatus::Serving };
        wanted.insert(read_model_entry(standing.name()), status);
    }
    let overall = if all_serving { ServingStatus::Serving } else { ServingStatus::NotServing };
    for service in [""].into_iter().chain(services.iter().copied()) {
        wanted.insert(service.to_owned(), overall);
    }
    for service in services {
        metrics::gauge!("luukku_service_serving", "service" => *service)
            .set(f64::from(u8::from(all_serving)));
    }
    for (entry, status) in &wanted {
        if shown.get(entry) != Some(status) {
            reporter.set_service_status(entry, *status).await;
        }
    }
    wanted
}
