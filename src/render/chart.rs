//! Charts drawn from data as SVG (with `plotters`), embedded in reports in memory and written by the
//! `spc` command: line, bar and SPC (XmR) charts in the NHS Making Data Count palette.
//!
//! Owns drawing only. The numbers come in already computed; SPC judgements come from `crate::spc`.

use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::series::DashedLineSeries;

use crate::spc::{Analysis, Point, PointType};

/// The body font of the reports; Typst resolves it from the fonts the world provides.
const FONT: &str = "Liberation Sans";
pub const GREY: RGBColor = RGBColor(0x7B, 0x7D, 0x7D);
pub const ORANGE: RGBColor = RGBColor(0xED, 0x8B, 0x00);
pub const BLUE: RGBColor = RGBColor(0x28, 0x9D, 0xE0);
pub const PURPLE: RGBColor = RGBColor(0x36, 0x14, 0x75);
pub const NHS_BLUE: RGBColor = RGBColor(0x00, 0x5E, 0xB8);
pub const RED: RGBColor = RGBColor(0xDA, 0x29, 0x1C);
const SERIES_COLOURS: [RGBColor; 5] = [NHS_BLUE, ORANGE, RGBColor(0x00, 0x96, 0x39), PURPLE, GREY];

#[derive(Debug, Clone)]
pub struct ChartOptions {
    pub title: String,
    pub y_label: String,
    pub width: u32,
    pub height: u32,
    /// Values are ratios: label the axis in percent. They are proportions, so an SPC chart keeps its
    /// limits within 0–100%.
    pub percent: bool,
    /// Values are already percentages, 0–100 (`boardpack spc --percent`): label them with a % sign as
    /// they are. Proportions too, as for `percent`.
    pub percentages: bool,
}

impl ChartOptions {
    /// What 100% is on the axis, when the values are a proportion.
    fn full_scale(&self) -> Option<f64> {
        if self.percent {
            Some(1.0)
        } else if self.percentages {
            Some(100.0)
        } else {
            None
        }
    }
}

impl Default for ChartOptions {
    fn default() -> Self {
        Self {
            title: String::new(),
            y_label: String::new(),
            width: 720,
            height: 300,
            percent: false,
            percentages: false,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("drawing the chart `{title}` failed: {message}")]
pub struct ChartError {
    title: String,
    message: String,
}

fn chart_err(opts: &ChartOptions) -> impl Fn(String) -> ChartError + '_ {
    move |message| ChartError {
        title: opts.title.clone(),
        message,
    }
}

/// Axis labels: `percent` multiplies ratios by 100 for a % label, `percentages` adds the % sign only.
fn y_formatter(percent: bool, percentages: bool) -> impl Fn(&f64) -> String {
    move |v: &f64| {
        // A tick a rounding error away from a whole number prints as the whole number (0, not 0.00).
        let x = if (v - v.round()).abs() < 1e-6 {
            v.round()
        } else {
            *v
        };
        if percent {
            format!("{:.0}%", x * 100.0)
        } else if percentages {
            format!("{:.0}%", x)
        } else {
            let dp = if x.fract() == 0.0 || x.abs() >= 10.0 {
                0
            } else if x.abs() < 1.0 {
                2
            } else {
                1
            };
            super::format::thousands(x, dp)
        }
    }
}

fn y_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.1).max(hi.abs() * 0.02).max(1e-9);
    (lo - pad, hi + pad)
}

/// Keeps roughly `max` evenly spaced x labels so that they never overlap.
fn label_every(n: usize, max: usize) -> usize {
    n.div_ceil(max.max(1)).max(1)
}

type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// The label of the category at `x`, keeping every `every`-th so that labels never overlap.
fn label_at(labels: &[String], x: f64, every: usize) -> String {
    let i = x.round() as usize;
    if (x - x.round()).abs() < 1e-6 && i < labels.len() && i % every == 0 {
        labels[i].clone()
    } else {
        String::new()
    }
}

