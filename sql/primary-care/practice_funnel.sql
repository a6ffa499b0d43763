-- Each practice against the ICB rate on a funnel plot: the 95% and 99.8% limits (levels from
-- config/primary-care/rag.yaml) at the practice's denominator, from the binomial or Poisson distribution
-- (the `funnel_lower` / `funnel_upper` functions: exact limits, Spiegelhalter 2005, see src/stats.rs),
-- its position (`funnel_position`: the exact tail probability of its count), which side is worse (by the indicator's direction), and the size of the difference: in
-- the indicator's units, and as patients or events more (+) or fewer (−) than the ICB rate would give.
WITH icb AS (
    SELECT indicator_id, value AS icb_value FROM area_indicator WHERE level = 'ICB'
),
limits AS (
    SELECT
        pi.*,
        i.name AS indicator_name,
        i.short AS indicator_short,
        i.area AS indicator_area,
        i.funnel,
        i.direction,
        i.rag,
        i."key",
        i.headline,
        i.scale,
        i.unit,
        i.standard AS target,
        i.national,
        i."order" AS indicator_order,
        icb.icb_value,
        CASE WHEN pi.submitted AND i.funnel <> 'none' THEN funnel_lower(i.funnel, icb.icb_value, pi.denominator, r.inner_level) END AS lower_inner,
        CASE WHEN pi.submitted AND i.funnel <> 'none' THEN funnel_upper(i.funnel, icb.icb_value, pi.denominator, r.inner_level) END AS upper_inner,
        CASE WHEN pi.submitted AND i.funnel <> 'none' THEN funnel_lower(i.funnel, icb.icb_value, pi.denominator, r.outer_level) END AS lower_outer,
        CASE WHEN pi.submitted AND i.funnel <> 'none' THEN funnel_upper(i.funnel, icb.icb_value, pi.denominator, r.outer_level) END AS upper_outer,
        CASE WHEN pi.submitted AND i.funnel <> 'none' THEN funnel_position(i.funnel, icb.icb_value, pi.numerator, pi.denominator, r.inner_level) END AS position_inner,
        CASE WHEN pi.submitted AND i.funnel <> 'none' THEN funnel_position(i.funnel, icb.icb_value, pi.numerator, pi.denominator, r.outer_level) END AS position_outer
    FROM practice_indicator pi
    JOIN indicators i ON i.id = pi.indicator_id
    JOIN icb ON icb.indicator_id = pi.indicator_id
    CROSS JOIN rag_rule r
),
positioned AS (
    SELECT
        limits.*,
        CASE
            WHEN NOT submitted THEN 'not_submitted'
            WHEN position_outer IS NULL OR position_inner IS NULL THEN 'not_compared'
            WHEN position_outer < 0 THEN 'low_outer'
            WHEN position_outer > 0 THEN 'high_outer'
            WHEN position_inner < 0 THEN 'low_inner'
            WHEN position_inner > 0 THEN 'high_inner'
            ELSE 'within'
        END AS position
    FROM limits
)
SELECT
    positioned.*,
    CASE
        WHEN position IN ('low_outer', 'low_inner') AND direction = 'increase' THEN 'worse'
        WHEN position IN ('high_outer', 'high_inner') AND direction = 'decrease' THEN 'worse'
        WHEN position IN ('low_outer', 'low_inner', 'high_outer', 'high_inner') AND direction = 'neutral' THEN 'different'
        WHEN position IN ('low_outer', 'low_inner', 'high_outer', 'high_inner') THEN 'better'
    END AS side,
    position IN ('low_outer', 'high_outer') AS outside_outer,
    position IN ('low_outer', 'high_outer', 'low_inner', 'high_inner') AS outside_inner,
    value - icb_value AS difference,
    numerator - icb_value * denominator AS excess
FROM positioned
ORDER BY place, pcn_code, practice_code, indicator_order
