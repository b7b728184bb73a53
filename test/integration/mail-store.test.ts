import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotFoundError, ValidationError } from '../../src/domain/errors.ts';
import { sha256Hex } from '../../src/mail/blob-crypto.ts';
import { type BlobStore, createLocalBlobStore } from '../../src/mail/blob-store.ts';
import {
  createBlobReferences,
  createMailStore,
  type MailStore,
  UnknownRecipientError,
} from '../../src/mail/mail-store.ts';
import { parseEnvelope } from '../../src/mail/mime/envelope.ts';
import { parseStructure } from '../../src/mail/mime/structure.ts';
import { createSqlDedupe } from '../../src/smtp/runtime.ts';
import type { Store } from '../../src/store/open.ts';
import type { BalType } from '../../src/store/schema/index.ts';
import { describeEachStore } from '../support/stores.ts';

const DOMAIN = 'ch-test.mssante.fr';
let counter = 0;
/** A fresh address, so that tests sharing one store never share mailboxes. */
const fresh = (prefix: string) => `${prefix}.${++counter}@${DOMAIN}`;

async function createBal(store: Store, address: string, type: BalType = 'PER'): Promise<string> {
  const now = new Date().toISOString();
  await store.db
    .insertInto('bals')
    .values({
      address,
      type,
      status: 'active',
      holder_id_nat: type === 'PER' ? '810001234567' : null,
      structure_id: null,
      display_name: address,
      description: null,
      service: null,
      responsible_id_nat: null,
      phone: null,
      liste_rouge: 0,
      digitization: 0,
      preferred_rank: null,
      status_reason: null,
      created_at: now,
      updated_at: now,
      suspended_at: null,
      closed_at: null,
    })
    .execute();
  return address;
}

function sample(subject = 'Compte rendu', extra = ''): Buffer {
  return Buffer.from(
    [
      'From: =?utf-8?Q?Dr_Jean_Dupr=C3=A9?= <jean.dupre@ch-a.mssante.fr>',
      'To: cardiologie@ch-test.mssante.fr, "Durand, Paul" <paul.durand@ch-test.mssante.fr>',
      `Subject: ${subject}`,
      'Date: Tue, 4 Mar 2025 10:15:00 +0100',
      `Message-ID: <${randomBytes(6).toString('hex')}@ch-a.mssante.fr>`,
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="b"',
      '',
      '--b',
      'Content-Type: text/plain; charset=utf-8',
      '',
      `Bonjour. Patient DUPONT Marie. ${extra}`,
      '--b',
      'Content-Type: application/zip; name="IHE_XDM.ZIP"',
      'Content-Transfer-Encoding: base64',
      'Content-Disposition: attachment; filename="IHE_XDM.ZIP"',
      '',
      Buffer.from('PK\u0003\u0004 not really a zip').toString('base64'),
      '--b--',
      '',
    ].join('\r\n'),
  );
}

