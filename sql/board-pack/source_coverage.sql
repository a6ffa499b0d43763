-- Which expected providers sent each provider-level source, for every month the source has data
-- (config/board-pack/sources.yaml names the providers each source expects). A provider-month without
-- data is a gap: the ICB's figures for that month exclude the provider, and the pack says so. A month in
-- which no provider reported at all is a lagging source, shown on the data-quality page from metric_month.
WITH reported AS (
    SELECT 'ae_attendances' AS source, month, provider_code, COUNT(*) AS records
    FROM ae_attendances GROUP BY month, provider_code
    UNION ALL
    SELECT 'ambulance_handovers', month, provider_code, COUNT(*)
    FROM ambulance_handovers GROUP BY month, provider_code
    UNION ALL
    SELECT 'rtt_waiting_list', month, provider_code, COUNT(*)
    FROM rtt_waiting_list GROUP BY month, provider_code
    UNION ALL
    SELECT 'diagnostics_waiting_list', month, provider_code, COUNT(*)
    FROM diagnostics_waiting_list GROUP BY month, provider_code
    UNION ALL
    SELECT 'cancer_pathways', month, provider_code, COUNT(*)
    FROM cancer_pathways GROUP BY month, provider_code
    UNION ALL
    SELECT 'nhs111_calls', month, provider_code, COUNT(*)
    FROM nhs111_calls GROUP BY month, provider_code
    UNION ALL
    SELECT 'apc_spells', month, provider_code, COUNT(*)
    FROM apc_spells GROUP BY month, provider_code
    UNION ALL
    SELECT 'op_attendances', month, provider_code, COUNT(*)
    FROM op_attendances GROUP BY month, provider_code
    UNION ALL
    SELECT 'advice_guidance', month, provider_code, COUNT(*)
    FROM advice_guidance GROUP BY month, provider_code
    UNION ALL
    -- Practices' rows count too: a month in which only the provider is missing is a gap, not a lag.
    SELECT 'mental_health_returns', month, org_code, COUNT(*)
    FROM mental_health_returns GROUP BY month, org_code
),
months AS (
    SELECT DISTINCT source, month FROM reported
)
SELECT
    s.source,
    s.label,
    m.month,
    s.provider_code,
    COALESCE(o.short_name, s.provider_code) AS provider,
    COALESCE(r.records, 0) AS records,
    r.provider_code IS NOT NULL AS reported
FROM sources s
JOIN months m ON m.source = s.source
LEFT JOIN organisations o ON o.org_code = s.provider_code
LEFT JOIN reported r ON r.source = s.source AND r.month = m.month AND r.provider_code = s.provider_code
ORDER BY s.source, m.month, s.provider_code
