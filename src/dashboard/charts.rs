//! Charts drawn on the server as SVG with plotters: axis labels in Chinese, amounts in 万元.
//! Text stays text in the SVG, so the reader's own fonts draw the Chinese.

use plotters::chart::MeshStyle;
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

use crate::error::{AppError, AppResult};

/// Fonts that carry Chinese on the systems coordinators use, then whatever the reader has.
const FONT: &str = "PingFang SC, Microsoft YaHei, Noto Sans CJK SC, WenQuanYi Micro Hei, sans-serif";
const WIDTH: u32 = 760;
const BAR_WIDTH: u32 = 540;
const COUNTED: RGBColor = RGBColor(0xc0, 0x39, 0x2b);
const PACE: RGBColor = RGBColor(0x7f, 0x8c, 0x8d);
const TARGET: RGBColor = RGBColor(0x2c, 0x3e, 0x50);
const BAR: RGBColor = RGBColor(0xd3, 0x54, 0x00);

/// Fen in 万元 (one 万元 is 1,000,000 fen).
pub fn wan(fen: i64) -> f64 {
    fen as f64 / 1_000_000.0
}

fn failed<E: std::fmt::Display>(e: E) -> AppError {
    AppError::Unexpected(anyhow::anyhow!("drawing a chart: {e}"))
}

/// A ceiling for the value axis with some headroom, never zero.
fn axis_top(max: f64) -> f64 {
    if max <= 0.0 { 1.0 } else { max * 1.12 }
}

/// The grid and lettering every chart shares.
fn house_style<'m, 'a, 'b, X, Y, DB>(mesh: &'m mut MeshStyle<'a, 'b, X, Y, DB>) -> &'m mut MeshStyle<'a, 'b, X, Y, DB>
where
    X: Ranged<ValueType: std::fmt::Debug>,
    Y: Ranged<ValueType: std::fmt::Debug>,
    DB: DrawingBackend,
{
    mesh.label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .bold_line_style(RGBColor(0xe3, 0xe7, 0xeb))
        .light_line_style(TRANSPARENT)
}

/// Axis numbers with as many decimals as the axis's size needs (0.25 万元 is not "0").
fn tick(top: f64) -> impl Fn(&f64) -> String {
    let decimals = if top >= 50.0 {
        0
    } else if top >= 5.0 {
        1
    } else {
        2
    };
    move |v| format!("{v:.decimals$}")
}

/// The year's cumulative counted amount at each month's end (only the months that have
/// happened), against the even-pace line and the target.
pub struct Cumulative {
    /// Cumulative fen at the end of the period's first months.
    pub counted: Vec<i64>,
    /// The even-pace figure at the start of the period and at each of its months' ends.
    pub pace: Option<Vec<i64>>,
    /// The period's target.
    pub target: Option<i64>,
    /// The period's first and last month.
    pub months: (u32, u32),
    pub whole_year: bool,
}

pub fn cumulative(c: &Cumulative) -> AppResult<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 360)).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        let top = [c.counted.last().copied().unwrap_or(0), c.target.unwrap_or(0)].into_iter().max().unwrap_or(0);
        let top = axis_top(wan(top));
        let (start, end) = (c.months.0 as i32 - 1, c.months.1 as i32);
        let mut chart = ChartBuilder::on(&root)
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(72)
            .build_cartesian_2d(start..end, 0f64..top)
            .map_err(failed)?;
        let opening = if c.whole_year { "年初" } else { "期初" };
        house_style(&mut chart.configure_mesh())
            .x_labels((end - start + 1) as usize)
            .x_label_formatter(&|m| if *m == start { opening.to_owned() } else { format!("{m}月") })
            .y_label_formatter(&tick(top))
            .x_desc("月份")
            .y_desc("金额（万元）")
            .draw()
            .map_err(failed)?;
        if let Some(target) = c.target {
            chart
                .draw_series(DashedLineSeries::new(
                    [(start, wan(target)), (end, wan(target))],
                    8,
                    5,
                    TARGET.stroke_width(2),
                ))
                .map_err(failed)?
                .label(if c.whole_year { "年度目标" } else { "本期目标" })
                .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], TARGET.stroke_width(2)));
        }
        if let Some(pace) = &c.pace {
            chart
                .draw_series(LineSeries::new(
                    pace.iter().enumerate().map(|(m, f)| (start + m as i32, wan(*f))),
                    PACE.stroke_width(2),
                ))
                .map_err(failed)?
                .label("均衡进度")
                .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], PACE.stroke_width(2)));
        }
        let points: Vec<(i32, f64)> = std::iter::once((start, 0.0))
            .chain(c.counted.iter().enumerate().map(|(m, f)| (start + m as i32 + 1, wan(*f))))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), COUNTED.stroke_width(3)))
            .map_err(failed)?
            .label("累计计入")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], COUNTED.stroke_width(3)));
        chart.draw_series(points.into_iter().skip(1).map(|p| Circle::new(p, 3, COUNTED.filled()))).map_err(failed)?;
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.9))
            .border_style(RGBColor(0xcc, 0xcc, 0xcc))
            .label_font((FONT, 13))
            .draw()
            .map_err(failed)?;
        root.present().map_err(failed)?;
    }
    Ok(svg)
}

