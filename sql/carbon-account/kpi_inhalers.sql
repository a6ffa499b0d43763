-- Inhalers in the period by trust and by primary care network: metered-dose and dry-powder inhalers, the
-- DPI share, the MDI share of non-salbutamol inhalers (the IIF measure), and tCO2e.
WITH lines AS (
    SELECT e.org_code, e.site AS practice_code, p.device, p.salbutamol, e.source_quantity AS inhalers, e.kgco2e
    FROM emissions e
    JOIN months mo ON mo.month = e.month
    JOIN inhaler_products p ON p.bnf_code = e.detail
    WHERE e.category = 'inhalers' AND mo.in_period
),
grouped AS (
    SELECT CASE WHEN l.org_code = 'PC' THEN 'pcn' ELSE 'trust' END AS level,
           CASE WHEN l.org_code = 'PC' THEN pr.pcn_code ELSE l.org_code END AS code,
           CASE WHEN l.org_code = 'PC' THEN pr.pcn_name ELSE l.org_code END AS name,
           l.*
    FROM lines l LEFT JOIN practices pr ON pr.practice_code = l.practice_code
),
totals AS (
    SELECT level, code, name, device, salbutamol, inhalers, kgco2e FROM grouped
    UNION ALL
    SELECT CASE WHEN level = 'pcn' THEN 'primary_care' ELSE 'trusts' END, 'ALL',
           CASE WHEN level = 'pcn' THEN 'Primary care' ELSE 'All trusts' END, device, salbutamol, inhalers, kgco2e
    FROM grouped
)
SELECT
    level, code, name,
    SUM(CASE WHEN device = 'MDI' THEN inhalers ELSE 0 END) AS mdi,
    SUM(CASE WHEN device = 'DPI' THEN inhalers ELSE 0 END) AS dpi,
    SUM(CASE WHEN device = 'DPI' THEN inhalers ELSE 0 END) / SUM(inhalers) AS dpi_share,
    SUM(CASE WHEN device = 'MDI' AND NOT salbutamol THEN inhalers ELSE 0 END)
        / NULLIF(SUM(CASE WHEN NOT salbutamol THEN inhalers ELSE 0 END), 0) AS mdi_share_non_salbutamol,
    SUM(kgco2e) / 1000.0 AS tco2e
FROM totals
GROUP BY level, code, name
ORDER BY level, code
