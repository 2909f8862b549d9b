//! What this node has seen of each stream, kept in its data directory so that it outlives the
//! process: a Redis restored from an older snapshot while every node was down is recognised
//! by the first node to start again (Redis holds less of an epoch than the node saw), and the
//! stream starts a new epoch instead of handing the same ids out again with other content.
//!
//! The file is small (a line per stream), written whole (a temporary file, then a rename)
//! at most once a second and only when a position moved. One that cannot be read is ignored
//! with a warning: it only ever adds a check.

use app::model::{EventId, StreamName};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

const FILE_NAME: &str = "redis-seen.json";

#[derive(Debug)]
pub(super) struct Seen {
    file: Option<PathBuf>,
    positions: Mutex<BTreeMap<StreamName, EventId>>,
    /// A write failed and was logged: the next failures are not (they would every second).
    warned: std::sync::atomic::AtomicBool,
}

impl Seen {
    /// The positions kept in `dir` (none: nothing is kept).
    pub(super) fn open(dir: Option<&Path>) -> Seen {
        let file = dir.map(|d| d.join(FILE_NAME));
        let positions = file.as_deref().map(read).unwrap_or_default();
        Seen {
            file,
            positions: Mutex::new(positions),
            warned: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The furthest position this node (or an earlier run on its directory) saw of `name`.
    pub(super) fn of(&self, name: &StreamName) -> Option<EventId> {
        self.positions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .copied()
    }

    /// Notes where the streams are now (a stream in a new epoch replaces its old position,
    /// one further in the same epoch moves it on); written to the file when anything moved.
    pub(super) fn note(&self, now: impl IntoIterator<Item = (StreamName, EventId)>) {
        let mut positions = self
            .positions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut moved = false;
        for (name, id) in now {
            if id.seq == 0 {
                continue;
            }
            let slot = positions
                .entry(name)
                .or_insert(EventId { epoch: 0, seq: 0 });
            let further = slot.epoch != id.epoch || id.seq > slot.seq;
            if further && *slot != id {
                *slot = id;
                moved = true;
            }
        }
        if moved {
            if let Some(file) = &self.file {
                let written = write(file, &positions);
                let warned = &self.warned;
                match written {
                    Err(e) if !warned.swap(true, std::sync::atomic::Ordering::Relaxed) => {
                        tracing::warn!(file = %file.display(), "cannot keep the positions seen (a Redis restored while every node was down would go unnoticed): {e}");
                    }
                    Err(_) => {}
                    Ok(()) => warned.store(false, std::sync::atomic::Ordering::Relaxed),
                }
            }
        }
    }

    /// Forgets a stream that is gone from Redis.
    pub(super) fn forget(&self, name: &StreamName) {
        self.positions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name);
    }
}

fn read(file: &Path) -> BTreeMap<StreamName, EventId> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return BTreeMap::new(),
        Err(e) => {
            tracing::warn!(file = %file.display(), "cannot read the positions seen: {e}; ignored");
            return BTreeMap::new();
        }
    };
    let parsed: Result<BTreeMap<String, String>, _> = serde_json::from_str(&text);
    let Ok(parsed) = parsed else {
        tracing::warn!(file = %file.display(), "the positions seen do not read; ignored");
        return BTreeMap::new();
    };
    parsed
        .into_iter()
        .filter_map(|(name, id)| Some((StreamName::parse(&name).ok()?, id.parse().ok()?)))
        .collect()
}

fn write(file: &Path, positions: &BTreeMap<StreamName, EventId>) -> std::io::Result<()> {
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let shown: BTreeMap<&str, String> = positions
        .iter()
        .map(|(n, id)| (n.as_str(), id.to_string()))
        .collect();
    let text = serde_json::to_string_pretty(&shown).map_err(std::io::Error::other)?;
    let temporary = file.with_extension("json.tmp");
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> StreamName {
        StreamName::parse(s).unwrap()
    }

    #[test]
    fn positions_move_on_and_outlive_the_process() {
        let dir = std::env::temp_dir().join(format!("livechart-seen-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let seen = Seen::open(Some(&dir));
        assert_eq!(seen.of(&name("a")), None);
        seen.note([(name("a"), EventId { epoch: 5, seq: 10 })]);
        // Behind in the same epoch: not a move (Redis' own position never lowers what was seen).
        seen.note([(name("a"), EventId { epoch: 5, seq: 3 })]);
        assert_eq!(seen.of(&name("a")), Some(EventId { epoch: 5, seq: 10 }));
        // A new epoch replaces it.
        seen.note([(name("a"), EventId { epoch: 9, seq: 1 })]);
        let again = Seen::open(Some(&dir));
        assert_eq!(again.of(&name("a")), Some(EventId { epoch: 9, seq: 1 }));
        again.forget(&name("a"));
        assert_eq!(again.of(&name("a")), None);
        // A file that does not read is ignored.
        std::fs::write(dir.join(FILE_NAME), "{not json").unwrap();
        assert_eq!(Seen::open(Some(&dir)).of(&name("a")), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
