-- The Green Plan's quarterly KPIs (seed kpis: metrics of config/metrics.yaml, with their targets and which
-- way is better), each with the period's value and its judgement, computed here rather than in the
-- template so that the status a reader sees is a published figure that `explain` and `diff` can see.
--   status  met / not_met       the value against the KPI's target, in the KPI's direction;
--           reduced / not_reduced  a KPI without a numeric target (nitrous oxide): against the same period
--                                  a year before (`last_year`);
--           no_data             the source is connected but holds nothing for the period;
--           no_target           a value, but neither a target nor last year's figure to judge it by;
--           no_source           no data source is connected for the KPI (no value is computed here).
--
-- Each value is taken from its row as it is (a filter, not an aggregate), with the counts it rests on where
-- its table has them (`numerator`, `denominator`), so that a share resting on a small count is withheld
-- here as it is in its own table (src/derivation.rs follows the value back to those counts).
--
-- Every KPI with a data source has one row here whatever the period holds (a one-row table joined to its
-- source's row), so a KPI without a row has no source connected, and one with a NULL value no data.
WITH one(x) AS (VALUES (1)),
figures AS (
    SELECT 'dpi_share_trusts' AS id, i.dpi_share AS value, CAST(NULL AS DOUBLE) AS last_year,
           CAST(i.dpi AS BIGINT) AS numerator, CAST(i.mdi + i.dpi AS BIGINT) AS denominator
    FROM one LEFT JOIN kpi_inhalers i ON i.level = 'trusts'
    UNION ALL
    SELECT 'mdi_share_non_salbutamol_pc', i.mdi_share_non_salbutamol, CAST(NULL AS DOUBLE),
           CAST(NULL AS BIGINT), CAST(NULL AS BIGINT)
    FROM one LEFT JOIN kpi_inhalers i ON i.level = 'primary_care'
    UNION ALL
    SELECT 'desflurane_share', g.desflurane_share_volume, CAST(NULL AS DOUBLE), CAST(NULL AS BIGINT),
           CAST(NULL AS BIGINT)
    FROM one LEFT JOIN kpi_gases g ON g.org_code = 'ALL'
    UNION ALL
    SELECT 'n2o_tco2e', g.n2o_t, g.n2o_t_ly, CAST(NULL AS BIGINT), CAST(NULL AS BIGINT)
    FROM one LEFT JOIN kpi_gases g ON g.org_code = 'ALL'
    UNION ALL
    SELECT 'remote_outpatients', o.remote_share, CAST(NULL AS DOUBLE), CAST(o.remote AS BIGINT),
           CAST(o.attended AS BIGINT)
    FROM one LEFT JOIN kpi_outpatients o ON o.org_code = 'All trusts'
)
SELECT
    k.id AS metric_id,
    k."order" AS kpi_order,
    k.name,
    k.unit,
    k.standard,
    k.standard_label,
    k.direction,
    f.value,
    f.last_year,
    f.numerator,
    f.denominator,
    f.id IS NOT NULL AS has_source,
    CASE
        WHEN f.id IS NULL THEN 'no_source'
        WHEN f.value IS NULL THEN 'no_data'
        WHEN k.standard IS NOT NULL AND k.direction = 'increase' AND f.value >= k.standard THEN 'met'
        WHEN k.standard IS NOT NULL AND k.direction = 'decrease' AND f.value <= k.standard THEN 'met'
        WHEN k.standard IS NOT NULL THEN 'not_met'
        WHEN f.last_year IS NOT NULL AND f.last_year <> 0 AND f.value < f.last_year THEN 'reduced'
        WHEN f.last_year IS NOT NULL AND f.last_year <> 0 THEN 'not_reduced'
        ELSE 'no_target'
    END AS status
FROM kpis k
LEFT JOIN figures f ON f.id = k.id
ORDER BY k."order"
