/**
 * Scenarios: the Token Status List (draft-ietf-oauth-status-list-20): the `status` claim of the access
 * tokens (§6.2), the Status List Token at its URI (§8.1, §8.2, §5.1, §4.1, §4.2), a revocation turning the
 * token's status INVALID (§7.1) within the list's `ttl` (§13.7), the aggregation (§9.1, §9.3), historical
 * resolution (§8.4) and Content-Encoding (§8.2). The lists are decoded here with node:zlib (§4.1: DEFLATE in
 * the ZLIB format, RFC 1950), so the suite does not lean on the kit's own decoder.
 */
import { randomUUID } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { gunzipSync, inflateSync } from 'node:zlib';
import { decodeJwt, jwtVerify, type JWTPayload } from 'jose';
import { assert, Failure, serviceToken, userTokens, type Ctx, type Scenario } from '../context.ts';

const DRAFT = 'draft-ietf-oauth-status-list-20';
const TYPE = 'application/statuslist+jwt';
/** how much later than `ttl` after a revocation the suite still accepts the list turning INVALID */
const MARGIN_MS = 2000;
/** without `ttl`, how long the suite waits for a revoked token's status to change */
const NO_TTL_WAIT_MS = 10_000;

/** §6.2: the token's `status.status_list`: `idx` a non-negative integer, `uri` a URI (a string) */
export function referencedStatus(token: string, which = 'the access token'): { idx: number; uri: string } {
  let payload: JWTPayload;
  try {
    payload = decodeJwt(token);
  } catch {
    throw new Failure(`${which} is not a JWT`);
  }
  const ref = (payload.status as { status_list?: { idx?: unknown; uri?: unknown } } | undefined)?.status_list;
  assert(ref && typeof ref === 'object', `${which} has no status.status_list (${JSON.stringify(payload.status)})`);
  const { idx, uri } = ref!;
  assert(Number.isInteger(idx) && (idx as number) >= 0, `${which}: idx is not a non-negative integer (${String(idx)})`);
  assert(typeof uri === 'string' && URL.canParse(uri), `${which}: uri is not a URI (${String(uri)})`);
  return { idx: idx as number, uri: uri as string };
}

const mediaType = (h: string | null | undefined) => (h ?? '').split(';')[0]!.trim().toLowerCase();

/** A decoded Status List Token: its claims and the status of any index (§4.1: LSB first, `bits` per index). */
export interface StatusList {
  payload: JWTPayload & { ttl?: number };
  bits: number;
  size: number;
  status(idx: number): number;
}

/**
 * Checks a Status List Token (the JWS compact serialization) against §5.1 and §4.2, for the list at `uri`:
 * typ statuslist+jwt, signed by a key of the issuer's JWKS, sub = uri, iat, exp after iat, ttl positive,
 * status_list.bits 1/2/4/8 and lst a base64url ZLIB byte array.
 */
export async function checkStatusListToken(ctx: Ctx, jwt: string, uri: string): Promise<StatusList> {
  let payload: JWTPayload & { ttl?: unknown; status_list?: { bits?: unknown; lst?: unknown } };
  try {
    ({ payload } = await jwtVerify(jwt, await ctx.jwks(), { typ: 'statuslist+jwt' }));
  } catch (err) {
    throw new Failure(`the status list token does not verify: ${(err as Error).message}`);
  }
  assert(payload.sub === uri, `sub is ${String(payload.sub)}, not the uri ${uri}`);
  assert(typeof payload.iat === 'number', 'no iat');
  assert(payload.exp === undefined || payload.exp > payload.iat!, `exp ${payload.exp} is not after iat ${payload.iat}`);
  assert(
    payload.ttl === undefined || (typeof payload.ttl === 'number' && payload.ttl > 0),
    `ttl is not a positive number (${JSON.stringify(payload.ttl)})`,
  );
  const { bits, lst } = payload.status_list ?? {};
  assert([1, 2, 4, 8].includes(bits as number), `status_list.bits is ${JSON.stringify(bits)}, not 1, 2, 4 or 8`);
  assert(typeof lst === 'string' && /^[A-Za-z0-9_-]*$/.test(lst), 'status_list.lst is not a base64url string');
  let bytes: Buffer;
  try {
    bytes = inflateSync(Buffer.from(lst as string, 'base64url'));
  } catch {
    throw new Failure('status_list.lst is not a ZLIB (RFC 1950) compressed byte array');
  }
  const b = bits as number;
  return {
    payload: payload as StatusList['payload'],
    bits: b,
    size: (bytes.length * 8) / b,
    status: (idx) => (bytes[Math.floor((idx * b) / 8)]! >> ((idx * b) % 8)) & ((1 << b) - 1),
  };
}