/// The frame every chart shares: a caption, categories along x (at most `max_labels` labelled), a y axis
/// from `lo` to `hi` with light horizontal grid lines.
fn category_axes<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    labels: &[String],
    (lo, hi): (f64, f64),
    max_labels: usize,
    opts: &ChartOptions,
) -> Result<Chart<'a, 'b>, ChartError> {
    let err = chart_err(opts);
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let n = labels.len().max(1);
    let mut chart = ChartBuilder::on(root)
        .caption(&opts.title, (FONT, 16))
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(56)
        .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), lo..hi)
        .map_err(|e| err(e.to_string()))?;
    let every = label_every(n, max_labels);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(0xE8, 0xED, 0xEE))
        .y_labels(6)
        .x_labels(n)
        .x_label_formatter(&|x| label_at(labels, *x, every))
        .y_label_formatter(&y_formatter(opts.percent, opts.percentages))
        .y_desc(&opts.y_label)
        .label_style((FONT, 11))
        .draw()
        .map_err(|e| err(e.to_string()))?;
    Ok(chart)
}

/// Line chart of one or more named series over shared x labels. Missing values (`None`) break the line.
pub fn line_chart(
    x_labels: &[String],
    series: &[(String, Vec<Option<f64>>)],
    opts: &ChartOptions,
) -> Result<String, ChartError> {
    let err = chart_err(opts);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (opts.width, opts.height)).into_drawing_area();
        let (lo, hi) = y_range(series.iter().flat_map(|(_, v)| v.iter().flatten().copied()));
        let mut chart = category_axes(&root, x_labels, (lo, hi), 13, opts)?;
        for (k, (name, values)) in series.iter().enumerate() {
            let colour = SERIES_COLOURS[k % SERIES_COLOURS.len()];
            let mut run: Vec<(f64, f64)> = Vec::new();
            let mut runs = Vec::new();
            for (i, v) in values.iter().enumerate() {
                match v {
                    Some(y) if y.is_finite() => run.push((i as f64, *y)),
                    _ => runs.push(std::mem::take(&mut run)),
                }
            }
            runs.push(run);
            let mut first = true;
            for r in runs.into_iter().filter(|r| !r.is_empty()) {
                let s = chart
                    .draw_series(LineSeries::new(r.clone(), colour.stroke_width(2)))
                    .map_err(|e| err(e.to_string()))?;
                if first && series.len() > 1 {
                    s.label(name.clone()).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2))
                    });
                }
                first = false;
                chart
                    .draw_series(r.into_iter().map(|p| Circle::new(p, 3, colour.filled())))
                    .map_err(|e| err(e.to_string()))?;
            }
        }
        if series.len() > 1 {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.9))
                .border_style(GREY)
                .label_font((FONT, 11))
                .draw()
                .map_err(|e| err(e.to_string()))?;
        }
        root.present().map_err(|e| err(e.to_string()))?;
    }
    Ok(svg)
}

/// Horizontal reference bars: one bar per category (e.g. ICB, Midlands, England).
pub fn bar_chart(categories: &[(String, f64)], opts: &ChartOptions) -> Result<String, ChartError> {
    let err = chart_err(opts);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (opts.width, opts.height)).into_drawing_area();
        let hi = categories.iter().map(|c| c.1).fold(0.0f64, f64::max) * 1.15;
        let labels: Vec<String> = categories.iter().map(|c| c.0.clone()).collect();
        let mut chart = category_axes(&root, &labels, (0.0, hi.max(1e-9)), labels.len(), opts)?;
        chart
            .draw_series(categories.iter().enumerate().map(|(i, (_, v))| {
                let colour = if i == 0 { NHS_BLUE } else { GREY };
                Rectangle::new(
                    [(i as f64 - 0.35, 0.0), (i as f64 + 0.35, *v)],
                    colour.filled(),
                )
            }))
            .map_err(|e| err(e.to_string()))?;
        root.present().map_err(|e| err(e.to_string()))?;
    }
    Ok(svg)
}

fn point_colour(t: PointType) -> RGBColor {
    match t {
        PointType::CommonCause => GREY,
        PointType::Improvement => BLUE,
        PointType::Concern => ORANGE,
        PointType::NeutralHigh | PointType::NeutralLow => PURPLE,
    }
}

