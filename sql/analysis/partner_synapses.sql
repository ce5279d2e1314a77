-- Which synapses does one neuron make (direction 'output': its partner is the post-synaptic root)
-- or receive ('input': the pre-synaptic root) at a version? The rows partners counts, read from
-- the table stored in that root's order (stg_synapse_roots for outputs, stg_synapse_roots_by_post
-- for inputs), so one root's rows are a row group or two, not a scan of the version. No check that
-- the file holds all of them: partners makes that check. Any other direction gives no rows.
-- Grain: one row per synapse. Usage: FROM partner_synapses(864691135808473885, 1181, 'input');
CREATE OR REPLACE MACRO partner_synapses(root_id, v, direction) AS TABLE
SELECT o.post_pt_root_id AS partner_root_id, o.size
FROM stg_synapse_roots o
WHERE direction = 'output' AND o.version = v AND o.pre_pt_root_id = root_id
UNION ALL
SELECT i.pre_pt_root_id AS partner_root_id, i.size
FROM stg_synapse_roots_by_post i
WHERE direction = 'input' AND i.version = v AND i.post_pt_root_id = root_id;
COMMENT ON MACRO TABLE partner_synapses IS 'One neuron''s synapses in a direction (output or input) at a version: partner root id and size, unchecked.';
