-- The notebook's binary pre x post connectivity matrix, in long form: every ordered pair of
-- proofread cells at a version with connected = 1 if they share a synapse (autapses removed, so
-- the diagonal is 0). DuckDB cannot put a data-dependent PIVOT in a view; the wide matrix is
-- generated per version as the table macro connectivity_matrix_<version>() when a snapshot is committed.
-- Grain: one row per (pre, post) pair of proofread cells per version.
CREATE OR REPLACE VIEW connectivity_pairs AS
SELECT
    pre.version,
    pre.pt_root_id AS pre_pt_root_id,
    post.pt_root_id AS post_pt_root_id,
    CASE WHEN c.syn_count IS NULL THEN 0 ELSE 1 END AS connected,
    coalesce(c.syn_count, 0) AS syn_count,
    coalesce(c.size_sum, 0) AS size_sum
FROM proofread_neurons pre
JOIN proofread_neurons post ON post.version = pre.version
LEFT JOIN connections c
    ON c.version = pre.version AND c.pre_pt_root_id = pre.pt_root_id AND c.post_pt_root_id = post.pt_root_id;
COMMENT ON VIEW connectivity_pairs IS 'Every ordered pair of proofread cells per version, connected 0/1 and synapse counts: the binary matrix in long form.';
