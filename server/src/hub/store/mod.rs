//! Where a stream's history lives between runs. The hub calls a [`Store`] with groups of
//! changes (events, descriptions, removals, window checkpoints) and applies them to its
//! in-memory streams only once the store has made them durable; viewers never read the store,
//! only the in-memory ring. `memory` keeps nothing (tests, ephemeral use); `embedded` keeps
//! an SQLite file in the data directory.

pub(in crate::hub) mod codec;
mod embedded;
mod memory;

pub use embedded::Embedded;
pub use memory::Memory;

use app::model::{Point, StreamMeta, StreamName};

/// One change to make durable. Changes are applied in order, all of a group or none.
#[derive(Debug)]
pub enum Change<'a> {
    /// The event `seq` of `stream` (whose epoch is `epoch`), with its points. `keep_after`:
    /// events at or before this sequence number are no longer needed (outside the ring and
    /// covered by the stream's checkpoint, no point retained) and may be dropped.
    Event {
        stream: &'a StreamName,
        epoch: u64,
        seq: u64,
        points: &'a [Point],
        keep_after: u64,
    },
    /// The stream's description.
    Describe {
        stream: &'a StreamName,
        epoch: u64,
        meta: &'a StreamMeta,
    },
    /// The stream's whole window as of event `seq`: replaying the events after it onto this
    /// gives the window, so older events can go once they leave the ring.
    Checkpoint {
        stream: &'a StreamName,
        seq: u64,
        window: &'a [Point],
    },
    /// The stream goes on in `epoch` after `seq`, with `window`: no id of the old epoch is
    /// resumed (they could not be trusted, see [`Recovered::unclean`]), while the points
    /// kept stay, as the range query shows them.
    Rebase {
        stream: &'a StreamName,
        epoch: u64,
        seq: u64,
        window: &'a [Point],
    },
    /// The stream and everything about it is gone.
    Remove { stream: &'a StreamName },
}

/// What an earlier run left.
#[derive(Debug, Default)]
pub struct Recovered {
    pub streams: Vec<RecoveredStream>,
    /// The earlier run did not stop cleanly and did not commit every event before showing it
    /// (`durability = "relaxed"`): its last events may be lost, so ids after them could come
    /// back with other content. Streams must start new epochs.
    pub unclean: bool,
    /// The store could read everything but cannot write (the disk is full or failing):
    /// publishes are refused until it can, and the server says so.
    pub unwritable: Option<String>,
}

#[derive(Debug)]
pub struct RecoveredStream {
    pub name: StreamName,
    pub epoch: u64,
    pub meta: StreamMeta,
    /// The window as of event `.0`, if a checkpoint was written.
    pub checkpoint: Option<(u64, Vec<Point>)>,
    /// The events kept, oldest first: at least the ring's, every one after the checkpoint,
    /// and those with retained points.
    pub events: Vec<(u64, codec::Columns)>,
    /// Events are missing from the file (a hole in the sequence, or after the checkpoint):
    /// the stream continues in a new epoch, so no viewer resumes across the hole.
    pub gap: bool,
}

impl RecoveredStream {
    /// The last sequence number this stream gave out.
    pub fn last_seq(&self) -> u64 {
        let checkpoint = self.checkpoint.as_ref().map_or(0, |c| c.0);
        self.events.last().map_or(0, |e| e.0).max(checkpoint)
    }
}

/// How hard each commit works to survive a crash of the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Durability {
    /// Every acknowledged publish is on disk (fsync per group commit).
    Commit,
    /// Commits reach the operating system, not necessarily the disk: a crash of the machine
    /// (not of the server) may lose the last moments, so the next start begins new epochs.
    Relaxed,
}

/// The store could not make a group durable.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// Nothing of the group is in the store, nor will any later start find it there:
    /// doing it again is safe.
    #[error("{0}")]
    Failed(String),
    /// The write failed in a way that may have left the group in the store, and the store
    /// could not find out: a later start may or may not show it.
    #[error("{0}")]
    Unknown(String),
}

/// Why a store could not be opened at start-up (the server exits with status 2).
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("the data directory {dir} is in use by another livechart server (lock file {dir}/livechart.lock)")]
    InUse { dir: String },
    #[error("the data directory {dir} cannot be used: {message}")]
    Unusable { dir: String, message: String },
}

/// A place to keep history. Called from one thread at a time (the hub's committer).
pub trait Store: Send {
    /// Whether changes must be committed before they are applied. A store that keeps nothing
    /// says no, and the hub applies publishes at once, without a commit thread.
    fn is_durable(&self) -> bool;

    /// What the earlier run left. Called once, before any commit.
    fn recover(&mut self) -> Result<Recovered, StoreError>;

    /// Makes `changes` durable, all or none, in order.
    fn commit(&mut self, changes: &[Change<'_>]) -> Result<(), StoreError>;

    /// The server stops cleanly: everything is committed.
    fn close(&mut self);
}
