-- The months of the account's window: every month any return covers up to the period's end, and every month
-- of the period whether or not anything was returned for it (a month missing from every return is then
-- proxied or listed as a gap by `activity` and `coverage`, never left out unseen), with its
-- financial year (the year it starts in), quarter, month of the year (April = 1), and where it sits: in the
-- period, the year to date, the same months last year, and the same months of the baseline year.
WITH returned AS (
    SELECT month FROM carbon_energy
    UNION SELECT month FROM carbon_water
    UNION SELECT month FROM carbon_waste
    UNION SELECT month FROM carbon_travel
    UNION SELECT month FROM carbon_ambulance
    UNION SELECT month FROM carbon_anaesthetic
    UNION SELECT month FROM carbon_inhalers
    UNION SELECT month FROM carbon_procurement
    UNION SELECT substr(CAST(d AS VARCHAR), 1, 7) AS month
    FROM (SELECT unnest(generate_series(CAST($period_start AS DATE), CAST($period_end AS DATE), INTERVAL '1 month')) AS d) g
),
p AS (
    SELECT
        substr(CAST($period_start AS VARCHAR), 1, 7) AS first_month,
        substr(CAST($period_end AS VARCHAR), 1, 7) AS last_month
),
pp AS (
    SELECT
        first_month,
        last_month,
        CAST(substr(first_month, 1, 4) AS INT)
            - CASE WHEN CAST(substr(first_month, 6, 2) AS INT) < 4 THEN 1 ELSE 0 END AS fy,
        (CAST(substr(first_month, 6, 2) AS INT) + 8) % 12 + 1 AS first_fym,
        (CAST(substr(last_month, 6, 2) AS INT) + 8) % 12 + 1 AS last_fym,
        (SELECT MIN(baseline_fy) FROM trajectory) AS baseline_fy
    FROM p
),
d AS (
    SELECT DISTINCT
        month,
        CAST(substr(month, 1, 4) AS INT)
            - CASE WHEN CAST(substr(month, 6, 2) AS INT) < 4 THEN 1 ELSE 0 END AS fy,
        (CAST(substr(month, 6, 2) AS INT) + 8) % 12 / 3 + 1 AS quarter,
        (CAST(substr(month, 6, 2) AS INT) + 8) % 12 + 1 AS fym
    FROM returned
)
SELECT
    d.month,
    d.fy,
    CAST(d.fy AS VARCHAR) || '/' || lpad(CAST((d.fy + 1) % 100 AS VARCHAR), 2, '0') AS fy_label,
    d.quarter,
    d.fym,
    d.month BETWEEN pp.first_month AND pp.last_month AS in_period,
    d.fy = pp.fy AND d.fym <= pp.last_fym AS in_ytd,
    d.fy = pp.fy - 1 AND d.fym BETWEEN pp.first_fym AND pp.last_fym AS in_period_ly,
    d.fy = pp.fy - 1 AND d.fym <= pp.last_fym AS in_ytd_ly,
    d.fy = pp.baseline_fy AND d.fym BETWEEN pp.first_fym AND pp.last_fym AS in_baseline_period,
    d.fy = pp.baseline_fy AND d.fym <= pp.last_fym AS in_baseline_ytd,
    d.fy = pp.baseline_fy AS in_baseline_year,
    pp.fy AS period_fy
FROM d CROSS JOIN pp
WHERE d.month <= pp.last_month
ORDER BY d.month
