//! The fan-out hub: named streams, each numbering its events and encoding each one exactly
//! once into shared bytes that every viewer receives by reference.

use crate::sse;
use app::model::{event_name, Point, StreamName, StreamStatus};
use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use tokio::sync::broadcast;

/// One encoded SSE event. Cloning it clones a reference, not the bytes.
#[derive(Clone, Debug)]
pub struct Frame {
    pub id: u64,
    pub bytes: Bytes,
}

/// All streams of this server.
pub struct Hub {
    streams: RwLock<BTreeMap<StreamName, Arc<Stream>>>,
    viewer_buffer: usize,
}

impl Hub {
    /// `viewer_buffer` bounds how many frames a viewer may fall behind before it skips ahead:
    /// the memory a slow viewer can pin is bounded by it.
    pub fn new(viewer_buffer: usize) -> Self {
        Hub {
            streams: RwLock::new(BTreeMap::new()),
            viewer_buffer: viewer_buffer.max(1),
        }
    }

    /// The stream of that name, created if it does not exist yet.
    pub fn stream(&self, name: &StreamName) -> Arc<Stream> {
        if let Some(s) = self.get(name) {
            return s;
        }
        let mut streams = self.streams.write().unwrap_or_else(PoisonError::into_inner);
        streams
            .entry(name.clone())
            .or_insert_with(|| Arc::new(Stream::new(name.clone(), self.viewer_buffer)))
            .clone()
    }

    pub fn get(&self, name: &StreamName) -> Option<Arc<Stream>> {
        self.streams
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    /// A snapshot of every stream's counters, ordered by name.
    pub fn status(&self) -> Vec<StreamStatus> {
        let streams = self.streams.read().unwrap_or_else(PoisonError::into_inner);
        streams.values().map(|s| s.status()).collect()
    }
}

/// One named stream.
pub struct Stream {
    name: StreamName,
    /// The id of the next event. Held while a frame is encoded and sent, so that frames enter
    /// the channel in id order.
    next_id: Mutex<u64>,
    tx: broadcast::Sender<Frame>,
    viewers: AtomicUsize,
    published: AtomicU64,
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("value {0} is not a finite number")]
    NotFinite(f64),
    #[error("cannot encode the event: {0}")]
    Encode(#[from] serde_json::Error),
}

impl Stream {
    fn new(name: StreamName, viewer_buffer: usize) -> Self {
        let (tx, _) = broadcast::channel(viewer_buffer);
        Stream {
            name,
            next_id: Mutex::new(1),
            tx,
            viewers: AtomicUsize::new(0),
            published: AtomicU64::new(0),
        }
    }

    pub fn name(&self) -> &StreamName {
        &self.name
    }

    /// Publishes one point as a `point` event and returns its id.
    pub fn publish_point(&self, point: &Point) -> Result<u64, PublishError> {
        if !point.value.is_finite() {
            return Err(PublishError::NotFinite(point.value));
        }
        let json = serde_json::to_string(point)?;
        Ok(self.publish(event_name::POINT, &json))
    }

    /// Numbers an event, encodes it once and hands it to every current viewer.
    pub fn publish(&self, event: &str, data: &str) -> u64 {
        let mut next = self.next_id.lock().unwrap_or_else(PoisonError::into_inner);
        let id = *next;
        *next += 1;
        let frame = Frame {
            id,
            bytes: sse::encode_event(id, event, data),
        };
        // An error only means that nobody is watching right now.
        let _ = self.tx.send(frame);
        self.published.fetch_add(1, Ordering::Relaxed);
        id
    }

    /// Starts receiving every event published from now on.
    pub fn subscribe(self: &Arc<Self>) -> Viewer {
        self.viewers.fetch_add(1, Ordering::Relaxed);
        Viewer {
            rx: self.tx.subscribe(),
            stream: self.clone(),
            skipped: 0,
        }
    }

    pub fn viewers(&self) -> usize {
        self.viewers.load(Ordering::Relaxed)
    }

