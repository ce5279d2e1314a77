-- Staging for one-neuron lookups by post-synaptic root: the same rows as stg_synapse_roots
-- without the id, from the copy the single file keeps in post_pt_root_id order per snapshot, so
-- a filter on one root's inputs reads a row group or two (warehouse/store.py).
-- Grain: one row per synapse per version.
CREATE OR REPLACE VIEW stg_synapse_roots_by_post AS
SELECT version, pre_pt_root_id, post_pt_root_id, size
FROM {{by_post.synapses}}
WHERE snapshot_id IN (SELECT snapshot_id FROM meta.current_snapshots WHERE role = 'synapses');
COMMENT ON VIEW stg_synapse_roots_by_post IS 'Root ids and size of each synapse per version (current snapshot), stored in post root order: one neuron''s inputs read fast.';
