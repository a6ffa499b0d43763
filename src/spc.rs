//! Statistical process control, the Making Data Count way (`shared/domain/reference.md`): XmR limits
//! with moving-range screening, the four special-cause rules, variation and assurance icons, fixed
//! baselines and re-basing. Where the reference is silent (a point shared by two trends, a segment of
//! one point) it follows NHSRplotthedots, the NHS-R community's reference implementation.
//!
//! Owns the arithmetic only: a series in, a judgement per point and per series out. Charts (`render`),
//! the `spc` command and the SQL window function `spc(...) OVER (...)` (`crate::spc_sql`, through which
//! the packs' steps publish every verdict) all use this one implementation.

use serde::Serialize;

/// Which way is better for a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Improvement {
    /// Higher is better.
    Increase,
    /// Lower is better.
    Decrease,
    Neutral,
}

impl std::str::FromStr for Improvement {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "increase" | "up" | "higher" => Ok(Improvement::Increase),
            "decrease" | "down" | "lower" => Ok(Improvement::Decrease),
            "neutral" => Ok(Improvement::Neutral),
            other => Err(format!(
                "`{other}` is not an improvement direction (increase, decrease, neutral)"
            )),
        }
    }
}

/// Why a point is special cause, in the order that decides its label when several rules match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    OutsideLimits,
    Trend,
    TwoInThree,
    Run,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PointType {
    CommonCause,
    Improvement,
    Concern,
    NeutralHigh,
    NeutralLow,
}

/// The variation icon of a series, read from its latest point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Variation {
    CommonCause,
    ImprovementHigh,
    ImprovementLow,
    ConcernHigh,
    ConcernLow,
    NeutralHigh,
    NeutralLow,
}

/// The assurance icon: can the process be relied on to meet the target?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Assurance {
    ConsistentlyPasses,
    ConsistentlyFails,
    HitAndMiss,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub improvement: Option<Improvement>,
    pub target: Option<f64>,
    /// A fixed baseline of the first N points of each segment (N ≥ 12); all points when `None`.
    pub baseline: Option<usize>,
    /// Indices of points that start a new segment.
    pub rebase_at: Vec<usize>,
    /// Screen the moving ranges once for outliers before the limits are computed (on by default, as in
    /// NHSRplotthedots' `screen_outliers`).
    pub screen_outliers: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            improvement: None,
            target: None,
            baseline: None,
            rebase_at: Vec::new(),
            screen_outliers: true,
        }
    }
}

/// One point's judgement.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Point {
    pub value: f64,
    pub mean: f64,
    /// `None` for a series with no spread (every moving range zero).
    pub lower_limit: Option<f64>,
    pub upper_limit: Option<f64>,
    pub lower_two_sigma: Option<f64>,
    pub upper_two_sigma: Option<f64>,
    pub point_type: PointType,
    pub rule: Option<Rule>,
    pub segment: usize,
}

/// A whole series' judgement.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Analysis {
    pub points: Vec<Point>,
    pub variation: Option<Variation>,
    pub assurance: Option<Assurance>,
    /// The latest segment has 12 points or fewer: drawn, but too short to judge with confidence.
    pub too_short: bool,
}

const LIMIT_FACTOR: f64 = 2.66;
const SCREEN_FACTOR: f64 = 3.267;
const RUN_LENGTH: usize = 7;
const TREND_LENGTH: usize = 7;

struct Limits {
    mean: f64,
    /// 2.66 × mean moving range; zero when the series has no spread, `None` when a segment of one point
    /// has no moving range at all (no limits, and no assurance either way).
    spread: Option<f64>,
}

fn limits(baseline: &[f64], screen: bool) -> Limits {
    let mean = baseline.iter().sum::<f64>() / baseline.len() as f64;
    let ranges: Vec<f64> = baseline.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
    if ranges.is_empty() {
        return Limits { mean, spread: None };
    }
    let mean_mr = ranges.iter().sum::<f64>() / ranges.len() as f64;
    // Screening, once: moving ranges at or above 3.267 × their mean are dropped.
    let kept: Vec<f64> = ranges
        .iter()
        .copied()
        .filter(|r| !screen || *r < SCREEN_FACTOR * mean_mr)
        .collect();
    let screened = if kept.is_empty() {
        mean_mr
    } else {
        kept.iter().sum::<f64>() / kept.len() as f64
    };
    Limits {
        mean,
        spread: Some(LIMIT_FACTOR * screened),
    }
}

