//! `luukku.coordination.v1.CoordinationAdmin`: rebuilding the projection while it serves.

use std::sync::Arc;

use luukku_app::Guard;
use luukku_domain::access::{Action, Target};
use luukku_domain::family::FamilyId;
use luukku_eventstore::{Checkpoints, KeyStore};
use luukku_grpc::{Decoder, caller, check, status};
use luukku_proto::coordination::v1 as pb;
use luukku_proto::coordination::v1::coordination_admin_server::CoordinationAdmin;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::app::Coordination;

pub struct AdminGrpc<K> {
    pub app: Arc<Coordination<K>>,
    pub guard: Guard,
}

fn counts(checkpoints: &Checkpoints) -> Vec<u64> {
    checkpoints.iter().map(|(_, sequence)| sequence).collect()
}

/// The longest break-glass grant, in minutes.
const MAX_GLASS_MINUTES: u32 = 60;

#[tonic::async_trait]
impl<K: KeyStore + Clone> CoordinationAdmin for AdminGrpc<K> {
    async fn break_glass(
        &self,
        request: Request<pb::BreakGlassRequest>,
    ) -> Result<Response<pb::BreakGlassResponse>, Status> {
        let caller = caller(&request).await?;
        let message = request.get_ref();
        let mut decoder = Decoder::new();
        let family = decoder.id("family_id", &message.family_id, FamilyId::parse);
        let reason = message.reason.trim();
        if reason.is_empty() {
            decoder.bad("reason", "say why, for the review: an incident or a request number");
        }
        let minutes = match message.minutes {
            0 => Some(15),
            minutes @ 1..=MAX_GLASS_MINUTES => Some(minutes),
            _ => {
                decoder.bad("minutes", format!("1 to {MAX_GLASS_MINUTES}"));
                None
            }
        };
        let (family, minutes) = decoder.finish(|| Some((family?, minutes?)))?;
        let target = Target { purpose: Some(reason.to_owned()), ..Target::family(family) };
        check(&self.guard, &caller, Action::BreakGlass, target).await?;
        let until_ms = luukku_app::context_now().now.as_millis() + i64::from(minutes) * 60_000;
        let glass = self.guard.glass().await.map_err(status)?;
        glass
            .grant(caller.actor.person_id.as_str(), family, reason, until_ms)
            .await
            .map_err(|error| status(error.into()))?;
        tracing::warn!(operator = %caller.actor.person_id, %family, minutes, "break-glass access given");
        Ok(Response::new(pb::BreakGlassResponse { until_ms }))
    }

    type RebuildStream = ReceiverStream<Result<pb::RebuildProgress, Status>>;

    async fn rebuild(
        &self,
        request: Request<pb::RebuildRequest>,
    ) -> Result<Response<Self::RebuildStream>, Status> {
        let caller = caller(&request).await?;
        check(&self.guard, &caller, Action::Rebuild, Target::default()).await?;
        Coordination::<K>::may_rebuild(&caller).map_err(status)?;
        let (sender, receiver) = mpsc::channel(64);
        let app = Arc::clone(&self.app);
        tokio::spawn(async move {
            let progress = sender.clone();
            let outcome = app
                .rebuild(&caller, move |positions, targets| {
                    let read: u64 = positions.iter().map(|(_, sequence)| sequence).sum();
                    let total: u64 = targets.iter().map(|(_, sequence)| sequence).sum();
                    let ratio = if total == 0 { 1.0 } else { read as f64 / total as f64 };
                    metrics::gauge!("luukku_rebuild_progress_ratio").set(ratio.min(1.0));
                    let _ = progress.try_send(Ok(pb::RebuildProgress {
                        positions: counts(&positions),
                        targets: counts(&targets),
                        generation: 0,
                        done: false,
                    }));
                })
                .await;
            let positions = counts(&app.projection().positions());
            if outcome.is_ok() {
                metrics::gauge!("luukku_rebuild_progress_ratio").set(1.0);
            }
            let last = outcome
                .map(|generation| pb::RebuildProgress {
                    targets: positions.clone(),
                    positions,
                    generation,
                    done: true,
                })
                .map_err(status);
            let _ = sender.send(last).await;
        });
        Ok(Response::new(ReceiverStream::new(receiver)))
    }
}
