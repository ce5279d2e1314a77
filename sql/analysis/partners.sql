-- Whom does a neuron talk to? The notebook's last step: one neuron's synapses grouped by partner
-- (syn_count), largest first, at one version. direction 'output' (the default, as the notebook)
-- gives post-synaptic partners, 'input' pre-synaptic ones. Each partner carries its cell type and
-- whether it is proofread. It answers only when the file holds every synapse of the root at the
-- version (require_synapses_of): otherwise it fails with the mwh ingest command that takes them
-- (--root-ids R, or --synapses partners for every proofread cell), never with a partial table.
-- The synapses come from partner_synapses: outputs from stg_synapse_roots, inputs from
-- stg_synapse_roots_by_post, each stored in its root's order, so one root's rows are a row group
-- or two, not a scan of the version. The cell types are cell_types_of the partner roots only:
-- merging the version's whole type tables (~90,000 rows each at minnie65_public) cost more than
-- the rest of the call (docs/benchmarks.md, section 11). The list reads the synapses a second time,
-- at a row group's cost; a CTE would read them once, but see the next line.
-- Usage: FROM partners(864691135808473885, 1181);  FROM partners(864691135808473885, 1181, direction := 'input');
-- No CTEs here: DuckDB 1.4.0 cannot resolve a table macro's CTEs in a file a newer DuckDB wrote (1.4.5 can).
-- The proofread flag is a LEFT JOIN on proofread_roots (one row per root), not a correlated EXISTS
-- over proofread_neurons: planning that cost 10 ms a call, more than finding the partners
-- (docs/benchmarks.md, section 9). Not an IN either: Sail cannot run an IN subquery in a SELECT list.
-- The checks stand in a branch of their own (UNION ALL, last): DuckDB prunes a plan whose table
-- statistics prove no row can match (a root id outside the column's min/max), and a check inside
-- that plan would then never run; the ORDER BY makes both branches finish before any row is out.
CREATE OR REPLACE MACRO partners(root_id, v, direction := 'output') AS TABLE
SELECT * FROM (
SELECT
    g.partner_root_id, direction AS direction, g.syn_count, g.size_sum,
    t.cell_type AS partner_cell_type,
    pr.pt_root_id IS NOT NULL AS partner_proofread
FROM (
    SELECT partner_root_id, count(*) AS syn_count, sum(size)::BIGINT AS size_sum
    FROM partner_synapses(root_id, v, direction)
    GROUP BY partner_root_id
) g
LEFT JOIN cell_types_of(v, (SELECT list(DISTINCT s.partner_root_id) FROM partner_synapses(root_id, v, direction) s)) t
    ON t.pt_root_id = g.partner_root_id
LEFT JOIN (SELECT p.pt_root_id FROM proofread_roots p WHERE p.version = v) pr ON pr.pt_root_id = g.partner_root_id
UNION ALL
SELECT NULL::BIGINT, NULL::VARCHAR, NULL::BIGINT, NULL::BIGINT, NULL::VARCHAR, NULL::BOOLEAN
WHERE NOT (
    CASE WHEN direction IN ('output', 'input') THEN true
         ELSE error('direction must be ''output'' or ''input'', not ''' || direction || '''')
    END
    AND require_synapses_of(root_id, v) AND require_snapshot(v, 'proofreading')
)
) answer
ORDER BY syn_count DESC, partner_root_id;
COMMENT ON MACRO TABLE partners IS 'Partners of one neuron at a version by synapse count (direction output or input), with partner cell type and proofread flag.';
