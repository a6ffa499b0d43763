-- Every activity line of the window in one long table: organisation, month, category, activity, unit and
-- quantity in the unit its factor applies to, the quantity as returned (`source_quantity`,
-- `source_unit`), and the method: `reported`; `apportioned` (WMAS's fleet, by area); `proxy` (a
-- month an organisation did not return, taken from the same month last year, or a year without a travel
-- survey, taken from the nearest survey). A month with no return and nothing to proxy from stays a gap,
-- listed by `coverage`: nothing is ever filled with zero.
WITH returned AS (
    SELECT org_code, month, 'building_energy' AS category, fuel AS activity, unit, quantity,
           quantity AS source_quantity, unit AS source_unit, site, CAST(NULL AS VARCHAR) AS detail,
           'reported' AS method
    FROM carbon_energy
    UNION ALL
    SELECT org_code, month, 'water', 'water_supply', 'm3', supply_m3 AS quantity, supply_m3 AS source_quantity, 'm3', site, NULL, 'reported'
    FROM carbon_water
    UNION ALL
    SELECT org_code, month, 'water', 'water_treatment', 'm3', wastewater_m3 AS quantity, wastewater_m3 AS source_quantity, 'm3', site, NULL, 'reported'
    FROM carbon_water
    UNION ALL
    SELECT org_code, month, 'waste', route, 'tonnes', tonnes AS quantity, tonnes AS source_quantity, 'tonnes', site, stream, 'reported'
    FROM carbon_waste
    UNION ALL
    SELECT org_code, month, 'travel', mode, unit, quantity, quantity AS source_quantity, unit AS source_unit, NULL, NULL, 'reported'
    FROM carbon_travel
    UNION ALL
    -- WMAS's distances cover its whole service area: the ICB's share is apportioned by area.
    SELECT 'RYA' AS org_code, c.month AS month, 'ambulance' AS category, c.vehicle_type AS activity, 'km' AS unit,
           c.km * a.numerator / a.denominator AS quantity, c.km AS source_quantity, 'km (all WMAS)' AS source_unit,
           NULL AS site, NULL AS detail,
           'apportioned ' || CAST(a.numerator AS VARCHAR) || '/' || CAST(a.denominator AS VARCHAR) AS method
    FROM carbon_ambulance c
    JOIN apportionment a ON a.what = 'ambulance_fleet'
    UNION ALL
    -- Gases as kilograms released: bottles × ml × density, litres of N2O × density, or kilograms as
    -- bought. An agent or unit not in agents.csv keeps its unit, and the mapping check names it.
    SELECT g.org_code AS org_code, g.month AS month, 'anaesthetic_gases' AS category, g.agent AS activity,
           CASE WHEN a.agent IS NULL THEN g.unit ELSE 'kg' END AS unit,
           CASE WHEN a.agent IS NULL THEN g.quantity ELSE g.quantity * a.kg_per_unit END AS quantity,
           g.quantity AS source_quantity, g.unit AS source_unit, NULL AS site,
           CASE WHEN g.bottles IS NOT NULL
                THEN CAST(CAST(g.bottles AS BIGINT) AS VARCHAR) || ' bottles of ' || CAST(CAST(g.bottle_ml AS BIGINT) AS VARCHAR) || ' ml'
           END AS detail,
           'reported' AS method
    FROM carbon_anaesthetic g
    LEFT JOIN agents a ON a.agent = g.agent AND a.unit = g.unit
    UNION ALL
    -- Inhalers: metered-dose inhalers as kilograms of propellant (grams per inhaler of the product);
    -- dry-powder inhalers counted. An unknown product keeps its BNF code, and the mapping check names it.
    SELECT i.org_code AS org_code, i.month AS month, 'inhalers' AS category,
           CASE WHEN p.device = 'MDI' THEN p.propellant
                WHEN p.device = 'DPI' THEN 'dry_powder'
                ELSE 'unknown product ' || i.bnf_code END AS activity,
           CASE WHEN p.device = 'MDI' THEN 'kg' ELSE 'inhalers' END AS unit,
           CASE WHEN p.device = 'MDI' THEN CAST(i.quantity AS DOUBLE) * p.propellant_g / 1000.0
                ELSE CAST(i.quantity AS DOUBLE) END AS quantity,
           CAST(i.quantity AS DOUBLE) AS source_quantity, 'inhalers' AS source_unit, i.practice_code AS site,
           i.bnf_code AS detail, 'reported' AS method
    FROM carbon_inhalers i
    LEFT JOIN inhaler_products p ON p.bnf_code = i.bnf_code
    UNION ALL
    SELECT org_code, month, 'procurement', spend_category, 'GBP', spend_gbp AS quantity, spend_gbp AS source_quantity, 'GBP', NULL, NULL, 'reported'
    FROM carbon_procurement
),
-- Which organisation returns which category, from its first return on.
started AS (
    SELECT org_code, category, MIN(month) AS first_month FROM returned GROUP BY org_code, category
),
category_months AS (
    SELECT DISTINCT category, month FROM returned
    UNION
    -- Every month of the period for the monthly returns, whether or not anyone returned it: a month missing
    -- for every organisation is proxied (or listed as a gap) as one organisation's missing month is.
    -- Procurement is returned once a quarter, under the quarter's first month.
    SELECT c.category, m.month
    FROM (SELECT DISTINCT category FROM returned) c
    CROSS JOIN months m
    WHERE m.in_period AND (c.category <> 'procurement' OR m.fym % 3 = 1)
),
present AS (
    SELECT DISTINCT org_code, category, month FROM returned
),
absent AS (
    SELECT s.org_code, s.category, cm.month,
           CAST(CAST(substr(cm.month, 1, 4) AS INT) - 1 AS VARCHAR) || substr(cm.month, 5) AS month_ly
    FROM started s
    JOIN category_months cm ON cm.category = s.category AND cm.month > s.first_month
    LEFT JOIN present p ON p.org_code = s.org_code AND p.category = s.category AND p.month = cm.month
    WHERE p.org_code IS NULL
),
proxied AS (
    SELECT r.org_code, x.month, r.category, r.activity, r.unit, r.quantity, r.source_quantity,
           r.source_unit, r.site, r.detail, 'proxy: same month last year' AS method
    FROM absent x
    JOIN returned r ON r.org_code = x.org_code AND r.category = x.category AND r.month = x.month_ly
    WHERE r.method = 'reported'
),
-- Travel surveys are annual: each year takes its own survey, or else the nearest one (the earlier on a tie).
survey_choice AS (
    SELECT org_code, fy, survey_fy FROM (
        SELECT y.org_code, y.fy, s.survey_fy,
               ROW_NUMBER() OVER (PARTITION BY y.org_code, y.fy ORDER BY abs(y.fy - s.survey_fy), s.survey_fy) AS rn
        FROM (SELECT DISTINCT o.org_code, m.fy FROM carbon_travel_survey o CROSS JOIN months m) y
        JOIN (SELECT DISTINCT org_code, survey_fy FROM carbon_travel_survey) s ON s.org_code = y.org_code
    ) ranked WHERE rn = 1
),
survey AS (
    SELECT s.org_code, m.month, 'personal_travel' AS category, s.mode AS activity, s.unit,
           s.annual_quantity / 12.0 AS quantity, s.annual_quantity / 12.0 AS source_quantity, s.unit AS source_unit,
           CAST(NULL AS VARCHAR) AS site, s.journey AS detail,
           CASE WHEN c.survey_fy = m.fy THEN 'reported'
                ELSE 'proxy: travel survey of ' || CAST(c.survey_fy AS VARCHAR) || '/' || lpad(CAST((c.survey_fy + 1) % 100 AS VARCHAR), 2, '0')
           END AS method
    FROM carbon_travel_survey s
    JOIN survey_choice c ON c.org_code = s.org_code AND c.survey_fy = s.survey_fy
    JOIN months m ON m.fy = c.fy
)
SELECT * FROM returned
UNION ALL
SELECT * FROM proxied
UNION ALL
SELECT * FROM survey
