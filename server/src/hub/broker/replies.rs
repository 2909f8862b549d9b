//! Reading what Redis answers. Redis is input like any other: every reply is checked, and a
//! reply of the wrong shape is an error, never a panic.

use super::super::stream::Loaded;
use crate::hub::store::codec;
use app::model::{EventId, Point, SeriesName, StreamMeta};
use redis::Value;
use std::collections::BTreeSet;

/// A script's answer.
pub(super) enum Reply {
    /// Done: the stream's epoch and sequence number.
    Position(EventId),
    /// Refused, with the word saying why and the stream's series when they matter.
    Word(String, BTreeSet<SeriesName>),
}

impl Reply {
    pub(super) fn parse(v: &Value) -> Result<Reply, String> {
        let items = array(v)?;
        let word = items.first().map(text).transpose()?.unwrap_or_default();
        if word == "ok" {
            let epoch = items.get(1).map(number).transpose()?;
            let seq = items.get(2).map(number).transpose()?;
            return match (epoch, seq) {
                (Some(epoch), Some(seq)) => Ok(Reply::Position(EventId { epoch, seq })),
                _ => Err("a position without its numbers".to_owned()),
            };
        }
        let series = items[1.min(items.len())..]
            .iter()
            .map(|s| {
                text(s).and_then(|s| SeriesName::parse(&s).map_err(|e| format!("series: {e}")))
            })
            .collect::<Result<_, _>>()?;
        Ok(Reply::Word(word, series))
    }
}

/// What became of a publish call, as `OUTCOME` says.
pub(super) enum Outcome {
    /// It had not applied, and now never will.
    Cancelled,
    Applied(EventId),
    /// Something else (a call that failed halfway): what the key holds.
    Unknown(String),
}

pub(super) fn outcome(v: &Value) -> Result<Outcome, String> {
    let items = array(v)?;
    match (
        items.first().map(text).transpose()?.as_deref(),
        items.get(1),
    ) {
        (Some("cancelled"), None) => Ok(Outcome::Cancelled),
        (Some("was"), Some(what)) => {
            let what = text(what)?;
            let id = what.split_once('-').and_then(|(e, s)| {
                Some(EventId {
                    epoch: e.parse().ok()?,
                    seq: s.parse().ok()?,
                })
            });
            Ok(id.map_or(Outcome::Unknown(what), Outcome::Applied))
        }
        _ => Err("an outcome of the wrong shape".to_owned()),
    }
}

/// One entry of a Redis stream: its id and its fields.
pub(super) struct Entry {
    pub(super) id: String,
    pub(super) fields: Vec<(String, Vec<u8>)>,
}

impl Entry {
    fn parse(v: &Value) -> Result<Entry, String> {
        let parts = array(v)?;
        let [id, fields] = parts else {
            return Err("an entry that is not [id, fields]".to_owned());
        };
        let fields = match fields {
            Value::Map(pairs) => pairs
                .iter()
                .map(|(k, v)| Ok((text(k)?, bytes(v)?.to_vec())))
                .collect::<Result<_, String>>()?,
            other => array(other)?
                .chunks(2)
                .map(|kv| match kv {
                    [k, v] => Ok((text(k)?, bytes(v)?.to_vec())),
                    _ => Err("an odd number of fields".to_owned()),
                })
                .collect::<Result<_, String>>()?,
        };
        Ok(Entry {
            id: text(id)?,
            fields,
        })
    }

    fn field(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_slice())
    }

    /// The sequence number of an event entry (its id is `SEQ-0`).
    pub(super) fn seq(&self) -> Result<u64, String> {
        self.id
            .strip_suffix("-0")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("event id {:?} is not SEQ-0", self.id))
    }

    /// An event entry's epoch and points.
    pub(super) fn event(&self) -> Result<(u64, Vec<Point>), String> {
        let epoch = self
            .field("e")
            .and_then(|e| std::str::from_utf8(e).ok())
            .and_then(|e| e.parse().ok())
            .ok_or_else(|| format!("event {} has no epoch", self.id))?;
        let points = codec::decode(self.field("p").unwrap_or_default())
            .map_err(|e| format!("event {}: {e}", self.id))?;
        Ok((epoch, points))
    }

    /// The stream a catalog entry is about.
    pub(super) fn stream(&self) -> Option<String> {
        self.field("stream")
            .and_then(|s| std::str::from_utf8(s).ok())
            .map(str::to_owned)
    }
}