/// Horizontal bars, largest first: `(name, fen)` per row.
pub fn bars(rows: &[(String, i64)], axis: &str) -> AppResult<String> {
    let n = rows.len().max(1) as i32;
    let longest = rows.iter().map(|(name, _)| name.chars().count()).max().unwrap_or(2) as u32;
    let height = 70 + 30 * n as u32;
    let max = rows.iter().map(|(_, f)| *f).max().unwrap_or(0);
    let top = axis_top(wan(max));
    let mut svg = String::new();
    {
        // Narrower than the line chart: bar charts sit two abreast.
        let root = SVGBackend::with_string(&mut svg, (BAR_WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .margin_right(48)
            .x_label_area_size(40)
            .y_label_area_size((14 * longest + 16).clamp(48, 260))
            .build_cartesian_2d(0f64..top, (0..n).into_segmented())
            .map_err(failed)?;
        // Row 0 (the largest) is drawn at the top.
        let slot = |i: usize| n - 1 - i as i32;
        house_style(&mut chart.configure_mesh())
            .disable_y_mesh()
            .y_labels(n as usize)
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(j) => {
                    rows.get((n - 1 - j) as usize).map(|(name, _)| name.clone()).unwrap_or_default()
                }
                _ => String::new(),
            })
            .x_labels(6)
            .x_label_formatter(&tick(top))
            .x_desc(axis)
            .draw()
            .map_err(failed)?;
        chart
            .draw_series(rows.iter().enumerate().map(|(i, (_, fen))| {
                let j = slot(i);
                let mut bar = Rectangle::new(
                    [(0.0, SegmentValue::Exact(j)), (wan(*fen), SegmentValue::Exact(j + 1))],
                    BAR.filled(),
                );
                bar.set_margin(5, 5, 0, 0);
                bar
            }))
            .map_err(failed)?;
        chart
            .draw_series(rows.iter().enumerate().map(|(i, (_, fen))| {
                Text::new(format!(" {:.2}", wan(*fen)), (wan(*fen), SegmentValue::CenterOf(slot(i))), (FONT, 12))
            }))
            .map_err(failed)?;
        root.present().map_err(failed)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cumulative_chart_is_svg_with_chinese_labels() {
        let svg = cumulative(&Cumulative {
            counted: vec![1_000_000, 3_500_000, 4_000_000],
            pace: Some((0..=12).map(|m| m * 2_000_000).collect()),
            target: Some(24_000_000),
            months: (1, 12),
            whole_year: true,
        })
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{svg}");
        for label in ["金额（万元）", "月份", "3月", "年初", "年度目标", "均衡进度", "累计计入"]
        {
            assert!(svg.contains(label), "no {label}");
        }
        // The second half: its own axis, from the start of July to the end of December.
        let svg = cumulative(&Cumulative {
            counted: vec![1_000_000],
            pace: Some((0..=6).map(|m| m * 2_000_000).collect()),
            target: Some(12_000_000),
            months: (7, 12),
            whole_year: false,
        })
        .unwrap_or_else(|e| panic!("{e}"));
        for label in ["期初", "9月", "12月", "本期目标"] {
            assert!(svg.contains(label), "no {label}");
        }
        assert!(!svg.contains(">3月<") && !svg.contains("年度目标"), "{svg}");
    }

    #[test]
    fn bars_escape_names_and_show_wan() {
        let svg = bars(&[("A&B <茶>".to_owned(), 12_345_678), ("普安县".to_owned(), 1_000_000)], "万元")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(svg.contains("A&amp;B &lt;茶&gt;") && svg.contains("普安县"));
        assert!(svg.contains("12.35"), "{svg}");
        assert!(!svg.contains("<茶>"));
    }

    #[test]
    fn an_empty_chart_still_draws() {
        assert!(bars(&[], "万元").is_ok());
        let empty = Cumulative { counted: vec![], pace: None, target: None, months: (1, 12), whole_year: true };
        assert!(cumulative(&empty).is_ok());
    }
}
