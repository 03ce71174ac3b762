/**
 * The kit checks the Token Status List (draft-ietf-oauth-status-list-20) over real HTTP: a node:http server
 * in this test plays baton (its JWKS and its status list tokens, signed with a key of the test's own) and
 * the tokens carry `status.status_list`. Proves: a valid entry passes and a revoked or suspended one is
 * refused (§7.1); a bit flipped on the server is refused once the ttl has run out; one fetch for many
 * concurrent verifications; the ttl honoured, clamped and capped by exp, with a background refresh; every
 * bad list (another key, typ, sub, exp, iat, ttl, media type, status, redirects) refused precisely as
 * "cannot know"; a uri on another origin and an index out of range refused as invalid_token; a list that
 * cannot be fetched kept until maxStaleness, then 503 temporarily_unavailable at the MCP guard, never a pass.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createMcpAuth,
  createVerifier,
  encodeStatusList,
  StatusListUnavailableError,
  TokenError,
  withMcpAuth,
  type AuditEvent,
  type StatusListOptions,
} from '../src/index.ts';
import type { StatusBits } from '../src/status-list.ts';

/** one list the fake baton serves, and how (each test uses lists of its own) */
interface ListState {
  statuses: number[];
  bits: StatusBits;
  ttl?: unknown;
  /** seconds since the epoch; undefined: now + 1 h; null: no exp */
  exp?: number | null;
  iat?: number | null;
  typ?: string;
  sub?: string;
  signer?: 'baton' | 'stranger' | 'unknown-kid';
  contentType?: string;
  status?: number;
  /** the socket is destroyed: baton is down */
  down?: boolean;
  redirect?: string;
  /** the answer waits for this */
  gate?: Promise<void>;
  claim?: unknown;
}

const AUD = 'https://cost.internal.example.com';
const KID = 'baton-key-1';
let ISSUER: string;
let OTHER: string;
let batonKey: CryptoKey;
let strangerKey: CryptoKey;
const lists = new Map<string, ListState>();
const hits = new Map<string, number>();
let otherHits = 0;
const servers: Server[] = [];

const listen = (handler: (req: IncomingMessage, res: ServerResponse) => void) =>
  new Promise<Server>((ok) => {
    const s = createServer(handler).listen(0, '127.0.0.1', () => ok(s));
    servers.push(s);
  });
const origin = (s: Server) => `http://127.0.0.1:${(s.address() as AddressInfo).port}`;

async function listToken(uri: string, state: ListState): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = {
    sub: state.sub ?? uri,
    iat: state.iat === undefined ? now : state.iat,
    exp: state.exp === undefined ? now + 3600 : state.exp,
    ...(state.ttl === undefined ? {} : { ttl: state.ttl }),
    status_list: state.claim ?? encodeStatusList(state.statuses, state.bits),
  };
  for (const key of ['iat', 'exp']) if (claims[key] === null) delete claims[key];
  const signer = state.signer ?? 'baton';
  return new SignJWT(claims)
    .setProtectedHeader({
      alg: 'ES256',
      typ: state.typ ?? 'statuslist+jwt',
      kid: signer === 'unknown-kid' ? 'not-a-baton-key' : KID,
    })
    .sign(signer === 'baton' ? batonKey : strangerKey);
}

async function serveList(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0]!;
  hits.set(path, (hits.get(path) ?? 0) + 1);
  const state = lists.get(path);
  if (!state) return void res.writeHead(404).end();
  if (state.down) return void req.socket.destroy();
  await state.gate;
  if (state.redirect) return void res.writeHead(302, { location: state.redirect }).end();
  res
    .writeHead(state.status ?? 200, { 'content-type': state.contentType ?? 'application/statuslist+jwt' })
    .end(await listToken(`${ISSUER}${path}`, state));
}

