/* Spool tables (filled in by its migration 004_spool). */
// biome-ignore lint/complexity/noBannedTypes: placeholder until the spool tables land
export type SpoolTables = {};
