-- Anaesthetic gases in the period by trust (and all trusts): volatile agents as litres of liquid (kg ÷
-- density), desflurane's share of the volume and of the volatile emissions, and nitrous oxide (also the
-- same months last year).
WITH lines AS (
    SELECT e.org_code, e.activity AS agent, a.kind, e.quantity AS kg, e.kgco2e,
           CASE WHEN a.kind = 'volatile' THEN e.quantity / d.kg_per_unit / 1000.0 END AS litres_liquid,
           mo.in_period
    FROM emissions e
    JOIN months mo ON mo.month = e.month
    JOIN (SELECT DISTINCT agent, kind FROM agents) a ON a.agent = e.activity
    LEFT JOIN agents d ON d.agent = e.activity AND d.unit = 'ml'
    WHERE e.category = 'anaesthetic_gases' AND (mo.in_period OR mo.in_period_ly)
),
both_levels AS (
    SELECT org_code, agent, kind, in_period,
           CASE WHEN in_period THEN kg END AS kg, CASE WHEN in_period THEN kgco2e END AS kgco2e,
           CASE WHEN in_period THEN litres_liquid END AS litres_liquid,
           CASE WHEN NOT in_period THEN kgco2e END AS kgco2e_ly
    FROM lines
)
SELECT
    org_code,
    -- A trust that returned volatile agents but no desflurane used none (0); one that returned no
    -- volatile agents at all has no figure (N/A).
    CASE WHEN SUM(litres_liquid) IS NOT NULL THEN COALESCE(SUM(CASE WHEN agent = 'desflurane' THEN litres_liquid END), 0) END AS desflurane_l,
    CASE WHEN SUM(litres_liquid) IS NOT NULL THEN COALESCE(SUM(CASE WHEN agent = 'isoflurane' THEN litres_liquid END), 0) END AS isoflurane_l,
    CASE WHEN SUM(litres_liquid) IS NOT NULL THEN COALESCE(SUM(CASE WHEN agent = 'sevoflurane' THEN litres_liquid END), 0) END AS sevoflurane_l,
    COALESCE(SUM(CASE WHEN agent = 'desflurane' THEN litres_liquid END), 0) / NULLIF(SUM(litres_liquid), 0) AS desflurane_share_volume,
    SUM(CASE WHEN kind = 'volatile' THEN kgco2e END) / 1000.0 AS volatile_t,
    SUM(CASE WHEN agent = 'desflurane' THEN kgco2e END) / 1000.0 AS desflurane_t,
    COALESCE(SUM(CASE WHEN agent = 'desflurane' THEN kgco2e END), 0) / NULLIF(SUM(CASE WHEN kind = 'volatile' THEN kgco2e END), 0) AS desflurane_share_emissions,
    SUM(CASE WHEN kind = 'nitrous_oxide' THEN kg END) AS n2o_kg,
    SUM(CASE WHEN kind = 'nitrous_oxide' THEN kgco2e END) / 1000.0 AS n2o_t,
    SUM(CASE WHEN kind = 'nitrous_oxide' THEN kgco2e_ly END) / 1000.0 AS n2o_t_ly
FROM (
    SELECT * FROM both_levels
    UNION ALL
    SELECT 'ALL', agent, kind, in_period, kg, kgco2e, litres_liquid, kgco2e_ly FROM both_levels
) x
GROUP BY org_code
ORDER BY org_code