/** §8.1, §8.2: GET the uri with Accept application/statuslist+jwt: 2xx, that content type, a valid token. */
export async function fetchStatusList(ctx: Ctx, uri: string): Promise<StatusList> {
  const res = await fetch(uri, { headers: { accept: TYPE } });
  const body = await res.text();
  assert(res.status === 200, `GET ${uri}: HTTP ${res.status} ${body.slice(0, 120)}`);
  const type = mediaType(res.headers.get('content-type'));
  assert(type === TYPE, `GET ${uri}: Content-Type ${type || '(none)'}, not ${TYPE}`);
  return checkStatusListToken(ctx, body.trim(), uri);
}

/** The fixture's service token and its status list entry, checked to be in the list (§8.3 step 6). */
async function referencedServiceToken(ctx: Ctx) {
  const token = await serviceToken(ctx);
  const ref = referencedStatus(token, 'the client credentials token');
  const list = await fetchStatusList(ctx, ref.uri);
  assert(ref.idx < list.size, `idx ${ref.idx} is out of the list's bounds (${list.size} entries)`);
  return { token, ref, list };
}

/** a raw GET (no transparent decompression), for what Content-Encoding the server chose */
function rawGet(url: string, headers: Record<string, string>): Promise<{ res: IncomingMessage; body: Buffer }> {
  const request = url.startsWith('https:') ? httpsRequest : httpRequest;
  return new Promise((ok, fail) => {
    const req = request(url, { headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => ok({ res, body: Buffer.concat(chunks) }));
      res.on('error', fail);
    });
    req.on('error', fail);
    req.end();
  });
}

const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

/** Polls the token's list until its status is `want` or the deadline (ms) passes; the last status seen. */
async function pollStatus(ctx: Ctx, ref: { idx: number; uri: string }, want: number, deadline: number) {
  for (;;) {
    const status = (await fetchStatusList(ctx, ref.uri)).status(ref.idx);
    if (status === want || Date.now() > deadline) return status;
    await sleep(250);
  }
}

