-- Rollups: every indicator for each PCN, Place and the ICB, recomputed from the numerators and
-- denominators of the practices that submitted (never an average of practice rates).
WITH levels AS (
    SELECT 'PCN' AS level, pcn_code AS area_code, pcn_name AS area_name, place AS area_place,
           indicator_id, numerator, denominator, submitted
    FROM practice_indicator
    UNION ALL
    SELECT 'Place', place, place AS place_name, place AS place_of_area, indicator_id, numerator, denominator, submitted
    FROM practice_indicator
    UNION ALL
    SELECT 'ICB', 'ICB', 'ICB', 'ICB', indicator_id, numerator, denominator, submitted
    FROM practice_indicator
)
SELECT
    level,
    area_code,
    MAX(area_name) AS area_name,
    MAX(area_place) AS place,
    indicator_id,
    SUM(numerator) AS numerator,
    SUM(denominator) AS denominator,
    CASE WHEN SUM(denominator) > 0 THEN SUM(numerator) / SUM(denominator) END AS value,
    COUNT(*) AS practices,
    SUM(CASE WHEN submitted THEN 1 ELSE 0 END) AS submitting
FROM levels
GROUP BY level, area_code, indicator_id
ORDER BY level, area_code, indicator_id
