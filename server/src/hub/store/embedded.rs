//! History in an SQLite file in the data directory (chosen over redb by measurement, see
//! BENCHMARKS.md): one write-ahead-logged transaction per group of publishes, ring slots
//! deleted in order as they leave the ring, so the file stays bounded.
//!
//! The directory is locked for the life of the process (a second server on it is refused).
//! A file this version cannot use (corrupt, truncated, not a database, another program's, or
//! with tables, columns or values this version does not write) is moved aside, named in the
//! log, and a new one started: a bad file never stops the server from starting, and never
//! leaves it refusing every publish. Events missing from a stream's kept sequence make that
//! stream continue in a new epoch (its viewers get a `reset`).

use super::{codec, Change, Durability, OpenError, Recovered, RecoveredStream, Store, StoreError};
use app::model::{StreamMeta, StreamName};
use rusqlite::{Connection, OptionalExtension};
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};

/// The schema this build writes; a file with another is moved aside.
const FORMAT: &str = "livechart-history-1";
const FILE_NAME: &str = "history.sqlite3";

pub struct Embedded {
    /// `None` once a failed commit closed it, until the next commit opens the file again.
    conn: Option<Connection>,
    path: PathBuf,
    durability: Durability,
    /// The number of the last commit tried. Each commit writes its number into the file in
    /// its own transaction, so after one that failed, reading the number back says whether
    /// the file holds it (see [`Embedded::settle`]).
    attempts: u64,
    /// What this run still has to write before anything else.
    pending: Pending,
    recovered: Option<Recovered>,
    /// Streams that have their row: an event of any other one inserts it first.
    known: HashSet<StreamName>,
    /// Held (with an exclusive `flock`) for as long as the store lives.
    _lock: File,
}

/// Writes a start could not make (the disk was full or failing): the first commit that works
/// makes them, so a full disk at start is a server that serves and refuses publishes until
/// there is room, not one that exits.
#[derive(Clone, Copy, PartialEq)]
enum Pending {
    Nothing,
    /// The marks that say this run started (see [`write_marks`]).
    Marks,
    /// The file itself: there was none, and it could not be created.
    File,
}

/// A file opened, and what it holds.
struct Opened {
    conn: Connection,
    recovered: Recovered,
    attempts: u64,
    pending: Pending,
}

impl Embedded {
    /// Opens (or creates) the history in `dir`, reading what an earlier run left.
    pub fn open(dir: &Path, durability: Durability) -> Result<Embedded, OpenError> {
        let unusable = |message: String| OpenError::Unusable {
            dir: dir.display().to_string(),
            message,
        };
        std::fs::create_dir_all(dir).map_err(|e| unusable(format!("cannot create it: {e}")))?;
        let lock = lock_dir(dir)?;
        let path = dir.join(FILE_NAME);
        let opened = match open_file(&path, durability) {
            Ok(opened) => opened,
            Err(Bad::Unreadable(problem)) => {
                let aside = move_aside(&path).map_err(|e| {
                    unusable(format!(
                        "{} is unreadable ({problem}) and cannot be moved aside: {e}",
                        path.display()
                    ))
                })?;
                tracing::error!(
                    file = %path.display(),
                    moved_to = %aside.display(),
                    "the history file is unreadable ({problem}): moved aside, starting a new one; \
                     streams start new epochs"
                );
                match open_file(&path, durability) {
                    Ok(opened) => opened,
                    Err(Bad::Unwritable(problem)) => {
                        return Ok(Self::unwritable(path, durability, problem, lock))
                    }
                    Err(e) => return Err(unusable(e.to_string())),
                }
            }
            // Nothing to read yet, and no room to write: the file is made by the first
            // commit that works.
            Err(Bad::Unwritable(problem)) if is_new(&path) => {
                return Ok(Self::unwritable(path, durability, problem, lock))
            }
            Err(Bad::Unwritable(e) | Bad::Io(e)) => return Err(unusable(e)),
        };
        let mut recovered = opened.recovered;
        if let Some(problem) = &mut recovered.unwritable {
            *problem = format!("{}: {problem}", path.display());
        }
        Ok(Embedded {
            conn: Some(opened.conn),
            path,
            durability,
            attempts: opened.attempts,
            pending: opened.pending,
            known: recovered.streams.iter().map(|s| s.name.clone()).collect(),
            recovered: Some(recovered),
            _lock: lock,
        })
    }

