-- Every provider-level metric per provider per month, in one long table for the exception reports' provider
-- breakdowns: the same numerators and denominators as metric_month, before they are summed over providers.
-- Metrics whose source has no provider (NHS 111 is one service) or is not yet split by provider are absent.
WITH per_provider AS (
SELECT 'ae_4h' AS metric_id, month, provider_code,
       CAST(within_4h AS DOUBLE) AS numerator, CAST(attendances AS DOUBLE) AS denominator,
       CAST(within_4h AS DOUBLE) / NULLIF(attendances, 0) AS value
FROM ae_provider_month
UNION ALL
SELECT 'ae_12h_arrival' AS metric_id, month, provider_code,
       CAST(over_12h_from_arrival AS DOUBLE) AS numerator, CAST(attendances AS DOUBLE) AS denominator,
       CAST(over_12h_from_arrival AS DOUBLE) / NULLIF(attendances, 0) AS value
FROM ae_provider_month
UNION ALL
SELECT 'ae_trolley_12h', month, provider_code, CAST(trolley_waits_12h AS DOUBLE), CAST(NULL AS DOUBLE), CAST(trolley_waits_12h AS DOUBLE)
FROM ae_provider_month
UNION ALL
SELECT 'amb_15' AS metric_id, month, provider_code,
       CAST(within_15 AS DOUBLE) AS numerator, CAST(handovers AS DOUBLE) AS denominator,
       CAST(within_15 AS DOUBLE) / NULLIF(handovers, 0) AS value
FROM amb_provider_month
UNION ALL
SELECT 'amb_30' AS metric_id, month, provider_code,
       CAST(within_30 AS DOUBLE) AS numerator, CAST(handovers AS DOUBLE) AS denominator,
       CAST(within_30 AS DOUBLE) / NULLIF(handovers, 0) AS value
FROM amb_provider_month
UNION ALL
SELECT 'amb_60', month, provider_code, CAST(over_60 AS DOUBLE), CAST(NULL AS DOUBLE), CAST(over_60 AS DOUBLE)
FROM amb_provider_month
UNION ALL
SELECT 'cancer_2ww' AS metric_id, month, provider_code,
       CAST(seen_2ww_within AS DOUBLE) AS numerator, CAST(seen_2ww AS DOUBLE) AS denominator,
       CAST(seen_2ww_within AS DOUBLE) / NULLIF(seen_2ww, 0) AS value
FROM cancer_provider_month
UNION ALL
SELECT 'cancer_2ww_breast' AS metric_id, month, provider_code,
       CAST(seen_breast_within AS DOUBLE) AS numerator, CAST(seen_breast AS DOUBLE) AS denominator,
       CAST(seen_breast_within AS DOUBLE) / NULLIF(seen_breast, 0) AS value
FROM cancer_provider_month
UNION ALL
SELECT 'cancer_fds' AS metric_id, month, provider_code,
       CAST(told_fds_within AS DOUBLE) AS numerator, CAST(told_fds AS DOUBLE) AS denominator,
       CAST(told_fds_within AS DOUBLE) / NULLIF(told_fds, 0) AS value
FROM cancer_provider_month
UNION ALL
SELECT 'cancer_31d' AS metric_id, month, provider_code,
       CAST(treated_31_first_within AS DOUBLE) AS numerator, CAST(treated_31_first AS DOUBLE) AS denominator,
       CAST(treated_31_first_within AS DOUBLE) / NULLIF(treated_31_first, 0) AS value
FROM cancer_provider_month
UNION ALL
SELECT 'cancer_31d_surgery' AS metric_id, month, provider_code,
       CAST(treated_31_surgery_within AS DOUBLE) AS numerator, CAST(treated_31_surgery AS DOUBLE) AS denominator,
       CAST(treated_31_surgery_within AS DOUBLE) / NULLIF(treated_31_surgery, 0) AS value
FROM cancer_provider_month
UNION ALL
SELECT 'cancer_31d_drug' AS metric_id, month, provider_code,
       CAST(treated_31_drug_within AS DOUBLE) AS numerator, CAST(treated_31_drug AS DOUBLE) AS denominator,
       CAST(treated_31_drug_within AS DOUBLE) / NULLIF(treated_31_drug, 0) AS value
FROM cancer_provider_month
UNION ALL
SELECT 'cancer_31d_radio' AS metric_id, month, provider_code,
       CAST(treated_31_radio_within AS DOUBLE) AS numerator, CAST(treated_31_radio AS DOUBLE) AS denominator,
       CAST(treated_31_radio_within AS DOUBLE) / NULLIF(treated_31_radio, 0) AS value
FROM cancer_provider_month
UNION ALL
SELECT 'cancer_62d' AS metric_id, month, provider_code,
       CAST(treated_62_gp_within AS DOUBLE) AS numerator, CAST(treated_62_gp AS DOUBLE) AS denominator,
       CAST(treated_62_gp_within AS DOUBLE) / NULLIF(treated_62_gp, 0) AS value
FROM cancer_provider_month
UNION ALL
SELECT 'cancer_62d_screening' AS metric_id, month, provider_code,
       CAST(treated_62_screening_within AS DOUBLE) AS numerator, CAST(treated_62_screening AS DOUBLE) AS denominator,
       CAST(treated_62_screening_within AS DOUBLE) / NULLIF(treated_62_screening, 0) AS value
FROM cancer_provider_month
UNION ALL
SELECT 'cancer_62d_upgrade' AS metric_id, month, provider_code,
       CAST(treated_62_upgrade_within AS DOUBLE) AS numerator, CAST(treated_62_upgrade AS DOUBLE) AS denominator,
       CAST(treated_62_upgrade_within AS DOUBLE) / NULLIF(treated_62_upgrade, 0) AS value
FROM cancer_provider_month
UNION ALL
SELECT 'cancer_104d', month, provider_code, CAST(waiting_over_104 AS DOUBLE), CAST(NULL AS DOUBLE), CAST(waiting_over_104 AS DOUBLE)
FROM cancer_provider_month
UNION ALL
SELECT 'cancer_62d_backlog', month, provider_code, CAST(backlog_62 AS DOUBLE), CAST(NULL AS DOUBLE), CAST(backlog_62 AS DOUBLE)
FROM cancer_provider_month
UNION ALL
SELECT 'rtt_18w', month, provider_code, CAST(within_18w AS DOUBLE), CAST(pathways AS DOUBLE), CAST(within_18w AS DOUBLE) / NULLIF(pathways, 0)
FROM rtt_provider_month
UNION ALL
SELECT 'rtt_52w', month, provider_code, CAST(over_52w AS DOUBLE), CAST(NULL AS DOUBLE), CAST(over_52w AS DOUBLE)
FROM rtt_provider_month
UNION ALL
SELECT 'rtt_78w', month, provider_code, CAST(over_78w AS DOUBLE), CAST(NULL AS DOUBLE), CAST(over_78w AS DOUBLE)
FROM rtt_provider_month
UNION ALL
SELECT 'rtt_104w', month, provider_code, CAST(over_104w AS DOUBLE), CAST(NULL AS DOUBLE), CAST(over_104w AS DOUBLE)
FROM rtt_provider_month
UNION ALL
SELECT 'dm01_6w', month, provider_code, CAST(under_6w AS DOUBLE), CAST(waiting AS DOUBLE), CAST(under_6w AS DOUBLE) / NULLIF(waiting, 0)
FROM dm01_provider_month
)
-- Each row carries its metric's unit from the registry (through the seed `metrics`), for `diff`.
SELECT p.metric_id, p.month, p.provider_code, COALESCE(o.short_name, p.provider_code) AS provider, p.numerator, p.denominator, p.value,
       k.unit
FROM per_provider p
LEFT JOIN organisations o ON o.org_code = p.provider_code
LEFT JOIN metrics k ON k.id = p.metric_id
ORDER BY p.metric_id, p.month, p.provider_code
