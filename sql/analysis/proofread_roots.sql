-- Which root ids are proofread at each version? The datastack's proofread filter on the
-- proofreading table (status_axon = 't' on minnie65_public), and nothing else: what the partner
-- flag of partners, root_history, and the joins on the proofread cells ask. proofread_neurons has
-- the same cells with positions, links and nucleus ids; naming it cost a query about 8 ms of
-- planning for those columns and its nucleus join (docs/benchmarks.md, section 9).
-- Grain: one row per proofread root id per version.
CREATE OR REPLACE VIEW proofread_roots AS
SELECT DISTINCT version, pt_root_id
FROM stg_proofreading
WHERE {{filter.proofread}};
COMMENT ON VIEW proofread_roots IS 'Root ids with a proofread axon (the datastack''s proofread filter) per version, and no other column.';