beforeAll(async () => {
  const baton = await generateKeyPair('ES256');
  batonKey = baton.privateKey;
  strangerKey = (await generateKeyPair('ES256')).privateKey;
  const jwk = { ...(await exportJWK(baton.publicKey)), kid: KID, alg: 'ES256', use: 'sig' };
  const server = await listen((req, res) => {
    if (req.url === '/jwks')
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
    void serveList(req, res);
  });
  ISSUER = origin(server);
  // another origin, serving a list baton's key signed: the kit must never ask it
  const other = await listen((req, res) => {
    otherHits++;
    void listToken(`${OTHER}${req.url}`, { statuses: [0, 0, 0, 0, 0, 0, 0, 0], bits: 1 }).then((jwt) =>
      res.writeHead(200, { 'content-type': 'application/statuslist+jwt' }).end(jwt),
    );
  });
  OTHER = origin(other);
});
afterAll(async () => {
  for (const s of servers) await new Promise((ok) => s.close(ok));
});

let counter = 0;
/** a fresh list at baton, with 16 entries of 1 bit unless told otherwise */
function list(state: Partial<ListState> = {}): { path: string; uri: string; state: ListState } {
  const path = `/statuslists/${++counter}`;
  const full: ListState = { statuses: new Array<number>(16).fill(0), bits: 1, ...state };
  lists.set(path, full);
  return { path, uri: `${ISSUER}${path}`, state: full };
}

async function accessToken(
  status: unknown,
  extra: Record<string, unknown> = {},
  aud = AUD,
  expiresIn: string | number = '5m',
) {
  return new SignJWT({ client_id: 'agent', scope: 'logs.read', ...(status === undefined ? {} : { status }), ...extra })
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: KID })
    .setIssuer(ISSUER)
    .setAudience(aud)
    .setSubject('alice')
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(batonKey);
}
const referencing = (uri: string, idx: number, aud = AUD) => accessToken({ status_list: { idx, uri } }, {}, aud);
const verifier = (statusList?: StatusListOptions | false) =>
  createVerifier({ issuer: ISSUER, audience: AUD, statusList });
/** the error a list that cannot be had gives: StatusListUnavailableError (the kit's 503) */
const unavailable = (uri: string, message: string): unknown =>
  expect.objectContaining({ name: 'StatusListUnavailableError', code: 'temporarily_unavailable', uri, message });
const refusal = async (promise: Promise<unknown>) => {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a refusal');
};

/** polls until `check` holds (no fixed sleeps), failing after 20 s */
async function until<T>(read: () => Promise<T> | T, check: (v: T) => boolean): Promise<T> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const v = await read();
    if (check(v)) return v;
    if (Date.now() > deadline) throw new Error('condition not met');
    await new Promise((ok) => setTimeout(ok, 25));
  }
}

describe('the status of a token (§7.1)', () => {
  it('0x00 VALID passes; 0x01 INVALID (revoked), 0x02 SUSPENDED and 0x03 are refused with invalid_token', async () => {
    const one = list({ statuses: [0, 1, 0, 0, 0, 0, 0, 0] });
    const two = list({ statuses: [0, 1, 2, 3], bits: 2 });
    const verify = verifier();
    expect((await verify(await referencing(one.uri, 0))).subject).toBe('alice');
    expect((await verify(await referencing(two.uri, 0))).subject).toBe('alice');
    for (const [uri, idx, name] of [
      [one.uri, 1, '0x01 INVALID'],
      [two.uri, 1, '0x01 INVALID'],
      [two.uri, 2, '0x02 SUSPENDED'],
      [two.uri, 3, '0x03'],
    ] as const) {
      await expect(verify(await referencing(uri, idx))).rejects.toEqual(
        new TokenError('invalid_token', `the token's status is ${name}`),
      );
    }
    // one fetch per list, whatever the number of checks
    expect([hits.get(one.path), hits.get(two.path)]).toEqual([1, 1]);
  });

  it('a token without a status claim is accepted as before, unless statusList.require', async () => {
    const token = await accessToken(undefined);
    expect((await verifier()(token)).subject).toBe('alice');
    // another status mechanism than status_list (§6.1) is not one the kit checks
    expect((await verifier()(await accessToken({ other_mechanism: {} }))).subject).toBe('alice');
    await expect(verifier({ require: true })(token)).rejects.toEqual(
      new TokenError('invalid_token', 'the token names no status list'),
    );
    await expect(verifier({ require: true })(await accessToken({ other_mechanism: {} }))).rejects.toEqual(
      new TokenError('invalid_token', 'the token names no status list'),
    );
  });

  it('statusList: false turns the check off: no fetch, a revoked entry passes', async () => {
    const revoked = list({ statuses: [1, 1, 1, 1, 1, 1, 1, 1] });
    const verify = verifier(false);
    expect((await verify(await referencing(revoked.uri, 0))).subject).toBe('alice');
    expect(hits.get(revoked.path)).toBeUndefined();
    expect(verify.statusLists).toBeUndefined();
  });

  it('the token is verified first: an expired or foreign token is refused without fetching its list (§8.3)', async () => {
    const l = list();
    const expired = await accessToken(
      { status_list: { idx: 0, uri: l.uri } },
      {},
      AUD,
      Math.floor(Date.now() / 1000) - 60,
    );
    await expect(verifier()(expired)).rejects.toMatchObject({ code: 'invalid_token', message: 'ERR_JWT_EXPIRED' });
    const elsewhere = await referencing(l.uri, 0, 'https://other.example.com');
    await expect(verifier()(elsewhere)).rejects.toMatchObject({ code: 'invalid_token' });
    expect(hits.get(l.path)).toBeUndefined();
  });
});