/// The process limits of a point as drawn: a proportion's (`full_scale` is what 100% is) kept within
/// 0–100%, since a limit beyond what the measure can reach says nothing and squeezes the chart. The
/// judgement itself (`crate::spc`) uses the limits as computed.
fn drawn_limits(p: &Point, full_scale: Option<f64>) -> (Option<f64>, Option<f64>) {
    match full_scale {
        Some(top) => (
            p.lower_limit.map(|l| l.clamp(0.0, top)),
            p.upper_limit.map(|u| u.clamp(0.0, top)),
        ),
        None => (p.lower_limit, p.upper_limit),
    }
}

/// An XmR chart: the series joined in grey, points coloured by their SPC judgement, the mean and process
/// limits per segment (within 0–100% for a proportion), and the target as a red dashed line.
pub fn spc_chart(
    x_labels: &[String],
    analysis: &Analysis,
    target: Option<f64>,
    opts: &ChartOptions,
) -> Result<String, ChartError> {
    spc_chart_with_gaps(x_labels, analysis, target, &[], opts)
}

/// `spc_chart`, with the points `hidden` marks (a count the disclosure rule suppresses) drawn as gaps:
/// no dot and no line through them, a small cross on the axis instead, and the axis not scaled to them.
/// The mean and limits are the analysis's of every point (they are a whole series' figures, not one
/// month's).
pub fn spc_chart_with_gaps(
    x_labels: &[String],
    analysis: &Analysis,
    target: Option<f64>,
    hidden: &[bool],
    opts: &ChartOptions,
) -> Result<String, ChartError> {
    let is_hidden = |i: usize| hidden.get(i).copied().unwrap_or(false);
    let err = chart_err(opts);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (opts.width, opts.height)).into_drawing_area();
        let pts = &analysis.points;
        let full_scale = opts.full_scale();
        let all = pts
            .iter()
            .enumerate()
            .flat_map(|(i, p)| {
                let (lo, hi) = drawn_limits(p, full_scale);
                [(!is_hidden(i)).then_some(p.value), lo, hi]
            })
            .flatten()
            .chain(target);
        let n = pts.len().max(1);
        let (mut lo, mut hi) = y_range(all);
        if let Some(top) = full_scale {
            // The padding stops at 0% and 100% too, unless a value (or the target) lies beyond them.
            let data = pts
                .iter()
                .enumerate()
                .filter(|(i, _)| !is_hidden(*i))
                .map(|(_, p)| p.value)
                .chain(target);
            let (data_lo, data_hi) = data.fold((0.0f64, top), |(l, h), v| (l.min(v), h.max(v)));
            (lo, hi) = (lo.max(data_lo), hi.min(data_hi));
        }
        let mut chart = category_axes(&root, x_labels, (lo, hi.max(lo + 1e-9)), 13, opts)?;
        // Mean and limits, segment by segment.
        let mut start = 0;
        while start < pts.len() {
            let seg = pts[start].segment;
            let end = pts[start..]
                .iter()
                .position(|p| p.segment != seg)
                .map(|k| start + k)
                .unwrap_or(pts.len());
            let (x0, x1) = (start as f64 - 0.3, (end - 1) as f64 + 0.3);
            let p = &pts[start];
            chart
                .draw_series(LineSeries::new(
                    vec![(x0, p.mean), (x1, p.mean)],
                    BLACK.stroke_width(1),
                ))
                .map_err(|e| err(e.to_string()))?;
            let (lo, hi) = drawn_limits(p, full_scale);
            for limit in [lo, hi].into_iter().flatten() {
                chart
                    .draw_series(DashedLineSeries::new(
                        vec![(x0, limit), (x1, limit)],
                        6,
                        4,
                        GREY.stroke_width(1),
                    ))
                    .map_err(|e| err(e.to_string()))?;
            }
            start = end;
        }
        if let Some(t) = target {
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(-0.3, t), (n as f64 - 0.7, t)],
                    8,
                    4,
                    RED.stroke_width(2),
                ))
                .map_err(|e| err(e.to_string()))?;
        }
        // The line joins shown points only: a run of them between gaps is one line.
        let mut run: Vec<(f64, f64)> = Vec::new();
        for (i, p) in pts.iter().enumerate() {
            if !is_hidden(i) {
                run.push((i as f64, p.value));
            }
            if is_hidden(i) || i + 1 == pts.len() {
                if run.len() > 1 {
                    chart
                        .draw_series(LineSeries::new(run.clone(), GREY.stroke_width(1)))
                        .map_err(|e| err(e.to_string()))?;
                }
                run.clear();
            }
        }
        chart
            .draw_series(
                pts.iter()
                    .enumerate()
                    .filter(|(i, _)| !is_hidden(*i))
                    .map(|(i, p)| {
                        Circle::new((i as f64, p.value), 4, point_colour(p.point_type).filled())
                    }),
            )
            .map_err(|e| err(e.to_string()))?;
        chart
            .draw_series(
                (0..pts.len())
                    .filter(|&i| is_hidden(i))
                    .map(|i| Cross::new((i as f64, lo), 4, BLACK.stroke_width(1))),
            )
            .map_err(|e| err(e.to_string()))?;
        root.present().map_err(|e| err(e.to_string()))?;
    }
    Ok(svg)
}

