import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { balRoutes } from '../../src/admin/routes/bals.ts';
import { createAdminServer } from '../../src/admin/server.ts';
import { createDirectory } from '../../src/annuaire/directory.ts';
import type { Bal } from '../../src/bal/model.ts';
import { createBalRegistry } from '../../src/bal/registry.ts';
import { luhnKey } from '../../src/domain/identifiers.ts';
import type { AuditRecord } from '../../src/store/audit.ts';
import type { Store } from '../../src/store/open.ts';
import { seedDirectory } from '../support/directory-seed.ts';
import { sqliteKind } from '../support/stores.ts';

const withKey = (digits: string) => digits + luhnKey(digits);
const rppsIdNat = (n: number) => `8${withKey(String(10000000000 + n).slice(1))}`;

const TOKEN = 'test-admin-token-0123456789abcdef';
const HOLDER = rppsIdNat(301);
const RESPONSIBLE = rppsIdNat(302);
const MEMBER = rppsIdNat(303);
const UNKNOWN = rppsIdNat(999);
const FINESS_ID = `1${withKey('75000001')}`;
const DOMAIN = 'ch-api.mssante.fr';
const at = (local: string) => `${local}@${DOMAIN}`;

interface ApiError {
  error: string;
  message: string;
  field?: string;
  rule?: string;
}

