use super::*;
use std::collections::HashMap;

const MAIN_CSS: &str = include_str!("../../../style/main.css");

/// The `--name: #rrggbb;` variables of the block that starts with `selector {`.
fn variables(selector: &str) -> HashMap<String, RGBColor> {
    let start = MAIN_CSS
        .find(&format!("{selector} {{"))
        .unwrap_or_else(|| panic!("no `{selector} {{` block in style/main.css"));
    let block = &MAIN_CSS[start..];
    let block = &block[..block.find('}').unwrap()];
    block
        .lines()
        .filter_map(|line| {
            let (name, value) = line.trim().strip_prefix("--")?.split_once(':')?;
            let value = value.trim().trim_end_matches(';').strip_prefix('#')?;
            let channel = |i: usize| u8::from_str_radix(value.get(i..i + 2)?, 16).ok();
            Some((
                name.to_owned(),
                RGBColor(channel(0)?, channel(2)?, channel(4)?),
            ))
        })
        .collect()
}

/// An sRGB channel as linear light.
fn linear(c: u8) -> f64 {
    let c = f64::from(c) / 255.0;
    if c <= 0.04045 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

/// WCAG 2.x relative luminance and contrast ratio.
fn luminance(RGBColor(r, g, b): RGBColor) -> f64 {
    0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)
}

fn contrast(a: RGBColor, b: RGBColor) -> f64 {
    let (a, b) = (luminance(a), luminance(b));
    (a.max(b) + 0.05) / (a.min(b) + 0.05)
}

fn themes() -> [(&'static str, HashMap<String, RGBColor>, &'static Palette); 2] {
    [
        ("light", variables(":root"), &LIGHT),
        ("dark", variables(":root[data-theme=\"dark\"]"), &DARK),
    ]
}

#[test]
fn text_is_readable_in_both_themes_wcag_aa() {
    // (foreground, background): every pair of the stylesheet that carries text.
    let pairs = [
        ("text", "bg"),
        ("text", "card"),
        ("text", "control"),
        ("muted", "bg"),
        ("muted", "card"),
        ("muted", "status-bg"),
        ("link", "card"),
        ("link", "bg"),
        ("live", "live-bg"),
        ("warn", "warn-bg"),
        ("warn", "card"),
        ("danger", "card"),
        ("text", "code-bg"),
        ("tooltip-text", "tooltip-bg"),
    ];
    for (theme, vars, _) in themes() {
        for (fg, bg) in pairs {
            let get = |name: &str| {
                *vars
                    .get(name)
                    .unwrap_or_else(|| panic!("{theme}: no --{name} in style/main.css"))
            };
            let ratio = contrast(get(fg), get(bg));
            assert!(ratio >= 4.5, "{theme}: --{fg} on --{bg}: {ratio:.2} < 4.5");
        }
    }
}

#[test]
fn charts_are_readable_in_both_themes_and_match_the_page() {
    for (theme, vars, palette) in themes() {
        assert_eq!(
            vars["card"], palette.background,
            "{theme}: chart background vs --card"
        );
        assert_eq!(vars["text"], palette.text, "{theme}: chart text vs --text");
        assert_eq!(
            vars["muted"], palette.muted,
            "{theme}: chart labels vs --muted"
        );
        for (name, colour) in [("text", palette.text), ("muted", palette.muted)] {
            let ratio = contrast(colour, palette.background);
            assert!(ratio >= 4.5, "{theme}: chart {name}: {ratio:.2} < 4.5");
        }
        // Lines and the gap marker are graphics: 3:1 (WCAG 1.4.11).
        for (i, colour) in palette.series.iter().chain([&palette.gap]).enumerate() {
            let ratio = contrast(*colour, palette.background);
            assert!(
                ratio >= 3.0,
                "{theme}: series/gap colour {i}: {ratio:.2} < 3"
            );
        }
    }
}

#[test]
fn the_dark_css_recolours_every_light_role_of_the_first_paint() {
    let light = LIGHT.roles();
    let mut distinct = light.clone();
    distinct.sort_by_key(|c| (c.0, c.1, c.2));
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        light.len(),
        "each light colour must be one role"
    );
    let css = page_css();
    for (from, to) in light.into_iter().zip(DARK.roles()) {
        let rule = format!(
            "[stroke=\"{}\"]{{stroke:{}}}",
            hex_case(from, true),
            hex(to)
        );
        assert!(css.contains(&rule), "missing {rule}");
    }
    assert!(css.contains(&format!("--series-0:{}", hex(DARK.series[0]))));
    assert_eq!(series_var(9), "var(--series-9)");
    assert_eq!(series_var(13), "var(--series-1)");
}

/// CIE L*a*b* of an sRGB colour (D65), for telling colours apart as the eye does.
fn lab(colour @ RGBColor(r, g, b): RGBColor) -> (f64, f64, f64) {
    let (r, g, b) = (linear(r), linear(g), linear(b));
    let x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047;
    let y = luminance(colour);
    let z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883;
    let f = |t: f64| {
        if t > 0.008856 {
            t.cbrt()
        } else {
            7.787 * t + 16.0 / 116.0
        }
    };
    (
        116.0 * f(y) - 16.0,
        500.0 * (f(x) - f(y)),
        200.0 * (f(y) - f(z)),
    )
}

#[test]
fn twelve_series_colours_are_told_apart_in_both_themes() {
    for (theme, _, palette) in themes() {
        assert_eq!(palette.series.len(), 12);
        for (i, a) in palette.series.iter().enumerate() {
            for (j, b) in palette.series.iter().enumerate().skip(i + 1) {
                let ((l1, a1, b1), (l2, a2, b2)) = (lab(*a), lab(*b));
                let distance = ((l1 - l2).powi(2) + (a1 - a2).powi(2) + (b1 - b2).powi(2)).sqrt();
                assert!(
                    distance >= 20.0,
                    "{theme}: series colours {i} and {j} are {distance:.1} apart (ΔE76 < 20)"
                );
            }
        }
    }
}