/// An `XREAD` reply: per key, its entries (nothing when it timed out).
pub(super) fn read_reply(v: &Value) -> Result<Vec<(String, Vec<Entry>)>, String> {
    let per_key: Vec<(&Value, &Value)> = match v {
        Value::Nil => return Ok(Vec::new()),
        Value::Map(pairs) => pairs.iter().map(|(k, v)| (k, v)).collect(),
        other => array(other)?
            .iter()
            .map(|kv| match array(kv)? {
                [k, v] => Ok((k, v)),
                _ => Err("a stream that is not [key, entries]".to_owned()),
            })
            .collect::<Result<_, String>>()?,
    };
    per_key
        .into_iter()
        .map(|(k, v)| Ok((text(k)?, entries(v)?)))
        .collect()
}

/// A list of entries (`XRANGE`, `XREVRANGE`).
pub(super) fn entries(v: &Value) -> Result<Vec<Entry>, String> {
    array(v)?.iter().map(Entry::parse).collect()
}

/// The `LOAD` script's answer: `None` when the stream does not exist. Keeps the newest
/// events of the stream's epoch that follow on one another and decode; the window keeps
/// the points that are whole and finite.
pub(super) fn loaded(v: &Value) -> Result<Option<Loaded>, String> {
    let items = array(v)?;
    if items.is_empty() {
        return Ok(None);
    }
    let [epoch, seq, meta, _pinned, windows, events] = items else {
        return Err("a stream that is not six parts".to_owned());
    };
    let epoch = number(epoch)?;
    let seq = number(seq)?;
    let meta = text(meta)?;
    let meta: StreamMeta = if meta.is_empty() {
        StreamMeta::default()
    } else {
        serde_json::from_str(&meta).map_err(|e| format!("description: {e}"))?
    };
    let mut window = Vec::new();
    for pair in array(windows)?.chunks(2) {
        let [name, blob] = pair else {
            return Err("a window without its series".to_owned());
        };
        let series = SeriesName::parse(&text(name)?).map_err(|e| format!("series: {e}"))?;
        for record in bytes(blob)?.chunks_exact(16) {
            let (ts, value) = record.split_at(8);
            let ts = i64::from_le_bytes(ts.try_into().map_err(|_| "short point")?);
            let value = f64::from_le_bytes(value.try_into().map_err(|_| "short point")?);
            if value.is_finite() {
                window.push(Point {
                    series: series.clone(),
                    ts,
                    value,
                });
            }
        }
    }
    // Newest first: walk back from `seq` while the events are this epoch's and in step.
    let mut kept = Vec::new();
    let mut expect = seq;
    for entry in entries(events)? {
        let Ok(n) = entry.seq() else { break };
        if n != expect || expect == 0 {
            break;
        }
        match entry.event() {
            Ok((e, points)) if e == epoch => kept.push((n, points)),
            _ => break,
        }
        expect -= 1;
    }
    kept.reverse();
    Ok(Some(Loaded {
        epoch,
        seq,
        meta,
        window,
        events: kept,
    }))
}

fn array(v: &Value) -> Result<&[Value], String> {
    match v {
        Value::Array(items) | Value::Set(items) => Ok(items),
        Value::Nil => Ok(&[]),
        other => Err(format!("expected a list, got {}", kind(other))),
    }
}

fn bytes(v: &Value) -> Result<&[u8], String> {
    match v {
        Value::BulkString(b) => Ok(b),
        Value::SimpleString(s) => Ok(s.as_bytes()),
        other => Err(format!("expected a string, got {}", kind(other))),
    }
}

pub(super) fn text(v: &Value) -> Result<String, String> {
    match v {
        Value::Int(n) => Ok(n.to_string()),
        Value::Okay => Ok("OK".to_owned()),
        Value::Nil => Ok(String::new()),
        other => String::from_utf8(bytes(other)?.to_vec())
            .map_err(|_| "text that is not UTF-8".to_owned()),
    }
}

