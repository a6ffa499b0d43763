-- Activity × factor = kgCO2e, one line per activity line and factor row it uses (a kWh of grid
-- electricity has four: generation, T&D, and the well-to-tank of each), with the scope, the NHS
-- boundary and the factor (set, ID or key, value) carried on every line so that any figure can be traced.
SELECT
    a.org_code,
    a.month,
    mo.fy,
    mo.fy_label,
    mo.quarter,
    a.category,
    a.activity,
    a.unit,
    a.quantity,
    a.source_quantity,
    a.source_unit,
    a.site,
    a.detail,
    a.method,
    m.map_id,
    m.account_category,
    m.part,
    m.scope,
    m.boundary,
    r.set_label,
    r.factor_id,
    r.factor_key,
    r.factor_value,
    r.factor_unit,
    a.quantity * r.factor_value AS kgco2e
FROM activity a
JOIN months mo ON mo.month = a.month
JOIN factor_map m ON m.category = a.category AND m.activity = a.activity AND m.unit = a.unit
JOIN factor_resolution r ON r.map_id = m.map_id AND r.fy = mo.fy
ORDER BY a.month, a.org_code, a.category, a.activity, m.map_id, a.site, a.detail