describe('what the token names (§6.2, §8.3 step 1 and 6)', () => {
  it('an index out of range: invalid_token', async () => {
    const l = list();
    const verify = verifier();
    expect((await verify(await referencing(l.uri, 15))).subject).toBe('alice');
    await expect(verify(await referencing(l.uri, 16))).rejects.toEqual(
      new TokenError('invalid_token', 'status list index 16 is out of range (16 entries)'),
    );
  });

  it.each([
    ['idx negative', { status_list: { idx: -1, uri: 'URI' } }, 'the token\'s "status_list" is malformed (§6.2)'],
    ['idx fractional', { status_list: { idx: 1.5, uri: 'URI' } }, 'the token\'s "status_list" is malformed (§6.2)'],
    ['idx a string', { status_list: { idx: '1', uri: 'URI' } }, 'the token\'s "status_list" is malformed (§6.2)'],
    ['uri missing', { status_list: { idx: 1 } }, 'the token\'s "status_list" is malformed (§6.2)'],
    ['status_list a string', { status_list: 'URI' }, 'the token\'s "status_list" is malformed (§6.2)'],
    ['status a string', 'revoked', 'the token\'s "status" claim is not an object (§6.2)'],
    ['status an array', [], 'the token\'s "status" claim is not an object (§6.2)'],
  ])('a malformed reference (%s): invalid_token, nothing fetched', async (_name, status, message) => {
    const l = list();
    const claim = JSON.parse(JSON.stringify(status).replace('"URI"', JSON.stringify(l.uri))) as unknown;
    await expect(verifier()(await accessToken(claim))).rejects.toEqual(new TokenError('invalid_token', message));
    expect(hits.get(l.path)).toBeUndefined();
  });

  it("a uri outside baton's origin is never fetched (SSRF): invalid_token", async () => {
    const verify = verifier();
    for (const uri of [
      `${OTHER}/statuslists/1`,
      `${ISSUER.replace('http:', 'https:')}/statuslists/1`,
      `${ISSUER.replace('//', '//user:pass@')}/statuslists/1`,
      'file:///etc/passwd',
      'not a url',
    ]) {
      await expect(verify(await referencing(uri, 0))).rejects.toEqual(
        new TokenError('invalid_token', `the token's status list ${uri} is not on baton's origin`),
      );
    }
    expect(otherHits).toBe(0);
  });
});

