//! The two themes' chart colours, defined once: the canvas draws with the page's current
//! palette, the server draws its SVG first paint in the light one, and [`page_css`] (put in
//! every page's head) gives the legend its colours and recolours that SVG in the dark theme, so
//! the first paint never flashes light on a dark page. The page's other colours are CSS
//! variables in `style/main.css`; a test keeps the two in step and checks their contrast.

use plotters::style::RGBColor;
use std::fmt::Write as _;

/// The colours of one theme's charts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Palette {
    pub background: RGBColor,
    pub text: RGBColor,
    pub muted: RGBColor,
    pub grid: RGBColor,
    pub grid_bold: RGBColor,
    pub gap: RGBColor,
    /// Series colours, in series-name order: twelve, so that twelve series (a battery's cells,
    /// a machine's cores) never share one.
    pub series: [RGBColor; 12],
}

pub const LIGHT: Palette = Palette {
    background: RGBColor(255, 255, 255),
    text: RGBColor(31, 41, 55),
    muted: RGBColor(90, 99, 112),
    grid: RGBColor(236, 239, 243),
    grid_bold: RGBColor(214, 219, 226),
    gap: RGBColor(180, 83, 9),
    series: [
        RGBColor(37, 99, 235),
        RGBColor(234, 88, 12),
        RGBColor(22, 163, 74),
        RGBColor(220, 38, 38),
        RGBColor(147, 51, 234),
        RGBColor(13, 148, 136),
        RGBColor(180, 130, 0),
        RGBColor(219, 39, 119),
        RGBColor(8, 145, 178),
        RGBColor(101, 120, 15),
        RGBColor(134, 25, 143),
        RGBColor(146, 64, 14),
    ],
};

pub const DARK: Palette = Palette {
    background: RGBColor(22, 27, 34),
    text: RGBColor(230, 237, 243),
    muted: RGBColor(154, 165, 177),
    grid: RGBColor(33, 39, 47),
    grid_bold: RGBColor(48, 55, 64),
    gap: RGBColor(245, 158, 11),
    series: [
        RGBColor(96, 165, 250),
        RGBColor(251, 146, 60),
        RGBColor(74, 222, 128),
        RGBColor(248, 113, 113),
        RGBColor(192, 132, 252),
        RGBColor(45, 212, 191),
        RGBColor(250, 204, 21),
        RGBColor(244, 114, 182),
        RGBColor(103, 232, 249),
        RGBColor(190, 242, 100),
        RGBColor(240, 171, 252),
        RGBColor(217, 170, 120),
    ],
};

impl Palette {
    /// The colour of the `i`-th series (by name) of a chart.
    pub fn series_colour(&self, i: usize) -> RGBColor {
        self.series[i % self.series.len()]
    }

    /// Whether the `i`-th series has a colour an earlier series of its chart has: it is drawn
    /// dashed.
    pub fn series_repeats(&self, i: usize) -> bool {
        i >= self.series.len()
    }

    /// The same, as CSS.
    pub fn series_css(&self, i: usize) -> String {
        hex(self.series_colour(i))
    }

    /// Every colour, one per role, in the same order for every palette.
    pub fn roles(&self) -> Vec<RGBColor> {
        let mut all = vec![
            self.background,
            self.text,
            self.muted,
            self.grid,
            self.grid_bold,
            self.gap,
        ];
        all.extend(self.series);
        all
    }

    /// The palette of the page's theme now (`<html data-theme>`, set by [`THEME_SCRIPT`]).
    #[cfg(feature = "hydrate")]
    pub fn current() -> &'static Palette {
        let dark = leptos::prelude::document()
            .document_element()
            .and_then(|root| root.get_attribute("data-theme"))
            .is_some_and(|theme| theme == "dark");
        if dark {
            &DARK
        } else {
            &LIGHT
        }
    }
}

/// A series' colour in HTML (the legend): a variable that follows the theme.
pub fn series_var(i: usize) -> String {
    format!("var(--series-{})", i % LIGHT.series.len())
}

/// `#rrggbb`, as plotters writes colours into SVG (upper case) when `upper`.
fn hex_case(RGBColor(r, g, b): RGBColor, upper: bool) -> String {
    if upper {
        format!("#{r:02X}{g:02X}{b:02X}")
    } else {
        format!("#{r:02x}{g:02x}{b:02x}")
    }
}

pub fn hex(colour: RGBColor) -> String {
    hex_case(colour, false)
}

/// The page's chart CSS: series colours as variables in both themes, and the light SVG first
/// paint recoloured for the dark theme (each light colour is one role, so the mapping is
/// exact; the SVG's presentation attributes yield to any CSS rule).
pub fn page_css() -> String {
    let mut css = String::from(":root{");
    for (i, c) in LIGHT.series.iter().enumerate() {
        let _ = write!(css, "--series-{i}:{};", hex(*c));
    }
    css.push_str("}:root[data-theme=dark]{");
    for (i, c) in DARK.series.iter().enumerate() {
        let _ = write!(css, "--series-{i}:{};", hex(*c));
    }
    css.push('}');
    for (light, dark) in LIGHT.roles().into_iter().zip(DARK.roles()) {
        let (from, to) = (hex_case(light, true), hex(dark));
        for property in ["fill", "stroke"] {
            let _ = write!(
                css,
                ":root[data-theme=dark] .first-paint [{property}=\"{from}\"]{{{property}:{to}}}"
            );
        }
    }
    css
}

/// Runs in the page's head before anything is drawn: sets `<html data-theme>` from the
/// remembered choice or else the system's (`prefers-color-scheme`), follows the system while
/// nothing is remembered, and makes the toggle button work before (and without) the WASM. A
/// choice equal to the system's is forgotten, so the page follows the system again. Charts
/// redraw on the `livechart-theme` event.
pub const THEME_SCRIPT: &str = r#"(()=>{const d=document.documentElement,k="livechart-theme",m=matchMedia("(prefers-color-scheme: dark)");
const sys=()=>m.matches?"dark":"light";
const saved=()=>{try{const s=localStorage.getItem(k);return s==="dark"||s==="light"?s:null}catch(e){return null}};
const label=()=>{for(const b of document.querySelectorAll("[data-theme-toggle]"))b.setAttribute("aria-pressed",String(d.dataset.theme==="dark"))};
const set=t=>{if(d.dataset.theme!==t){d.dataset.theme=t;dispatchEvent(new Event("livechart-theme"))}label()};
const apply=()=>set(saved()||sys());
apply();m.addEventListener("change",apply);addEventListener("storage",e=>{if(e.key===k)apply()});
document.addEventListener("DOMContentLoaded",label);
document.addEventListener("click",e=>{const b=e.target instanceof Element&&e.target.closest("[data-theme-toggle]");if(!b)return;
const want=d.dataset.theme==="dark"?"light":"dark";try{if(want===sys())localStorage.removeItem(k);else localStorage.setItem(k,want)}catch(e){}set(want)});})();"#;

#[cfg(test)]
mod tests;
