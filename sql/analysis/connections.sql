-- How strongly is each proofread cell connected to each other? Synapse count and summed synapse
-- size per (pre, post) pair of proofread cells that share at least one synapse (autapses removed).
-- Grain: one row per connected (pre, post) pair per version.
CREATE OR REPLACE VIEW connections AS
SELECT
    version, pre_pt_root_id, post_pt_root_id,
    count(*) AS syn_count,
    sum(size)::BIGINT AS size_sum
FROM proofread_synapses
GROUP BY version, pre_pt_root_id, post_pt_root_id;
COMMENT ON VIEW connections IS 'Connected pairs of proofread cells with synapse count and summed size (voxels); one row per pair per version.';