describe('fetching and caching (§8.1, §8.2, §13.7, §11.5)', () => {
  it('a bit flipped on the server is refused once the ttl has run out', async () => {
    const l = list({ ttl: 1 });
    const verify = verifier();
    const token = await referencing(l.uri, 3);
    expect((await verify(token)).subject).toBe('alice');
    expect(verify.statusLists!.info(l.uri)).toMatchObject({ ttlSeconds: 1, bits: 1, size: 16 });
    l.state.statuses[3] = 1; // baton revokes the token
    const refused = await until(
      () => refusal(verify(token)).catch(() => undefined),
      (err) => err instanceof TokenError,
    );
    expect(refused).toEqual(new TokenError('invalid_token', "the token's status is 0x01 INVALID"));
    expect(hits.get(l.path)).toBeGreaterThanOrEqual(2);
  });

  it('single flight: 20 concurrent verifications of a list not yet cached make one fetch', async () => {
    let release!: () => void;
    const l = list({ gate: new Promise<void>((ok) => (release = ok)) });
    const verify = verifier();
    await verify(await accessToken(undefined)); // baton's JWKS is fetched
    const tokens = await Promise.all(Array.from({ length: 20 }, (_, i) => referencing(l.uri, i % 16)));
    const pending = Promise.all(tokens.map((t) => verify(t)));
    // all 20 wait: one for the fetch it started, 19 for that same fetch
    await until(
      () => verify.statusLists!.stats(),
      (s) => s.joined === 19 && hits.get(l.path) === 1,
    );
    expect(hits.get(l.path)).toBe(1);
    release();
    expect((await pending).map((c) => c.subject)).toEqual(new Array(20).fill('alice'));
    expect(hits.get(l.path)).toBe(1);
    expect(verify.statusLists!.stats()).toMatchObject({ fetches: 1, failures: 0, joined: 19, lists: 1 });
  });

  it('the ttl is honoured: no fetch while the list is fresh, fetchedAt + ttl', async () => {
    const l = list({ ttl: 60 });
    const verify = verifier();
    for (let i = 0; i < 10; i++) await verify(await referencing(l.uri, i));
    expect(hits.get(l.path)).toBe(1);
    const info = verify.statusLists!.info(l.uri)!;
    expect(info.ttlSeconds).toBe(60);
    expect(info.freshUntil - info.fetchedAt).toBe(60_000);
    expect(verify.statusLists!.stats()).toMatchObject({ fetches: 1, hits: 9 });
  });

  it('the ttl is clamped to [minTtlSeconds, maxTtlSeconds] (default 1 s … 3600 s) and capped by exp', async () => {
    const tiny = list({ ttl: 0.001 });
    const huge = list({ ttl: 10 * 365 * 86400, exp: null });
    const soon = list({ ttl: 3600, exp: Math.floor(Date.now() / 1000) + 120 });
    const noTtl = list({ exp: Math.floor(Date.now() / 1000) + 100_000 });
    const verify = verifier();
    for (const l of [tiny, huge, soon, noTtl]) await verify(await referencing(l.uri, 0));
    const info = (uri: string) => verify.statusLists!.info(uri)!;
    expect(info(tiny.uri).ttlSeconds).toBe(1);
    expect(info(huge.uri).ttlSeconds).toBe(3600);
    expect(info(soon.uri).freshUntil).toBe(soon.state.exp! * 1000); // exp caps the ttl
    expect(info(noTtl.uri).ttlSeconds).toBe(3600); // no ttl: until exp, clamped
    // the bounds are options: a ttl below the minimum is not refetched before it
    const slow = verifier({ minTtlSeconds: 30 });
    const again = list({ ttl: 0.001 });
    for (let i = 0; i < 5; i++) await slow(await referencing(again.uri, i));
    expect([slow.statusLists!.info(again.uri)!.ttlSeconds, hits.get(again.path)]).toEqual([30, 1]);
    // and a ttl above the maximum is refetched after it
    const capped = verifier({ maxTtlSeconds: 1 });
    const long = list({ ttl: 86400 });
    const token = await referencing(long.uri, 0);
    await capped(token);
    expect(capped.statusLists!.info(long.uri)!.ttlSeconds).toBe(1);
    await until(
      () => capped(token).then(() => hits.get(long.path)),
      (n) => n === 2,
    );
  });

  it('keeps at most maxLists lists, the least recently used dropped first', async () => {
    const [a, b, c] = [list({ ttl: 60 }), list({ ttl: 60 }), list({ ttl: 60 })];
    const verify = verifier({ maxLists: 2 });
    for (const l of [a, b, a, c]) await verify(await referencing(l.uri, 0));
    expect(verify.statusLists!.stats().lists).toBe(2);
    expect([a, b, c].map((l) => verify.statusLists!.info(l.uri) !== undefined)).toEqual([true, false, true]);
    await verify(await referencing(b.uri, 0)); // fetched again
    expect([hits.get(a.path), hits.get(b.path), hits.get(c.path)]).toEqual([1, 2, 1]);
  });

  it('refreshes in the background before the ttl runs out: verifications never wait for that fetch', async () => {
    const l = list({ ttl: 4 });
    const verify = verifier();
    const token = await referencing(l.uri, 0);
    await verify(token);
    let release!: () => void;
    l.state.gate = new Promise<void>((ok) => (release = ok)); // the next answer is held
    // each verification resolves from the cache; past 3/4 of the ttl one starts the (held) refresh
    await until(
      () => verify(token).then(() => hits.get(l.path)),
      (n) => n === 2,
    );
    expect((await verify(token)).subject).toBe('alice');
    const before = verify.statusLists!.info(l.uri)!.fetchedAt;
    release();
    await until(
      () => verify.statusLists!.info(l.uri)!.fetchedAt,
      (at) => at > before,
    );
    expect(verify.statusLists!.stats()).toMatchObject({ fetches: 2, joined: 0 });
  });

  it('a same-origin redirect is followed (§8.2); a bounded number of times (§11.4)', async () => {
    const target = list();
    const hop = list({ redirect: target.path });
    const verify = verifier();
    // the list's sub is the uri the token names, so it is signed for the redirecting uri
    target.state.sub = hop.uri;
    expect((await verify(await referencing(hop.uri, 0))).subject).toBe('alice');
    expect([hits.get(hop.path), hits.get(target.path)]).toEqual([1, 1]);
    const loop = list();
    loop.state.redirect = loop.path;
    const err = await refusal(verify(await referencing(loop.uri, 0)));
    expect(err).toEqual(unavailable(loop.uri, 'more than 3 redirects'));
    expect(hits.get(loop.path)).toBe(4);
  });
});

