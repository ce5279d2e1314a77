-- What type is each proofread cell? The proofread cells left-joined to the merged cell types, as
-- the notebook does (cells absent from both type tables keep NULL types).
-- Grain: one row per proofread cell per version (1,436 at minnie65_public v1181).
CREATE OR REPLACE VIEW proofread_cell_types AS
SELECT
    p.*,
    t.nucleus_id, t.cell_type, t.cell_type_auto, t.cell_type_manual,
    t.classification_system_auto, t.classification_system_manual,
    t.nucleus_id_auto, t.nucleus_id_manual
FROM proofread_neurons p
LEFT JOIN cell_types t ON t.version = p.version AND t.pt_root_id = p.pt_root_id;
COMMENT ON VIEW proofread_cell_types IS 'Proofread cells with their merged cell types, one row per proofread cell per version.';
