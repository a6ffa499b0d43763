-- Every metric by financial quarter and year, aggregated by its kind (reference.md, "Aggregating a month
-- to a quarter or a year"): counts add up; snapshots take the period's last month; ratios are recomputed
-- from summed numerators and denominators, never averaged. `complete` says whether every month of the
-- quarter or year is present in the months shown.
WITH m AS (
    SELECT
        mm.metric_id,
        mm.month,
        mm.numerator,
        mm.denominator,
        mm.value,
        k.kind,
        CAST(substr(mm.month, 1, 4) AS INT)
            - CASE WHEN CAST(substr(mm.month, 6, 2) AS INT) < 4 THEN 1 ELSE 0 END AS fy,
        (CAST(substr(mm.month, 6, 2) AS INT) + 8) % 12 / 3 + 1 AS quarter
    FROM metric_month mm
    JOIN metrics k ON k.id = mm.metric_id
),
periods AS (
    SELECT metric_id, kind, fy, 'Q' || CAST(quarter AS VARCHAR) AS part, month, numerator, denominator FROM m
    UNION ALL
    SELECT metric_id, kind, fy, 'Year' AS part, month, numerator, denominator FROM m
),
agg AS (
    SELECT
        metric_id, kind, fy, part,
        COUNT(*) AS months,
        MAX(month) AS last_month,
        SUM(numerator) AS numerator,
        SUM(denominator) AS denominator,
        -- A count of 1 to 4 in one of the months: the pack prints that month as <5, so a total that adds
        -- it in would reveal it (disclosure control: the total is withheld too).
        MAX(CASE WHEN kind = 'count' AND numerator BETWEEN 1 AND 4 THEN 1 ELSE 0 END) = 1 AS has_small_month
    FROM periods
    GROUP BY metric_id, kind, fy, part
)
SELECT
    a.metric_id,
    a.fy,
    a.part,
    a.months,
    CASE
        WHEN a.kind IN ('ratio_snapshot', 'count_snapshot') THEN last.value
        WHEN a.kind = 'ratio' THEN a.numerator / a.denominator
        ELSE a.numerator
    END AS value,
    a.months = CASE WHEN a.part = 'Year' THEN 12 ELSE 3 END AS complete,
    a.has_small_month,
    -- The counts behind the value (a snapshot's are its last month's): when one is a small number, the
    -- value is withheld with it (a year to date of one month is that month).
    CASE WHEN a.kind IN ('ratio_snapshot', 'count_snapshot') THEN last.numerator ELSE a.numerator END AS numerator,
    CASE WHEN a.kind IN ('ratio_snapshot', 'count_snapshot') THEN last.denominator ELSE a.denominator END AS denominator
FROM agg a
JOIN m last ON last.metric_id = a.metric_id AND last.month = a.last_month
ORDER BY a.metric_id, a.fy, a.part