describe('admin API: /api/v1/bals', () => {
  let store: Store;
  let app: FastifyInstance;
  let base: string;

  beforeAll(async () => {
    store = await sqliteKind.open();
    await seedDirectory(store, {
      professionals: [HOLDER, RESPONSIBLE, MEMBER].map((id_nat, i) => ({ id_nat, last_name: `NOM${i}` })),
    });
    const registry = createBalRegistry(store, {
      directory: createDirectory(store, { fhir: null }),
      domains: [DOMAIN],
    });
    app = await createAdminServer({
      token: TOKEN,
      logger: pino({ level: 'silent' }),
      routes: [balRoutes({ registry })],
      version: 'test',
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const addr = app.server.address();
    if (!addr || typeof addr !== 'object') throw new Error('no address');
    base = `http://127.0.0.1:${addr.port}`;
  });
  afterAll(async () => {
    await app?.close();
    await store?.close();
  });

  async function call<T = Bal>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: T; headers: Headers }> {
    const res = await fetch(`${base}/api/v1${path}`, {
      method,
      headers: {
        authorization: `Bearer ${TOKEN}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...headers,
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as T, headers: res.headers };
  }
  const expectError = async (
    p: ReturnType<typeof call>,
    status: number,
    rule?: string | RegExp,
  ): Promise<ApiError> => {
    const r = await p;
    expect(r.status, JSON.stringify(r.body)).toBe(status);
    const err = r.body as unknown as ApiError;
    expect(err.message.length).toBeGreaterThan(5);
    if (typeof rule === 'string') expect(err.rule).toBe(rule);
    else if (rule) expect(err.rule).toMatch(rule);
    return err;
  };

  it('refuses requests without the admin token, or with a wrong one (401)', async () => {
    const none = await fetch(`${base}/api/v1/bals`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const wrong = await fetch(`${base}/api/v1/bals`, { headers: { authorization: `Bearer ${TOKEN}x` } });
    expect(wrong.status).toBe(401);
    const post = await fetch(`${base}/api/v1/bals`, {
      method: 'POST',
      headers: { authorization: 'Bearer nope', 'content-type': 'application/json' },
      body: JSON.stringify({ address: at('intrus'), type: 'PER', holderIdNat: HOLDER }),
    });
    expect(post.status).toBe(401);
    expect((await call<{ items: Bal[] }>('GET', '/bals')).body.items).toEqual([]);
  });

  it('runs a PER BAL through its whole life over HTTP, audited with the actor', async () => {
    const created = await call(
      'POST',
      '/bals',
      { address: 'Marie.Curie@CH-API.mssante.fr', type: 'PER', holderIdNat: HOLDER, preferredRank: 1 },
      { 'x-actor': 'alice' },
    );
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      address: at('marie.curie'),
      type: 'PER',
      status: 'active',
      holderIdNat: HOLDER,
      preferredRank: 1,
      members: [],
      certificates: [],
    });
    const location = created.headers.get('location')!;
    expect(location).toBe(`/api/v1/bals/${at('marie.curie')}`);
    const got = await call('GET', location.replace('/api/v1', ''));
    expect(got.status).toBe(200);
    expect(got.body).toEqual(created.body);

    const patched = await call(
      'PATCH',
      `/bals/${at('marie.curie')}`,
      { description: 'Radiologie', listeRouge: true },
      { 'x-actor': 'bob; drop table' },
    );
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ description: 'Radiologie', listeRouge: true });

    const suspended = await call('POST', `/bals/${encodeURIComponent(at('marie.curie'))}/suspend`, {
      reason: 'congé',
    });
    expect(suspended.body).toMatchObject({ status: 'suspended', statusReason: 'congé' });
    expect((await call('POST', `/bals/${at('marie.curie')}/reactivate`)).body.status).toBe('active');
    const closed = await call('POST', `/bals/${at('marie.curie')}/close`, { reason: 'retraite' });
    expect(closed.body).toMatchObject({ status: 'closed', statusReason: 'retraite' });
    expect(closed.body.closedAt).toMatch(/^\d{4}-/);

    const history = await call<{ items: AuditRecord[] }>('GET', `/bals/${at('marie.curie')}/history`);
    expect(history.status).toBe(200);
    expect(history.body.items.map((h) => [h.action, h.actor])).toEqual([
      ['bal.close', 'api:admin'],
      ['bal.reactivate', 'api:admin'],
      ['bal.suspend', 'api:admin'],
      ['bal.update', 'api:admin/bobdroptable'],
      ['bal.create', 'api:admin/alice'],
    ]);
    expect(history.body.items[3]!.details).toEqual({
      changes: {
        description: { before: null, after: 'Radiologie' },
        listeRouge: { before: false, after: true },
      },
    });
  });

  it('manages the members of an ORG BAL and filters the list', async () => {
    const org = await call('POST', '/bals', {
      address: at('imagerie'),
      type: 'ORG',
      structureId: FINESS_ID,
      responsibleIdNat: RESPONSIBLE,
      service: 'Imagerie',
    });
    expect(org.status).toBe(201);
    const added = await call('POST', `/bals/${at('imagerie')}/members`, { idNat: MEMBER });
    expect(added.status).toBe(201);
    expect(added.body.members).toEqual([MEMBER]);
    const list = await call<{ items: Bal[]; limit: number; offset: number }>(
      'GET',
      `/bals?memberIdNat=${MEMBER}&type=ORG`,
    );
    expect(list.status).toBe(200);
    expect(list.body).toMatchObject({ limit: 100, offset: 0 });
    expect(list.body.items.map((b) => b.address)).toEqual([at('imagerie')]);
    expect(
      (await call<{ items: Bal[] }>('GET', '/bals?status=closed')).body.items.map((b) => b.address),
    ).toEqual([at('marie.curie')]);
    await expectError(
      call('POST', `/bals/${at('imagerie')}/members`, { idNat: MEMBER }),
      409,
      'bal.member.exists',
    );
    const removed = await call('DELETE', `/bals/${at('imagerie')}/members/${MEMBER}`);
    expect(removed.status).toBe(200);
    expect(removed.body.members).toEqual([]);
    await expectError(call('DELETE', `/bals/${at('imagerie')}/members/${MEMBER}`), 404);
  });

  it('answers 400 with the reason for bad input', async () => {
    const badAddress = await expectError(
      call('POST', '/bals', { address: 'nobody@elsewhere.fr', type: 'PER', holderIdNat: HOLDER }),
      400,
      'address.domain.not-served',
    );
    expect(badAddress.field).toBe('address');
    expect(badAddress.message).toContain(DOMAIN);
    await expectError(
      call('POST', '/bals', { address: 'a..b@ch-api.mssante.fr', type: 'PER', holderIdNat: HOLDER }),
      400,
      'address.local.dots',
    );
    const unknown = await expectError(
      call('POST', '/bals', { address: at('fantome'), type: 'PER', holderIdNat: UNKNOWN }),
      400,
      'holder.unknown',
    );
    expect(unknown.message).toContain(UNKNOWN);
    const extra = await expectError(
      call('POST', '/bals', { address: at('x'), type: 'PER', holderIdNat: HOLDER, colour: 'red' }),
      400,
      'request.additionalProperties',
    );
    expect(extra.message).toContain('"colour"');
    expect(extra.field).toBe('colour');
    const missing = await expectError(call('POST', '/bals', { address: at('x') }), 400, 'request.required');
    expect(missing.message).toContain('"type"');
    const badType = await expectError(call('POST', '/bals', { address: at('x'), type: 'MSS' }), 400);
    expect(badType.message).toContain('PER, ORG, APP, CAB');
    await expectError(
      call('POST', '/bals', { address: at('x'), type: 'PER', holderIdNat: HOLDER, members: [MEMBER] }),
      400,
      'bal.field.not-for-type',
    );
    const typeChange = await expectError(
      call('PATCH', `/bals/${at('imagerie')}`, { type: 'APP' }),
      400,
      'bal.immutable',
    );
    expect(typeChange.message).toContain('type cannot be changed');
    await expectError(
      call('PATCH', `/bals/${at('imagerie')}`, { address: at('autre') }),
      400,
      'bal.immutable',
    );
    await expectError(
      call('PATCH', `/bals/${at('imagerie')}`, { status: 'closed' }),
      400,
      'request.additionalProperties',
    );
    await expectError(call('PATCH', `/bals/${at('imagerie')}`, { listeRouge: 'maybe' }), 400);
    await expectError(call('PATCH', `/bals/${at('imagerie')}`, {}), 400, 'bal.patch.empty');
    await expectError(
      call('PATCH', `/bals/${at('imagerie')}`, { responsibleIdNat: null }),
      400,
      'bal.field.required',
    );
    await expectError(call('POST', `/bals/${at('imagerie')}/suspend`, {}), 400, 'request.required');
    await expectError(
      call('POST', `/bals/${at('imagerie')}/suspend`, { reason: ' ' }),
      400,
      'bal.reason.required',
    );
    await expectError(call('GET', '/bals?limit=0'), 400);
    await expectError(call('GET', '/bals?colour=red'), 400, 'request.additionalProperties');
    await expectError(call('GET', '/bals/not-an-address'), 400, 'address.syntax');
    // nothing was written by the refused requests
    expect((await call<{ items: Bal[] }>('GET', '/bals')).body.items.map((b) => b.address)).toEqual([
      at('imagerie'),
      at('marie.curie'),
    ]);
  });

  it('answers 404 for an unknown BAL', async () => {
    const e = await expectError(call('GET', `/bals/${at('inconnu')}`), 404);
    expect(e.message).toContain(at('inconnu'));
    await expectError(call('PATCH', `/bals/${at('inconnu')}`, { description: 'x' }), 404);
    await expectError(call('POST', `/bals/${at('inconnu')}/close`, { reason: 'x' }), 404);
    await expectError(call('GET', `/bals/${at('inconnu')}/history`), 404);
  });

  it('answers 409 for a taken or closed address, a closed BAL and a forbidden transition', async () => {
    const reuse = await expectError(
      call('POST', '/bals', { address: at('marie.curie'), type: 'PER', holderIdNat: MEMBER }),
      409,
      'bal.address.closed',
    );
    expect(reuse.message).toMatch(/was closed on \S+ and is never reassigned/);
    await expectError(
      call('POST', '/bals', { address: at('IMAGERIE'), type: 'PER', holderIdNat: HOLDER }),
      409,
      'bal.address.exists',
    );
    await expectError(call('PATCH', `/bals/${at('marie.curie')}`, { description: 'x' }), 409, 'bal.closed');
    await expectError(call('POST', `/bals/${at('marie.curie')}/reactivate`), 409, 'bal.lifecycle.closed');
    await expectError(
      call('POST', `/bals/${at('imagerie')}/reactivate`),
      409,
      'bal.lifecycle.already-active',
    );
  });

  it('describes the BAL routes in /openapi.json', async () => {
    const res = await fetch(`${base}/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as {
      paths: Record<
        string,
        Record<
          string,
          { tags?: string[]; summary?: string; requestBody?: unknown; responses?: Record<string, unknown> }
        >
      >;
    };
    const expected: Record<string, string[]> = {
      '/api/v1/bals': ['get', 'post'],
      '/api/v1/bals/{address}': ['get', 'patch'],
      '/api/v1/bals/{address}/suspend': ['post'],
      '/api/v1/bals/{address}/reactivate': ['post'],
      '/api/v1/bals/{address}/close': ['post'],
      '/api/v1/bals/{address}/members': ['post'],
      '/api/v1/bals/{address}/members/{idNat}': ['delete'],
      '/api/v1/bals/{address}/history': ['get'],
    };
    for (const [path, methods] of Object.entries(expected)) {
      expect(Object.keys(doc.paths[path] ?? {}).sort(), path).toEqual([...methods].sort());
      for (const m of methods) {
        const op = doc.paths[path]![m]!;
        expect(op.tags).toEqual(['bals']);
        expect(op.summary).toBeTruthy();
        expect(Object.keys(op.responses ?? {})).toContain(
          m === 'post' && !path.match(/suspend|reactivate|close/) ? '201' : '200',
        );
      }
    }
    expect(doc.paths['/api/v1/bals']!['post']!.requestBody).toBeTruthy();
  });
});
