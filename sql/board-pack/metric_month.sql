-- Every metric of the pack per month, in one long table that the scorecard and the SPC charts read:
-- metric_id (as in config/board-pack/metrics.yaml), month, numerator, denominator and value.
-- Ratios are recomputed from summed numerators and denominators; counts have no denominator.
-- Each row carries its metric's unit from the registry (config/metrics.yaml, through the seed `metrics`), so
-- that `diff` prints a change in a proportion in percentage points and a count as a count.
WITH figures AS (
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
    -- Cancer waiting times (the day rules are in cancer_provider_month.sql), the ICB's patients at every provider.
    UNION ALL
    SELECT 'cancer_2ww', month,
           CAST(SUM(seen_2ww_within) AS DOUBLE), CAST(SUM(seen_2ww) AS DOUBLE),
           CAST(SUM(seen_2ww_within) AS DOUBLE) / NULLIF(SUM(seen_2ww), 0)
    FROM cancer_provider_month GROUP BY month
    UNION ALL
    SELECT 'cancer_2ww_breast', month,
           CAST(SUM(seen_breast_within) AS DOUBLE), CAST(SUM(seen_breast) AS DOUBLE),
           CAST(SUM(seen_breast_within) AS DOUBLE) / NULLIF(SUM(seen_breast), 0)
    FROM cancer_provider_month GROUP BY month
    UNION ALL
    SELECT 'cancer_fds', month,
           CAST(SUM(told_fds_within) AS DOUBLE), CAST(SUM(told_fds) AS DOUBLE),
           CAST(SUM(told_fds_within) AS DOUBLE) / NULLIF(SUM(told_fds), 0)
    FROM cancer_provider_month GROUP BY month
    UNION ALL
    SELECT 'cancer_31d', month,
           CAST(SUM(treated_31_first_within) AS DOUBLE), CAST(SUM(treated_31_first) AS DOUBLE),
           CAST(SUM(treated_31_first_within) AS DOUBLE) / NULLIF(SUM(treated_31_first), 0)
    FROM cancer_provider_month GROUP BY month
    UNION ALL
    SELECT 'cancer_31d_surgery', month,
           CAST(SUM(treated_31_surgery_within) AS DOUBLE), CAST(SUM(treated_31_surgery) AS DOUBLE),
           CAST(SUM(treated_31_surgery_within) AS DOUBLE) / NULLIF(SUM(treated_31_surgery), 0)
    FROM cancer_provider_month GROUP BY month
    UNION ALL
    SELECT 'cancer_31d_drug', month,
           CAST(SUM(treated_31_drug_within) AS DOUBLE), CAST(SUM(treated_31_drug) AS DOUBLE),
           CAST(SUM(treated_31_drug_within) AS DOUBLE) / NULLIF(SUM(treated_31_drug), 0)
    FROM cancer_provider_month GROUP BY month
    UNION ALL
    SELECT 'cancer_31d_radio', month,
           CAST(SUM(treated_31_radio_within) AS DOUBLE), CAST(SUM(treated_31_radio) AS DOUBLE),
           CAST(SUM(treated_31_radio_within) AS DOUBLE) / NULLIF(SUM(treated_31_radio), 0)
    FROM cancer_provider_month GROUP BY month
    UNION ALL
    SELECT 'cancer_62d', month,
           CAST(SUM(treated_62_gp_within) AS DOUBLE), CAST(SUM(treated_62_gp) AS DOUBLE),
           CAST(SUM(treated_62_gp_within) AS DOUBLE) / NULLIF(SUM(treated_62_gp), 0)
    FROM cancer_provider_month GROUP BY month
    UNION ALL
    SELECT 'cancer_62d_screening', month,
           CAST(SUM(treated_62_screening_within) AS DOUBLE), CAST(SUM(treated_62_screening) AS DOUBLE),
           CAST(SUM(treated_62_screening_within) AS DOUBLE) / NULLIF(SUM(treated_62_screening), 0)
    FROM cancer_provider_month GROUP BY month
    UNION ALL
    SELECT 'cancer_62d_upgrade', month,
           CAST(SUM(treated_62_upgrade_within) AS DOUBLE), CAST(SUM(treated_62_upgrade) AS DOUBLE),
           CAST(SUM(treated_62_upgrade_within) AS DOUBLE) / NULLIF(SUM(treated_62_upgrade), 0)
    FROM cancer_provider_month GROUP BY month
    UNION ALL
    SELECT 'cancer_104d', month, CAST(SUM(waiting_over_104) AS DOUBLE), CAST(NULL AS DOUBLE), CAST(SUM(waiting_over_104) AS DOUBLE)
    FROM cancer_provider_month GROUP BY month
    UNION ALL
    SELECT 'cancer_62d_backlog', month, CAST(SUM(backlog_62) AS DOUBLE), CAST(NULL AS DOUBLE), CAST(SUM(backlog_62) AS DOUBLE)
    FROM cancer_provider_month GROUP BY month
    -- Mental health returns: each indicator is a metric of the same id. Ratios are recomputed from the summed
    -- numerators and denominators of every organisation; counts have no denominator. The IAPT access rate is
    -- annualised: people entering treatment in a month against a twelfth of the year's prevalence.
    UNION ALL
    SELECT r.indicator, r.month,
           CAST(SUM(r.numerator) AS DOUBLE),
           CASE WHEN k.kind IN ('count', 'count_snapshot') THEN CAST(NULL AS DOUBLE)
                ELSE CAST(SUM(r.denominator) AS DOUBLE) / CASE WHEN r.indicator = 'iapt_access' THEN 12 ELSE 1 END END,
           CASE WHEN k.kind IN ('count', 'count_snapshot') THEN CAST(SUM(r.numerator) AS DOUBLE)
                ELSE CAST(SUM(r.numerator) AS DOUBLE)
                     / NULLIF(CAST(SUM(r.denominator) AS DOUBLE) / CASE WHEN r.indicator = 'iapt_access' THEN 12 ELSE 1 END, 0) END
    FROM mental_health_returns r
    JOIN metrics k ON k.id = r.indicator
    GROUP BY r.indicator, r.month, k.kind
)
SELECT f.metric_id, f.month, f.numerator, f.denominator, f.value, k.unit
FROM figures f
LEFT JOIN metrics k ON k.id = f.metric_id
ORDER BY f.metric_id, f.month
