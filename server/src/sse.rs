//! Server-Sent Events framing, both ways: the encoder the hub uses to turn an event into bytes
//! exactly once, and an incremental parser for the clients of ours that read a stream (the
//! tests and `livechart load`).

use app::model::EventId;
use bytes::Bytes;
use std::fmt::Write;

/// A comment line that keeps idle connections (and the proxies in between) open.
pub const KEEP_ALIVE: &[u8] = b": keep-alive\n\n";

/// Encodes one event; without an id, a client's last event id stays as it was. `data` is split at every line break (`\n`, `\r\n` or `\r`) into several
/// `data:` lines, which the client joins back with `\n`.
pub fn encode_event(id: Option<EventId>, event: &str, data: &str) -> Bytes {
    encode(
        id.as_ref().map(|id| id as &dyn std::fmt::Display),
        event,
        data,
    )
}

/// Encodes one event whose id is not a stream's [`EventId`] (a task's step).
pub fn encode_event_with_id(id: &str, event: &str, data: &str) -> Bytes {
    debug_assert!(!id.contains(['\n', '\r', '\0']), "ids are single-line");
    encode(Some(&id), event, data)
}

/// Writes the id straight into the frame (no string of its own: this runs once per event).
fn encode(id: Option<&dyn std::fmt::Display>, event: &str, data: &str) -> Bytes {
    debug_assert!(
        !event.contains(['\n', '\r']),
        "event names are single-line constants"
    );
    let mut out = String::with_capacity(data.len() + event.len() + 40);
    // Writing into a String cannot fail.
    if let Some(id) = id {
        let _ = writeln!(out, "id: {id}");
    }
    let _ = writeln!(out, "event: {event}");
    for line in split_lines(data) {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    Bytes::from(out)
}

/// An `id:` field and the blank line that ends an event: written after an event whose own
/// final blank line was taken off, it gives that event this id (a multiplexed connection's
/// [`Positions`](app::model::Positions)).
pub fn encode_id(id: &str) -> Bytes {
    debug_assert!(!id.contains(['\n', '\r', '\0']), "ids are single-line");
    Bytes::from(format!("id: {id}\n\n"))
}

/// The `retry:` field that tells the browser how long to wait before reconnecting.
pub fn encode_retry(ms: u64) -> Bytes {
    Bytes::from(format!("retry: {ms}\n\n"))
}

/// Splits at `\r\n`, `\n` and `\r`, as the SSE parser in a browser does; an empty string is
/// one empty line.
fn split_lines(s: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let r = rest?;
        match r.find(['\n', '\r']) {
            Some(i) => {
                let skip = if r[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = Some(&r[i + skip..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

/// One dispatched event, as a browser's `EventSource` would see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SseEvent {
    /// The last event id seen on the stream (ids carry over to later events, per the spec).
    pub id: Option<String>,
    /// The event name; `message` when the event had none.
    pub event: String,
    pub data: String,
}

/// What a chunk of a stream contained, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SseItem {
    Event(SseEvent),
    /// A `:` comment line (keep-alives).
    Comment(String),
    /// A valid `retry:` field, in milliseconds.
    Retry(u64),
}

/// An incremental parser following the WHATWG event-stream rules.
#[derive(Debug, Default)]
pub struct SseParser {
    pending: Vec<u8>,
    last_id: Option<String>,
    event: Option<String>,
    data: Option<String>,
    /// A `\r` ended the previous chunk: a `\n` starting the next one belongs to it.
    after_cr: bool,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes as they arrive; returns everything completed by them.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseItem> {
        let mut out = Vec::new();
        let mut chunk = chunk;
        if self.after_cr && chunk.first() == Some(&b'\n') {
            chunk = &chunk[1..];
        }
        self.after_cr = false;
        // Bytes before `scanned` hold no line end: an unfinished line is not scanned again
        // with every chunk that extends it.
        let scanned = self.pending.len();
        self.pending.extend_from_slice(chunk);
        let mut start = 0;
        let mut i = scanned;
        while i < self.pending.len() {
            let b = self.pending[i];
            if b == b'\n' || b == b'\r' {
                let line = String::from_utf8_lossy(&self.pending[start..i]).into_owned();
                let mut next = i + 1;
                if b == b'\r' {
                    if next < self.pending.len() {
                        if self.pending[next] == b'\n' {
                            next += 1;
                        }
                    } else {
                        self.after_cr = true;
                    }
                }
                self.line(&line, &mut out);
                start = next;
                i = next;
            } else {
                i += 1;
            }
        }
        self.pending.drain(..start);
        out
    }

    fn line(&mut self, line: &str, out: &mut Vec<SseItem>) {
        if line.is_empty() {
            if let Some(mut data) = self.data.take() {
                data.pop(); // the spec drops the final "\n"
                out.push(SseItem::Event(SseEvent {
                    id: self.last_id.clone(),
                    event: self.event.take().unwrap_or_else(|| "message".into()),
                    data,
                }));
            }
            self.event = None;
            return;
        }
        if let Some(comment) = line.strip_prefix(':') {
            out.push(SseItem::Comment(comment.trim_start().to_owned()));
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "data" => {
                let data = self.data.get_or_insert_with(String::new);
                data.push_str(value);
                data.push('\n');
            }
            "event" => self.event = Some(value.to_owned()),
            "id" if !value.contains('\0') => self.last_id = Some(value.to_owned()),
            "retry" => {
                if let Ok(ms) = value.parse::<u64>() {
                    out.push(SseItem::Retry(ms));
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eid(seq: u64) -> EventId {
        EventId { epoch: 0, seq }
    }

    fn text(b: &Bytes) -> &str {
        std::str::from_utf8(b).unwrap()
    }

    #[test]
    fn encodes_id_event_and_data() {
        let b = encode_event(Some(eid(7)), "point", r#"{"ts":1,"value":2.5}"#);
        assert_eq!(
            text(&b),
            "id: 0-7\nevent: point\ndata: {\"ts\":1,\"value\":2.5}\n\n"
        );
    }

    #[test]
    fn multi_line_data_becomes_several_data_lines() {
        let b = encode_event(Some(eid(1)), "note", "one\ntwo\r\nthree\rfour");
        assert_eq!(
            text(&b),
            "id: 0-1\nevent: note\ndata: one\ndata: two\ndata: three\ndata: four\n\n"
        );
        let b = encode_event(Some(eid(2)), "note", "");
        assert_eq!(text(&b), "id: 0-2\nevent: note\ndata: \n\n");
        let b = encode_event(Some(eid(3)), "note", "trailing\n");
        assert_eq!(text(&b), "id: 0-3\nevent: note\ndata: trailing\ndata: \n\n");
    }

    #[test]
    fn events_without_id_have_no_id_line() {
        let b = encode_event(None, "reset", "{}");
        assert_eq!(text(&b), "event: reset\ndata: {}\n\n");
    }

    #[test]
    fn retry_and_keep_alive() {
        assert_eq!(text(&encode_retry(2000)), "retry: 2000\n\n");
        assert!(KEEP_ALIVE.starts_with(b":") && KEEP_ALIVE.ends_with(b"\n\n"));
    }

    #[test]
    fn parser_round_trips_the_encoder() {
        for data in ["{\"a\":1}", "one\ntwo", "", "a\r\nb\rc", "trailing\n"] {
            let mut p = SseParser::new();
            let items = p.push(&encode_event(Some(eid(42)), "x", data));
            let expected = data.replace("\r\n", "\n").replace('\r', "\n");
            assert_eq!(
                items,
                vec![SseItem::Event(SseEvent {
                    id: Some("0-42".into()),
                    event: "x".into(),
                    data: expected
                })]
            );
        }
    }

    #[test]
    fn parser_handles_arbitrary_chunking() {
        let mut stream = Vec::new();
        stream.extend_from_slice(&encode_retry(1500));
        stream.extend_from_slice(KEEP_ALIVE);
        for id in 1..=3 {
            stream.extend_from_slice(&encode_event(
                Some(eid(id)),
                "point",
                &format!("{{\"n\":{id}}}"),
            ));
        }
        let crlf = String::from_utf8(stream.clone())
            .unwrap()
            .replace('\n', "\r\n")
            .into_bytes();
        for bytes in [stream, crlf] {
            for size in 1..8 {
                let mut p = SseParser::new();
                let items: Vec<SseItem> = bytes.chunks(size).flat_map(|c| p.push(c)).collect();
                assert_eq!(items.len(), 5, "chunk size {size}");
                assert_eq!(items[0], SseItem::Retry(1500));
                assert_eq!(items[1], SseItem::Comment("keep-alive".into()));
                let ids: Vec<_> = items[2..]
                    .iter()
                    .map(|i| match i {
                        SseItem::Event(e) => e.id.clone().unwrap(),
                        other => panic!("unexpected {other:?}"),
                    })
                    .collect();
                assert_eq!(ids, ["0-1", "0-2", "0-3"]);
            }
        }
    }

    #[test]
    fn parser_defaults_and_ignores() {
        let mut p = SseParser::new();
        let items = p.push(b"data: x\n\nevent: e\nunknown: y\nretry: soon\n\n");
        assert_eq!(
            items,
            vec![SseItem::Event(SseEvent {
                id: None,
                event: "message".into(),
                data: "x".into()
            })]
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn feed(chunks: &[&[u8]]) -> Vec<SseItem> {
            let mut parser = SseParser::new();
            chunks.iter().flat_map(|c| parser.push(c)).collect()
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            /// Any bytes, cut anywhere: no panic, at most one item per line, and the same
            /// items however the stream was cut into chunks.
            #[test]
            fn chunking_never_changes_what_is_parsed(
                bytes in prop::collection::vec(
                    prop_oneof![
                        Just(b'\n'), Just(b'\r'), Just(b':'), Just(b' '),
                        any::<u8>(),
                        prop::sample::select(b"dataeventidretry".to_vec()),
                    ],
                    0..400,
                ),
                cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
            ) {
                let whole = feed(&[&bytes]);
                let lines = bytes.iter().filter(|b| **b == b'\n' || **b == b'\r').count();
                prop_assert!(whole.len() <= lines);
                let mut at: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
                at.sort_unstable();
                let mut pieces = Vec::new();
                let mut from = 0;
                for cut in at {
                    pieces.push(&bytes[from..cut]);
                    from = cut;
                }
                pieces.push(&bytes[from..]);
                prop_assert_eq!(feed(&pieces), whole);
            }
        }
    }
}
