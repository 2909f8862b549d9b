//! The page's address as the place where a view is kept and shared. The page as a whole:
//! `window` (points, or a time such as `5m`) and a range in the past, `from` and `to` (ms since
//! the epoch); on the dashboard, which streams it shows, `streams`. Each chart on its own:
//! `window:<stream>`, `from:<stream>` and `to:<stream>`, written when that chart's window is
//! changed or it is paused or moved into the past, so that a reload, a shared link or a
//! Show/Hide in the stream list brings back every chart as it was, not one choice for all. No
//! stream name holds a `:` (names are `A-Z a-z 0-9 _ . -`), so the key says whose it is.
//! Pure logic, unit-tested natively; the server reads it, the browser writes it.

use crate::choice::{parse_range, WindowChoice};
use crate::model::StreamName;
use serde::{Deserialize, Serialize};

/// What a chart, or the page, is asked to show at first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shown {
    /// `None`: what the stream's description says, else the default.
    pub window: Option<WindowChoice>,
    /// A fixed range in the past, instead of live.
    pub range: Option<(i64, i64)>,
}

impl Shown {
    /// This chart's own choices, each falling back to the page's.
    pub fn or(self, page: Shown) -> Shown {
        Shown {
            window: self.window.or(page.window),
            range: self.range.or(page.range),
        }
    }
}

/// Everything the address says about what is shown.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PageShown {
    pub page: Shown,
    /// The charts with choices of their own, in the order the address first names them.
    pub charts: Vec<(StreamName, Shown)>,
}

impl PageShown {
    /// What `stream`'s chart shows at first.
    pub fn of(&self, stream: &StreamName) -> Shown {
        self.charts
            .iter()
            .find(|(n, _)| n == stream)
            .map_or(self.page, |(_, s)| s.or(self.page))
    }
}

const WINDOW: &str = "window";
const FROM: &str = "from";
const TO: &str = "to";
const STREAMS: &str = "streams";

/// The key of a chart's own `kind` (`window`, `from`, `to`).
fn chart_key(kind: &str, stream: &StreamName) -> String {
    format!("{kind}:{stream}")
}

/// A query key as written, with a percent-encoded `:` read as one.
fn plain_key(key: &str) -> String {
    key.replace("%3A", ":").replace("%3a", ":")
}

