-- Which synapses connect two proofread cells, autapses removed? The notebook's synapse query
-- (pre and post root id both proofread) followed by dropping rows with pre = post.
-- Grain: one row per synapse per version.
CREATE OR REPLACE VIEW proofread_synapses AS
SELECT s.*
FROM stg_synapses s
SEMI JOIN proofread_roots pre ON pre.version = s.version AND pre.pt_root_id = s.pre_pt_root_id
SEMI JOIN proofread_roots post ON post.version = s.version AND post.pt_root_id = s.post_pt_root_id
WHERE s.pre_pt_root_id <> s.post_pt_root_id;
COMMENT ON VIEW proofread_synapses IS 'Synapses whose pre and post cells both have proofread axons, without autapses; one row per synapse per version.';