describe('a list that cannot be trusted: no statement about the token (§8.3)', () => {
  it.each([
    [
      'signed by another key',
      { signer: 'stranger' },
      'the status list token is not valid: signature verification failed',
    ],
    [
      'signed by a key baton does not have',
      { signer: 'unknown-kid' },
      'the status list token is not valid: no applicable key found in the JSON Web Key Set',
    ],
    ['typ JWT', { typ: 'JWT' }, 'the status list token is not valid: unexpected "typ" JWT header value'],
    [
      'typ at+jwt (an access token)',
      { typ: 'at+jwt' },
      'the status list token is not valid: unexpected "typ" JWT header value',
    ],
    ['sub not the uri', { sub: 'OTHER' }, 'the status list token is not valid: unexpected "sub" claim value'],
    [
      'expired',
      { exp: Math.floor(Date.now() / 1000) - 60 },
      'the status list token is not valid: "exp" claim timestamp check failed',
    ],
    ['no iat', { iat: null }, 'the status list token is not valid: missing required "iat" claim'],
    ['a ttl of 0', { ttl: 0 }, 'the status list token is not valid: "ttl" is not a positive number'],
    ['a ttl as a string', { ttl: '5' }, 'the status list token is not valid: "ttl" is not a positive number'],
    [
      'bits 3',
      { claim: { bits: 3, lst: 'eNrbuRgAAhcBXQ' } },
      'the status list token is not valid: "bits" must be 1, 2, 4 or 8 (§4.2)',
    ],
    [
      'application/json',
      { contentType: 'application/json' },
      'the status list endpoint answered application/json, not application/statuslist+jwt',
    ],
    ['a 500', { status: 500 }, 'the status list endpoint answered 500'],
    [
      'a redirect to another origin',
      { redirect: 'OTHER/statuslists/1' },
      "a redirect to OTHER, not baton's origin, was not followed",
    ],
  ] as [string, Partial<ListState>, string][])('%s: StatusListUnavailableError', async (_name, state, message) => {
    const resolved = JSON.parse(JSON.stringify(state).replaceAll('OTHER', OTHER)) as Partial<ListState>;
    const l = list(resolved);
    const err = await refusal(verifier()(await referencing(l.uri, 0)));
    expect(err).toEqual(unavailable(l.uri, message.replaceAll('OTHER', OTHER)));
    expect(err).toBeInstanceOf(StatusListUnavailableError);
    expect(otherHits).toBe(0);
  });

  it('a list baton does not have (404)', async () => {
    const uri = `${ISSUER}/statuslists/none`;
    const err = await refusal(verifier()(await referencing(uri, 0)));
    expect(err).toEqual(unavailable(uri, 'the status list endpoint answered 404'));
  });
});