/// Reads what the address shows from its (decoded) parameters; other keys are left to others.
/// An error names the key and what was wrong with it; nothing is half-read.
pub fn parse<'a>(
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<PageShown, String> {
    let mut page_window = None;
    let (mut page_from, mut page_to) = (None, None);
    // Per stream: its window, and its from and to as written.
    type Raw<'a> = (Option<WindowChoice>, Option<&'a str>, Option<&'a str>);
    let mut charts: Vec<(StreamName, Raw<'a>)> = Vec::new();
    for (key, value) in params {
        match key {
            WINDOW => page_window = Some(WindowChoice::parse(value)?),
            FROM => page_from = Some(value),
            TO => page_to = Some(value),
            _ => {
                let Some((kind, name)) = key.split_once(':') else {
                    continue;
                };
                if !matches!(kind, WINDOW | FROM | TO) {
                    continue;
                }
                let stream =
                    StreamName::parse(name).map_err(|e| format!("{key}: the stream name {e}."))?;
                let at = match charts.iter().position(|(n, _)| *n == stream) {
                    Some(at) => at,
                    None => {
                        charts.push((stream, (None, None, None)));
                        charts.len() - 1
                    }
                };
                let raw = &mut charts[at].1;
                match kind {
                    WINDOW => {
                        raw.0 = Some(WindowChoice::parse(value).map_err(|e| format!("{key}: {e}"))?)
                    }
                    FROM => raw.1 = Some(value),
                    _ => raw.2 = Some(value),
                }
            }
        }
    }
    let page = Shown {
        window: page_window,
        range: parse_range(page_from, page_to)?,
    };
    let charts = charts
        .into_iter()
        .map(|(stream, (window, from, to))| {
            let range = parse_range(from, to)
                .map_err(|e| format!("{FROM}:{stream}, {TO}:{stream}: {e}"))?;
            Ok((stream, Shown { window, range }))
        })
        .collect::<Result<_, String>>()?;
    Ok(PageShown { page, charts })
}

/// The parameters of `search` (`?a=1&b=2`, with or without the `?`) but those `drop` refuses.
fn kept<'a>(search: &'a str, drop: impl Fn(&str) -> bool + 'a) -> impl Iterator<Item = &'a str> {
    search
        .trim_start_matches('?')
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(move |p| !drop(&plain_key(p.split('=').next().unwrap_or_default())))
}

/// The query (`?…`) saying that a chart shows `window` and, if any, `range` of the past:
/// `search` with that chart's keys replaced. `stream` is `None` for the page as a whole (a
/// stream page, whose one chart is the page).
pub fn with_chart(
    search: &str,
    stream: Option<&StreamName>,
    window: WindowChoice,
    range: Option<(i64, i64)>,
) -> String {
    let key = |kind: &str| stream.map_or_else(|| kind.to_owned(), |s| chart_key(kind, s));
    let (window_key, from_key, to_key) = (key(WINDOW), key(FROM), key(TO));
    let mut params: Vec<String> = kept(search, |k| k == window_key || k == from_key || k == to_key)
        .map(str::to_owned)
        .collect();
    params.push(format!("{window_key}={}", window.key()));
    if let Some((from, to)) = range {
        params.push(format!("{from_key}={from}"));
        params.push(format!("{to_key}={to}"));
    }
    format!("?{}", params.join("&"))
}

/// The dashboard's address showing `streams`, keeping what `search` (the current address)
/// says about the page and about the charts still shown.
pub fn dashboard(search: &str, streams: &[StreamName]) -> String {
    let list: Vec<&str> = streams.iter().map(StreamName::as_str).collect();
    let mut params = vec![format!("{STREAMS}={}", list.join(","))];
    params.extend(
        kept(search, |k| {
            k == STREAMS
                || k.split_once(':')
                    .is_some_and(|(_, name)| !streams.iter().any(|s| s.as_str() == name))
        })
        .map(str::to_owned),
    );
    format!("/?{}", params.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> StreamName {
        StreamName::parse(s).unwrap()
    }

    fn parsed(query: &str) -> Result<PageShown, String> {
        let pairs: Vec<(&str, &str)> = query.split('&').filter_map(|p| p.split_once('=')).collect();
        parse(pairs)
    }

    #[test]
    fn a_chart_s_own_choice_wins_over_the_page_s() {
        let shown =
            parsed("window=5m&window:robot.arm=1m&from:tank=1000&to:tank=2000&x=1").unwrap();
        assert_eq!(shown.page.window, Some(WindowChoice::Time(300_000)));
        assert_eq!(
            shown.of(&name("robot.arm")),
            Shown {
                window: Some(WindowChoice::Time(60_000)),
                range: None
            }
        );
        assert_eq!(
            shown.of(&name("tank")),
            Shown {
                window: Some(WindowChoice::Time(300_000)),
                range: Some((1000, 2000))
            }
        );
        assert_eq!(shown.of(&name("other")), shown.page);
    }

    #[test]
    fn bad_chart_keys_say_which_key_and_why() {
        let e = parsed("window:arm=7x").unwrap_err();
        assert!(e.starts_with("window:arm: window=\"7x\""), "{e}");
        let e = parsed("window:a b=5m").unwrap_err();
        assert!(e.starts_with("window:a b: the stream name"), "{e}");
        let e = parsed("from:arm=2000").unwrap_err();
        assert!(e.contains("from:arm, to:arm: give both"), "{e}");
        let e = parsed("from:arm=3000&to:arm=2000").unwrap_err();
        assert!(e.contains("must be before"), "{e}");
        // Keys that are not ours are left alone.
        assert!(parsed("utm:source=x&debug=1").is_ok());
    }

    #[test]
    fn a_chart_writes_only_its_own_keys() {
        let arm = name("arm");
        let q = with_chart(
            "?streams=arm,tank&window=5m&window:arm=1m",
            Some(&arm),
            WindowChoice::Points(100),
            None,
        );
        assert_eq!(q, "?streams=arm,tank&window=5m&window:arm=100");
        let q = with_chart(&q, Some(&arm), WindowChoice::Points(100), Some((5, 9)));
        assert_eq!(
            q,
            "?streams=arm,tank&window=5m&window:arm=100&from:arm=5&to:arm=9"
        );
        // Back to live: its range goes; an encoded colon is the same key.
        let q = with_chart(
            "?window%3Aarm=1m&from%3Aarm=5&to%3Aarm=9",
            Some(&arm),
            WindowChoice::Time(60_000),
            None,
        );
        assert_eq!(q, "?window:arm=1m");
        // A stream page's chart is the page.
        assert_eq!(
            with_chart("?window=20", None, WindowChoice::Time(60_000), Some((1, 2))),
            "?window=1m&from=1&to=2"
        );
    }

    #[test]
    fn show_and_hide_keep_the_other_charts_as_they_are() {
        let search =
            "?streams=arm,tank&window=5m&window:arm=1m&window:tank=1h&from:tank=1&to:tank=2";
        assert_eq!(
            dashboard(search, &[name("arm")]),
            "/?streams=arm&window=5m&window:arm=1m"
        );
        assert_eq!(
            dashboard(search, &[name("arm"), name("tank"), name("pump")]),
            "/?streams=arm,tank,pump&window=5m&window:arm=1m&window:tank=1h&from:tank=1&to:tank=2"
        );
        assert_eq!(dashboard("", &[name("a")]), "/?streams=a");
    }
}
