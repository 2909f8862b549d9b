//! Where a connection is in its streams: a cursor per stream, read from the ring into chunks
//! of bounded size, for one stream ([`Viewer`]) or several on one connection ([`MuxViewer`]).

use super::stream::{Encoding, Stream};
use super::{read, Admission, Hub};
use crate::sse;
use app::model::{EventId, Positions, ResetReason, StreamName};
use bytes::Bytes;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::watch;

/// One connection's position in one stream. Dropping it (the connection ended) releases
/// everything it held.
pub(super) struct Cursor {
    pub(super) stream: Arc<Stream>,
    pub(super) rx: watch::Receiver<u64>,
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
            self.cursor.rx.borrow_and_update();
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
    fn take(&mut self, room: usize) -> Option<Bytes> {
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
    fn position(&self) -> EventId {
        self.stream.id(self.next - 1)
    }
}

impl Drop for Cursor {
    fn drop(&mut self) {
        self.stream.touch();
        self.stream.counters.viewers.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A subscriber of several streams on one connection (`GET /api/events?streams=…`).
///
/// Frames carry no `id:` of their own (each names its stream and id in its data); after every
/// batch the connection sends one id line listing its position in every stream
/// ([`Positions`]), so a browser reconnecting with `Last-Event-ID` resumes all of them.
pub struct MuxViewer {
    hub: Arc<Hub>,
    cursors: Vec<Cursor>,
    /// Streams asked for that do not exist yet, and where the client said it was.
    waiting: Vec<StreamName>,
    from: Positions,
    catalog: watch::Receiver<u64>,
    /// The catalog version this connection has been sent.
    catalog_sent: Option<u64>,
    /// Where the round of streams starts next time.
    turn: usize,
    /// Frames were sent since the last positions line.
    positions_due: bool,
    _admission: Admission,
}

impl MuxViewer {
    pub(super) fn new(
        hub: Arc<Hub>,
        names: &[StreamName],
        from: Positions,
        catalog: watch::Receiver<u64>,
        admission: Admission,
    ) -> Self {
        MuxViewer {
            hub,
            cursors: Vec::with_capacity(names.len()),
            waiting: names.to_vec(),
            from,
            catalog,
            catalog_sent: None,
            turn: 0,
            positions_due: false,
            _admission: admission,
        }
    }

    /// Starts following the awaited streams that exist now (new streams change the catalog,
    /// so this runs whenever it does).
    fn start_created(&mut self) {
        let (hub, from, cursors) = (&self.hub, &self.from, &mut self.cursors);
        self.waiting.retain(|name| match hub.get(name) {
            Some(stream) => {
                cursors.push(stream.cursor(from.get(name), Encoding::Mux));
                false
            }
            None => true,
        });
    }

    /// Waits until any stream (or the catalog) has something, then takes everything pending
    /// from all of them as one chunk: at most [`MAX_COALESCED_BYTES`] copied, or one larger
    /// frame as it is and, as a second write, the few bytes after it.
    pub async fn next(&mut self) -> Next {
        loop {
            let mut pieces: Vec<Bytes> = Vec::new();
            let mut room = MAX_COALESCED_BYTES;
            // `changed()` below marks versions seen, so compare with what was sent.
            let version = *self.catalog.borrow_and_update();
            if self.catalog_sent != Some(version) {
                self.catalog_sent = Some(version);
                let catalog = self.hub.catalog_frame(version);
                room = room.saturating_sub(catalog.len());
                pieces.push(catalog);
                self.stop_following_removed();
                self.start_created();
            }
            // Round robin, so that a stream far behind does not starve the others.
            let (n, start) = (self.cursors.len(), self.turn);
            self.turn = self.turn.wrapping_add(1);
            for i in 0..n {
                let c = &mut self.cursors[start.wrapping_add(i) % n];
                c.rx.borrow_and_update();
                let offer = if pieces.is_empty() {
                    MAX_COALESCED_BYTES
                } else {
                    room
                };
                if let Some(bytes) = c.take(offer) {
                    room = room.saturating_sub(bytes.len());
                    pieces.push(bytes);
                    self.positions_due = true;
                }
            }
            if self.positions_due && !pieces.is_empty() {
                self.positions_due = false;
                let positions = Positions(
                    self.cursors
                        .iter()
                        .map(|c| (c.stream.name.clone(), c.position()))
                        .collect(),
                );
                // An id with no data sets the client's last event id without an event.
                pieces.push(sse::encode_id(&positions.to_string()));
            }
            match pieces.len() {
                0 => {}
                1 => return Next::Frames(pieces.swap_remove(0)),
                _ if pieces[0].len() > MAX_COALESCED_BYTES => {
                    let rest = concat(&pieces[1..]);
                    return Next::FramesThen(pieces.swap_remove(0), rest);
                }
                _ => return Next::Frames(concat(&pieces)),
            }
            let mut waits: Vec<_> = self
                .cursors
                .iter_mut()
                .map(|c| Box::pin(c.rx.changed()))
                .collect();
            waits.push(Box::pin(self.catalog.changed()));
            let (result, _, _) = futures_util::future::select_all(waits).await;
            if result.is_err() {
                return Next::Closed;
            }
        }
    }

    /// Stops following streams that were removed (after sending what they had); they are
    /// awaited again, and followed from a fresh start if they come back.
    fn stop_following_removed(&mut self) {
        let waiting = &mut self.waiting;
        self.cursors.retain(|c| {
            let gone = c.stream.is_closed() && c.reset.is_none() && c.pending.is_none();
            if gone {
                waiting.push(c.stream.name.clone());
            }
            !gone
        });
    }
}

/// The pieces of a chunk as one buffer.
fn concat(pieces: &[Bytes]) -> Bytes {
    let mut out = Vec::with_capacity(pieces.iter().map(Bytes::len).sum());
    for p in pieces {
        out.extend_from_slice(p);
    }
    Bytes::from(out)
}
