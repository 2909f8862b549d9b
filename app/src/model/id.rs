//! Event ids: one stream's (`EPOCH-SEQ`), and a multiplexed connection's positions.

use super::*;

/// A stream-scoped event id, `EPOCH-SEQ` on the wire (`id:` field, `Last-Event-ID`).
///
/// `seq` increases by one per event. `epoch` names the life of the stream's history: it
/// changes when the server restarts (history is not persisted), so an id from before a restart
/// is recognisably foreign instead of silently meaning a different event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId {
    pub epoch: u64,
    pub seq: u64,
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}-{}", self.epoch, self.seq)
    }
}

/// Why a string is not an [`EventId`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadEventId(pub String);

impl fmt::Display for BadEventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: String = self.0.chars().take(80).collect();
        write!(
            f,
            "{shown:?} is not an event id: expected EPOCH-SEQ as sent in the `id:` field \
             (hexadecimal epoch, decimal sequence number, e.g. 19a9f3c2b41-17)"
        )
    }
}

impl std::error::Error for BadEventId {}

impl FromStr for EventId {
    type Err = BadEventId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadEventId(s.to_owned());
        let (epoch, seq) = s.split_once('-').ok_or_else(bad)?;
        let digits = |t: &str, hex: bool| {
            !t.is_empty()
                && t.len() <= 20
                && t.chars().all(|c| {
                    if hex {
                        c.is_ascii_hexdigit()
                    } else {
                        c.is_ascii_digit()
                    }
                })
        };
        if !digits(epoch, true) || !digits(seq, false) {
            return Err(bad());
        }
        Ok(EventId {
            epoch: u64::from_str_radix(epoch, 16).map_err(|_| bad())?,
            seq: seq.parse().map_err(|_| bad())?,
        })
    }
}

impl Serialize for EventId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EventId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Where a multiplexed connection is in each of its streams: `a:EPOCH-SEQ,b:EPOCH-SEQ` on the
/// wire. The server gives it, as its event id, to the last event of every batch, so a
/// client's `Last-Event-ID` resumes every stream at once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Positions(pub Vec<(StreamName, EventId)>);

impl Positions {
    pub fn get(&self, stream: &StreamName) -> Option<EventId> {
        self.0.iter().find(|(s, _)| s == stream).map(|(_, id)| *id)
    }
}

impl fmt::Display for Positions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (stream, id)) in self.0.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            write!(f, "{sep}{stream}:{id}")?;
        }
        Ok(())
    }
}

impl FromStr for Positions {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Bounded before anything is parsed, and duplicates found by hashing: a long
        // composite id costs its length, not its square.
        let max = MAX_STREAMS_PER_CONNECTION;
        if s.len() > max * (MAX_NAME_LEN + 2 + 2 * 20 + 1) {
            return Err(format!("more than {max} streams' positions"));
        }
        let mut seen = std::collections::HashSet::new();
        let mut out: Vec<(StreamName, EventId)> = Vec::new();
        for (i, part) in s.split(',').map(str::trim).enumerate() {
            if part.is_empty() {
                continue;
            }
            if out.len() == max {
                return Err(format!("more than {max} streams' positions"));
            }
            let shown: String = part.chars().take(2 * MAX_NAME_LEN).collect();
            let (name, id) = part
                .split_once(':')
                .ok_or_else(|| format!("item {} ({shown:?}) is not STREAM:EPOCH-SEQ", i + 1))?;
            let name = StreamName::parse(name)
                .map_err(|e| format!("item {} ({shown:?}): stream name: {e}", i + 1))?;
            let id = id
                .parse()
                .map_err(|e| format!("item {} ({shown:?}): {e}", i + 1))?;
            if !seen.insert(name.clone()) {
                return Err(format!("stream \"{name}\" is given twice"));
            }
            out.push((name, id));
        }
        Ok(Positions(out))
    }
}