pub(super) fn number(v: &Value) -> Result<u64, String> {
    match v {
        Value::Int(n) => u64::try_from(*n).map_err(|_| format!("a negative number {n}")),
        other => {
            let t = text(other)?;
            t.parse()
                .map_err(|_| format!("{t:?} is not a whole number"))
        }
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Nil => "nil",
        Value::Int(_) => "a number",
        Value::Array(_) => "a list",
        Value::Map(_) => "a map",
        _ => "another kind of value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &[u8]) -> Value {
        Value::BulkString(s.to_vec())
    }

    fn event(seq: u64, epoch: u64, value: f64) -> Value {
        let points = vec![Point {
            series: SeriesName::default_series(),
            ts: 1,
            value,
        }];
        Value::Array(vec![
            bulk(format!("{seq}-0").as_bytes()),
            Value::Array(vec![
                bulk(b"e"),
                bulk(epoch.to_string().as_bytes()),
                bulk(b"p"),
                bulk(&codec::encode(&points)),
            ]),
        ])
    }

    #[test]
    fn replies_of_the_wrong_shape_are_errors_not_panics() {
        let odd = [
            Value::Int(3),
            Value::Array(vec![bulk(b"ok")]),
            Value::Array(vec![bulk(b"ok"), Value::Int(-1), Value::Int(2)]),
            Value::Array(vec![bulk(b"ok"), bulk(b"x"), Value::Int(2)]),
            Value::Array(vec![bulk(b"series"), bulk(b"no spaces allowed")]),
        ];
        for v in &odd {
            assert!(Reply::parse(v).is_err(), "{v:?}");
        }
        assert!(read_reply(&Value::Int(1)).is_err());
        assert!(read_reply(&Value::Array(vec![Value::Array(vec![bulk(b"k")])])).is_err());
        assert!(loaded(&Value::Array(vec![bulk(b"1"), bulk(b"2")])).is_err());
        assert!(loaded(&Value::Array(vec![
            bulk(b"1"),
            bulk(b"2"),
            bulk(b"{not json"),
            bulk(b"0"),
            Value::Array(vec![]),
            Value::Array(vec![]),
        ]))
        .is_err());
        // A bad event is an error for the follower to handle, not a panic.
        let bad = Entry::parse(&Value::Array(vec![
            bulk(b"7-0"),
            Value::Array(vec![bulk(b"e"), bulk(b"5"), bulk(b"p"), bulk(b"\x01\xff")]),
        ]))
        .expect("an entry");
        assert!(bad.event().is_err());
        assert!(
            Entry::parse(&Value::Array(vec![bulk(b"x-1"), Value::Array(vec![])]))
                .expect("an entry")
                .seq()
                .is_err()
        );
    }

    #[test]
    fn a_loaded_stream_keeps_only_the_newest_events_of_its_epoch_that_follow_on() {
        let mut window = Vec::new();
        for (ts, value) in [(1i64, 1.0f64), (2, f64::NAN), (3, 3.0)] {
            window.extend_from_slice(&ts.to_le_bytes());
            window.extend_from_slice(&value.to_le_bytes());
        }
        window.extend_from_slice(&[0; 5]); // a torn record is ignored
        let reply = Value::Array(vec![
            bulk(b"9"),
            bulk(b"6"),
            bulk(b""),
            bulk(b"0"),
            Value::Array(vec![bulk(b"value"), bulk(&window)]),
            // Newest first: 6 and 5 in epoch 9, then 4 from an older epoch, then 3 again.
            Value::Array(vec![
                event(6, 9, 6.0),
                event(5, 9, 5.0),
                event(4, 8, 4.0),
                event(3, 9, 3.0),
            ]),
        ]);
        let l = loaded(&reply).expect("parses").expect("exists");
        assert_eq!((l.epoch, l.seq), (9, 6));
        let seqs: Vec<u64> = l.events.iter().map(|e| e.0).collect();
        assert_eq!(seqs, vec![5, 6]);
        let values: Vec<f64> = l.window.iter().map(|p| p.value).collect();
        assert_eq!(values, vec![1.0, 3.0], "non-finite points are dropped");
        assert!(loaded(&Value::Array(vec![])).expect("parses").is_none());
    }
}
