-- Practices outside the 99.8% funnel limit on any indicator, with the size of the difference from the
-- ICB rate (in the indicator's units and as patients or events more or fewer than the ICB rate gives).
SELECT
    practice_code,
    practice_name,
    pcn_name,
    place,
    indicator_id,
    indicator_name,
    indicator_short,
    indicator_order,
    scale,
    unit,
    side,
    position,
    numerator,
    denominator,
    value,
    icb_value,
    lower_outer,
    upper_outer,
    difference,
    excess
FROM practice_funnel
WHERE outside_outer
ORDER BY CASE side WHEN 'worse' THEN 0 WHEN 'different' THEN 1 ELSE 2 END, indicator_order, difference, practice_code
