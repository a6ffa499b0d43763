-- Register-based mental health indicators (reported per general practice) by Place per month, for the
-- exception reports of metrics with no provider breakdown: each practice's numerator and denominator
-- summed over the practices of the Place, and the ratio recomputed from the sums.
SELECT
    r.indicator AS metric_id,
    r.month,
    p.place,
    CAST(SUM(r.numerator) AS DOUBLE) AS numerator,
    CAST(SUM(r.denominator) AS DOUBLE) AS denominator,
    CAST(SUM(r.numerator) AS DOUBLE) / NULLIF(SUM(r.denominator), 0) AS value
FROM mental_health_returns r
JOIN practices p ON p.practice_code = r.org_code
JOIN metrics k ON k.id = r.indicator
WHERE r.org_type = 'practice' AND k.kind IN ('ratio', 'ratio_snapshot')
GROUP BY r.indicator, r.month, p.place
ORDER BY r.indicator, r.month, p.place
