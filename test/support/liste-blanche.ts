/**
 * A liste blanche document in the ANS format, listing each [domain, operator certificate DN].
 * `closeRoot: false` ends it after </ListeDomaines>, like the file the ANS publishes.
 */
export function listeBlancheXml(
  domains: readonly (readonly [string, string])[],
  { generatedAt = new Date(), closeRoot = true }: { generatedAt?: Date; closeRoot?: boolean } = {},
): string {
  const items = domains
    .map(
      ([nom, dn]) => `    <Domaine>
      <Nom>${nom}</Nom>
      <Description>test ${nom}</Description>
      <DNCertificatOperateur>${dn}</DNCertificatOperateur>
      <ResponsableContact>01 02 03 04 05, resp@example.fr</ResponsableContact>
      <SupportContact>01 02 03 04 06, support@example.fr</SupportContact>
      <DateMAJ>2026-01-02T03:04:05Z</DateMAJ>
    </Domaine>`,
    )
    .join('\n');
  return `<?xml version="1.0" encoding="UTF-8"?><ListeBlancheMSSante xmlns="https://listeblanche.mssante.fr/schema">
  <DateDeGeneration>${generatedAt.toISOString().slice(0, 19)}Z</DateDeGeneration>
  <ListeDomaines>
${items}
  </ListeDomaines>${closeRoot ? '\n</ListeBlancheMSSante>\n' : ''}`;
}
