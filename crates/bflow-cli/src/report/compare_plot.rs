//! The precision plot of a comparison: `||s||` (or the distance to the equilibrium) against
//! work in gradient-equivalents, one line per configuration, log scale, as SVG.
//!
//! Text uses the embedded font ([`super::plot::ensure_font`]).

use plotters::prelude::*;

use super::plot::ensure_font;
use crate::experiment::compare::CompareReport;

/// What the y axis shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlotMetric {
    /// `||s||`.
    SumNorm,
    /// Distance to the known equilibrium.
    Distance,
}

/// Values below this are drawn at it (an exact zero has no place on a log axis).
const Y_FLOOR: f64 = 1e-20;

/// The plot of `problem`'s runs in `rep` (which must have been run with traces) as an SVG
/// document.
///
/// # Errors
/// A message when `problem` has no traced runs or drawing fails.
pub fn compare_svg(
    rep: &CompareReport,
    problem: &str,
    metric: PlotMetric,
) -> Result<String, String> {
    ensure_font();
    let runs: Vec<_> = rep
        .runs
        .iter()
        .filter(|r| r.problem == problem && !r.trace.is_empty())
        .collect();
    if runs.is_empty() {
        return Err(format!("no traced runs for problem `{problem}`"));
    }
    let value = |p: &crate::experiment::compare::TracePoint| -> Option<f64> {
        let v = match metric {
            PlotMetric::SumNorm => Some(p.sum_norm),
            PlotMetric::Distance => p.distance,
        }?;
        v.is_finite().then_some(v.max(Y_FLOOR))
    };
    let xmax = runs
        .iter()
        .flat_map(|r| r.trace.iter().map(|p| p.grad_equivalents))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in runs.iter().flat_map(|r| r.trace.iter().filter_map(value)) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !(lo.is_finite() && hi.is_finite()) {
        return Err(format!("no finite values to plot for `{problem}`"));
    }
    let (lo, hi) = (lo / 2.0, hi * 2.0);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (960, 600)).into_drawing_area();
        let err = |e: &dyn std::fmt::Display| format!("plot: {e}");
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let ylabel = match metric {
            PlotMetric::SumNorm => "||s||",
            PlotMetric::Distance => "distance to equilibrium",
        };
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("{problem}: {ylabel} against work (budget {})", rep.budget),
                ("sans-serif", 20),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..xmax, (lo..hi).log_scale())
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc("gradient-equivalents")
            .y_desc(ylabel)
            .y_label_formatter(&|y| format!("{y:.0e}"))
            .draw()
            .map_err(|e| err(&e))?;
        for (i, r) in runs.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let points: Vec<(f64, f64)> = r
                .trace
                .iter()
                .filter_map(|p| Some((p.grad_equivalents as f64, value(p)?)))
                .collect();
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))
                .map_err(|e| err(&e))?
                .label(r.config.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()
            .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::compare::{CompareParams, SuiteSize, compare, configs, suite};

    #[test]
    fn svg_has_one_line_per_configuration() {
        let problems: Vec<_> = suite(SuiteSize::Reduced)
            .unwrap()
            .into_iter()
            .filter(|p| p.problem.name == "e3")
            .collect();
        let rep = compare(
            &problems,
            &configs(),
            &CompareParams {
                budget: 2000,
                trace: true,
                ..CompareParams::default()
            },
        )
        .unwrap();
        let svg = compare_svg(&rep, "e3", PlotMetric::SumNorm).unwrap();
        assert!(svg.starts_with("<svg"));
        assert!(svg.matches("<polyline").count() >= configs().len());
        assert!(svg.contains("newton"));
        assert!(compare_svg(&rep, "nope", PlotMetric::Distance).is_err());
    }
}
