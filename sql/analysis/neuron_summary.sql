-- What is this neuron, at one version? One row for any root id: whether it is proofread (and how),
-- its merged cell type, its nucleus (from the nucleus table: id, count, soma volume), its position in voxels and micrometres with depth below the
-- pia (the proofreading point if proofread, else its nucleus's point, else NULL), its synapses and
-- partners in each direction as the partners macro counts them (every synapse of the root, which
-- the file must hold: require_synapses_of; autapses included and counted separately too), and a
-- neuroglancer link. The synapse counts read the root-ordered tables, as partners does.
-- Grain: one row per call.
-- Usage: FROM neuron_summary(864691135808473885, 1181);
-- No CTEs here: DuckDB 1.4.0 cannot resolve a table macro's CTEs in a file a newer DuckDB wrote (1.4.5 can).
CREATE OR REPLACE MACRO neuron_summary(root_id, v) AS TABLE
SELECT
    root_id::BIGINT AS pt_root_id, v AS version,
    p.proofread, p.strategy_axon,
    (SELECT t.cell_type FROM cell_types_of(v, [root_id]) t) AS cell_type,
    p.nucleus_id, p.n_nuclei, p.nucleus_volume,
    p.x AS position_x, p.y AS position_y, p.z AS position_z,
    p.x * voxel_um('x') AS x_um, p.y * voxel_um('y') AS y_um, p.z * voxel_um('z') AS z_um,
    depth_um(p.y) AS depth_um,
    s.syn_out, s.output_partners, s.syn_in, s.input_partners, s.autapses,
    CASE WHEN p.x IS NOT NULL THEN neuroglancer_url(root_id, p.x, p.y, p.z) END AS neuroglancer_url
-- The checks are a table of one row of their own: the aggregates below always give one row, but
-- DuckDB may never run a filter of a plan its statistics prove empty (see partners.sql).
FROM (
    SELECT 1 AS ok WHERE require_synapses_of(root_id, v) AND require_snapshot(v, 'proofreading')
        AND require_snapshot(v, 'nucleus')
) checks,
(
    SELECT
        pr.proofread, pr.strategy_axon, nu.nucleus_id, nu.n_nuclei, nu.nucleus_volume,
        coalesce(pr.x, nu.x) AS x, coalesce(pr.y, nu.y) AS y, coalesce(pr.z, nu.z) AS z
    FROM (
        SELECT
            count(*) > 0 AS proofread, arg_min(strategy_axon, id) AS strategy_axon,
            arg_min(pt_position_x, id) AS x, arg_min(pt_position_y, id) AS y, arg_min(pt_position_z, id) AS z
        FROM stg_proofreading WHERE version = v AND pt_root_id = root_id AND {{filter.proofread}}
    ) pr,
    (
        SELECT
            min(nucleus_id) AS nucleus_id, count(DISTINCT nucleus_id) AS n_nuclei,
            arg_min(volume, nucleus_id) AS nucleus_volume,
            arg_min(pt_position_x, nucleus_id) AS x, arg_min(pt_position_y, nucleus_id) AS y,
            arg_min(pt_position_z, nucleus_id) AS z
        FROM stg_nucleus WHERE version = v AND pt_root_id = root_id AND root_id <> 0
    ) nu
) p,
(
    SELECT o.syn_out, i.syn_in, o.output_partners, i.input_partners, o.autapses
    FROM (
        SELECT count(*) AS syn_out, count(DISTINCT post_pt_root_id) AS output_partners,
               count(*) FILTER (WHERE post_pt_root_id = root_id) AS autapses
        FROM stg_synapse_roots WHERE version = v AND pre_pt_root_id = root_id
    ) o,
    (
        SELECT count(*) AS syn_in, count(DISTINCT pre_pt_root_id) AS input_partners
        FROM stg_synapse_roots_by_post WHERE version = v AND post_pt_root_id = root_id
    ) i
) s;
COMMENT ON MACRO TABLE neuron_summary IS 'One root id at a version: proofread or not, cell type, nucleus (id, count, soma volume in um^3), position (voxels, um, depth), synapses and partners each way, neuroglancer link.';
