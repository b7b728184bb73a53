import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import {
  createSpool,
  type EnqueueInput,
  groupId,
  type Spool,
  type SpoolOptions,
} from '../../src/queue/spool.ts';
import type { Store } from '../../src/store/open.ts';
import { describeEachStore } from '../support/stores.ts';

const T0 = new Date('2025-07-01T10:00:00.000Z');

describeEachStore('outbound spool', (kind) => {
  let store: Store;
  let now: Date;
  const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);
  const spoolWith = (opts: SpoolOptions = {}): Spool =>
    createSpool(store, {
      clock: () => now,
      retryDelaysSeconds: [60, 300, 900],
      expireHours: 120,
      leaseSeconds: 600,
      ...opts,
    });
  const message = (over: Partial<EnqueueInput> = {}): EnqueueInput => ({
    blobId: 'blob-1',
    mailFrom: 'a@ch-a.mssante.fr',
    size: 1234,
    source: 'submission',
    recipients: [{ rcpt: 'b@ch-b.mssante.fr' }],
    ...over,
  });
  const recipient = (id: number) =>
    store.db.selectFrom('spool_recipients').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

  beforeAll(async () => {
    store = await kind.open();
  });
  afterAll(async () => {
    await store?.close();
  });
  beforeEach(async () => {
    now = T0;
    await store.db.deleteFrom('spool_recipients').execute();
    await store.db.deleteFrom('spool_messages').execute();
  });

  it('enqueues one row per recipient, one job per domain; a claim takes the group, once', async () => {
    const spool = spoolWith();
    const r = await spool.enqueue(
      message({
        envid: 'ENV-1',
        ret: 'HDRS',
        recipients: [
          { rcpt: 'b1@ch-b.mssante.fr', orcpt: 'rfc822;B1@ch-b.mssante.fr', notify: 'delay,failure' },
          { rcpt: 'b2@CH-B.mssante.fr', notify: ['NEVER'] },
          { rcpt: 'c@ch-c.mssante.fr' },
          { rcpt: 'B1@ch-b.mssante.fr' }, // the same address again
        ],
      }),
    );
    expect(r.recipientIds).toHaveLength(4);
    expect(new Set(r.recipientIds).size).toBe(3);
    expect(r.jobs).toEqual([
      { id: groupId(r.messageId, 'ch-b.mssante.fr'), runAt: T0 },
      { id: groupId(r.messageId, 'ch-c.mssante.fr'), runAt: T0 },
    ]);

    const work = await spool.claim(`${r.messageId}/ch-b.mssante.fr`, 'w1');
    expect(work).toMatchObject({
      owner: 'w1',
      domain: 'ch-b.mssante.fr',
      leaseUntil: at(600),
      more: false,
      message: {
        id: r.messageId,
        blobId: 'blob-1',
        mailFrom: 'a@ch-a.mssante.fr',
        size: 1234,
        envid: 'ENV-1',
        ret: 'HDRS',
        receivedAt: T0,
        expiresAt: at(120 * 3600),
      },
    });
    expect(work!.recipients).toEqual([
      {
        id: r.recipientIds[0],
        rcpt: 'b1@ch-b.mssante.fr',
        orcpt: 'rfc822;B1@ch-b.mssante.fr',
        notify: 'FAILURE,DELAY',
        attempts: 1,
      },
      { id: r.recipientIds[1], rcpt: 'b2@CH-B.mssante.fr', orcpt: null, notify: 'NEVER', attempts: 1 },
    ]);
    expect(await spool.claim(`${r.messageId}/ch-b.mssante.fr`, 'w2')).toBeNull();

    expect(await spool.complete(r.recipientIds[0]!, 'w1', { remoteMta: 'mx.ch-b.mssante.fr' })).toBe(true);
    expect(await spool.complete(r.recipientIds[0]!, 'w1')).toBe(false); // already done
    const done = await recipient(r.recipientIds[0]!);
    expect(done).toMatchObject({
      status: 'delivered',
      lease_owner: null,
      remote_mta: 'mx.ch-b.mssante.fr',
      delivered_at: T0.toISOString(),
    });
    expect(await spool.stats()).toEqual({
      queued: 1,
      delivering: 1,
      delivered: 1,
      failed: 0,
      expired: 0,
      noticesPending: 0,
      oldestPendingAt: T0,
    });
  });

  it("enqueues inside the caller's transaction: nothing remains when it rolls back", async () => {
    const spool = spoolWith();
    await expect(
      store.db.transaction().execute(async (trx) => {
        await spool.enqueue(message(), trx);
        throw new Error('the message could not be stored');
      }),
    ).rejects.toThrow(/could not be stored/);
    expect(await spool.due(10)).toEqual([]);
    const r = await store.db.transaction().execute((trx) => spool.enqueue(message(), trx));
    expect(await spool.due(10)).toEqual(r.jobs);
  });

  it('refuses a message without recipients, a bad address or a bad RET', async () => {
    const spool = spoolWith();
    await expect(spool.enqueue(message({ recipients: [] }))).rejects.toThrow(/at least one recipient/);
    await expect(spool.enqueue(message({ recipients: [{ rcpt: 'nobody' }] }))).rejects.toThrow(
      /not an address/,
    );
    await expect(spool.enqueue(message({ ret: 'ALL' as 'FULL' }))).rejects.toThrow(/RET/);
    await expect(
      spool.enqueue(message({ recipients: [{ rcpt: 'b@x.fr', notify: 'NEVER,DELAY' }] })),
    ).rejects.toThrow(/NEVER/);
  });

  it('never lets another worker take a live lease', async () => {
    const spool = spoolWith();
    const r = await spool.enqueue(message());
    const group = r.jobs[0]!.id;
    expect(await spool.claim(group, 'alive')).not.toBeNull();
    now = at(599); // one second before the lease ends
    expect(await spool.claim(group, 'other')).toBeNull();
    expect(await spool.claim(r.recipientIds[0]!, 'other')).toBeNull();
    expect(await spool.due(10)).toEqual([]);
    expect(await spool.complete(r.recipientIds[0]!, 'other')).toBe(false);
    expect(
      await spool.fail(r.recipientIds[0]!, 'other', { permanent: true, code: 550, message: 'x' }),
    ).toBeNull();
    expect(await recipient(r.recipientIds[0]!)).toMatchObject({ status: 'delivering', lease_owner: 'alive' });
  });

  it("takes over the lease of a dead worker once it has expired; the dead worker's late report is refused", async () => {
    const spool = spoolWith();
    const r = await spool.enqueue(message());
    const group = r.jobs[0]!.id;
    await spool.claim(group, 'dead');
    now = at(601);
    expect(await spool.due(10)).toEqual([{ id: group, runAt: at(600) }]);
    const work = await spool.claim(group, 'heir');
    expect(work?.recipients[0]?.attempts).toBe(2);
    expect(await spool.complete(r.recipientIds[0]!, 'dead')).toBe(false);
    expect(
      await spool.fail(r.recipientIds[0]!, 'dead', { permanent: false, code: 421, message: 'x' }),
    ).toBeNull();
    expect(await spool.complete(r.recipientIds[0]!, 'heir')).toBe(true);
    expect(await recipient(r.recipientIds[0]!)).toMatchObject({ status: 'delivered', attempts: 2 });
  });

  it('retries on the schedule; nothing is due before its time', async () => {
    const spool = spoolWith();
    const r = await spool.enqueue(message());
    const [id] = r.recipientIds as [number];
    const group = r.jobs[0]!.id;
    const tempFail = {
      permanent: false,
      code: 451,
      enhanced: '4.3.0',
      message: 'try later',
      remoteMta: 'mx.b',
    };

    await spool.claim(group, 'w');
    expect(await spool.fail(id, 'w', tempFail)).toEqual({
      status: 'queued',
      nextAttemptAt: at(60),
      notice: null,
    });
    expect(await recipient(id)).toMatchObject({
      status: 'queued',
      attempts: 1,
      last_code: 451,
      last_enhanced: '4.3.0',
      last_error: 'try later',
      remote_mta: 'mx.b',
      lease_owner: null,
    });
    now = at(59);
    expect(await spool.claim(group, 'w')).toBeNull();
    expect(await spool.due(10)).toEqual([]);
    now = at(60);
    expect(await spool.due(10)).toEqual([{ id: group, runAt: at(60) }]);
    await spool.claim(group, 'w');
    expect(await spool.fail(id, 'w', tempFail)).toMatchObject({ nextAttemptAt: at(60 + 300) });
    now = at(360);
    await spool.claim(group, 'w');
    expect(await spool.fail(id, 'w', tempFail)).toMatchObject({ nextAttemptAt: at(360 + 900) });
    now = at(1260);
    await spool.claim(group, 'w');
    expect(await spool.fail(id, 'w', tempFail)).toMatchObject({ nextAttemptAt: at(1260 + 900) }); // last repeats
  });

  it('expires after expireHours: a last attempt at the expiry instant, then a failure notice', async () => {
    const spool = spoolWith({ expireHours: 1, retryDelaysSeconds: [1800] });
    const r = await spool.enqueue(
      message({ recipients: [{ rcpt: 'b@ch-b.mssante.fr', notify: 'FAILURE' }] }),
    );
    const [id] = r.recipientIds as [number];
    const group = r.jobs[0]!.id;
    const tempFail = { permanent: false, code: null, message: 'connect ETIMEDOUT' };

    await spool.claim(group, 'w');
    expect(await spool.fail(id, 'w', tempFail)).toMatchObject({ status: 'queued', nextAttemptAt: at(1800) });
    now = at(1900);
    await spool.claim(group, 'w');
    expect(await spool.fail(id, 'w', tempFail)).toMatchObject({ status: 'queued', nextAttemptAt: at(3600) });
    now = at(3600);
    await spool.claim(group, 'w');
    expect(await spool.fail(id, 'w', tempFail)).toEqual({ status: 'expired', notice: 'failed' });
    expect(await recipient(id)).toMatchObject({ status: 'expired', notice: 'failed', attempts: 3 });
    now = at(99_999);
    expect(await spool.due(10)).toEqual([]);
  });

  it.each([
    ['a permanent failure', 'a@ch-a.mssante.fr', null, 'failed'],
    ['NOTIFY=NEVER', 'a@ch-a.mssante.fr', 'NEVER', null],
    ['NOTIFY=SUCCESS only', 'a@ch-a.mssante.fr', 'SUCCESS', null],
    ['a bounce (null sender)', '', null, null],
  ] as const)('records the DSN owed after %s', async (_label, mailFrom, notify, notice) => {
    const spool = spoolWith();
    const r = await spool.enqueue(message({ mailFrom, recipients: [{ rcpt: 'b@ch-b.mssante.fr', notify }] }));
    await spool.claim(r.jobs[0]!.id, 'w');
    const outcome = await spool.fail(r.recipientIds[0]!, 'w', {
      permanent: true,
      code: 550,
      enhanced: '5.1.1',
      message: 'user unknown',
    });
    expect(outcome).toEqual({ status: 'failed', notice });
    expect(await spool.dueNotices(10)).toEqual(notice ? [r.messageId] : []);
  });

  it('leases owed DSNs to one sender at a time, until they are marked sent', async () => {
    const spool = spoolWith();
    const r = await spool.enqueue(
      message({ recipients: [{ rcpt: 'b@ch-b.mssante.fr' }, { rcpt: 'b2@ch-b.mssante.fr' }] }),
    );
    await spool.claim(r.jobs[0]!.id, 'w');
    for (const id of r.recipientIds) {
      await spool.fail(id, 'w', { permanent: true, code: 550, enhanced: '5.1.1', message: 'unknown' });
    }
    const notices = await spool.claimNotices(r.messageId, 'n1');
    expect(notices?.message.mailFrom).toBe('a@ch-a.mssante.fr');
    expect(notices?.recipients.map((x) => [x.rcpt, x.notice, x.status, x.lastCode, x.lastEnhanced])).toEqual([
      ['b@ch-b.mssante.fr', 'failed', 'failed', 550, '5.1.1'],
      ['b2@ch-b.mssante.fr', 'failed', 'failed', 550, '5.1.1'],
    ]);
    expect(await spool.claimNotices(r.messageId, 'n2')).toBeNull();
    expect(await spool.dueNotices(10)).toEqual([]);
    now = at(301); // notice lease (300 s) over: the sender is presumed dead
    expect(await spool.dueNotices(10)).toEqual([r.messageId]);
    const again = await spool.claimNotices(r.messageId, 'n2');
    expect(again?.recipients).toHaveLength(2);
    const items = again!.recipients.map((x) => ({ id: x.id, notice: x.notice }));
    expect(await spool.noticesSent(items, 'n1')).toBe(0); // not the holder any more
    expect(await spool.noticesSent(items, 'n2')).toBe(2);
    expect(await spool.dueNotices(10)).toEqual([]);
    expect((await spool.stats()).noticesPending).toBe(0);
  });

  it('owes one delay notice once a recipient is late, dropped if delivered before it went out', async () => {
    const spool = spoolWith({ delayNoticeAfterSeconds: 3600 });
    const r = await spool.enqueue(message());
    const [id] = r.recipientIds as [number];
    const group = r.jobs[0]!.id;
    const tempFail = { permanent: false, code: 421, message: 'busy' };
    await spool.claim(group, 'w');
    expect(await spool.fail(id, 'w', tempFail)).toMatchObject({ status: 'queued', notice: null });
    now = at(3600);
    await spool.claim(group, 'w');
    expect(await spool.fail(id, 'w', tempFail)).toMatchObject({ status: 'queued', notice: 'delayed' });
    const notices = await spool.claimNotices(r.messageId, 'n');
    await spool.noticesSent([{ id, notice: 'delayed' }], 'n');
    expect(notices?.recipients[0]).toMatchObject({ notice: 'delayed', status: 'queued' });
    now = at(7200);
    await spool.claim(group, 'w');
    expect(await spool.fail(id, 'w', tempFail)).toMatchObject({ notice: null }); // only once

    // Another message: late, then delivered before the delay notice was sent.
    const r2 = await spool.enqueue(message());
    await spool.claim(r2.jobs[0]!.id, 'w');
    now = at(7200 + 3600);
    expect(await spool.fail(r2.recipientIds[0]!, 'w', tempFail)).toMatchObject({ notice: 'delayed' });
    now = at(7200 + 3600 + 60);
    expect(await spool.claim(r2.jobs[0]!.id, 'w')).not.toBeNull();
    await spool.complete(r2.recipientIds[0]!, 'w');
    expect(await recipient(r2.recipientIds[0]!)).toMatchObject({ status: 'delivered', notice: null });
  });

  it('owes a "relayed" notice for NOTIFY=SUCCESS unless the next hop took the DSN request', async () => {
    const spool = spoolWith();
    const r = await spool.enqueue(
      message({
        recipients: [
          { rcpt: 'b@ch-b.mssante.fr', notify: 'SUCCESS,FAILURE' },
          { rcpt: 'b2@ch-b.mssante.fr', notify: 'SUCCESS' },
          { rcpt: 'b3@ch-b.mssante.fr' },
        ],
      }),
    );
    const [b, b2, b3] = r.recipientIds as [number, number, number];
    await spool.claim(r.jobs[0]!.id, 'w');
    await spool.complete(b, 'w', { dsnRelayed: false });
    await spool.complete(b2, 'w', { dsnRelayed: true });
    await spool.complete(b3, 'w');
    expect((await recipient(b)).notice).toBe('relayed');
    expect((await recipient(b2)).notice).toBeNull();
    expect((await recipient(b3)).notice).toBeNull();
  });

  it('gives exactly one of many concurrent claimers the whole group', async () => {
    const spool = spoolWith();
    const r = await spool.enqueue(
      message({ recipients: ['x1', 'x2', 'x3'].map((l) => ({ rcpt: `${l}@ch-b.mssante.fr` })) }),
    );
    const group = r.jobs[0]!.id;
    for (let round = 0; round < 3; round++) {
      const claims = await Promise.all(
        Array.from({ length: 8 }, (_, i) => createSpool(store, { clock: () => now }).claim(group, `w${i}`)),
      );
      const winners = claims.filter((c) => c !== null);
      expect(winners).toHaveLength(1);
      expect(winners[0]!.recipients).toHaveLength(3);
      now = new Date(now.getTime() + 901_000); // let the lease lapse for the next round
    }
    const rows = await store.db.selectFrom('spool_recipients').select(['attempts']).execute();
    expect(rows.map((x) => x.attempts)).toEqual([3, 3, 3]);
  });

  it('splits a large group into claims of maxRecipientsPerClaim', async () => {
    const spool = spoolWith({ maxRecipientsPerClaim: 2 });
    const r = await spool.enqueue(
      message({ recipients: ['x1', 'x2', 'x3'].map((l) => ({ rcpt: `${l}@ch-b.mssante.fr` })) }),
    );
    const first = await spool.claim(r.jobs[0]!.id, 'w');
    expect(first?.recipients.map((x) => x.rcpt)).toEqual(['x1@ch-b.mssante.fr', 'x2@ch-b.mssante.fr']);
    expect(first?.more).toBe(true);
    const second = await spool.claim(r.jobs[0]!.id, 'w');
    expect(second?.recipients.map((x) => x.rcpt)).toEqual(['x3@ch-b.mssante.fr']);
    expect(second?.more).toBe(false);
  });

  it('lists due groups oldest first, within the limit', async () => {
    const spool = spoolWith();
    const a = await spool.enqueue(message({ recipients: [{ rcpt: 'a@ch-b.mssante.fr' }] }));
    now = at(10);
    const b = await spool.enqueue(message({ recipients: [{ rcpt: 'b@ch-c.mssante.fr' }] }));
    now = at(20);
    expect(await spool.due(10)).toEqual([...a.jobs, ...b.jobs]);
    expect(await spool.due(1)).toEqual(a.jobs);
  });

  it('purges finished messages and gives their blobs back; keeps unfinished ones', async () => {
    const spool = spoolWith();
    const done = await spool.enqueue(message({ blobId: 'blob-done' }));
    const pending = await spool.enqueue(message({ blobId: 'blob-pending' }));
    await spool.claim(done.jobs[0]!.id, 'w');
    await spool.complete(done.recipientIds[0]!, 'w');
    expect(await spool.purge(at(0))).toEqual({ messages: 0, blobIds: [] }); // finished just now
    now = at(3600);
    expect(await spool.purge(at(1800))).toEqual({ messages: 1, blobIds: ['blob-done'] });
    expect(await spool.due(10)).toEqual(pending.jobs);
    expect(await store.db.selectFrom('spool_recipients').select('id').execute()).toHaveLength(1);
  });
});