    /// A store on a file that could not be created, for want of room.
    fn unwritable(path: PathBuf, durability: Durability, problem: String, lock: File) -> Embedded {
        let problem = format!("{}: {problem}", path.display());
        Embedded {
            conn: None,
            path,
            durability,
            attempts: 0,
            pending: Pending::File,
            known: HashSet::new(),
            recovered: Some(Recovered {
                unwritable: Some(problem),
                ..Recovered::default()
            }),
            _lock: lock,
        }
    }

    pub fn file_name(dir: &Path) -> PathBuf {
        dir.join(FILE_NAME)
    }
}

/// Why a file could not be opened: its content (move it aside), no room to write (serve
/// until there is), or the system (give up).
enum Bad {
    Unreadable(String),
    Unwritable(String),
    Io(String),
}

impl std::fmt::Display for Bad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bad::Unreadable(m) | Bad::Unwritable(m) | Bad::Io(m) => f.write_str(m),
        }
    }
}

/// The system's failures (the disk, permissions, memory) stop the start, unless they only
/// refuse writes (no room, an I/O error, a file system turned read-only) where everything was
/// read; anything else the file says (corrupt, not a database, a schema or a value this
/// version does not write, a constraint) makes the file unusable, to be moved aside.
fn classify(e: rusqlite::Error) -> Bad {
    use rusqlite::ErrorCode as C;
    match e.sqlite_error_code() {
        Some(C::SystemIoFailure | C::DiskFull | C::ReadOnly) => Bad::Unwritable(e.to_string()),
        Some(
            C::CannotOpen
            | C::PermissionDenied
            | C::DatabaseBusy
            | C::DatabaseLocked
            | C::OutOfMemory
            | C::FileLockingProtocolFailed
            | C::NoLargeFileSupport,
        ) => Bad::Io(e.to_string()),
        _ => Bad::Unreadable(e.to_string()),
    }
}

/// A column as `PRAGMA table_info` describes it: name, type, not null, primary key position.
type Column = (&'static str, &'static str, bool, u32);

/// Each table this version writes, with its columns.
const TABLES: [(&str, &[Column]); 3] = [
    (
        "meta",
        &[("key", "TEXT", false, 1), ("value", "TEXT", true, 0)],
    ),
    (
        "streams",
        &[
            ("name", "TEXT", false, 1),
            ("epoch", "INTEGER", true, 0),
            ("meta", "TEXT", false, 0),
            ("checkpoint_seq", "INTEGER", false, 0),
            ("checkpoint", "BLOB", false, 0),
        ],
    ),
    (
        "events",
        &[
            ("stream", "TEXT", true, 1),
            ("seq", "INTEGER", true, 2),
            ("data", "BLOB", true, 0),
        ],
    ),
];

/// Whether the file holds only this version's tables: no other table, view, trigger or index
/// (another program's database, or one whose rules would refuse every write). Checked before
/// anything is written to it.
fn check_objects(conn: &Connection) -> Result<(), Bad> {
    let mut objects = conn
        .prepare("SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")
        .map_err(classify)?;
    let objects = objects
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .map_err(classify)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(classify)?;
    for (kind, name) in &objects {
        if kind != "table" || !TABLES.iter().any(|(t, _)| t == name) {
            return Err(Bad::Unreadable(format!(
                "it holds a {kind} {name:?} this server does not write"
            )));
        }
    }
    Ok(())
}