/// Analyses a series given in time order without gaps.
pub fn analyse(values: &[f64], options: &Options) -> Analysis {
    let mut starts: Vec<usize> = options
        .rebase_at
        .iter()
        .copied()
        .filter(|i| *i > 0 && *i < values.len())
        .collect();
    starts.sort_unstable();
    starts.dedup();
    starts.insert(0, 0);
    let mut points = Vec::with_capacity(values.len());
    let mut last_limits = None;
    for (segment, (i, start)) in starts.iter().enumerate().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(values.len());
        let seg = &values[*start..end];
        if seg.is_empty() {
            continue;
        }
        let n_base = options
            .baseline
            .map(|n| n.min(seg.len()))
            .unwrap_or(seg.len());
        let lim = limits(&seg[..n_base], options.screen_outliers);
        points.extend(judge_segment(
            seg,
            &lim,
            options.improvement.unwrap_or(Improvement::Neutral),
            segment,
        ));
        last_limits = Some((lim, seg.len()));
    }
    let variation = points
        .last()
        .map(|p| variation_of(p, options.improvement.unwrap_or(Improvement::Neutral)));
    let too_short = last_limits.as_ref().map(|(_, n)| *n <= 12).unwrap_or(true);
    let assurance = match (options.target, options.improvement, &last_limits) {
        (Some(target), Some(dir), Some((lim, _))) if dir != Improvement::Neutral => {
            Some(match lim.spread {
                // A segment of one point has no limits to judge the target against: hit and miss, as
                // NHSRplotthedots calls it "inconsistent".
                None => Assurance::HitAndMiss,
                Some(spread) => {
                    let (lo, hi) = (lim.mean - spread, lim.mean + spread);
                    let (good_beyond, bad_beyond) = match dir {
                        Improvement::Increase => (target < lo, target > hi),
                        _ => (target > hi, target < lo),
                    };
                    if good_beyond {
                        Assurance::ConsistentlyPasses
                    } else if bad_beyond {
                        Assurance::ConsistentlyFails
                    } else {
                        Assurance::HitAndMiss
                    }
                }
            })
        }
        _ => None,
    };
    Analysis {
        points,
        variation,
        assurance,
        too_short,
    }
}

fn judge_segment(seg: &[f64], lim: &Limits, dir: Improvement, segment: usize) -> Vec<Point> {
    let n = seg.len();
    let spread = lim.spread.unwrap_or(0.0);
    let has_limits = spread > 0.0;
    let upl = lim.mean + spread;
    let lpl = lim.mean - spread;
    let up2 = lim.mean + spread * 2.0 / 3.0;
    let lo2 = lim.mean - spread * 2.0 / 3.0;
    let side = |x: f64| -> i8 {
        if x > lim.mean {
            1
        } else if x < lim.mean {
            -1
        } else {
            0
        }
    };
    // For each point: the rule that flags it, and whether it counts as high (true) or low.
    let mut flags: Vec<Option<(Rule, bool)>> = vec![None; n];
    let set = |flags: &mut Vec<Option<(Rule, bool)>>, i: usize, rule: Rule, high: bool| {
        let better = match flags[i] {
            None => true,
            Some((r, _)) => rank(rule) < rank(r),
        };
        if better {
            flags[i] = Some((rule, high));
        }
    };
    if has_limits {
        // Rule 1: outside the process limits.
        for (i, &x) in seg.iter().enumerate() {
            if x > upl {
                set(&mut flags, i, Rule::OutsideLimits, true);
            } else if x < lpl {
                set(&mut flags, i, Rule::OutsideLimits, false);
            }
        }
        // Rule 2: runs of 7 or more on one side of the mean (a point on the mean breaks the run).
        let mut i = 0;
        while i < n {
            let s = side(seg[i]);
            let mut j = i;
            while j < n && s != 0 && side(seg[j]) == s {
                j += 1;
            }
            if s != 0 && j - i >= RUN_LENGTH {
                for k in i..j {
                    set(&mut flags, k, Rule::Run, s > 0);
                }
            }
            i = if j > i { j } else { i + 1 };
        }
        // Rule 3: trends of 7 or more points each strictly above (or below) the one before.
        let mut trends: Vec<(usize, usize, bool)> = Vec::new();
        for up in [true, false] {
            let mut start = 0;
            for i in 1..=n {
                let continues = i < n
                    && if up {
                        seg[i] > seg[i - 1]
                    } else {
                        seg[i] < seg[i - 1]
                    };
                if !continues {
                    if i - start >= TREND_LENGTH {
                        trends.push((start, i, up));
                    }
                    start = i;
                }
            }
        }
        // A rising and a falling trend can share one point, the peak (or trough) between them; it takes
        // the direction of the trend to its right, as NHSRplotthedots labels it. So trends are applied
        // left to right and a later trend overrides an earlier one's label; only a point outside the
        // limits keeps its own.
        trends.sort_unstable_by_key(|t| t.0);
        for (start, end, up) in trends {
            for flag in &mut flags[start..end] {
                if !matches!(flag, Some((Rule::OutsideLimits, _))) {
                    *flag = Some((Rule::Trend, up));
                }
            }
        }
        // Rule 4: two of three consecutive points beyond a 2σ line (inside the limits), all three on the
        // same side of the mean; only the close points are flagged.
        for w in 0..n.saturating_sub(2) {
            for high in [true, false] {
                let same_side = (w..w + 3).all(|k| side(seg[k]) == if high { 1 } else { -1 });
                if !same_side {
                    continue;
                }
                let close: Vec<usize> = (w..w + 3)
                    .filter(|&k| {
                        if high {
                            seg[k] > up2 && seg[k] <= upl
                        } else {
                            seg[k] < lo2 && seg[k] >= lpl
                        }
                    })
                    .collect();
                if close.len() >= 2 {
                    for k in close {
                        set(&mut flags, k, Rule::TwoInThree, high);
                    }
                }
            }
        }
    }
    seg.iter()
        .zip(flags)
        .map(|(&x, flag)| {
            let (point_type, rule) = match flag {
                None => (PointType::CommonCause, None),
                Some((rule, high)) => (classify(dir, high), Some(rule)),
            };
            Point {
                value: x,
                mean: lim.mean,
                lower_limit: has_limits.then_some(lpl),
                upper_limit: has_limits.then_some(upl),
                lower_two_sigma: has_limits.then_some(lo2),
                upper_two_sigma: has_limits.then_some(up2),
                point_type,
                rule,
                segment,
            }
        })
        .collect()
}

