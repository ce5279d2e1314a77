-- What does each proofread cell look like at a version, for comparing versions? Its key across
-- versions (proofread_nuclei: the smallest nucleus id on its root, NULL without one, n_nuclei),
-- its merged type, and its synapse counts (neuron_degrees): syn_in_all/syn_out_all over the
-- version's synapse snapshot, syn_in/syn_out with other proofread cells. Comparing two versions
-- of this view is how changes between versions are found. Grain: one row per proofread cell per
-- version.
CREATE OR REPLACE VIEW proofread_cell_state AS
SELECT
    n.version, n.pt_root_id, n.nucleus_id, n.n_nuclei, d.cell_type,
    d.syn_in_all, d.syn_out_all, d.syn_in, d.syn_out
FROM proofread_nuclei n
LEFT JOIN neuron_degrees d USING (version, pt_root_id);
COMMENT ON VIEW proofread_cell_state IS 'Proofread cells with their nucleus key and synapse counts, for comparing versions; one row per proofread cell per version.';
