import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { migrate, type Store } from '../../src/store/open.ts';
import { describeEachStore } from '../support/stores.ts';

describeEachStore('store', (kind) => {
  let store: Store;
  beforeAll(async () => {
    store = await kind.open();
  });
  afterAll(async () => {
    await store?.close();
  });

  it('applies the migrations once; a second run has nothing to do', async () => {
    expect(await migrate(store)).toEqual([]);
  });

  it('keeps the audit log append-only: UPDATE and DELETE are refused by the engine', async () => {
    await store.db
      .insertInto('audit_log')
      .values({
        at: new Date().toISOString(),
        actor: 'test',
        action: 'test.write',
        subject: 's',
        details: '{}',
      })
      .execute();
    await expect(store.db.updateTable('audit_log').set({ actor: 'someone else' }).execute()).rejects.toThrow(
      /append-only/,
    );
    await expect(store.db.deleteFrom('audit_log').execute()).rejects.toThrow(/append-only/);
    const rows = await store.db.selectFrom('audit_log').select(['actor']).execute();
    expect(rows).toEqual([{ actor: 'test' }]);
  });

  it('rolls back a failed transaction completely', async () => {
    await expect(
      store.db.transaction().execute(async (trx) => {
        await trx
          .insertInto('structures')
          .values({ structure_id: '1750000002', kind: 'FINESS', name: 'X', created_at: 'now' })
          .execute();
        await sql`select * from no_such_table`.execute(trx);
      }),
    ).rejects.toThrow();
    const count = await store.db
      .selectFrom('structures')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirst();
    expect(Number(count?.n)).toBe(0);
  });
});
