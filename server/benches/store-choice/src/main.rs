//! Which embedded store holds Livechart's history best? The history's write pattern, run
//! against each candidate on this machine's disk:
//!
//! - `streams` streams, each keeping its last `ring` events (older ones deleted in order);
//! - events appended in group commits of `group` events (one fsync'd commit per group);
//! - each event `size` bytes (about 60 for one point, 30,000 for a batch of 1,000).
//!
//! Prints one line per (store, group, size): events/s, commits/s and the file size at the end.
//! Run: `cargo run --release --manifest-path server/benches/store-choice/Cargo.toml -- DIR`

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const STREAMS: u32 = 100;
const RING: u64 = 1024;
const RUN: Duration = Duration::from_secs(5);

trait Candidate {
    /// Appends `events` (stream, seq, bytes) and deletes `trim` (stream, seq) in one durable commit.
    fn commit(&mut self, events: &[(u32, u64, &[u8])], trim: &[(u32, u64)]);
}

struct Redb(redb::Database);
const EVENTS: redb::TableDefinition<(u32, u64), &[u8]> = redb::TableDefinition::new("events");

impl Candidate for Redb {
    fn commit(&mut self, events: &[(u32, u64, &[u8])], trim: &[(u32, u64)]) {
        let tx = self.0.begin_write().expect("begin");
        {
            let mut t = tx.open_table(EVENTS).expect("table");
            for (s, q, v) in events {
                t.insert((*s, *q), *v).expect("insert");
            }
            for k in trim {
                t.remove(*k).expect("remove");
            }
        }
        tx.commit().expect("commit");
    }
}

struct Sqlite(rusqlite::Connection);

impl Candidate for Sqlite {
    fn commit(&mut self, events: &[(u32, u64, &[u8])], trim: &[(u32, u64)]) {
        let tx = self.0.transaction().expect("begin");
        {
            let mut ins = tx
                .prepare_cached("INSERT INTO events(stream, seq, data) VALUES (?1, ?2, ?3)")
                .expect("prepare");
            for (s, q, v) in events {
                ins.execute((s, *q as i64, v)).expect("insert");
            }
            let mut del = tx
                .prepare_cached("DELETE FROM events WHERE stream = ?1 AND seq = ?2")
                .expect("prepare");
            for (s, q) in trim {
                del.execute((s, *q as i64)).expect("delete");
            }
        }
        tx.commit().expect("commit");
    }
}

fn open(kind: &str, path: &Path) -> Box<dyn Candidate> {
    match kind {
        "redb" => Box::new(Redb(redb::Database::create(path).expect("open redb"))),
        _ => {
            let c = rusqlite::Connection::open(path).expect("open sqlite");
            c.execute_batch(
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
                 CREATE TABLE events(stream INTEGER, seq INTEGER, data BLOB,
                                     PRIMARY KEY(stream, seq)) WITHOUT ROWID;",
            )
            .expect("schema");
            Box::new(Sqlite(c))
        }
    }
}

fn file_bytes(path: &Path) -> u64 {
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    [path, wal.as_path()]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

fn main() {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "target/store-choice".into()),
    );
    std::fs::create_dir_all(&dir).expect("create dir");
    println!("| store | group | event bytes | events/s | commits/s | file MB at end |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for (group, size) in [(1, 60), (4, 60), (64, 60), (1, 30_000), (8, 30_000)] {
        for kind in ["redb", "sqlite"] {
            let path = dir.join(format!("{kind}-{group}-{size}.db"));
            for p in [
                path.clone(),
                PathBuf::from(format!("{}-wal", path.display())),
            ] {
                let _ = std::fs::remove_file(p);
            }
            let mut store = open(kind, &path);
            let value = vec![b'x'; size];
            let mut next = vec![1u64; STREAMS as usize];
            let (mut events, mut commits) = (0u64, 0u64);
            let start = Instant::now();
            let mut stream = 0u32;
            while start.elapsed() < RUN {
                let mut add = Vec::with_capacity(group);
                let mut trim = Vec::new();
                for _ in 0..group {
                    let seq = next[stream as usize];
                    next[stream as usize] += 1;
                    add.push((stream, seq, value.as_slice()));
                    if seq > RING {
                        trim.push((stream, seq - RING));
                    }
                    stream = (stream + 1) % STREAMS;
                }
                store.commit(&add, &trim);
                events += group as u64;
                commits += 1;
            }
            let secs = start.elapsed().as_secs_f64();
            drop(store);
            println!(
                "| {} | {group} | {size} | {:.0} | {:.0} | {:.1} |",
                open_name(kind),
                events as f64 / secs,
                commits as f64 / secs,
                file_bytes(&path) as f64 / 1e6
            );
        }
    }
}

fn open_name(kind: &str) -> &'static str {
    if kind == "redb" {
        "redb 4.6"
    } else {
        "SQLite (WAL, synchronous=FULL)"
    }
}