/// Whether each of this version's tables has its columns as written here.
fn check_columns(conn: &Connection) -> Result<(), Bad> {
    for (table, expected) in TABLES {
        let mut columns = conn
            .prepare(&format!("PRAGMA table_info({table})"))
            .map_err(classify)?;
        let columns = columns
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, bool>(3)?,
                    r.get::<_, u32>(5)?,
                ))
            })
            .map_err(classify)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(classify)?;
        let same = columns.len() == expected.len()
            && columns.iter().zip(expected).all(|(c, e)| {
                c.0 == e.0 && c.1.eq_ignore_ascii_case(e.1) && c.2 == e.2 && c.3 == e.3
            });
        if !same {
            let found: Vec<String> = columns.iter().map(|c| format!("{} {}", c.0, c.1)).collect();
            return Err(Bad::Unreadable(format!(
                "its table {table} has columns ({}), not the ones this server writes",
                found.join(", ")
            )));
        }
    }
    Ok(())
}

/// Whether events are missing: a hole between two kept events, or between the checkpoint and
/// the first event after it (every event after the checkpoint is kept).
fn has_gap(checkpoint: Option<u64>, events: &[(u64, codec::Columns)]) -> bool {
    let holes = events.windows(2).any(|w| w[1].0 != w[0].0 + 1);
    let after_checkpoint = checkpoint.is_some_and(|cp| {
        events
            .iter()
            .find(|e| e.0 > cp)
            .is_some_and(|first| first.0 != cp + 1)
    });
    holes || after_checkpoint
}

fn lock_dir(dir: &Path) -> Result<File, OpenError> {
    use std::os::fd::AsRawFd;
    let path = dir.join("livechart.lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| OpenError::Unusable {
            dir: dir.display().to_string(),
            message: format!("cannot create {}: {e}", path.display()),
        })?;
    // SAFETY: flock on a descriptor this function owns; it has no memory effects.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() == std::io::ErrorKind::WouldBlock {
            return Err(OpenError::InUse {
                dir: dir.display().to_string(),
            });
        }
        return Err(OpenError::Unusable {
            dir: dir.display().to_string(),
            message: format!("cannot lock {}: {e}", path.display()),
        });
    }
    Ok(file)
}

/// Renames the file (and its write-ahead log) to `<name>.unreadable-<ms>`.
fn move_aside(path: &Path) -> std::io::Result<PathBuf> {
    let aside = PathBuf::from(format!(
        "{}.unreadable-{}",
        path.display(),
        app::model::now_ms()
    ));
    std::fs::rename(path, &aside)?;
    for suffix in ["-wal", "-shm"] {
        let side = PathBuf::from(format!("{}{suffix}", path.display()));
        if side.exists() {
            std::fs::rename(&side, format!("{}{suffix}", aside.display()))?;
        }
    }
    Ok(aside)
}

/// Opens the file with the settings every connection to it has.
fn connect(path: &Path, durability: Durability) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    let sync = match durability {
        Durability::Commit => "FULL",
        Durability::Relaxed => "NORMAL",
    };
    // The first statement is where a file that is not a database says so. Exclusive locking
    // (the directory's lock already keeps other servers out) spares a file lock per
    // transaction, and, set before the log is first used, its shared-memory index.
    conn.execute_batch(&format!(
        "PRAGMA locking_mode = EXCLUSIVE;
         PRAGMA journal_mode = WAL;
         PRAGMA synchronous = {sync};
         PRAGMA journal_size_limit = 67108864;"
    ))?;
    Ok(conn)
}

/// The number of the last commit the file holds (0: none).
fn last_attempt(conn: &Connection) -> rusqlite::Result<u64> {
    let held: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = 'commit'", [], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(held.and_then(|n| n.parse().ok()).unwrap_or(0))
}

/// Whether there is no file yet (nor a log of one): nothing an earlier run left.
fn is_new(path: &Path) -> bool {
    let empty = |p: &Path| std::fs::metadata(p).map_or(true, |m| m.len() == 0);
    empty(path) && empty(&PathBuf::from(format!("{}-wal", path.display())))
}

