//! `luukku.coordination.v1.CoordinationAdmin`: rebuilding the projection while it serves.

use std::sync::Arc;

use luukku_domain::Role;
use luukku_proto::coordination::v1 as pb;
use luukku_proto::coordination::v1::coordination_admin_server::CoordinationAdmin;
use luukku_service::caller;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::coordination::Coordination;

pub struct Admin {
    pub coordination: Arc<Coordination>,
}

#[tonic::async_trait]
impl CoordinationAdmin for Admin {
    type RebuildStream = ReceiverStream<Result<pb::RebuildProgress, Status>>;

    async fn rebuild(
        &self,
        request: Request<pb::RebuildRequest>,
    ) -> Result<Response<Self::RebuildStream>, Status> {
        let actor = caller(&request)?;
        if actor.role != Role::Operator {
            return Err(Status::permission_denied("rebuilding the projection is for operators"));
        }
        let (sender, receiver) = mpsc::channel(64);
        let coordination = Arc::clone(&self.coordination);
        tokio::spawn(async move {
            let progress_sender = sender.clone();
            let outcome = coordination
                .rebuild(move |positions, targets| {
                    let _ = progress_sender.try_send(Ok(pb::RebuildProgress {
                        positions: positions.to_vec(),
                        targets: targets.to_vec(),
                        generation: 0,
                        done: false,
                    }));
                })
                .await;
            let last = match outcome {
                Ok(generation) => Ok(pb::RebuildProgress {
                    positions: coordination.positions().to_vec(),
                    targets: coordination.positions().to_vec(),
                    generation,
                    done: true,
                }),
                Err(error) => Err(Status::internal(format!("the rebuild failed: {error}"))),
            };
            let _ = sender.send(last).await;
        });
        Ok(Response::new(ReceiverStream::new(receiver)))
    }
}
