//! A viewer of one stream that does not exist yet (`GET /api/streams/{name}/events` before the
//! first publish): the connection waits, with its keep-alives, and follows the stream from the
//! moment it is created, snapshot first. A browser's `EventSource` given a 404 would close for
//! good; this one charts the stream as soon as it has data.

use super::cursor::{Next, Viewer};
use super::{Admission, Hub};
use app::model::{EventId, StreamName};
use std::sync::Arc;
use tokio::sync::watch;

pub struct AwaitedViewer {
    hub: Arc<Hub>,
    name: StreamName,
    resume: Option<EventId>,
    /// Handed to the viewer once the stream exists.
    admission: Option<Admission>,
    catalog: watch::Receiver<u64>,
    viewer: Option<Viewer>,
}

impl Hub {
    /// Follows `name` once it exists (see [`AwaitedViewer`]).
    pub fn await_stream(
        self: &Arc<Self>,
        name: StreamName,
        resume: Option<EventId>,
        admission: Admission,
    ) -> AwaitedViewer {
        AwaitedViewer {
            hub: self.clone(),
            name,
            resume,
            admission: Some(admission),
            catalog: self.catalog.subscribe(),
            viewer: None,
        }
    }
}

impl AwaitedViewer {
    pub async fn next(&mut self) -> Next {
        loop {
            if let Some(viewer) = &mut self.viewer {
                return viewer.next().await;
            }
            // Streams are created with a catalog change: check after marking it seen.
            self.catalog.borrow_and_update();
            if let Some(stream) = self.hub.get(&self.name) {
                let Some(admission) = self.admission.take() else {
                    return Next::Closed;
                };
                self.viewer = Some(stream.subscribe(self.resume, admission));
                continue;
            }
            if self.catalog.changed().await.is_err() {
                return Next::Closed;
            }
        }
    }
}