export const statusList: Scenario[] = [
  {
    id: 'status-list.claim',
    clause: `${DRAFT} §6.2 (status.status_list: idx a non-negative integer, uri a URI)`,
    level: 'MUST',
    title: "every access token (client credentials, a user's) names its status list entry: idx and uri",
    async run(ctx) {
      referencedStatus(await serviceToken(ctx), 'the client credentials token');
      referencedStatus((await userTokens(ctx)).access_token, "the user's access token");
    },
  },

  {
    id: 'status-list.token',
    clause: `${DRAFT} §8.1, §8.2, §5.1, §4.1, §4.2, §6.2; §7.1 (VALID 0x00)`,
    level: 'MUST',
    title:
      'the uri answers an application/statuslist+jwt signed by a JWKS key, sub = uri, the idx within the list, VALID',
    async run(ctx) {
      const { ref, list } = await referencedServiceToken(ctx);
      const status = list.status(ref.idx);
      assert(status === 0x00, `a token just issued has status ${status} at idx ${ref.idx}, not 0x00 VALID`);
    },
  },

  {
    id: 'status-list.revocation',
    clause: `${DRAFT} §7.1 (0x01 INVALID: revoked), §13.7 (ttl: when a new version may be available); RFC 7009 §2.1`,
    level: 'SHOULD',
    title: "once its client revokes a token (RFC 7009), its status becomes 0x01 INVALID within the list's ttl",
    async run(ctx) {
      const c = ctx.fixture.confidentialClient;
      const { token, ref, list } = await referencedServiceToken(ctx);
      assert(list.status(ref.idx) === 0x00, `status ${list.status(ref.idx)} before the revocation, not 0x00`);
      const revoked = await ctx.form('/token/revocation', { token }, { id: c.client_id, secret: c.client_secret });
      assert(revoked.status === 200, `revocation: HTTP ${revoked.status}`);
      const wait = typeof list.payload.ttl === 'number' ? list.payload.ttl * 1000 + MARGIN_MS : NO_TTL_WAIT_MS;
      const status = await pollStatus(ctx, ref, 0x01, Date.now() + wait);
      // the list a verifier fetches once the ttl of its copy has passed shows the revocation
      assert(status === 0x01, `status ${status} at idx ${ref.idx} ${wait} ms after the revocation, not 0x01 INVALID`);
    },
  },

  {
    id: 'status-list.aggregation',
    clause: `${DRAFT} §9.1 (status_list_aggregation_endpoint in the AS metadata), §9.3 (application/json, status_lists)`,
    level: 'SHOULD',
    title: "the metadata's status_list_aggregation_endpoint answers {status_lists: [...]} with the token's list",
    async run(ctx) {
      const endpoint = ctx.metadata.status_list_aggregation_endpoint;
      assert(typeof endpoint === 'string', 'the metadata has no status_list_aggregation_endpoint');
      const { ref } = await referencedServiceToken(ctx);
      const res = await fetch(endpoint as string);
      const type = mediaType(res.headers.get('content-type'));
      assert(res.status === 200 && type === 'application/json', `HTTP ${res.status}, Content-Type ${type || '(none)'}`);
      const body = (await res.json().catch(() => ({}))) as { status_lists?: unknown };
      const lists = body.status_lists;
      assert(
        Array.isArray(lists) && lists.every((u) => typeof u === 'string'),
        `status_lists is not an array of strings (${JSON.stringify(body).slice(0, 120)})`,
      );
      assert((lists as string[]).includes(ref.uri), `status_lists does not list ${ref.uri}`);
    },
  },

  {
    id: 'status-list.unknown',
    clause: 'RFC 9110 §15.5.5 (404: no representation for the target); the draft defines no answer for an unknown list',
    level: 'SHOULD',
    title: 'a status list that does not exist (beside the one a token names) is 404',
    async run(ctx) {
      const ref = referencedStatus(await serviceToken(ctx), 'the client credentials token');
      const base = new URL(ref.uri);
      const prefix = base.pathname.slice(0, base.pathname.lastIndexOf('/') + 1);
      const last = base.pathname.slice(prefix.length);
      const unknown = [`${prefix}no-such-list-${randomUUID()}`];
      // a numeric id far beyond this one, when the lists are numbered
      if (/^[0-9]+$/.test(last)) unknown.push(`${prefix}${Number(last) + 1_000_000}`);
      for (const path of unknown) {
        const url = new URL(path, base).href;
        const res = await fetch(url, { headers: { accept: TYPE } });
        await res.body?.cancel();
        assert(res.status === 404, `GET ${url}: HTTP ${res.status}, not 404`);
      }
    },
  },

  {
    id: 'status-list.historical',
    clause: `${DRAFT} §8.4 (a server without historical resolution SHOULD answer the time parameter 501)`,
    level: 'SHOULD',
    title: 'a request with ?time= is 501 (or 404, or a token valid at that time), never the current list',
    async run(ctx) {
      const { ref } = await referencedServiceToken(ctx);
      const time = Math.floor(Date.now() / 1000) - 3600;
      const url = new URL(ref.uri);
      url.searchParams.set('time', String(time));
      const res = await fetch(url, { headers: { accept: TYPE } });
      const body = await res.text();
      if (res.status === 501 || res.status === 404) return;
      assert(res.status === 200, `GET ?time=: HTTP ${res.status}, not 501`);
      // §8.4: a token served for that time must have been valid then (a server ignoring time fails here)
      const { payload } = await checkStatusListToken(ctx, body.trim(), ref.uri);
      assert(
        payload.iat! <= time && (payload.exp === undefined || time <= payload.exp),
        `GET ?time=${time}: HTTP 200 with a token issued at ${payload.iat}, not valid at that time (not 501)`,
      );
    },
  },

  {
    id: 'status-list.gzip',
    clause: `${DRAFT} §8.2 (SHOULD use Content-Encoding such as gzip, negotiated per RFC 9110)`,
    level: 'SHOULD',
    title: 'with Accept-Encoding: gzip the status list token comes gzip-encoded, and decodes to a valid token',
    async run(ctx) {
      const ref = referencedStatus(await serviceToken(ctx), 'the client credentials token');
      const { res, body } = await rawGet(ref.uri, { accept: TYPE, 'accept-encoding': 'gzip' });
      assert(res.statusCode === 200, `HTTP ${res.statusCode}`);
      assert(
        res.headers['content-encoding'] === 'gzip',
        `Content-Encoding ${res.headers['content-encoding'] ?? '(none)'}`,
      );
      let jwt: string;
      try {
        jwt = gunzipSync(body).toString('utf8').trim();
      } catch {
        throw new Failure('Content-Encoding gzip, but the body is not gzip');
      }
      await checkStatusListToken(ctx, jwt, ref.uri);
    },
  },
];
