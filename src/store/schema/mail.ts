/* Mail tables (filled in by its migration 003_mail). */
// biome-ignore lint/complexity/noBannedTypes: placeholder until the mail tables land
export type MailTables = {};
