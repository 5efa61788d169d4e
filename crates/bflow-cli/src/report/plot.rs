//! What every plot shares: the embedded font, and the plot of one run's trace.
//!
//! Text in plots uses DejaVu Sans, compiled into the binary (`assets/fonts/`), so no system
//! font library is needed at run time, for SVG and PNG alike.

use std::sync::Once;

use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use bflow::flow::SeriesPoint;

static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Registers the embedded font as plotters' `sans-serif`, once per process.
pub fn ensure_font() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // Registration fails only for a malformed font file, which the tests would catch.
        let _ = register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// Values below this are drawn at it: an exact zero has no place on a log axis.
const Y_FLOOR: f64 = 1e-300;

/// The trace of a run: `||s||` and B against the step, on a log10 axis. Writes SVG when `path`
/// ends in `.svg`, PNG when it ends in `.png`.
///
/// # Errors
/// A one-line message when the run has no trace, the extension is neither, or drawing or
/// writing fails.
pub fn run_plot(points: &[SeriesPoint], title: &str, path: &std::path::Path) -> Result<(), String> {
    if points.is_empty() {
        return Err("the run kept no trace".into());
    }
    ensure_font();
    let size = (900, 560);
    match path.extension().and_then(|e| e.to_str()) {
        Some("svg") => draw_run(
            points,
            title,
            SVGBackend::new(path, size).into_drawing_area(),
        ),
        Some("png") => draw_run(
            points,
            title,
            BitMapBackend::new(path, size).into_drawing_area(),
        ),
        _ => Err(format!(
            "{}: the plot file must end in .svg or .png",
            path.display()
        )),
    }
}

fn draw_run<DB: DrawingBackend>(
    points: &[SeriesPoint],
    title: &str,
    root: DrawingArea<DB, plotters::coord::Shift>,
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| format!("plot: {e}");
    root.fill(&WHITE).map_err(err)?;
    // log10 on a linear axis: plotters' log axis labels only part of a 30-decade range.
    let to_y = |x: f64| x.max(Y_FLOOR).log10();
    let s: Vec<(f64, f64)> = points
        .iter()
        .map(|r| (r.step as f64, to_y(r.sum_norm)))
        .collect();
    let b: Vec<(f64, f64)> = points
        .iter()
        .filter_map(|r| r.b.map(|b| (r.step as f64, to_y(b))))
        .collect();
    let ys = s.iter().chain(&b).map(|p| p.1);
    let (lo, hi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, c), y| {
        (a.min(y), c.max(y))
    });
    let steps = points.last().map_or(1.0, |r| r.step.max(1) as f64);
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("{title}: ||s|| and B per step"), ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..steps, (lo - 1.0).floor()..(hi + 1.0).ceil())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("step")
        .y_desc("log10")
        .y_label_formatter(&|y| format!("1e{y:.0}"))
        .draw()
        .map_err(err)?;
    chart
        .draw_series(LineSeries::new(s, BLUE.stroke_width(2)))
        .map_err(err)?
        .label("||s||")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    chart
        .draw_series(LineSeries::new(b, RED.stroke_width(2)))
        .map_err(err)?
        .label("B")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED.stroke_width(2)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

/// The most pairs drawn in the cosine panel of [`diagnose_plot`] (the most conflicting ones,
/// by their lowest cosine over the steps), so the legend stays readable.
const MAX_PAIRS_DRAWN: usize = 8;

/// A trajectory of diagnoses: B and |I + ½| per step on a log10 axis (top), and the cosine
/// of each pair per step (bottom; the 8 most conflicting pairs when there are more, or the
/// most negative cosine when the cosine matrices were not kept). SVG or PNG by extension.
///
/// # Errors
/// A one-line message when there are no steps, the extension is neither, or drawing or
/// writing fails.
pub fn diagnose_plot(
    steps: &[bflow::diagnose::Diagnosis],
    path: &std::path::Path,
) -> Result<(), String> {
    if steps.is_empty() {
        return Err("no steps to plot".into());
    }
    ensure_font();
    let size = (960, 720);
    match path.extension().and_then(|e| e.to_str()) {
        Some("svg") => draw_diagnose(steps, SVGBackend::new(path, size).into_drawing_area()),
        Some("png") => draw_diagnose(steps, BitMapBackend::new(path, size).into_drawing_area()),
        _ => Err(format!(
            "{}: the plot file must end in .svg or .png",
            path.display()
        )),
    }
}

