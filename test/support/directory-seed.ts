import type { Insertable } from 'kysely';
import { searchKey } from '../../src/annuaire/search-key.ts';
import type { Store } from '../../src/store/open.ts';
import type {
  DirectoryActivitiesTable,
  DirectoryMailboxesTable,
  DirectoryProfessionalsTable,
} from '../../src/store/schema/index.ts';

type Omitted = 'snapshot_id' | 'name_key' | 'given_key';
export interface SeedData {
  professionals?: Omit<Insertable<DirectoryProfessionalsTable>, Omitted>[];
  activities?: Omit<Insertable<DirectoryActivitiesTable>, 'snapshot_id'>[];
  mailboxes?: Omit<Insertable<DirectoryMailboxesTable>, Omitted>[];
}

/**
 * Writes rows straight into the local mirror as the current snapshots (one 'ps', one 'mss'),
 * for tests of the code that reads the directory. Tests of the importer use real files instead.
 */
export async function seedDirectory(store: Store, data: SeedData): Promise<{ ps: number; mss: number }> {
  const now = new Date().toISOString();
  const snapshot = async (kind: 'ps' | 'mss', rows: number) => {
    await store.db
      .updateTable('directory_snapshots')
      .set({ status: 'retired' })
      .where('kind', '=', kind)
      .where('status', '=', 'current')
      .execute();
    const r = await store.db
      .insertInto('directory_snapshots')
      .values({
        kind,
        status: 'current',
        source: `seed-${kind}`,
        started_at: now,
        finished_at: now,
        rows_read: rows,
        rows_imported: rows,
        rows_rejected: 0,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return r.id;
  };
  const ps = await snapshot('ps', data.professionals?.length ?? 0);
  const mss = await snapshot('mss', data.mailboxes?.length ?? 0);
  for (const p of data.professionals ?? []) {
    await store.db
      .insertInto('directory_professionals')
      .values({
        ...p,
        snapshot_id: ps,
        name_key: searchKey(`${p.last_name ?? ''} ${p.first_name ?? ''}`),
        given_key: searchKey(`${p.first_name ?? ''} ${p.last_name ?? ''}`),
      })
      .execute();
  }
  for (const a of data.activities ?? []) {
    await store.db
      .insertInto('directory_activities')
      .values({ ...a, snapshot_id: ps })
      .execute();
  }
  for (const m of data.mailboxes ?? []) {
    const person = m.last_name || m.first_name;
    await store.db
      .insertInto('directory_mailboxes')
      .values({
        ...m,
        address: m.address.toLowerCase(),
        snapshot_id: mss,
        name_key: person ? searchKey(`${m.last_name ?? ''} ${m.first_name ?? ''}`) : searchKey(m.org_name),
        given_key: person ? searchKey(`${m.first_name ?? ''} ${m.last_name ?? ''}`) : null,
      })
      .execute();
  }
  return { ps, mss };
}
