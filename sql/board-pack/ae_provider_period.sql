-- Each provider's A&E performance over the reporting period, with the provider's name.
SELECT
    o.short_name AS provider,
    o.org_name AS provider_name,
    p.provider_code,
    SUM(p.attendances) AS attendances,
    SUM(p.within_4h) AS within_4h,
    CAST(SUM(p.within_4h) AS DOUBLE) / SUM(p.attendances) AS pct_4h,
    SUM(p.trolley_waits_12h) AS trolley_waits_12h
FROM ae_provider_month p
JOIN organisations o ON o.org_code = p.provider_code
WHERE CAST(p.month || '-01' AS DATE) BETWEEN $period_start AND $period_end
GROUP BY o.short_name, o.org_name, p.provider_code
ORDER BY o.short_name
