//! `luukku.coordination.v1.CoordinationAdmin`: rebuilding the projection while it serves.

use std::sync::Arc;

use luukku_app::Guard;
use luukku_domain::access::{Action, Target};
use luukku_eventstore::{Checkpoints, KeyStore};
use luukku_grpc::{caller, check, status};
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

#[tonic::async_trait]
impl<K: KeyStore + Clone> CoordinationAdmin for AdminGrpc<K> {
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
                    let _ = progress.try_send(Ok(pb::RebuildProgress {
                        positions: counts(&positions),
                        targets: counts(&targets),
                        generation: 0,
                        done: false,
                    }));
                })
                .await;
            let positions = counts(&app.projection().positions());
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