fn rank(rule: Rule) -> u8 {
    match rule {
        Rule::OutsideLimits => 0,
        Rule::Trend => 1,
        Rule::TwoInThree => 2,
        Rule::Run => 3,
    }
}

fn classify(dir: Improvement, high: bool) -> PointType {
    match (dir, high) {
        (Improvement::Neutral, true) => PointType::NeutralHigh,
        (Improvement::Neutral, false) => PointType::NeutralLow,
        (Improvement::Increase, true) | (Improvement::Decrease, false) => PointType::Improvement,
        _ => PointType::Concern,
    }
}

/// The icon of the latest point. For improvement and concern, "high" or "low" follows from the direction:
/// improvement on a higher-is-better metric is always high, whether by a point above the mean or a rising
/// trend.
fn variation_of(p: &Point, dir: Improvement) -> Variation {
    let increase = dir == Improvement::Increase;
    match p.point_type {
        PointType::CommonCause => Variation::CommonCause,
        PointType::NeutralHigh => Variation::NeutralHigh,
        PointType::NeutralLow => Variation::NeutralLow,
        PointType::Improvement if increase => Variation::ImprovementHigh,
        PointType::Improvement => Variation::ImprovementLow,
        PointType::Concern if increase => Variation::ConcernLow,
        PointType::Concern => Variation::ConcernHigh,
    }
}

impl Variation {
    /// Plain words for a board member.
    pub fn describe(self) -> &'static str {
        match self {
            Variation::CommonCause => "common cause variation",
            Variation::ImprovementHigh => "improvement (high)",
            Variation::ImprovementLow => "improvement (low)",
            Variation::ConcernHigh => "concern (high)",
            Variation::ConcernLow => "concern (low)",
            Variation::NeutralHigh => "special cause (high)",
            Variation::NeutralLow => "special cause (low)",
        }
    }
}

