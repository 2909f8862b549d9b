//! HTML written as text: the legend and the table of a chart (a view per row
//! or button cost the WASM far more), and escaping for anything put into HTML.

use crate::axis::format_iso_utc;
use crate::model::SeriesName;
use crate::theme::series_var;
use crate::window::Window;
use std::collections::BTreeSet;

/// The legend's items: a button per series (pressed while shown), in the series' colour.
/// Series are in the window's order whether hidden or not, so colours stay put.
pub(crate) fn legend_html(w: &Window, hidden: &BTreeSet<SeriesName>) -> String {
    let mut out = String::new();
    for (i, (series, _)) in w.series().enumerate() {
        let shown = !hidden.contains(series);
        let name = escape_html(series.as_str());
        out += &format!(
            "<li><button type=\"button\" data-series=\"{name}\" aria-pressed=\"{shown}\">\
             <span class=\"swatch{dashed}\" style=\"--swatch: {}\"></span>{name}</button></li>",
            series_var(i),
            // A colour an earlier series has: its line is dashed, and so is its swatch.
            dashed = if crate::theme::LIGHT.series_repeats(i) {
                " dashed"
            } else {
                ""
            },
        );
    }
    out
}

/// The most rows per series the table of points holds: the newest ones. A time window may
/// show 4,096 points a series, and thousands of rows rewritten every second cost the page more
/// than a reader gains (export the CSV for all of them).
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub const TABLE_ROWS_PER_SERIES: usize = 1000;

/// The rows of the table of points shown (the newest [`TABLE_ROWS_PER_SERIES`] of each
/// series): series, time (UTC) and value, with the same figures as `data-*` attributes for
/// scripts. Built in the browser, when the table is asked for.
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub(crate) fn table_html(w: &Window) -> String {
    let mut out = String::new();
    for (name, samples) in w.series() {
        let name = escape_html(name.as_str());
        let skip = samples.len().saturating_sub(TABLE_ROWS_PER_SERIES);
        for s in samples.iter().skip(skip) {
            let iso = format_iso_utc(s.ts);
            let gap = if s.gap_before {
                " data-gap=\"true\""
            } else {
                ""
            };
            out += &format!(
                "<tr data-series=\"{name}\" data-ts=\"{ts}\" data-value=\"{v}\"{gap}>\
                 <td>{name}</td><td><time datetime=\"{iso}\">{iso}</time></td><td>{v}</td></tr>",
                ts = s.ts,
                v = s.value,
            );
        }
    }
    out
}

/// Text made safe inside HTML text and quoted attributes.
pub(crate) fn escape_html(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains(['&', '<', '>', '"', '\'']) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out.into()
}
