-- The figures quoted by the period's commentary (config/board-pack/commentary.yaml), resolved against the
-- data, and the claims made about them judged: one row per placeholder of `issues`, `updates` or
-- `recovery_actions` of a record whose `period` is the reporting month.
--
-- A placeholder is `{{ figure }}` or `{{ figure | claim }}`:
--   figure   metric_id (the ICB's value of the month, as metric_month holds it), metric_id@ORG (a
--            provider's, ORG its short name or ODS code, as metric_provider_month holds it), and either
--            with `.numerator` or `.denominator` after the metric id for a count behind a ratio
--            (`rtt_18w.denominator` is the RTT waiting list).
--   claim    `met` / `not met` (the figure against its metric's standard), `rose` / `fell` (against the
--            month before), or `was 69.1%` / `was 2,345` (the figure as it printed when the prose was written).
-- The template prints each figure in the place of its placeholder, formatted as the tables print it, and
-- a flag beside the commentary for each contradiction; the step exception_checks fails the run on a
-- `problem` and warns of each `contradiction`.
--
-- A body runs from `{{` to the first `}}` (the rule src/render/format.rs fills by): the text is split at
-- every `{{`, and each piece after the first is read up to its `}}`.
WITH texts AS (
    SELECT period, metric_id, 'issues' AS field, issues AS body FROM commentary WHERE period = $period
    UNION ALL
    SELECT period, metric_id, 'updates', updates FROM commentary WHERE period = $period
    UNION ALL
    SELECT period, metric_id, 'recovery_actions', recovery_actions FROM commentary WHERE period = $period
),
pieces AS (
    SELECT period, metric_id, field,
           unnest(array_slice(string_to_array(body, '{{'), 2, CAST(array_length(string_to_array(body, '{{')) AS BIGINT))) AS piece
    FROM texts
    WHERE body IS NOT NULL
),
placeholders AS (
    SELECT period, metric_id, field,
           strpos(piece, '}}') > 0 AS closed,
           strpos(split_part(piece, '}}', 1), chr(10)) > 0 AS multiline,
           -- Trimmed of spaces and tabs, as src/render/format.rs trims it to look it up.
           btrim(split_part(piece, '}}', 1), ' ' || chr(9)) AS placeholder
    FROM pieces
),
parsed AS (
    SELECT p.*,
           btrim(split_part(split_part(placeholder, '|', 1), '@', 1), ' ' || chr(9)) AS target,
           btrim(split_part(split_part(placeholder, '|', 1), '@', 2), ' ' || chr(9)) AS org,
           btrim(split_part(placeholder, '|', 2), ' ' || chr(9)) AS claim,
           split_part(placeholder, '|', 3) <> '' AS extra_claim
    FROM placeholders p
),
figures AS (
    SELECT p.*,
           split_part(target, '.', 1) AS figure_metric,
           CASE WHEN split_part(target, '.', 2) = '' THEN 'value' ELSE split_part(target, '.', 2) END AS measure,
           split_part(target, '.', 3) <> '' AS extra_measure,
           CASE WHEN claim LIKE 'was %' THEN btrim(substr(claim, 5), ' ' || chr(9)) END AS written
    FROM parsed p
),
resolved AS (
    SELECT f.*,
           k.id IS NOT NULL AS known_metric,
           k.kind IN ('ratio', 'ratio_snapshot') AS metric_ratio,
           k.standard,
           k.direction,
           o.org_code,
           o.short_name AS provider
    FROM figures f
    LEFT JOIN metrics k ON k.id = f.figure_metric
    LEFT JOIN organisations o ON f.org <> '' AND (o.short_name = f.org OR o.org_code = f.org)
),
valued AS (
    SELECT r.*,
           CASE r.measure WHEN 'value' THEN COALESCE(pm.value, im.value)
                          WHEN 'numerator' THEN COALESCE(pm.numerator, im.numerator)
                          WHEN 'denominator' THEN COALESCE(pm.denominator, im.denominator) END AS value,
           CASE r.measure WHEN 'value' THEN COALESCE(pp.value, ip.value)
                          WHEN 'numerator' THEN COALESCE(pp.numerator, ip.numerator)
                          WHEN 'denominator' THEN COALESCE(pp.denominator, ip.denominator) END AS previous_value,
           -- The counts behind the figure: when one is a small number, the figure is withheld with it.
           COALESCE(pm.numerator, im.numerator) AS numerator,
           COALESCE(pm.denominator, im.denominator) AS denominator
    FROM resolved r
    LEFT JOIN metric_month im
           ON r.org = '' AND im.metric_id = r.figure_metric AND im.month = $period
    LEFT JOIN metric_month ip
           ON r.org = '' AND ip.metric_id = r.figure_metric
          AND ip.month = to_char(CAST($period_start AS DATE) - INTERVAL '1 month', '%Y-%m')
    LEFT JOIN metric_provider_month pm
           ON pm.provider_code = r.org_code AND pm.metric_id = r.figure_metric AND pm.month = $period
    LEFT JOIN metric_provider_month pp
           ON pp.provider_code = r.org_code AND pp.metric_id = r.figure_metric
          AND pp.month = to_char(CAST($period_start AS DATE) - INTERVAL '1 month', '%Y-%m')
),
judged AS (
    SELECT v.*,
           -- A ratio's value prints as a percentage to one decimal place, a count as a whole number: a
           -- written figure is compared with the figure as it prints.
           (v.measure = 'value' AND v.metric_ratio) AS ratio,
           TRY_CAST(replace(replace(v.written, '%', ''), ',', '') AS DOUBLE) AS written_value,
           CASE WHEN v.direction = 'increase' THEN v.value >= v.standard ELSE v.value <= v.standard END AS meets
    FROM valued v
)
SELECT
    period,
    metric_id,
    field,
    placeholder,
    figure_metric,
    measure,
    org_code,
    provider,
    claim,
    written,
    ratio,
    metric_ratio,
    value,
    previous_value,
    numerator,
    denominator,
    -- What makes the placeholder unusable: the run fails naming the record and the placeholder.
    CASE
        WHEN NOT closed THEN 'the placeholder is not closed with }}'
        -- The pack fills placeholders line by line (each line is a bullet).
        WHEN multiline THEN 'a placeholder must be on one line'
        WHEN extra_claim THEN 'one claim per placeholder: write another placeholder for another claim'
        WHEN NOT known_metric THEN 'no metric `' || figure_metric || '` in config/board-pack/metrics.yaml'
        WHEN org <> '' AND org_code IS NULL THEN 'no organisation `' || org || '` in the reference data (a short name or ODS code)'
        WHEN extra_measure OR measure NOT IN ('value', 'numerator', 'denominator') THEN 'unknown part `' || target || '`: write metric_id, metric_id.numerator or metric_id.denominator'
        WHEN claim NOT IN ('', 'met', 'not met', 'rose', 'fell') AND written IS NULL
            THEN 'unknown claim `' || claim || '`: write met, not met, rose, fell or was <figure>'
        WHEN claim IN ('met', 'not met') AND measure <> 'value' THEN 'a count behind a ratio has no standard to be met'
        WHEN written IS NOT NULL AND TRY_CAST(replace(replace(written, '%', ''), ',', '') AS DOUBLE) IS NULL
            THEN 'the written figure `' || written || '` is not a number'
    END AS problem,
    -- Where the claim and the data disagree: the pack flags it beside the commentary and the run warns.
    CASE
        WHEN claim = '' THEN NULL
        WHEN value IS NULL THEN 'no_figure'
        WHEN claim = 'met' AND NOT meets THEN 'not_met'
        WHEN claim = 'not met' AND meets THEN 'met'
        WHEN claim IN ('rose', 'fell') AND previous_value IS NULL THEN 'no_previous'
        WHEN claim = 'rose' AND value <= previous_value THEN 'did_not_rise'
        WHEN claim = 'fell' AND value >= previous_value THEN 'did_not_fall'
        WHEN written_value IS NOT NULL
         AND CASE WHEN ratio THEN round(value * 100, 1) <> round(written_value, 1)
                  ELSE round(value) <> round(written_value) END THEN 'changed'
    END AS contradiction
FROM judged
ORDER BY period, metric_id, field, placeholder