type Series = (String, Vec<(f64, f64)>);

/// The pairs' cosine series to draw: at most [`MAX_PAIRS_DRAWN`], the most conflicting first.
fn cosine_series(steps: &[bflow::diagnose::Diagnosis]) -> (Vec<Series>, String) {
    let k = steps[0].k;
    if steps.iter().all(|d| d.cosines.is_some()) {
        let mut pairs: Vec<(f64, usize, usize)> = Vec::new();
        for i in 0..k {
            for j in i + 1..k {
                let lowest = steps
                    .iter()
                    .filter_map(|d| d.cosines.as_ref().and_then(|c| c[i][j]))
                    .fold(f64::INFINITY, f64::min);
                pairs.push((lowest, i, j));
            }
        }
        let total = pairs.len();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0).then((a.1, a.2).cmp(&(b.1, b.2))));
        pairs.truncate(MAX_PAIRS_DRAWN);
        let series = pairs
            .iter()
            .map(|&(_, i, j)| {
                let points = steps
                    .iter()
                    .enumerate()
                    .filter_map(|(t, d)| {
                        d.cosines
                            .as_ref()
                            .and_then(|c| c[i][j])
                            .map(|c| (t as f64, c))
                    })
                    .collect();
                (format!("cos(g{}, g{})", i + 1, j + 1), points)
            })
            .collect();
        let title = if total > MAX_PAIRS_DRAWN {
            format!("cosines: the {MAX_PAIRS_DRAWN} most conflicting of {total} pairs")
        } else {
            "cosine of each pair".to_string()
        };
        (series, title)
    } else {
        let points = steps
            .iter()
            .enumerate()
            .filter_map(|(t, d)| {
                d.conflicts
                    .as_ref()
                    .and_then(|p| p.first())
                    .map(|p| (t as f64, p.cosine))
            })
            .collect();
        (
            vec![("most negative cosine".to_string(), points)],
            "the most negative pair cosine per step".to_string(),
        )
    }
}

fn draw_diagnose<DB: DrawingBackend>(
    steps: &[bflow::diagnose::Diagnosis],
    root: DrawingArea<DB, plotters::coord::Shift>,
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| format!("plot: {e}");
    root.fill(&WHITE).map_err(err)?;
    let (top, bottom) = root.split_vertically(380);
    let last = (steps.len() - 1).max(1) as f64;
    let to_y = |x: f64| x.max(Y_FLOOR).log10();
    let b: Vec<(f64, f64)> = steps
        .iter()
        .enumerate()
        .filter_map(|(t, d)| d.b.map(|b| (t as f64, to_y(b))))
        .collect();
    let h: Vec<(f64, f64)> = steps
        .iter()
        .enumerate()
        .filter_map(|(t, d)| d.abs_i_plus_half.map(|x| (t as f64, to_y(x))))
        .collect();
    let (lo, hi) = b
        .iter()
        .chain(&h)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, c), p| {
            (a.min(p.1), c.max(p.1))
        });
    let (lo, hi) = if lo.is_finite() {
        (lo, hi)
    } else {
        (-1.0, 1.0)
    };
    let mut chart = ChartBuilder::on(&top)
        .caption(
            format!("balance over {} steps: B and |I + 1/2| = B/2", steps.len()),
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..last, (lo - 0.5).floor()..(hi + 0.5).ceil())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("step")
        .y_desc("log10 scale")
        // The value at each tick (ticks may fall between decades on a short range).
        .y_label_formatter(&|y| format!("{:.0e}", 10f64.powf(*y)))
        .draw()
        .map_err(err)?;
    for (label, points, color) in [("B", b, RED), ("|I + 1/2|", h, BLUE)] {
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(err)?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
        if points.len() < 2 {
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled())))
                .map_err(err)?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;

    let (series, title) = cosine_series(steps);
    let mut chart = ChartBuilder::on(&bottom)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..last, -1.05..1.05)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("step")
        .y_desc("cosine")
        .draw()
        .map_err(err)?;
    for (index, (label, points)) in series.into_iter().enumerate() {
        let color = Palette99::pick(index).to_rgba();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(err)?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
        if points.len() < 2 {
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled())))
                .map_err(err)?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}
