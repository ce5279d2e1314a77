-- Are reciprocal connections more common than chance? For the proofread cells of a version: n
-- cells, the connected ordered pairs among the n x (n - 1) possible ones (autapses removed) and
-- their density p, the reciprocally connected unordered pairs among the n x (n - 1) / 2 possible
-- ones, and that observed reciprocity compared with two expectations for independent connections:
-- expected_reciprocity_independent = p^2 (every ordered pair connected with the same probability
-- p, independently), and expected_reciprocity_by_type, which keeps the cell-type structure: each
-- unordered pair of cells of types A and B is reciprocal with probability p(A->B) x p(B->A), the
-- connection probabilities of cell_type_connectivity, summed over all pairs and divided by the
-- possible pairs. A ratio above 1 means more reciprocal pairs than independence predicts.
-- Grain: one row per version.
CREATE OR REPLACE VIEW reciprocity AS
WITH cells AS (
    SELECT version, count(DISTINCT pt_root_id) AS cells FROM proofread_roots GROUP BY version
),
edges AS (
    SELECT version, count(*) AS connected_pairs FROM connections GROUP BY version
),
mutual AS (
    SELECT version, count(*) AS reciprocal_pairs FROM reciprocal_pairs GROUP BY version
),
by_type AS (
    -- half the sum over ordered type pairs of possible_pairs x p(A->B) x p(B->A): each unordered
    -- pair of types appears twice, and within a type n (n - 1) counts every pair twice.
    SELECT ab.version, sum(ab.possible_pairs * ab.connection_probability * ba.connection_probability) / 2
        AS expected_reciprocal_pairs_by_type
    FROM cell_type_connectivity ab
    JOIN cell_type_connectivity ba
        ON ba.version = ab.version AND ba.pre_cell_type = ab.post_cell_type AND ba.post_cell_type = ab.pre_cell_type
    GROUP BY ab.version
),
counts AS (
    SELECT
        c.version, c.cells,
        c.cells * (c.cells - 1) AS possible_ordered_pairs,
        coalesce(e.connected_pairs, 0) AS connected_pairs,
        c.cells * (c.cells - 1) // 2 AS possible_unordered_pairs,
        coalesce(m.reciprocal_pairs, 0) AS reciprocal_pairs,
        t.expected_reciprocal_pairs_by_type
    FROM cells c
    LEFT JOIN edges e ON e.version = c.version
    LEFT JOIN mutual m ON m.version = c.version
    LEFT JOIN by_type t ON t.version = c.version
)
SELECT
    version, cells, possible_ordered_pairs, connected_pairs,
    connected_pairs / nullif(possible_ordered_pairs, 0) AS connection_density,
    possible_unordered_pairs, reciprocal_pairs,
    reciprocal_pairs / nullif(possible_unordered_pairs, 0) AS reciprocity,
    (connected_pairs / nullif(possible_ordered_pairs, 0)) ^ 2 AS expected_reciprocity_independent,
    (reciprocal_pairs / nullif(possible_unordered_pairs, 0))
        / nullif((connected_pairs / nullif(possible_ordered_pairs, 0)) ^ 2, 0) AS ratio_independent,
    expected_reciprocal_pairs_by_type / nullif(possible_unordered_pairs, 0) AS expected_reciprocity_by_type,
    reciprocal_pairs / nullif(expected_reciprocal_pairs_by_type, 0) AS ratio_by_type,
    2 * reciprocal_pairs / nullif(connected_pairs, 0) AS fraction_reciprocated
FROM counts;
COMMENT ON VIEW reciprocity IS 'Reciprocal pairs among proofread cells versus independence: observed reciprocity, expected p^2 (global density) and by cell type; one row per version.';
COMMENT ON COLUMN reciprocity.reciprocity IS 'reciprocal_pairs / possible_unordered_pairs: the fraction of cell pairs connected both ways.';
COMMENT ON COLUMN reciprocity.expected_reciprocity_independent IS 'connection_density^2: the reciprocity if every ordered pair connected independently with the same probability.';
COMMENT ON COLUMN reciprocity.expected_reciprocity_by_type IS 'Mean over cell pairs of p(A->B) x p(B->A) with the cell-type connection probabilities (cell_type_connectivity).';
COMMENT ON COLUMN reciprocity.fraction_reciprocated IS 'Share of connected ordered pairs whose reverse pair is connected too (2 x reciprocal / connected).';
