//! Small SVG charts drawn on the server (no script, no third-party code): a bar chart and a
//! line chart over evenly spaced time steps, with the maximum and the time span labelled.
//! Colours and sizes come from the stylesheet (classes), so the CSP needs no inline style.

use maud::{html, Markup};

const W: f64 = 600.0;
const H: f64 = 160.0;
const LEFT: f64 = 4.0;
const TOP: f64 = 24.0;
const BOTTOM: f64 = 26.0;

/// One series: a value per step, oldest first (`None`: no data in that step).
pub struct Series<'a> {
    pub title: &'a str,
    pub values: Vec<Option<f64>>,
    /// Formats the axis maximum and the hover titles.
    pub fmt: fn(f64) -> String,
    /// Label of each step (hover titles), same length as `values`.
    pub labels: Vec<String>,
}

fn frame(s: &Series, inner: Markup) -> Markup {
    let max = s.values.iter().flatten().cloned().fold(0.0_f64, f64::max);
    let first = s.labels.first().cloned().unwrap_or_default();
    let last = s.labels.last().cloned().unwrap_or_default();
    html! {
        figure.chart {
            figcaption { (s.title) }
            svg viewBox=(format!("0 0 {W} {H}")) role="img" aria-label=(format!("{}: maximum {}", s.title, (s.fmt)(max))) {
                line.axis x1=(LEFT) y1=(H - BOTTOM) x2=(W) y2=(H - BOTTOM) {}
                text.max x=(LEFT) y="15" { "max " ((s.fmt)(max)) }
                (inner)
                text.tick x=(LEFT) y=(H - 4.0) { (first) }
                text.tick.end x=(W - 2.0) y=(H - 4.0) text-anchor="end" { (last) }
            }
        }
    }
}

fn scale(v: f64, max: f64) -> f64 {
    if max <= 0.0 {
        0.0
    } else {
        (v / max) * (H - TOP - BOTTOM)
    }
}

pub fn bars(s: &Series) -> Markup {
    let n = s.values.len().max(1) as f64;
    let max = s.values.iter().flatten().cloned().fold(0.0_f64, f64::max);
    let slot = (W - LEFT) / n;
    let inner = html! {
        @for (i, v) in s.values.iter().enumerate() {
            @if let Some(v) = v {
                @let h = scale(*v, max).max(if *v > 0.0 { 1.0 } else { 0.0 });
                rect.bar x=(format!("{:.1}", LEFT + i as f64 * slot + slot * 0.1)) y=(format!("{:.1}", H - BOTTOM - h))
                    width=(format!("{:.1}", (slot * 0.8).max(1.0))) height=(format!("{h:.1}")) {
                    title { (s.labels.get(i).map_or("", String::as_str)) ": " ((s.fmt)(*v)) }
                }
            }
        }
    };
    frame(s, inner)
}

pub fn line(s: &Series) -> Markup {
    let n = s.values.len();
    let max = s.values.iter().flatten().cloned().fold(0.0_f64, f64::max);
    let x =
        |i: usize| if n <= 1 { LEFT + (W - LEFT) / 2.0 } else { LEFT + i as f64 * (W - LEFT - 4.0) / (n - 1) as f64 };
    let points: Vec<String> = s
        .values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| format!("{:.1},{:.1}", x(i), H - BOTTOM - scale(v, max))))
        .collect();
    let inner = html! {
        polyline.line points=(points.join(" ")) {}
        @for (i, v) in s.values.iter().enumerate() {
            @if let Some(v) = v {
                circle.dot cx=(format!("{:.1}", x(i))) cy=(format!("{:.1}", H - BOTTOM - scale(*v, max))) r="3" {
                    title { (s.labels.get(i).map_or("", String::as_str)) ": " ((s.fmt)(*v)) }
                }
            }
        }
    };
    frame(s, inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_svg_without_inline_style_and_escape_titles() {
        let s = Series {
            title: "<b>req</b>",
            values: vec![Some(1.0), None, Some(3.0)],
            fmt: |v| format!("{v}"),
            labels: vec!["a".into(), "b".into(), "c".into()],
        };
        for m in [bars(&s), line(&s)] {
            let html = m.into_string();
            assert!(html.contains("<svg"), "{html}");
            assert!(!html.contains("style="), "{html}");
            assert!(html.contains("&lt;b&gt;req"), "{html}");
            assert!(html.contains("max 3"), "{html}");
        }
    }
}
