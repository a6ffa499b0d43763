-- Every metric of the pack per month, in one long table that the scorecard and the SPC charts read:
-- metric_id (as in config/board-pack/metrics.yaml), month, numerator, denominator and value.
-- Ratios are recomputed from summed numerators and denominators; counts have no denominator.
SELECT 'ae_4h' AS metric_id, month,
       CAST(SUM(within_4h) AS DOUBLE) AS numerator, CAST(SUM(attendances) AS DOUBLE) AS denominator,
       CAST(SUM(within_4h) AS DOUBLE) / SUM(attendances) AS value
FROM ae_provider_month GROUP BY month
UNION ALL
SELECT 'ae_12h_arrival', month,
       CAST(SUM(over_12h_from_arrival) AS DOUBLE), CAST(SUM(attendances) AS DOUBLE),
       CAST(SUM(over_12h_from_arrival) AS DOUBLE) / SUM(attendances)
FROM ae_provider_month GROUP BY month
UNION ALL
SELECT 'ae_trolley_12h', month,
       CAST(SUM(trolley_waits_12h) AS DOUBLE), CAST(NULL AS DOUBLE), CAST(SUM(trolley_waits_12h) AS DOUBLE)
FROM ae_provider_month GROUP BY month
UNION ALL
SELECT 'amb_15', month,
       CAST(SUM(within_15) AS DOUBLE), CAST(SUM(handovers) AS DOUBLE), CAST(SUM(within_15) AS DOUBLE) / SUM(handovers)
FROM amb_provider_month GROUP BY month
UNION ALL
SELECT 'amb_30', month,
       CAST(SUM(within_30) AS DOUBLE), CAST(SUM(handovers) AS DOUBLE), CAST(SUM(within_30) AS DOUBLE) / SUM(handovers)
FROM amb_provider_month GROUP BY month
UNION ALL
SELECT 'amb_60', month,
       CAST(SUM(over_60) AS DOUBLE), CAST(NULL AS DOUBLE), CAST(SUM(over_60) AS DOUBLE)
FROM amb_provider_month GROUP BY month
UNION ALL
SELECT 'rtt_18w', month,
       CAST(within_18w AS DOUBLE), CAST(pathways AS DOUBLE), CAST(within_18w AS DOUBLE) / pathways
FROM rtt_month
UNION ALL
SELECT 'rtt_52w', month, CAST(over_52w AS DOUBLE), CAST(NULL AS DOUBLE), CAST(over_52w AS DOUBLE) FROM rtt_month
UNION ALL
SELECT 'rtt_78w', month, CAST(over_78w AS DOUBLE), CAST(NULL AS DOUBLE), CAST(over_78w AS DOUBLE) FROM rtt_month
UNION ALL
SELECT 'rtt_104w', month, CAST(over_104w AS DOUBLE), CAST(NULL AS DOUBLE), CAST(over_104w AS DOUBLE) FROM rtt_month
UNION ALL
SELECT 'dm01_6w', month,
       CAST(under_6w AS DOUBLE), CAST(waiting AS DOUBLE), CAST(under_6w AS DOUBLE) / waiting
FROM dm01_month
UNION ALL
SELECT 'nhs111_60s', month,
       CAST(answered_within_60s AS DOUBLE), CAST(calls_answered AS DOUBLE),
       CAST(answered_within_60s AS DOUBLE) / calls_answered
FROM nhs111_month
ORDER BY metric_id, month
