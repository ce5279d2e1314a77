-- Staging for one-neuron lookups by pre-synaptic root: the root ids and size of each synapse of
-- the current snapshots at each version, without the fixed columns (no join to __fixed). In the
-- single file each snapshot's rows are stored in pre_pt_root_id order, so a filter on one root
-- reads a row group or two (warehouse/store.py). Grain: one row per synapse per version.
CREATE OR REPLACE VIEW stg_synapse_roots AS
SELECT version, id, pre_pt_root_id, post_pt_root_id, size
FROM {{rows.synapses}}
WHERE snapshot_id IN (SELECT snapshot_id FROM meta.current_snapshots WHERE role = 'synapses');
COMMENT ON VIEW stg_synapse_roots IS 'Root ids and size of each synapse per version (current snapshot), stored in pre root order: one neuron''s outputs read fast.';
