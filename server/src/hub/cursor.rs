//! Where a connection is in a stream: a cursor, read from the ring into chunks of bounded
//! size, and the viewer of one stream ([`Viewer`]). Several streams on one connection are
//! `mux.rs`.

use super::stream::{Encoding, Stream};
use super::{read, Admission};
use app::model::{EventId, ResetReason};
use bytes::Bytes;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::watch;

/// One connection's position in one stream. Dropping it (the connection ended) releases
/// everything it held.
pub(super) struct Cursor {
    pub(super) stream: Arc<Stream>,
    pub(super) rx: watch::Receiver<u64>,
    /// The epoch `next` counts in: when the stream moves to another (a broker lost its
    /// history), the connection starts over with a `reset`.
    pub(super) epoch: u64,
    /// The next sequence number to send.
    pub(super) next: u64,
    /// A `reset` to send first, if the start (or a lag) needs one.
    pub(super) reset: Option<Bytes>,
    /// What to send before anything from the ring: the snapshot (shared, not copied).
    pub(super) pending: Option<Bytes>,
    pub(super) encoding: Encoding,
}

/// A subscriber of one stream (`GET /api/streams/{name}/events`).
pub struct Viewer {
    pub(super) cursor: Cursor,
    pub(super) _admission: Admission,
}

/// What a viewer gets when it asks for more.
pub enum Next {
    /// One or more frames, concatenated for a single write.
    Frames(Bytes),
    /// Two writes, in this order: a frame too large to copy into a chunk (shared as it is in
    /// the ring), and what goes after it.
    FramesThen(Bytes, Bytes),
    /// The stream is gone.
    Closed,
}

/// How much a viewer copies into one write at most when it has fallen behind; a single frame
/// larger than this is sent as it is (shared bytes), never copied.
pub const MAX_COALESCED_BYTES: usize = 64 * 1024;

impl Viewer {
    /// Waits until there is something to send, then takes everything pending (up to
    /// [`MAX_COALESCED_BYTES`]) so that a burst costs one write, not one per event. Ends once
    /// the stream is removed and everything before that was sent.
    pub async fn next(&mut self) -> Next {
        loop {
            // Seen (an atomic load; the value, which is not needed, is behind a lock).
            self.cursor.rx.mark_unchanged();
            if let Some(bytes) = self.cursor.take(MAX_COALESCED_BYTES) {
                // A `reset` leaves its snapshot pending: both go now, the snapshot uncopied.
                return match self.cursor.pending.take() {
                    Some(snapshot) => Next::FramesThen(bytes, snapshot),
                    None => Next::Frames(bytes),
                };
            }
            if self.cursor.stream.is_closed() || self.cursor.rx.changed().await.is_err() {
                return Next::Closed;
            }
        }
    }
}

impl Cursor {
    /// What this connection has to send from this stream now, if anything: frames (copied
    /// into one chunk) up to `room` bytes, or one frame larger than that as it is when `room`
    /// is the whole [`MAX_COALESCED_BYTES`] (nothing else goes in this chunk).
    pub(super) fn take(&mut self, room: usize) -> Option<Bytes> {
        let alone = room >= MAX_COALESCED_BYTES;
        if let Some(bytes) = self.reset.take() {
            return Some(bytes);
        }
        if let Some(bytes) = self.pending.take() {
            if alone || bytes.len() <= room {
                return Some(bytes);
            }
            self.pending = Some(bytes);
            return None;
        }
        let st = read(&self.stream.state);
        let epoch = self.stream.epoch();
        if epoch != self.epoch {
            let detail = format!(
                "the stream's history was lost; it starts over as {}",
                self.stream.id(st.last_seq)
            );
            let (reset, snapshot) =
                self.stream
                    .reset_frames(&st, ResetReason::Restarted, detail, self.encoding);
            self.epoch = epoch;
            self.next = st.last_seq + 1;
            self.pending = Some(snapshot);
            return Some(reset);
        }
        if self.next > st.last_seq {
            return None;
        }
        let first = st.first_seq();
        if self.next < first {
            // Fell out of the ring: what it missed is gone, so start it over.
            let detail = format!(
                "this connection fell {} events behind, more than the {} held",
                st.last_seq + 1 - self.next,
                st.ring.len()
            );
            let (reset, snapshot) =
                self.stream
                    .reset_frames(&st, ResetReason::Lagged, detail, self.encoding);
            self.next = st.last_seq + 1;
            self.pending = Some(snapshot);
            return Some(reset);
        }
        let start = (self.next - first) as usize;
        let frames = st.ring.range(start..).map(|f| f.get(self.encoding));
        // How many frames fit in `room`, and their size.
        let (mut count, mut size) = (0usize, 0usize);
        for frame in frames.clone() {
            if size + frame.len() > room {
                break;
            }
            count += 1;
            size += frame.len();
        }
        let chunk = match count {
            0 if !alone => return None,
            // One frame (or one too large for a chunk, alone in it): shared, not copied.
            0 | 1 => {
                count = 1;
                frames.clone().next().cloned()?
            }
            _ => {
                let mut buf = Vec::with_capacity(size);
                for frame in frames.take(count) {
                    buf.extend_from_slice(frame);
                }
                Bytes::from(buf)
            }
        };
        self.next += count as u64;
        self.stream
            .counters
            .delivered
            .fetch_add(count as u64, Ordering::Relaxed);
        Some(chunk)
    }

    /// The id of the last event this connection has been sent (or started after).
    pub(super) fn position(&self) -> EventId {
        EventId {
            epoch: self.epoch,
            seq: self.next - 1,
        }
    }
}

impl Drop for Cursor {
    fn drop(&mut self) {
        self.stream.touch();
        self.stream.counters.viewers.fetch_sub(1, Ordering::SeqCst);
    }
}
