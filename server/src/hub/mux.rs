//! Several streams on one connection (`GET /api/events?streams=…`): a cursor per stream, the
//! catalog, and one chunk for everything ready, bounded like a single stream's.

use super::cursor::{Cursor, Next, MAX_COALESCED_BYTES};
use super::stream::Encoding;
use super::{Admission, Hub};
use crate::sse;
use app::model::{Positions, StreamName};
use bytes::Bytes;
use std::sync::Arc;
use tokio::sync::watch;

/// A subscriber of several streams on one connection (`GET /api/events?streams=…`).
///
/// Frames carry no `id:` of their own (each names its stream and id in its data); the last
/// event of every batch carries an id listing the connection's position in every stream
/// ([`Positions`]), so a client reconnecting with `Last-Event-ID` resumes all of them.
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
                c.rx.mark_unchanged();
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
                // The id rides on the batch's last event: every piece ends with a whole event
                // (`…\n\n`), and an `id:` line before its final blank line belongs to it.
                // (A block of an id alone sets the last event id in a browser, but parsers
                // that drop blocks without data never see it, and resume nothing.)
                if let Some(last) = pieces.pop() {
                    debug_assert!(last.ends_with(b"\n\n"));
                    pieces.push(last.slice(..last.len() - 1));
                    pieces.push(sse::encode_id(&positions.to_string()));
                }
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