describeEachStore('mail store', (kind) => {
  describe.each([
    ['blobs in clear', null],
    ['blobs encrypted', randomBytes(32)],
  ] as const)('%s', (_title, encryptionKey) => {
    let store: Store;
    let blobDir: string;
    let blobs: BlobStore;
    let mail: MailStore;
    let now = new Date('2025-03-04T10:00:00.000Z');
    const clock = () => now;

    beforeAll(async () => {
      store = await kind.open();
      blobDir = mkdtempSync(join(tmpdir(), 'mss-mail-blobs-'));
      blobs = createLocalBlobStore({ dir: blobDir, encryptionKey });
      mail = createMailStore(store, blobs, { clock });
    });
    afterAll(async () => {
      await store?.close();
      if (blobDir) rmSync(blobDir, { recursive: true, force: true });
    });

    const blobRow = (id: string) =>
      store.db.selectFrom('blobs').selectAll().where('id', '=', id).executeTakeFirst();
    const blobFile = (id: string) => join(blobDir, id.slice(0, 2), id.slice(2, 4), id);

    it('creates the default mailboxes with SPECIAL-USE, once', async () => {
      const address = await createBal(store, fresh('per'));
      const boxes = await mail.ensureDefaultMailboxes(address);
      expect(boxes.map((b) => [b.name, b.specialUse])).toEqual([
        ['INBOX', null],
        ['Archive', '\\Archive'],
        ['Drafts', '\\Drafts'],
        ['Sent', '\\Sent'],
        ['Trash', '\\Trash'],
      ]);
      for (const b of boxes) {
        expect(b).toMatchObject({
          balAddress: address,
          uidValidity: Math.floor(now.getTime() / 1000),
          uidNext: 1,
          highestModseq: 1,
          subscribed: true,
        });
      }
      expect(await mail.ensureDefaultMailboxes(address.toUpperCase())).toEqual(boxes);
      await expect(mail.ensureDefaultMailboxes(fresh('nobody'))).rejects.toThrow(UnknownRecipientError);
    });

    it('delivers to 3 BALs: one INBOX row each with UID 1, one blob with ref_count 3', async () => {
      const a = await createBal(store, fresh('per'));
      const b = await createBal(store, fresh('per'));
      const org = await createBal(store, fresh('service'), 'ORG');
      const raw = sample();
      const results = await mail.deliver(raw, [a, b, org.toUpperCase(), a]);
      expect(results.map((r) => [r.address, r.uid, r.modseq])).toEqual([
        [a, 1, 2],
        [b, 1, 2],
        [org, 1, 2],
      ]);
      const blobId = sha256Hex(raw);
      expect(await blobRow(blobId)).toMatchObject({
        ref_count: 3,
        size: raw.length,
        encrypted: encryptionKey ? 1 : 0,
      });
      for (const r of results) {
        const [inbox] = await mail.listMailboxes(r.address);
        expect(inbox).toMatchObject({ id: r.mailboxId, name: 'INBOX', uidNext: 2, highestModseq: 2 });
        const messages = await mail.getMessages(r.mailboxId);
        expect(messages.map((m) => [m.uid, m.modseq, m.blobId, m.size, m.flags])).toEqual([
          [1, 2, blobId, raw.length, []],
        ]);
        expect(messages[0]?.internalDate).toBe(now.toISOString());
        expect(await mail.readMessage(r.mailboxId, 1)).toEqual(raw);
        expect(await mail.getChanges(r.mailboxId, 0)).toEqual([
          { mailboxId: r.mailboxId, modseq: 2, uid: 1, kind: 'append', at: now.toISOString() },
        ]);
      }
      // The same message again to one of them: same blob, one more reference, next UID.
      const [again] = await mail.deliver(raw, [b]);
      expect(again).toMatchObject({ address: b, uid: 2, modseq: 3 });
      expect((await blobRow(blobId))?.ref_count).toBe(4);
      await expect(mail.readMessage(again!.mailboxId, 3)).rejects.toThrow(NotFoundError);
    });

    it('50 concurrent deliveries to one mailbox get UIDs 1..50 without gap and strictly increasing MODSEQs', async () => {
      const address = await createBal(store, fresh('busy'), 'ORG');
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => mail.deliver(sample(`message ${i}`, String(i)), [address])),
      );
      const flat = results.flat();
      expect(flat.map((r) => r.uid).sort((x, y) => x - y)).toEqual(
        Array.from({ length: 50 }, (_, i) => i + 1),
      );
      const mailboxId = flat[0]!.mailboxId;
      const messages = await mail.getMessages(mailboxId);
      expect(messages.map((m) => m.uid)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
      for (let i = 1; i < messages.length; i++) {
        expect(messages[i]!.modseq).toBeGreaterThan(messages[i - 1]!.modseq);
      }
      // Each delivery's answer is what was stored for it.
      for (const r of flat) expect(messages.find((m) => m.uid === r.uid)?.modseq).toBe(r.modseq);
      const [inbox] = await mail.listMailboxes(address);
      expect(inbox).toMatchObject({ uidNext: 51, highestModseq: messages.at(-1)!.modseq });
      expect((await mail.getChanges(mailboxId, 0)).map((c) => c.uid).sort((x, y) => x - y)).toEqual(
        messages.map((m) => m.uid),
      );
      expect(await mail.getMessages(mailboxId, { sinceUid: 48 })).toHaveLength(2);
    });

    it('group commit: 50 concurrent deliveries, one to an unknown BAL; the 49 others are stored with gap-free UIDs', async () => {
      const address = await createBal(store, fresh('group'), 'ORG');
      const other = await createBal(store, fresh('group-other'));
      const ghost = fresh('ghost');
      // A wide window, so that the deliveries are committed in groups whatever the machine's load.
      const grouped = createMailStore(store, blobs, { clock, groupWindowMs: 50 });
      const transactions = new Set<unknown>();
      const raws = Array.from({ length: 50 }, (_, i) => sample(`group ${i}`, `g${i}`));
      const settled = await Promise.allSettled(
        Array.from({ length: 50 }, (_, i) =>
          grouped.deliver(
            raws[i]!,
            i === 17 ? [address, ghost] : i % 10 === 3 ? [address, other] : [address],
            {
              inTransaction: async (trx) => {
                transactions.add(trx);
              },
            },
          ),
        ),
      );
      // Fewer transactions than deliveries: they went in groups.
      expect(transactions.size).toBeLessThan(50);
      const bad = settled[17]!;
      expect(bad.status).toBe('rejected');
      expect((bad as PromiseRejectedResult).reason).toBeInstanceOf(UnknownRecipientError);
      expect(settled.filter((r) => r.status === 'fulfilled')).toHaveLength(49);

      const results = settled.flatMap((r) => (r.status === 'fulfilled' ? r.value : []));
      const mine = results.filter((r) => r.address === address);
      expect(mine.map((r) => r.uid).sort((x, y) => x - y)).toEqual(
        Array.from({ length: 49 }, (_, i) => i + 1),
      );
      const mailboxId = mine[0]!.mailboxId;
      const messages = await grouped.getMessages(mailboxId);
      expect(messages.map((m) => m.uid)).toEqual(Array.from({ length: 49 }, (_, i) => i + 1));
      for (let i = 1; i < messages.length; i++) {
        expect(messages[i]!.modseq).toBe(messages[i - 1]!.modseq + 1);
      }
      for (const r of mine) expect(messages.find((m) => m.uid === r.uid)?.modseq).toBe(r.modseq);
      const [inbox] = await grouped.listMailboxes(address);
      expect(inbox).toMatchObject({ uidNext: 50, highestModseq: messages.at(-1)!.modseq });
      expect((await grouped.getChanges(mailboxId, 0)).map((c) => c.uid)).toEqual(messages.map((m) => m.uid));
      const others = results.filter((r) => r.address === other);
      expect(others.map((r) => r.uid).sort((x, y) => x - y)).toEqual([1, 2, 3, 4, 5]);

      // Each stored message reads back; the failed one left nothing but an unreferenced blob.
      for (const r of results) {
        const i = Number(/group (\d+)/.exec((await grouped.readMessage(r.mailboxId, r.uid)).toString())![1]);
        expect(i).not.toBe(17);
      }
      const failedBlob = sha256Hex(raws[17]!);
      expect(await blobRow(failedBlob)).toMatchObject({ ref_count: 0 });
      expect(
        await store.db.selectFrom('messages').select('id').where('blob_id', '=', failedBlob).execute(),
      ).toEqual([]);
      expect(await grouped.listMailboxes(ghost)).toEqual([]);
      for (let i = 0; i < 50; i++) {
        if (i === 17) continue;
        const row = await blobRow(sha256Hex(raws[i]!));
        expect(row?.ref_count).toBe(i % 10 === 3 ? 2 : 1);
      }
    });

    it('inTransaction: what the hook writes is committed with the messages; a failing hook fails its delivery only', async () => {
      const address = await createBal(store, fresh('hook'), 'ORG');
      const grouped = createMailStore(store, blobs, { clock, groupWindowMs: 50 });
      const dedupe = createSqlDedupe(store, { expireHours: 24, clock });
      const key = (i: number) => ({
        peerDn: 'CN=peer',
        envid: `hook-${counter}-${i}`,
        sha256: 'x'.repeat(64),
      });
      const settled = await Promise.allSettled(
        Array.from({ length: 10 }, (_, i) =>
          grouped.deliver(sample(`hook ${i}`, `h${i}`), [address], {
            inTransaction: async (trx, results) => {
              expect(results).toHaveLength(1);
              await dedupe.record(key(i), [address], trx);
              if (i === 4) throw new Error('hook failed');
            },
          }),
        ),
      );
      expect(settled.map((r) => r.status)).toEqual(
        Array.from({ length: 10 }, (_, i) => (i === 4 ? 'rejected' : 'fulfilled')),
      );
      for (let i = 0; i < 10; i++) {
        expect(await dedupe.seen(key(i), [address])).toEqual(i === 4 ? new Set() : new Set([address]));
      }
      const [inbox] = await grouped.listMailboxes(address);
      expect(inbox).toMatchObject({ uidNext: 10 });
    });

    it('a blob file that no row knows (a crash between the put and the commit) is registered, then collected', async () => {
      let at = new Date(Date.now() + 2 * 60 * 60_000);
      const refs = createBlobReferences(store, blobs, { clock: () => at });
      const raw = Buffer.from(`orphan ${randomBytes(8).toString('hex')}\r\n`);
      const put = await blobs.put(raw);
      expect(await blobRow(put.id)).toBeUndefined();
      // Found by the sweep of its shard (all shards here), registered unreferenced with a fresh date.
      const first = await refs.collectGarbage({ sweepShards: 256 });
      expect(first.adopted).toBeGreaterThanOrEqual(1);
      expect(await blobRow(put.id)).toMatchObject({
        ref_count: 0,
        size: raw.length,
        stored_size: put.storedSize,
        encrypted: put.encrypted ? 1 : 0,
      });
      expect(await blobs.has(put.id)).toBe(true);
      // A referenced blob is never adopted nor collected; this one goes after the grace period.
      at = new Date(at.getTime() + 2 * 60 * 60_000);
      await refs.collectGarbage({ sweepShards: 0 });
      expect(await blobRow(put.id)).toBeUndefined();
      expect(await blobs.has(put.id)).toBe(false);
      const referenced = await store.db.selectFrom('blobs').select('id').where('ref_count', '>', 0).execute();
      for (const { id } of referenced) expect(await blobs.has(id)).toBe(true);
    });

    it('an unknown recipient fails the whole delivery: no message, no mailbox, no reference; the blob is collected later', async () => {
      const known = await createBal(store, fresh('known'));
      const existing = await createBal(store, fresh('existing'));
      await mail.ensureDefaultMailboxes(existing);
      const unknown = fresh('unknown');
      const raw = sample('will fail');
      const blobId = sha256Hex(raw);
      const messagesBefore = await store.db.selectFrom('messages').select('id').execute();

      const failure = mail.deliver(raw, [known, unknown, existing]);
      await expect(failure).rejects.toThrow(UnknownRecipientError);
      await expect(failure).rejects.toThrow(unknown);

      expect(await store.db.selectFrom('messages').select('id').execute()).toEqual(messagesBefore);
      expect(
        await store.db.selectFrom('messages').select('id').where('blob_id', '=', blobId).execute(),
      ).toEqual([]);
      expect(await mail.listMailboxes(known)).toEqual([]);
      const [inbox] = await mail.listMailboxes(existing);
      expect(inbox).toMatchObject({ uidNext: 1, highestModseq: 1 });
      expect(await mail.getChanges(inbox!.id, 0)).toEqual([]);
      expect(await blobRow(blobId)).toMatchObject({ ref_count: 0 });
      expect(await blobs.has(blobId)).toBe(true);

      // Within the grace period the blob stays; after it, row and file go.
      now = new Date(now.getTime() + 10 * 60_000);
      await mail.collectGarbage();
      expect(await blobRow(blobId)).toBeDefined();
      now = new Date(now.getTime() + 2 * 60 * 60_000);
      const { deleted } = await mail.collectGarbage();
      expect(deleted).toBeGreaterThanOrEqual(1);
      expect(await blobRow(blobId)).toBeUndefined();
      expect(await blobs.has(blobId)).toBe(false);
      // Referenced blobs are never collected.
      const referenced = await store.db.selectFrom('blobs').select('id').where('ref_count', '>', 0).execute();
      expect(referenced.length).toBeGreaterThan(0);
      for (const { id } of referenced) expect(await blobs.has(id)).toBe(true);

      // The same message, once the recipient list is right, is delivered (the blob is written again).
      const ok = await mail.deliver(raw, [known, existing]);
      expect(ok.map((r) => r.uid)).toEqual([1, 1]);
      expect(await mail.readMessage(ok[0]!.mailboxId, 1)).toEqual(raw);
    });

    it('writes the blob back when a collection removed its file after the put', async () => {
      const address = await createBal(store, fresh('race'));
      const raw = sample('race');
      // The collector's unlink lands between the delivery's put and its transaction.
      const racing: BlobStore = {
        ...blobs,
        async put(bytes) {
          const result = await blobs.put(bytes);
          await blobs.delete(result.id);
          racing.put = blobs.put;
          return result;
        },
      };
      const [r] = await createMailStore(store, racing, { clock }).deliver(raw, [address]);
      expect(await blobs.has(sha256Hex(raw))).toBe(true);
      expect(await mail.readMessage(r!.mailboxId, r!.uid)).toEqual(raw);
    });

    it('blob references: released to zero, a blob is collected after the grace period, never below zero', async () => {
      const refs = createBlobReferences(store, blobs, { clock });
      const bytes = Buffer.from(`spooled message ${randomBytes(4).toString('hex')}\r\n`);
      const put = await refs.store(bytes);
      await store.db.transaction().execute((trx) => refs.retain(trx, bytes, put, 2));
      expect(await blobRow(put.id)).toMatchObject({ ref_count: 2 });
      now = new Date(now.getTime() + 3 * 60 * 60_000);
      await store.db.transaction().execute((trx) => refs.release(trx, put.id));
      await refs.collectGarbage();
      expect(await blobRow(put.id)).toMatchObject({ ref_count: 1 });
      await store.db.transaction().execute((trx) => refs.release(trx, put.id));
      // The last release restarts the grace period.
      expect(await blobRow(put.id)).toMatchObject({ ref_count: 0, created_at: now.toISOString() });
      expect((await refs.collectGarbage()).deleted).toBe(0);
      await expect(store.db.transaction().execute((trx) => refs.release(trx, put.id))).rejects.toThrow();
      expect(await blobRow(put.id)).toMatchObject({ ref_count: 0 });
      await expect(
        store.db.transaction().execute((trx) => refs.release(trx, 'f'.repeat(64))),
      ).rejects.toThrow(NotFoundError);
      now = new Date(now.getTime() + 2 * 60 * 60_000);
      await refs.collectGarbage();
      expect(await blobRow(put.id)).toBeUndefined();
      expect(await blobs.has(put.id)).toBe(false);
    });

    it('stores the metadata the MIME parser gives (envelope, structure, SEARCH/SORT fields)', async () => {
      const address = await createBal(store, fresh('meta'));
      const raw = sample('=?utf-8?Q?R=C3=A9sultats?=');
      const [r] = await mail.deliver(raw, [address]);
      const [m] = await mail.getMessages(r!.mailboxId);
      expect(m!.envelope).toEqual(parseEnvelope(raw));
      expect(m!.structure).toEqual(parseStructure(raw));
      expect(m!.structure.children?.[1]).toMatchObject({ subtype: 'zip', filename: 'IHE_XDM.ZIP' });
      expect(m).toMatchObject({
        subject: 'Résultats',
        from: 'Dr Jean Dupré <jean.dupre@ch-a.mssante.fr>',
        to: 'cardiologie@ch-test.mssante.fr, "Durand, Paul" <paul.durand@ch-test.mssante.fr>',
        cc: null,
        messageId: m!.envelope.messageId,
        sentDate: '2025-03-04T09:15:00.000Z',
      });
      // Byte offsets point into what readMessage returns.
      const stored = await mail.readMessage(r!.mailboxId, r!.uid);
      const text = m!.structure.children![0]!;
      expect(stored.subarray(text.body.start, text.body.end).toString()).toBe(
        'Bonjour. Patient DUPONT Marie. ',
      );
    });

    it('stores bare-LF messages with CRLF line ends, sizes and offsets included', async () => {
      const address = await createBal(store, fresh('lf'));
      const crlf = sample('lf');
      const lf = Buffer.from(crlf.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
      const [r] = await mail.deliver(lf, [address]);
      const [m] = await mail.getMessages(r!.mailboxId);
      expect(await mail.readMessage(r!.mailboxId, r!.uid)).toEqual(crlf);
      expect(m).toMatchObject({ size: crlf.length, blobId: sha256Hex(crlf) });
      expect(m!.structure).toEqual(parseStructure(crlf));
    });

    it('APPEND-style delivery: target mailbox, flags and internal date; refuses bad flags and unknown mailboxes', async () => {
      const address = await createBal(store, fresh('append'));
      const internalDate = new Date('2025-01-02T03:04:05.000Z');
      const [r] = await mail.deliver(sample('sent'), [address], {
        mailbox: 'Sent',
        flags: ['$Forwarded', '\\seen', '\\Recent', '\\SEEN', '$forwarded'],
        internalDate,
      });
      const sent = await mail.getMailbox(address, 'Sent');
      expect(sent).toMatchObject({ id: r!.mailboxId, specialUse: '\\Sent' });
      const [m] = await mail.getMessages(r!.mailboxId);
      expect(m).toMatchObject({ flags: ['\\Seen', '$Forwarded'], internalDate: internalDate.toISOString() });
      expect((await mail.getMailbox(address, 'inbox'))?.name).toBe('INBOX');

      await expect(mail.deliver(sample(), [address], { flags: ['\\Bogus'] })).rejects.toThrow(
        ValidationError,
      );
      await expect(mail.deliver(sample(), [address], { flags: ['bad(keyword'] })).rejects.toThrow(
        ValidationError,
      );
      await expect(mail.deliver(sample(), [address], { mailbox: 'Projets' })).rejects.toThrow(
        /no mailbox "Projets"/,
      );
      await expect(mail.deliver(sample(), [fresh('ghost')], { mailbox: 'Projets' })).rejects.toThrow(
        UnknownRecipientError,
      );
      expect(await mail.deliver(sample(), [])).toEqual([]);
    });

    it(
      encryptionKey ? 'keeps message bodies encrypted on disk' : 'keeps message bodies in clear on disk',
      async () => {
        const address = await createBal(store, fresh('disk'));
        const raw = sample('disk', 'SECRET-MARKER-1234');
        await mail.deliver(raw, [address]);
        const onDisk = readFileSync(blobFile(sha256Hex(raw)));
        expect(onDisk.includes(Buffer.from('SECRET-MARKER-1234'))).toBe(encryptionKey === null);
        expect((await blobRow(sha256Hex(raw)))?.stored_size).toBe(onDisk.length);
      },
    );
  });
});