/// One practice (or other unit) on a funnel plot: its indicator (a ratio) and its denominator.
#[derive(Debug, Clone)]
pub struct FunnelPoint {
    pub label: String,
    pub denominator: f64,
    pub value: f64,
    /// Drawn in colour and labelled when outside the limits; the others are drawn faintly for context.
    pub highlight: bool,
}

/// How a funnel plot is drawn: the distribution and centre of its limits, which side is better, an
/// optional target line and the factor from ratio to the axis (1,000 for "per 1,000"; ignored when
/// `ChartOptions::percent`).
#[derive(Debug, Clone)]
pub struct FunnelSpec {
    pub kind: crate::stats::Funnel,
    pub centre: f64,
    /// `Some(true)` higher is better, `Some(false)` lower is better, `None` neutral.
    pub higher_is_better: Option<bool>,
    pub target: Option<f64>,
    pub scale: f64,
}

/// A funnel plot: each unit's value against its denominator, around the centre (e.g. the ICB rate) with
/// the 95% (dashed) and 99.8% (solid) limits of `crate::stats`. Units outside the 99.8% limits (judged on
/// their count, `stats::funnel_position`) are
/// coloured by side (orange worse, blue better, purple for a neutral indicator) and labelled; those
/// outside 95% only are ringed in the same colour.
pub fn funnel_chart(
    points: &[FunnelPoint],
    spec: &FunnelSpec,
    opts: &ChartOptions,
) -> Result<String, ChartError> {
    use crate::stats::{funnel_limits, funnel_position};
    let err = chart_err(opts);
    let scale = if opts.percent { 1.0 } else { spec.scale };
    let pts: Vec<&FunnelPoint> = points
        .iter()
        .filter(|p| p.denominator > 0.0 && p.value.is_finite())
        .collect();
    let max_den = pts.iter().map(|p| p.denominator).fold(0.0f64, f64::max);
    let min_den = pts
        .iter()
        .map(|p| p.denominator)
        .fold(f64::INFINITY, f64::min);
    let x_hi = (max_den * 1.08).max(1.0);
    let x_lo = if min_den.is_finite() {
        (min_den * 0.6).max(1.0)
    } else {
        1.0
    };
    // The limit curves, at evenly spaced denominators across the points' range.
    let steps = 120;
    let curve = |level: f64| -> Vec<(f64, f64, f64)> {
        (0..=steps)
            .filter_map(|i| {
                let n = x_lo + (x_hi - x_lo) * i as f64 / steps as f64;
                funnel_limits(spec.kind, spec.centre, n, level).map(|(l, u)| (n, l, u))
            })
            .collect()
    };
    let c95 = curve(0.95);
    let c998 = curve(0.998);
    let status = |p: &FunnelPoint| -> (bool, bool, bool) {
        // (outside 95%, outside 99.8%, above), judged on the count as the pipelines judge it.
        let count = p.value * p.denominator;
        let outside = |level| {
            funnel_position(spec.kind, spec.centre, count, p.denominator, level)
                .is_some_and(|x| x != 0)
        };
        (outside(0.95), outside(0.998), p.value > spec.centre)
    };
    // The y range covers the points and the limits where the points are (not the limits' far tips).
    let in_range = c998
        .iter()
        .filter(|(n, _, _)| *n >= min_den * 0.9)
        .flat_map(|(_, l, u)| [*l, *u]);
    let (lo, hi) = y_range(
        pts.iter()
            .map(|p| p.value)
            .chain(in_range)
            .chain([spec.centre])
            .chain(spec.target)
            .map(|v| v * scale),
    );
    // Rates and proportions are never negative.
    let lo = lo.max(0.0);
    let hi = if opts.percent { hi.min(1.0) } else { hi };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (opts.width, opts.height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(&opts.title, (FONT, 16))
            .margin(8)
            .x_label_area_size(36)
            .y_label_area_size(56)
            .build_cartesian_2d(0.0f64..x_hi, lo..hi.max(lo + 1e-9))
            .map_err(|e| err(e.to_string()))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(RGBColor(0xE8, 0xED, 0xEE))
            .y_labels(6)
            .x_labels(6)
            .x_label_formatter(&|x| super::format::thousands(*x, 0))
            .y_label_formatter(&y_formatter(opts.percent, false))
            .y_desc(&opts.y_label)
            .x_desc("Denominator")
            .label_style((FONT, 11))
            .draw()
            .map_err(|e| err(e.to_string()))?;
        let clip = |v: f64| v.clamp(lo, hi);
        for (c, dashed) in [(&c95, true), (&c998, false)] {
            for side in [0, 1] {
                let line: Vec<(f64, f64)> = c
                    .iter()
                    .map(|(n, l, u)| (*n, clip(if side == 0 { *l } else { *u } * scale)))
                    .collect();
                if dashed {
                    chart
                        .draw_series(DashedLineSeries::new(line, 5, 4, NHS_BLUE.stroke_width(1)))
                        .map_err(|e| err(e.to_string()))?;
                } else {
                    chart
                        .draw_series(LineSeries::new(line, NHS_BLUE.stroke_width(2)))
                        .map_err(|e| err(e.to_string()))?;
                }
            }
        }
        chart
            .draw_series(LineSeries::new(
                vec![(0.0, spec.centre * scale), (x_hi, spec.centre * scale)],
                BLACK.stroke_width(1),
            ))
            .map_err(|e| err(e.to_string()))?;
        if let Some(t) = spec.target {
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(0.0, clip(t * scale)), (x_hi, clip(t * scale))],
                    8,
                    4,
                    RED.stroke_width(2),
                ))
                .map_err(|e| err(e.to_string()))?;
        }
        let colour_of = |above: bool| match spec.higher_is_better {
            Some(better_high) if above == better_high => BLUE,
            Some(_) => ORANGE,
            None => PURPLE,
        };
        // Context first (faint), then the highlighted units on top.
        for highlight in [false, true] {
            for p in pts.iter().filter(|p| p.highlight == highlight) {
                let (out95, out998, above) = status(p);
                let at = (p.denominator, clip(p.value * scale));
                let colour = if !highlight {
                    RGBColor(0xC8, 0xCC, 0xCC)
                } else if out95 {
                    colour_of(above)
                } else {
                    GREY
                };
                if highlight && out95 && !out998 {
                    chart
                        .draw_series([Circle::new(at, 4, colour.stroke_width(2))])
                        .map_err(|e| err(e.to_string()))?;
                } else {
                    chart
                        .draw_series([Circle::new(
                            at,
                            if highlight { 4 } else { 3 },
                            colour.filled(),
                        )])
                        .map_err(|e| err(e.to_string()))?;
                }
                if highlight && out998 {
                    // The label just above and to the right of its point.
                    let label = EmptyElement::at(at)
                        + Text::new(
                            p.label.clone(),
                            (6, -14),
                            (FONT, 10).into_font().color(&BLACK),
                        );
                    chart.draw_series([label]).map_err(|e| err(e.to_string()))?;
                }
            }
        }
        root.present().map_err(|e| err(e.to_string()))?;
    }
    Ok(svg)
}

