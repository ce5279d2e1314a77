-- How likely is a cell of one type to connect to a cell of another type? Among proofread cells at
-- a version, for every ordered pair of cell types (pre type, post type): the cells of each type,
-- the possible ordered pairs (n_pre x n_post, or n x (n - 1) within a type, since a cell is not
-- paired with itself: autapses are removed from the connections), the pairs that share at least
-- one synapse, connection_probability = connected / possible, and the mean synapse count per
-- connected pair. Types are the merged cell_type (manual over automatic, 'unsure' kept as the
-- tables give it); proofread cells absent from both type tables are 'no type'.
-- Grain: one row per (pre cell type, post cell type) per version, type pairs without connections included.
CREATE OR REPLACE VIEW cell_type_connectivity AS
WITH cells AS (
    SELECT DISTINCT version, pt_root_id, coalesce(cell_type, 'no type') AS cell_type
    FROM proofread_cell_types
),
type_counts AS (
    SELECT version, cell_type, count(*) AS cells FROM cells GROUP BY version, cell_type
),
type_pairs AS (
    SELECT
        pre.version, pre.cell_type AS pre_cell_type, post.cell_type AS post_cell_type,
        pre.cells AS pre_cells, post.cells AS post_cells,
        CASE WHEN pre.cell_type = post.cell_type THEN pre.cells * (pre.cells - 1)
             ELSE pre.cells * post.cells END AS possible_pairs
    FROM type_counts pre
    JOIN type_counts post ON post.version = pre.version
),
connected AS (
    SELECT
        c.version, pre.cell_type AS pre_cell_type, post.cell_type AS post_cell_type,
        count(*) AS connected_pairs,
        sum(c.syn_count)::BIGINT AS synapses
    FROM connections c
    JOIN cells pre ON pre.version = c.version AND pre.pt_root_id = c.pre_pt_root_id
    JOIN cells post ON post.version = c.version AND post.pt_root_id = c.post_pt_root_id
    GROUP BY ALL
)
SELECT
    t.version, t.pre_cell_type, t.post_cell_type, t.pre_cells, t.post_cells, t.possible_pairs,
    coalesce(k.connected_pairs, 0) AS connected_pairs,
    coalesce(k.synapses, 0) AS synapses,
    coalesce(k.connected_pairs, 0) / nullif(t.possible_pairs, 0) AS connection_probability,
    k.synapses / k.connected_pairs AS mean_synapses_per_connection
FROM type_pairs t
LEFT JOIN connected k
    ON k.version = t.version AND k.pre_cell_type = t.pre_cell_type AND k.post_cell_type = t.post_cell_type;
COMMENT ON VIEW cell_type_connectivity IS 'Connection probability and synapses per connection between cell types of proofread cells (self-pairs excluded); one row per (pre type, post type) per version.';
COMMENT ON COLUMN cell_type_connectivity.possible_pairs IS 'Ordered pairs of distinct proofread cells: pre_cells x post_cells, or n x (n - 1) within one type.';
COMMENT ON COLUMN cell_type_connectivity.connection_probability IS 'connected_pairs / possible_pairs (NULL when no pair is possible).';
COMMENT ON COLUMN cell_type_connectivity.mean_synapses_per_connection IS 'synapses / connected_pairs (NULL without connections).';