impl Assurance {
    pub fn describe(self) -> &'static str {
        match self {
            Assurance::ConsistentlyPasses => "consistently passes the target",
            Assurance::ConsistentlyFails => "consistently fails the target",
            Assurance::HitAndMiss => "hit and miss against the target",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(dir: Improvement) -> Options {
        Options {
            improvement: Some(dir),
            ..Default::default()
        }
    }

    #[test]
    fn limits_by_hand_with_screening() {
        // Moving ranges: 2,2,2,2,20 → mean 5.6; 20 ≥ 3.267×5.6 = 18.3 is screened → mean 2.
        let a = analyse(
            &[10.0, 12.0, 10.0, 12.0, 10.0, 30.0],
            &opts(Improvement::Increase),
        );
        let p = &a.points[0];
        assert!((p.mean - 14.0).abs() < 1e-9);
        assert!((p.upper_limit.unwrap() - (14.0 + 2.66 * 2.0)).abs() < 1e-9);
        assert_eq!(a.points[5].rule, Some(Rule::OutsideLimits));
        assert_eq!(a.points[5].point_type, PointType::Improvement);
        assert_eq!(a.variation, Some(Variation::ImprovementHigh));
    }

    #[test]
    fn point_on_the_mean_breaks_a_run() {
        // Mean exactly 0 (binary-exact values). Six above, one on the mean, six above: no run of 7.
        // Then twelve below: a run. Limits are wide (mean mR 56/24), so no other rule fires.
        let mut v = vec![
            2.0, 4.0, 2.0, 4.0, 2.0, 4.0, 0.0, 4.0, 2.0, 4.0, 2.0, 4.0, 2.0,
        ];
        v.extend([-4.0, -2.0].repeat(6));
        let a = analyse(&v, &opts(Improvement::Increase));
        assert_eq!(a.points[0].mean, 0.0);
        assert!(
            a.points[..13].iter().all(|p| p.rule.is_none()),
            "{:?}",
            a.points[..13].to_vec()
        );
        assert!(
            a.points[13..]
                .iter()
                .all(|p| p.rule == Some(Rule::Run) && p.point_type == PointType::Concern)
        );
        assert_eq!(a.variation, Some(Variation::ConcernLow));
    }

    #[test]
    fn trend_of_seven_and_not_six() {
        let noisy = [0.0, 20.0, 0.0, 20.0, 0.0, 20.0];
        let mut six = noisy.to_vec();
        six.extend([8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 10.0]);
        let a = analyse(&six, &opts(Improvement::Decrease));
        assert!(a.points.iter().all(|p| p.rule != Some(Rule::Trend)));
        let mut seven = noisy.to_vec();
        seven.extend([8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 10.0]);
        let a = analyse(&seven, &opts(Improvement::Decrease));
        let flagged: Vec<usize> = a
            .points
            .iter()
            .enumerate()
            .filter(|(_, p)| p.rule == Some(Rule::Trend))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(flagged, (6..13).collect::<Vec<_>>());
        assert_eq!(
            a.points[12].point_type,
            PointType::Concern,
            "an upward trend is concern when lower is better"
        );
    }

    #[test]
    fn rebase_splits_rules() {
        // Six high points, re-base, six more high points: no run crosses the re-base.
        let v = vec![1.0, 1.2, 0.9, 1.1, 1.0, 1.05, 5.0, 5.2, 4.9, 5.1, 5.0, 5.05];
        let a = analyse(
            &v,
            &Options {
                improvement: Some(Improvement::Increase),
                rebase_at: vec![6],
                ..Default::default()
            },
        );
        assert_eq!(a.points[0].segment, 0);
        assert_eq!(a.points[6].segment, 1);
        assert!((a.points[6].mean - 30.25 / 6.0).abs() < 1e-12);
        assert!(a.points.iter().all(|p| p.rule.is_none()));
        assert!(a.too_short);
    }

    #[test]
    fn shorter_than_baseline_uses_every_point() {
        let v = [3.0, 4.0, 3.0, 4.0];
        let a = analyse(
            &v,
            &Options {
                baseline: Some(12),
                ..Default::default()
            },
        );
        assert!((a.points[0].mean - 3.5).abs() < 1e-12);
    }

    #[test]
    fn target_exactly_on_a_limit_is_hit_and_miss() {
        let v = [10.0, 12.0, 10.0, 12.0, 10.0, 12.0];
        // mean 11, mean mR 2 → limits 11 ± 5.32.
        let on_limit = Options {
            improvement: Some(Improvement::Increase),
            target: Some(11.0 - 5.32),
            ..Default::default()
        };
        assert_eq!(
            analyse(&v, &on_limit).assurance,
            Some(Assurance::HitAndMiss)
        );
        let below = Options {
            target: Some(5.0),
            ..on_limit.clone()
        };
        assert_eq!(
            analyse(&v, &below).assurance,
            Some(Assurance::ConsistentlyPasses)
        );
        let above = Options {
            target: Some(17.0),
            ..on_limit
        };
        assert_eq!(
            analyse(&v, &above).assurance,
            Some(Assurance::ConsistentlyFails)
        );
    }

    #[test]
    fn constant_series_has_no_limits() {
        let a = analyse(&[4.0; 15], &opts(Improvement::Increase));
        assert!(
            a.points
                .iter()
                .all(|p| p.upper_limit.is_none() && p.point_type == PointType::CommonCause)
        );
        assert_eq!(a.variation, Some(Variation::CommonCause));
    }

    #[test]
    fn two_in_three_flags_only_close_points() {
        // A fixed baseline of 13 points: mean 10, mean mR 1 → limits 10 ± 2.66, 2σ lines at 10 ± 1.773.
        let mut v = vec![
            10.0, 9.0, 10.0, 11.0, 10.0, 9.0, 10.0, 11.0, 10.0, 9.0, 10.0, 11.0, 10.0,
        ];
        v.extend([12.0, 10.5, 12.0]);
        let a = analyse(
            &v,
            &Options {
                improvement: Some(Improvement::Increase),
                baseline: Some(13),
                ..Default::default()
            },
        );
        let flagged: Vec<usize> = a
            .points
            .iter()
            .enumerate()
            .filter(|(_, p)| p.rule == Some(Rule::TwoInThree))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(flagged, vec![13, 15]);
        assert_eq!(a.points[13].point_type, PointType::Improvement);
    }
    #[test]
    fn without_screening_every_moving_range_counts() {
        // The series of `limits_by_hand_with_screening`: unscreened, mean mR is 5.6, not 2.
        let a = analyse(
            &[10.0, 12.0, 10.0, 12.0, 10.0, 30.0],
            &Options {
                improvement: Some(Improvement::Increase),
                screen_outliers: false,
                ..Default::default()
            },
        );
        assert!((a.points[0].upper_limit.unwrap() - (14.0 + 2.66 * 5.6)).abs() < 1e-9);
    }

    #[test]
    fn a_point_shared_by_two_trends_takes_the_right_ones_label() {
        // Noise, then seven rising points 8..14 and seven falling 14..8 sharing the peak (index 10).
        // Limits 10.59 ± 4.91 (the 20s' moving ranges are screened): every trend point is inside.
        let v = [
            0.0, 20.0, 0.0, 20.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 13.0, 12.0, 11.0, 10.0,
            9.0, 8.0,
        ];
        let a = analyse(&v, &opts(Improvement::Increase));
        assert!(a.points[4..].iter().all(|p| p.rule == Some(Rule::Trend)));
        assert_eq!(a.points[9].point_type, PointType::Improvement, "rising");
        assert_eq!(
            a.points[10].point_type,
            PointType::Concern,
            "the peak belongs to the falling trend on its right"
        );
        assert_eq!(a.points[11].point_type, PointType::Concern);
        // The same for a trough, and on a neutral metric.
        let w: Vec<f64> = v.iter().map(|x| -x).collect();
        let a = analyse(&w, &opts(Improvement::Neutral));
        assert_eq!(a.points[9].point_type, PointType::NeutralLow);
        assert_eq!(a.points[10].point_type, PointType::NeutralHigh);
    }

    #[test]
    fn a_segment_of_one_point_has_no_limits_and_no_assurance_either_way() {
        let mut v = [10.0, 12.0].repeat(6);
        v.push(40.0);
        let a = analyse(
            &v,
            &Options {
                improvement: Some(Improvement::Increase),
                target: Some(0.0),
                rebase_at: vec![12],
                ..Default::default()
            },
        );
        let last = &a.points[12];
        assert_eq!((last.segment, last.mean), (1, 40.0));
        assert_eq!((last.lower_limit, last.upper_limit), (None, None));
        assert_eq!(last.point_type, PointType::CommonCause);
        assert_eq!(a.assurance, Some(Assurance::HitAndMiss));
        // A constant segment has limits at its mean, and the target is judged against them.
        let mut c = [10.0, 12.0].repeat(6);
        c.extend([40.0, 40.0]);
        let a = analyse(
            &c,
            &Options {
                improvement: Some(Improvement::Increase),
                target: Some(0.0),
                rebase_at: vec![12],
                ..Default::default()
            },
        );
        assert_eq!(a.assurance, Some(Assurance::ConsistentlyPasses));
    }

    #[test]
    fn negative_values_are_judged_like_any_other() {
        // Net carbon, in tonnes: around −43 with a fall of seven points.
        let mut v = [-43.0, -44.0].repeat(6);
        v.extend([-44.5, -45.0, -45.5, -46.0, -46.5, -47.0]);
        let a = analyse(
            &v,
            &Options {
                improvement: Some(Improvement::Decrease),
                target: Some(-43.2),
                ..Default::default()
            },
        );
        // Mean −44.25, limits ∓2.19: the last two points are below the lower limit.
        assert_eq!(a.points[15].rule, Some(Rule::Trend));
        assert_eq!(a.points[17].rule, Some(Rule::OutsideLimits));
        assert_eq!(a.points[17].point_type, PointType::Improvement);
        assert_eq!(a.variation, Some(Variation::ImprovementLow));
        assert!(a.points[0].upper_limit.unwrap() < 0.0);
    }
}