/// A category's estimate with its interval, for [`interval_chart`].
#[derive(Debug, Clone)]
pub struct Estimate {
    pub label: String,
    pub value: f64,
    pub lower: Option<f64>,
    pub upper: Option<f64>,
}

/// Estimates with their confidence intervals, one category each (e.g. IMD quintiles): a point with a
/// whisker from the lower to the upper bound, and `reference` (the whole population's rate) as a dashed
/// line, so that a reader sees at once which groups differ by more than noise.
pub fn interval_chart(
    estimates: &[Estimate],
    reference: Option<f64>,
    opts: &ChartOptions,
) -> Result<String, ChartError> {
    let err = chart_err(opts);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (opts.width, opts.height)).into_drawing_area();
        let labels: Vec<String> = estimates.iter().map(|e| e.label.clone()).collect();
        let all = estimates
            .iter()
            .flat_map(|e| [Some(e.value), e.lower, e.upper])
            .flatten()
            .chain(reference);
        let mut chart = category_axes(&root, &labels, y_range(all), labels.len(), opts)?;
        if let Some(r) = reference {
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(-0.5, r), (labels.len() as f64 - 0.5, r)],
                    6,
                    4,
                    GREY.stroke_width(1),
                ))
                .map_err(|e| err(e.to_string()))?;
        }
        for (i, e) in estimates.iter().enumerate() {
            let x = i as f64;
            if let (Some(lo), Some(hi)) = (e.lower, e.upper) {
                for segment in [
                    vec![(x, lo), (x, hi)],
                    vec![(x - 0.12, lo), (x + 0.12, lo)],
                    vec![(x - 0.12, hi), (x + 0.12, hi)],
                ] {
                    chart
                        .draw_series(LineSeries::new(segment, NHS_BLUE.stroke_width(2)))
                        .map_err(|e| err(e.to_string()))?;
                }
            }
            chart
                .draw_series(std::iter::once(Circle::new(
                    (x, e.value),
                    5,
                    NHS_BLUE.filled(),
                )))
                .map_err(|e| err(e.to_string()))?;
        }
        root.present().map_err(|e| err(e.to_string()))?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spc::{Options, analyse};

    /// The percentages on the y axis of an SVG chart.
    fn axis_percentages(svg: &str) -> Vec<f64> {
        svg.split('>')
            .filter_map(|t| t.split('<').next()?.trim().strip_suffix('%')?.parse().ok())
            .collect()
    }

    #[test]
    fn a_proportions_limits_stay_within_0_and_100_percent() {
        // Around 97% with wide swings: the limits compute to about 86% and 109%.
        let values = [
            99.0, 95.0, 100.0, 96.0, 99.0, 94.0, 100.0, 96.0, 99.0, 95.0, 100.0, 96.0,
        ];
        let a = analyse(&values, &Options::default());
        let upl = a.points[0].upper_limit.unwrap();
        assert!(upl > 105.0, "{upl}");
        assert_eq!(drawn_limits(&a.points[0], Some(100.0)).1, Some(100.0));
        assert_eq!(drawn_limits(&a.points[0], None).1, Some(upl));
        let ratios: Vec<f64> = values.iter().map(|v| v / 100.0).collect();
        let r = analyse(&ratios, &Options::default());
        assert_eq!(drawn_limits(&r.points[0], Some(1.0)).1, Some(1.0));

        let labels: Vec<String> = (1..=12).map(|m| format!("2022-{m:02}")).collect();
        let opts = ChartOptions {
            percentages: true,
            ..Default::default()
        };
        let svg = spc_chart(&labels, &a, None, &opts).unwrap();
        let ticks = axis_percentages(&svg);
        assert!(!ticks.is_empty(), "{svg}");
        assert!(ticks.iter().all(|t| *t <= 100.0), "{ticks:?}");
    }

    #[test]
    fn a_suppressed_point_is_a_gap_with_a_cross_not_a_dot() {
        let values = [12.0, 3.0, 14.0, 2.0, 15.0, 13.0];
        let hidden = [false, true, false, true, false, false];
        let a = analyse(&values, &Options::default());
        let labels: Vec<String> = (1..=6).map(|m| format!("2022-{m:02}")).collect();
        let opts = ChartOptions::default();
        let dots = |svg: &str| svg.matches("<circle").count();
        let all = spc_chart(&labels, &a, None, &opts).unwrap();
        let gaps = spc_chart_with_gaps(&labels, &a, None, &hidden, &opts).unwrap();
        assert_eq!(dots(&all), 6);
        assert_eq!(dots(&gaps), 4, "{gaps}");
        // Two crosses (two strokes each) where the hidden points would be, and the line is broken: the
        // shown points make three runs (12; 14; 15, 13), of which one has more than one point.
        assert!(gaps.matches("<line").count() >= 4 || gaps.matches("<polyline").count() >= 1);
    }
}