describe('baton unreachable: fail closed after maxStaleness, at the MCP guard', () => {
  let mcpUrl: string;
  let kit: ReturnType<typeof createMcpAuth>;
  const audit: AuditEvent[] = [];
  const l = { path: '', uri: '', state: undefined as unknown as ListState };

  beforeAll(async () => {
    let handler: (req: IncomingMessage, res: ServerResponse) => void = () => undefined;
    const server = await listen((req, res) => handler(req, res));
    mcpUrl = `${origin(server)}/mcp`;
    kit = createMcpAuth({
      issuer: ISSUER,
      resource: mcpUrl,
      scopes: { 'tools/call:read_logs': 'logs.read' },
      audit: (e) => audit.push(e),
      statusList: { maxStalenessSeconds: 5 },
    });
    handler = withMcpAuth(kit, '/mcp', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"jsonrpc":"2.0","id":1,"result":{}}');
    });
    Object.assign(l, list({ statuses: [0, 1, 0, 0, 0, 0, 0, 0], ttl: 1 }));
  });

  const call = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'read_logs', arguments: {} } };
  const post = async (idx: number) =>
    request(mcpUrl.replace('/mcp', ''))
      .post('/mcp')
      .auth(await referencing(l.uri, idx, mcpUrl), { type: 'bearer' })
      .send(call);

  it('a revoked token: 401 invalid_token with the usual challenge', async () => {
    expect((await post(0)).status).toBe(200);
    const res = await post(1);
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe(
      `Bearer error="invalid_token", error_description="the access token is not valid here", resource_metadata="${new URL(mcpUrl).origin}/.well-known/oauth-protected-resource/mcp"`,
    );
    expect(audit.at(-1)).toMatchObject({
      outcome: 'denied',
      status: 401,
      reason: "the token's status is 0x01 INVALID",
    });
  });

  it('the cached list keeps answering past its ttl until maxStaleness, then 503 temporarily_unavailable, never a pass', async () => {
    await post(0);
    l.state.down = true;
    const { freshUntil, fetchedAt } = kit.verify.statusLists!.info(l.uri)!;
    await until(
      () => Date.now(),
      (now) => now > freshUntil,
    );
    // past the ttl, baton down: the cached copy still answers, both ways
    const stale = [await post(0), await post(1)];
    expect(stale.map((r) => r.status)).toEqual([200, 401]);
    expect(kit.verify.statusLists!.stats()).toMatchObject({ stale: 2, failures: 1 });
    expect(Date.now() - fetchedAt).toBeLessThan(5000); // (the copy used was within maxStaleness)
    // until maxStaleness: then neither the valid nor the revoked token passes
    const seen: number[] = [];
    const res = await until(
      async () => {
        const r = await post(0);
        seen.push(r.status);
        return r;
      },
      (r) => r.status !== 200,
    );
    expect(res.status).toBe(503);
    expect(res.body).toEqual({
      error: 'temporarily_unavailable',
      error_description: "the token's status cannot be checked right now",
    });
    expect(res.headers['retry-after']).toMatch(/^[1-9]\d*$/);
    expect(res.headers['cache-control']).toBe('no-store');
    expect(audit.at(-1)).toMatchObject({
      outcome: 'denied',
      status: 503,
      reason: expect.stringMatching(/^status list unavailable: the status list could not be fetched: /),
    });
    for (const idx of [0, 1, 0]) expect((await post(idx)).status).toBe(503);
    expect(seen.slice(0, -1).every((status) => status === 200)).toBe(true); // 200 (stale copy), then 503
    // baton is back: the list is fetched again and the guard answers as before
    l.state.down = false;
    await until(
      () => post(0),
      (r) => r.status === 200,
    );
    expect((await post(1)).status).toBe(401);
  });

  it('no list cached and baton unreachable: 503 at once', async () => {
    const down = list({ down: true });
    const res = await request(mcpUrl.replace('/mcp', ''))
      .post('/mcp')
      .auth(await referencing(down.uri, 0, mcpUrl), { type: 'bearer' })
      .send(call);
    expect(res.status).toBe(503);
    expect(res.body.error).toBe('temporarily_unavailable');
  });
});
