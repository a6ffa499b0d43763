-- Every configured indicator for every practice and every month loaded (the period and the history
-- before it), with whether the practice submitted it: a practice without data for a month keeps its row,
-- with no numerator or denominator, so that it is listed as a non-submitter and never counted as zero.
WITH months AS (
    SELECT DISTINCT month FROM registered_population
)
SELECT
    m.month,
    p.practice_code,
    i.id AS indicator_id,
    i.source,
    x.numerator,
    x.denominator,
    (x.numerator IS NOT NULL AND x.denominator IS NOT NULL) AS submitted
FROM practices p
CROSS JOIN months m
CROSS JOIN indicators i
LEFT JOIN measure_month x
    ON x.practice_code = p.practice_code
    AND x.month = m.month
    AND x.source = i.source
    AND x.measure = i.measure
ORDER BY m.month, p.practice_code, i.id
