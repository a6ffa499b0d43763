-- The RAG rating of every practice by the rule in config/primary-care/rag.yaml (printed in the
-- dashboard): red for `red_outer_min`+ RAG indicators outside the outer limit on the bad side or a CQC
-- rating below Good; amber for `amber_outer_min`+ outside the outer limit, `amber_inner_min`+ outside the
-- inner limit (the outer included), or no e-declaration; green otherwise. Non-submitted indicators count
-- for nothing either way; they are listed in the data notes.
WITH counts AS (
    SELECT
        practice_code,
        SUM(CASE WHEN rag AND side = 'worse' AND outside_outer THEN 1 ELSE 0 END) AS worse_outer,
        SUM(CASE WHEN rag AND side = 'worse' AND outside_inner THEN 1 ELSE 0 END) AS worse_inner,
        SUM(CASE WHEN rag AND side = 'better' AND outside_outer THEN 1 ELSE 0 END) AS better_outer,
        SUM(CASE WHEN rag AND NOT submitted THEN 1 ELSE 0 END) AS rag_not_submitted,
        string_agg(CASE WHEN rag AND side = 'worse' AND outside_outer THEN indicator_short END, ', ' ORDER BY indicator_order) AS worse_outer_list,
        string_agg(CASE WHEN rag AND side = 'worse' AND outside_inner AND NOT outside_outer THEN indicator_short END, ', ' ORDER BY indicator_order) AS worse_inner_only_list
    FROM practice_funnel
    GROUP BY practice_code
),
status AS (
    SELECT practice_code, cqc_rating, cqc_rating_date, edeclaration_returned
    FROM practice_status
    WHERE month = (SELECT MAX(month) FROM practice_status)
),
list AS (
    SELECT practice_code, patients
    FROM registered_population
    WHERE month = (
        SELECT MAX(month) FROM registered_population
        WHERE CAST(month || '-01' AS DATE) BETWEEN $period_start AND $period_end
    )
),
age AS (
    -- The share of the list aged 65 or over at the period's end (the practice's age profile).
    SELECT
        practice_code,
        CAST(SUM(CASE WHEN age_band IN ('65-79', '80+') THEN patients ELSE 0 END) AS DOUBLE) / SUM(patients) AS share_65_plus
    FROM practice_list_size
    WHERE month = (
        SELECT MAX(month) FROM practice_list_size
        WHERE CAST(month || '-01' AS DATE) BETWEEN $period_start AND $period_end
    )
    GROUP BY practice_code
),
rated AS (
    SELECT
        p.practice_code,
        p.practice_name,
        p.pcn_code,
        p.pcn_name,
        p.place,
        p.imd_decile,
        l.patients AS list_size,
        a.share_65_plus,
        c.worse_outer,
        c.worse_inner,
        c.better_outer,
        c.rag_not_submitted,
        c.worse_outer_list,
        c.worse_inner_only_list,
        s.cqc_rating,
        s.cqc_rating_date,
        s.edeclaration_returned,
        COALESCE(q.below_good, false) AS cqc_below_good,
        CASE
            WHEN c.worse_outer >= r.red_outer_min OR COALESCE(q.below_good, false) THEN 'Red'
            WHEN c.worse_outer >= r.amber_outer_min
                OR c.worse_inner >= r.amber_inner_min
                OR (r.amber_no_edeclaration AND NOT COALESCE(s.edeclaration_returned, false)) THEN 'Amber'
            ELSE 'Green'
        END AS rag
    FROM practices p
    JOIN counts c ON c.practice_code = p.practice_code
    LEFT JOIN list l ON l.practice_code = p.practice_code
    LEFT JOIN age a ON a.practice_code = p.practice_code
    LEFT JOIN status s ON s.practice_code = p.practice_code
    LEFT JOIN cqc_ratings q ON q.rating = s.cqc_rating
    CROSS JOIN rag_rule r
)
SELECT
    rated.*,
    concat_ws('; ',
        CASE WHEN worse_outer > 0 THEN 'outside 99.8% (worse): ' || worse_outer_list END,
        CASE WHEN worse_inner > worse_outer THEN 'outside 95% only (worse): ' || worse_inner_only_list END,
        CASE WHEN cqc_below_good THEN 'CQC ' || cqc_rating END,
        CASE WHEN NOT COALESCE(edeclaration_returned, false) THEN 'e-declaration not returned' END
    ) AS reasons
FROM rated
ORDER BY place, pcn_code, practice_code