/// Says in the file that a run of this version (with this durability) has started and has
/// not stopped cleanly yet: until `close` says otherwise, this run may stop uncleanly.
fn write_marks(conn: &Connection, durability: Durability) -> rusqlite::Result<()> {
    let durability = match durability {
        Durability::Commit => "commit",
        Durability::Relaxed => "relaxed",
    };
    conn.execute_batch(&format!(
        "INSERT OR REPLACE INTO meta VALUES ('format', '{FORMAT}'), ('clean', '0'),
                                            ('durability', '{durability}');"
    ))
}

fn open_file(path: &Path, durability: Durability) -> Result<Opened, Bad> {
    let conn = connect(path, durability).map_err(classify)?;
    let check: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(classify)?;
    if check != "ok" {
        return Err(Bad::Unreadable(format!("integrity check: {check}")));
    }
    check_objects(&conn)?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
         CREATE TABLE IF NOT EXISTS streams (
             name TEXT PRIMARY KEY, epoch INTEGER NOT NULL, meta TEXT,
             checkpoint_seq INTEGER, checkpoint BLOB);
         CREATE TABLE IF NOT EXISTS events (
             stream TEXT NOT NULL, seq INTEGER NOT NULL, data BLOB NOT NULL,
             PRIMARY KEY (stream, seq)) WITHOUT ROWID;",
    )
    .map_err(classify)?;
    check_columns(&conn)?;
    let get = |key: &str| -> Result<Option<String>, Bad> {
        conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(classify)
    };
    match get("format")? {
        None => {}
        Some(f) if f == FORMAT => {}
        Some(f) => {
            return Err(Bad::Unreadable(format!(
                "written in format {f:?}, this server reads {FORMAT:?}"
            )))
        }
    }
    let unclean =
        get("clean")?.as_deref() == Some("0") && get("durability")?.as_deref() == Some("relaxed");
    let streams = read_streams(&conn)?;
    let attempts = last_attempt(&conn).map_err(classify)?;
    // Everything is read: a disk that refuses the first write leaves a server that serves it.
    let (pending, unwritable) = match write_marks(&conn, durability).map_err(classify) {
        Ok(()) => (Pending::Nothing, None),
        Err(Bad::Unwritable(problem)) => (Pending::Marks, Some(problem)),
        Err(e) => return Err(e),
    };
    Ok(Opened {
        conn,
        recovered: Recovered {
            streams,
            unclean,
            unwritable,
        },
        attempts,
        pending,
    })
}

fn read_streams(conn: &Connection) -> Result<Vec<RecoveredStream>, Bad> {
    let bad = |what: String| Bad::Unreadable(what);
    let mut rows = conn
        .prepare("SELECT name, epoch, meta, checkpoint_seq, checkpoint FROM streams ORDER BY name")
        .map_err(classify)?;
    let rows = rows
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, u64>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<u64>>(3)?,
                r.get::<_, Option<Vec<u8>>>(4)?,
            ))
        })
        .map_err(classify)?;
    let mut streams = Vec::new();
    for row in rows {
        let (name, epoch, meta, checkpoint_seq, checkpoint) = row.map_err(classify)?;
        if matches!(name.as_str(), "." | "..") {
            // Accepted by earlier versions, refused now: left out, not a reason to move the
            // whole file aside.
            tracing::warn!(stream = %name, "a stream named {name:?} is no longer a valid name: left out");
            continue;
        }
        let name = StreamName::parse(&name).map_err(|e| bad(format!("stream {name:?}: {e}")))?;
        let meta: StreamMeta = match meta {
            Some(json) => serde_json::from_str(&json)
                .map_err(|e| bad(format!("stream {name}: description: {e}")))?,
            None => StreamMeta::default(),
        };
        let checkpoint = match (checkpoint_seq, checkpoint) {
            (Some(seq), Some(bytes)) => Some((
                seq,
                codec::decode(&bytes)
                    .map_err(|e| bad(format!("stream {name}: checkpoint: {e}")))?,
            )),
            _ => None,
        };
        let mut events = Vec::new();
        let mut query = conn
            .prepare_cached("SELECT seq, data FROM events WHERE stream = ?1 ORDER BY seq")
            .map_err(classify)?;
        let rows = query
            .query_map([name.as_str()], |r| {
                Ok((r.get::<_, u64>(0)?, r.get::<_, Vec<u8>>(1)?))
            })
            .map_err(classify)?;
        for row in rows {
            let (seq, data) = row.map_err(classify)?;
            let points = codec::decode_columns(&data)
                .map_err(|e| bad(format!("stream {name}: event {seq}: {e}")))?;
            events.push((seq, points));
        }
        let gap = has_gap(checkpoint.as_ref().map(|c| c.0), &events);
        streams.push(RecoveredStream {
            name,
            epoch,
            meta,
            checkpoint,
            events,
            gap,
        });
    }
    Ok(streams)
}

