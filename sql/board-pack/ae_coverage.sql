-- Which acute providers sent A&E data for each month shown. A provider-month without data is a gap: the
-- ICB's figures for that month exclude the provider, and the pack says so.
SELECT
    m.month,
    o.org_code AS provider_code,
    o.short_name AS provider,
    COALESCE(p.attendances, 0) AS attendances,
    p.provider_code IS NOT NULL AS reported
FROM (SELECT DISTINCT month FROM ae_provider_month) m
CROSS JOIN (SELECT org_code, short_name FROM organisations WHERE org_kind = 'acute') o
LEFT JOIN ae_provider_month p ON p.month = m.month AND p.provider_code = o.org_code
ORDER BY m.month, o.org_code
