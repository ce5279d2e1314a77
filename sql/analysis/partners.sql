-- Whom does a neuron talk to? The notebook's last step: one neuron's synapses grouped by partner
-- (syn_count), largest first, at one version. direction 'output' (the default, as the notebook)
-- gives post-synaptic partners, 'input' pre-synaptic ones. Each partner carries its cell type and
-- whether it is proofread. Only synapses in the version's synapse snapshot are seen: snapshot with
-- --synapses partners to get every partner of the proofread cells.
-- Usage: FROM partners(864691135808473885, 1181);  FROM partners(864691135808473885, 1181, direction := 'input');
-- No CTEs here: DuckDB 1.4.0 cannot resolve a table macro's CTEs in a file a newer DuckDB wrote (1.4.5 can).
CREATE OR REPLACE MACRO partners(root_id, v, direction := 'output') AS TABLE
SELECT
    g.partner_root_id, direction AS direction, g.syn_count, g.size_sum,
    t.cell_type AS partner_cell_type,
    EXISTS (SELECT 1 FROM proofread_neurons p WHERE p.version = v AND p.pt_root_id = g.partner_root_id) AS partner_proofread
FROM (
    SELECT partner_root_id, count(*) AS syn_count, sum(size)::BIGINT AS size_sum
    FROM (
        SELECT
            CASE WHEN direction = 'output' THEN post_pt_root_id ELSE pre_pt_root_id END AS partner_root_id,
            size
        FROM stg_synapses
        WHERE version = v
          AND (SELECT require_snapshot(v, 'synapses') AND require_snapshot(v, 'proofreading'))
          AND CASE
                WHEN direction = 'output' THEN pre_pt_root_id = root_id
                WHEN direction = 'input' THEN post_pt_root_id = root_id
                ELSE error('direction must be ''output'' or ''input'', not ''' || direction || '''')
              END
    ) syn
    GROUP BY partner_root_id
) g
LEFT JOIN cell_types t ON t.version = v AND t.pt_root_id = g.partner_root_id
ORDER BY g.syn_count DESC, g.partner_root_id;
COMMENT ON MACRO TABLE partners IS 'Partners of one neuron at a version by synapse count (direction output or input), with partner cell type and proofread flag.';