    pub fn status(&self) -> StreamStatus {
        let next = *self.next_id.lock().unwrap_or_else(PoisonError::into_inner);
        StreamStatus {
            name: self.name.clone(),
            viewers: self.viewers(),
            published: self.published.load(Ordering::Relaxed),
            last_id: (next > 1).then(|| next - 1),
        }
    }
}

/// One subscriber's position in a stream. Dropping it (the connection ended) releases
/// everything it held.
pub struct Viewer {
    rx: broadcast::Receiver<Frame>,
    stream: Arc<Stream>,
    skipped: u64,
}

/// What a viewer gets when it asks for more.
pub enum Next {
    /// One or more frames, concatenated for a single write.
    Frames(Bytes),
    /// The stream is gone.
    Closed,
}

/// How much a viewer sends in one write at most when it has fallen behind.
const MAX_COALESCED_BYTES: usize = 64 * 1024;

impl Viewer {
    /// Waits for the next frame, then takes everything else already pending (up to
    /// [`MAX_COALESCED_BYTES`]) so that a burst costs one write, not one per event.
    pub async fn next(&mut self) -> Next {
        let first = loop {
            match self.rx.recv().await {
                Ok(frame) => break frame,
                Err(broadcast::error::RecvError::Lagged(n)) => self.skipped += n,
                Err(broadcast::error::RecvError::Closed) => return Next::Closed,
            }
        };
        let mut buf: Option<Vec<u8>> = None;
        loop {
            let len = buf.as_ref().map_or(first.bytes.len(), Vec::len);
            if len >= MAX_COALESCED_BYTES {
                break;
            }
            match self.rx.try_recv() {
                Ok(frame) => buf
                    .get_or_insert_with(|| {
                        let mut v = Vec::with_capacity(first.bytes.len() * 4);
                        v.extend_from_slice(&first.bytes);
                        v
                    })
                    .extend_from_slice(&frame.bytes),
                Err(broadcast::error::TryRecvError::Lagged(n)) => self.skipped += n,
                Err(_) => break,
            }
        }
        Next::Frames(buf.map_or(first.bytes, Bytes::from))
    }

    /// Events this viewer missed because it fell more than the viewer buffer behind.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        self.stream.viewers.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> StreamName {
        StreamName::parse(s).unwrap()
    }

    #[tokio::test]
    async fn ids_increase_and_frames_are_shared() {
        let hub = Hub::new(16);
        let s = hub.stream(&name("t"));
        let mut a = s.subscribe();
        let mut b = s.subscribe();
        let p = Point { ts: 1, value: 2.0 };
        assert_eq!(s.publish_point(&p).unwrap(), 1);
        assert_eq!(s.publish_point(&p).unwrap(), 2);
        let (Next::Frames(fa), Next::Frames(fb)) = (a.next().await, b.next().await) else {
            panic!("stream closed")
        };
        // Both viewers got the two frames in one chunk, and the very same bytes.
        let text = std::str::from_utf8(&fa).unwrap();
        assert!(text.starts_with("id: 1\nevent: point\n"), "{text}");
        assert!(text.contains("id: 2\n"));
        assert_eq!(fa, fb);
        assert_eq!(s.status().last_id, Some(2));
        assert_eq!(s.status().published, 2);
    }

    #[tokio::test]
    async fn single_frame_is_not_copied() {
        let hub = Hub::new(16);
        let s = hub.stream(&name("t"));
        let mut a = s.subscribe();
        s.publish("e", "x");
        let Next::Frames(chunk) = a.next().await else {
            panic!()
        };
        // Exactly one event: the chunk is the shared frame itself.
        assert_eq!(&chunk[..], b"id: 1\nevent: e\ndata: x\n\n");
    }

    #[test]
    fn non_finite_values_are_refused() {
        let hub = Hub::new(4);
        let s = hub.stream(&name("t"));
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(s.publish_point(&Point { ts: 0, value: v }).is_err());
        }
        assert_eq!(s.status().last_id, None);
    }

    #[tokio::test]
    async fn viewers_are_counted_and_released() {
        let hub = Hub::new(4);
        let s = hub.stream(&name("t"));
        let a = s.subscribe();
        let b = s.subscribe();
        assert_eq!(s.viewers(), 2);
        drop(a);
        assert_eq!(s.viewers(), 1);
        drop(b);
        assert_eq!(s.viewers(), 0);
    }

    #[tokio::test]
    async fn a_slow_viewer_skips_ahead_with_bounded_buffer() {
        let hub = Hub::new(4);
        let s = hub.stream(&name("t"));
        let mut slow = s.subscribe();
        for _ in 0..10 {
            s.publish("e", "x");
        }
        let Next::Frames(chunk) = slow.next().await else {
            panic!()
        };
        let text = std::str::from_utf8(&chunk).unwrap();
        // Only the last four frames were still buffered.
        assert!(text.starts_with("id: 7\n"), "{text}");
        assert_eq!(slow.skipped(), 6);
    }
}