impl Store for Embedded {
    fn is_durable(&self) -> bool {
        true
    }

    fn recover(&mut self) -> Result<Recovered, StoreError> {
        Ok(self.recovered.take().unwrap_or_default())
    }

    fn commit(&mut self, changes: &[Change<'_>]) -> Result<(), StoreError> {
        let err = |e: rusqlite::Error| StoreError::Failed(e.to_string());
        if self.conn.is_none() {
            let conn = if self.pending == Pending::File {
                let opened = open_file(&self.path, self.durability)
                    .map_err(|e| StoreError::Failed(e.to_string()))?;
                // A new file: nothing to recover, only its number of commits and marks.
                self.attempts = opened.attempts;
                self.pending = opened.pending;
                opened.conn
            } else {
                connect(&self.path, self.durability).map_err(err)?
            };
            self.conn = Some(conn);
        }
        let Some(conn) = self.conn.as_mut() else {
            return Err(StoreError::Failed("the history file is not open".into()));
        };
        self.attempts += 1;
        let attempt = self.attempts;
        let tx = conn.transaction().map_err(err)?;
        if self.pending == Pending::Marks {
            write_marks(&tx, self.durability).map_err(err)?;
        }
        // Per stream, once per group: its row when it is new, and the events it no longer needs.
        // What this group does to the set of rows (true: has one, false: removed), merged into
        // `known` once it commits: copying `known` every commit would cost as many streams.
        let mut rows: HashMap<&StreamName, bool> = HashMap::new();
        let mut trim: HashMap<&StreamName, u64> = HashMap::new();
        for change in changes {
            match change {
                Change::Event {
                    stream,
                    epoch,
                    keep_after,
                    ..
                } => {
                    let has_row = rows
                        .get(stream)
                        .copied()
                        .unwrap_or_else(|| self.known.contains(*stream));
                    if !has_row {
                        tx.prepare_cached("INSERT INTO streams (name, epoch) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING")
                            .and_then(|mut st| st.execute((stream.as_str(), epoch)))
                            .map_err(err)?;
                        rows.insert(stream, true);
                    }
                    let t = trim.entry(stream).or_default();
                    *t = (*t).max(*keep_after);
                }
                Change::Remove { stream } => {
                    rows.insert(stream, false);
                    trim.remove(stream);
                }
                Change::Describe { stream, .. } => {
                    rows.insert(stream, true);
                }
                Change::Checkpoint { .. } | Change::Rebase { .. } => {}
            }
            apply(&tx, change).map_err(err)?;
        }
        for (stream, keep_after) in trim {
            if keep_after > 0 {
                tx.prepare_cached("DELETE FROM events WHERE stream = ?1 AND seq <= ?2")
                    .and_then(|mut st| st.execute((stream.as_str(), keep_after)))
                    .map_err(err)?;
            }
        }
        tx.prepare_cached("INSERT OR REPLACE INTO meta VALUES ('commit', ?1)")
            .and_then(|mut st| st.execute([attempt.to_string()]))
            .map_err(err)?;
        // Only the commit itself can fail after writing the transaction's last frame (its
        // sync failed): then the file may hold it although SQLite says it does not.
        if let Err(e) = tx.commit() {
            self.settle(attempt, &e)?;
        }
        self.pending = Pending::Nothing;
        for (stream, has_row) in rows {
            if has_row {
                self.known.insert(stream.clone());
            } else {
                self.known.remove(stream);
            }
        }
        Ok(())
    }

    fn close(&mut self) {
        let conn = match self.conn.take() {
            Some(conn) => Ok(conn),
            None => connect(&self.path, self.durability),
        };
        let closed = conn.and_then(|conn| {
            conn.execute_batch(
                "UPDATE meta SET value = '1' WHERE key = 'clean'; PRAGMA wal_checkpoint(TRUNCATE);",
            )
        });
        if let Err(e) = closed {
            tracing::error!("closing the history file: {e}");
        }
    }
}

impl Embedded {
    /// After commit `attempt` failed: finds out whether the file holds it, as the next start
    /// would read it. A commit whose sync fails has written its last frame to the log:
    /// SQLite rolls it back in memory, but a start after a crash would find it committed.
    /// So the connection is closed and the file opened again (which reads the log the way a
    /// start does); if it holds the commit, one more synced write must work for it to count.
    /// `Ok`: the file holds the commit, on disk. `Failed`: it does not, and no start will
    /// find it. `Unknown`: this could not be found out.
    fn settle(&mut self, attempt: u64, failure: &rusqlite::Error) -> Result<(), StoreError> {
        if let Some(conn) = self.conn.take() {
            // A failure to close leaves the handle to SQLite to free; the file is read anew.
            let _ = conn.close();
        }
        let unknown = |step: &str, e: rusqlite::Error| {
            StoreError::Unknown(format!("{failure}; then {step}: {e}"))
        };
        let conn = connect(&self.path, self.durability)
            .map_err(|e| unknown("opening the file again to read it back failed", e))?;
        let held = last_attempt(&conn).map_err(|e| unknown("reading it back failed", e))?;
        if held != attempt {
            self.conn = Some(conn);
            return Err(StoreError::Failed(failure.to_string()));
        }
        conn.execute(
            "INSERT OR REPLACE INTO meta VALUES ('settled', ?1)",
            [attempt.to_string()],
        )
        .map_err(|e| unknown("the file holds the write, but writing it to disk failed", e))?;
        tracing::warn!(
            "a history write reported a failure ({failure}), yet the file holds it, on disk: \
             it stands"
        );
        self.conn = Some(conn);
        Ok(())
    }
}

fn apply(tx: &rusqlite::Transaction<'_>, change: &Change<'_>) -> rusqlite::Result<()> {
    match change {
        Change::Event {
            stream,
            seq,
            points,
            ..
        } => {
            tx.prepare_cached(
                "INSERT OR REPLACE INTO events (stream, seq, data) VALUES (?1, ?2, ?3)",
            )?
            .execute((stream.as_str(), seq, codec::encode(points)))?;
        }
        Change::Describe {
            stream,
            epoch,
            meta,
        } => {
            let json = serde_json::to_string(meta)
                .map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?;
            tx.prepare_cached(
                "INSERT INTO streams (name, epoch, meta) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET meta = excluded.meta",
            )?
            .execute((stream.as_str(), epoch, json))?;
        }
        Change::Checkpoint {
            stream,
            seq,
            window,
        } => {
            tx.prepare_cached(
                "UPDATE streams SET checkpoint_seq = ?2, checkpoint = ?3 WHERE name = ?1",
            )?
            .execute((stream.as_str(), seq, codec::encode(window)))?;
        }
        Change::Rebase {
            stream,
            epoch,
            seq,
            window,
        } => {
            tx.prepare_cached(
                "UPDATE streams SET epoch = ?2, checkpoint_seq = ?3, checkpoint = ?4 WHERE name = ?1",
            )?
            .execute((stream.as_str(), epoch, seq, codec::encode(window)))?;
            // The events stay: their points are what the range query shows (before and after
            // the next restart alike); only their ids are not resumed across the new epoch.
        }
        Change::Remove { stream } => {
            tx.prepare_cached("DELETE FROM events WHERE stream = ?1")?
                .execute([stream.as_str()])?;
            tx.prepare_cached("DELETE FROM streams WHERE name = ?1")?
                .execute([stream.as_str()])?;
        }
    }
    Ok(())
}
