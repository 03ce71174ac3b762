/**
 * Token Status List (draft-ietf-oauth-status-list-20), the relying party's side: baton's JWT access tokens
 * carry `status: { status_list: { idx, uri } }` (§6.2) and baton serves, at that uri, a Status List Token
 * (`application/statuslist+jwt`, §5.1) signed with its keys. This module:
 *   - decodes (and, for tests and tools, encodes) a Status List (§4.1, §4.2): `bits` 1/2/4/8, entries packed
 *     from the least significant bit, DEFLATE in the ZLIB format, base64url; the inflated size is bounded;
 *   - fetches a list (§8.1, §8.2), only from baton's origin (a token never makes the kit fetch an arbitrary
 *     URL), following a bounded number of same-origin redirects (§11.4), and verifies it (§8.3 step 3–4:
 *     signature by baton's keys, `typ`, `sub` === uri, `iat`, `exp`, `ttl`);
 *   - caches each list for its `ttl` after the fetch (§13.7, the RECOMMENDED mode), clamped to sane bounds
 *     (§11.5) and never past `exp`; refreshes it in the background before the `ttl` runs out; one fetch per
 *     list at a time for every concurrent request; a bounded number of lists;
 *   - when a fresh copy cannot be had, keeps using the last one up to `maxStalenessSeconds` after it was
 *     fetched, then fails closed with `StatusListUnavailableError` (the kit's 503), never a pass.
 * Only `node:zlib`, `node:util` and jose: what Node 24 has.
 */
import { jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { MIMEType } from 'node:util';
import { deflateSync, inflateSync } from 'node:zlib';

/** §8.1, §8.2 */
export const STATUS_LIST_MEDIA_TYPE = 'application/statuslist+jwt';

/** §7.1 Status Types: 0x00 VALID, 0x01 INVALID (revoked), 0x02 SUSPENDED; 0x03, 0x0C–0x0F application specific */
export const STATUS_VALID = 0x00;
export const STATUS_INVALID = 0x01;
export const STATUS_SUSPENDED = 0x02;

export type StatusBits = 1 | 2 | 4 | 8;

/** The `status_list` claim of a Status List Token (§4.2). */
export interface StatusListClaim {
  bits: StatusBits;
  lst: string;
}

/** The default bound on a list's inflated size: 4 MiB, i.e. 32 Mi entries of 1 bit, 4 Mi of 8 bits. */
export const DEFAULT_MAX_LIST_BYTES = 4 * 1024 * 1024;

/** A malformed `status_list` claim (§4.2) or `lst` (§4.1). */
export class StatusListFormatError extends Error {
  override name = 'StatusListFormatError';
}

/** A decoded Status List: the status of each index (§4.1 step 3). */
export class StatusList {
  readonly bits: StatusBits;
  readonly bytes: Uint8Array;
  constructor(bits: StatusBits, bytes: Uint8Array) {
    this.bits = bits;
    this.bytes = bytes;
  }

  /** The number of entries: every bit of the byte array belongs to one (§4.1 step 2). */
  get size(): number {
    return (this.bytes.length * 8) / this.bits;
  }

  /**
   * The status of entry `idx` (§4.1 step 3: byte `idx * bits / 8`, blocks packed from the least significant
   * bit; §11.1), or undefined when `idx` is out of range (§8.3 step 6: the token MUST then be rejected).
   */
  statusAt(idx: number): number | undefined {
    if (!Number.isSafeInteger(idx) || idx < 0 || idx >= this.size) return undefined;
    const perByte = 8 / this.bits;
    const byte = this.bytes[Math.floor(idx / perByte)]!;
    return (byte >> ((idx % perByte) * this.bits)) & ((1 << this.bits) - 1);
  }
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** Decodes a `status_list` claim (§4.2), inflating at most `maxBytes` (§4.1 step 4, §8.3 step 5). */
export function decodeStatusList(claim: unknown, maxBytes = DEFAULT_MAX_LIST_BYTES): StatusList {
  const { bits, lst } = (claim && typeof claim === 'object' ? claim : {}) as { bits?: unknown; lst?: unknown };
  if (bits !== 1 && bits !== 2 && bits !== 4 && bits !== 8)
    throw new StatusListFormatError('"bits" must be 1, 2, 4 or 8 (§4.2)');
  // RFC 7515 §2 base64url, without padding; Buffer's decoder alone would skip foreign characters
  if (typeof lst !== 'string' || !BASE64URL.test(lst))
    throw new StatusListFormatError('"lst" must be a base64url string (§4.2)');
  let bytes: Buffer;
  try {
    bytes = inflateSync(Buffer.from(lst, 'base64url'), { maxOutputLength: maxBytes });
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE')
      throw new StatusListFormatError(`"lst" inflates to more than ${maxBytes} bytes`);
    throw new StatusListFormatError('"lst" is not DEFLATE data in the ZLIB format (§4.1 step 4)');
  }
  return new StatusList(bits, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length));
}

/** Encodes statuses as a `status_list` claim (§4.1 steps 2–4, highest compression level; §4.2). */
export function encodeStatusList(statuses: ArrayLike<number>, bits: StatusBits): StatusListClaim {
  const perByte = 8 / bits;
  const bytes = new Uint8Array(Math.ceil(statuses.length / perByte));
  for (let i = 0; i < statuses.length; i++) {
    const value = statuses[i]!;
    if (!Number.isInteger(value) || value < 0 || value >= 1 << bits)
      throw new RangeError(`status ${value} at ${i} does not fit in ${bits} bits (§7)`);
    bytes[Math.floor(i / perByte)]! |= value << ((i % perByte) * bits);
  }
  return { bits, lst: deflateSync(bytes, { level: 9 }).toString('base64url') };
}

/** The status names of §7.1, for refusal details. */
export function statusName(value: number): string {
  const hex = `0x${value.toString(16).padStart(2, '0').toUpperCase()}`;
  const name = { [STATUS_INVALID]: 'INVALID', [STATUS_SUSPENDED]: 'SUSPENDED' }[value];
  return name ? `${hex} ${name}` : hex;
}

export interface StatusListOptions {
  /** refuse a token that names no status list (default false: such a token is accepted as before) */
  require?: boolean;
  /** how long after its fetch a list is still used while no fresh copy can be had (default 30 s) */
  maxStalenessSeconds?: number;
  /** the bounds the list's `ttl` is clamped to (§11.5; default 1 s and 3600 s); `exp` caps it too */
  minTtlSeconds?: number;
  maxTtlSeconds?: number;
  /** how many lists are cached at most (default 100; the least recently used is dropped) */
  maxLists?: number;
  /** the bound on a list's inflated size (default 4 MiB) */
  maxListBytes?: number;
  /** the time a fetch may take, redirects and body included (default 5000 ms) */
  timeoutMs?: number;
  /** the number of redirects followed, each within baton's origin (default 3; §8.2, §11.4) */
  maxRedirects?: number;
}

/**
 * The status of a token cannot be known: its list could not be fetched or verified and no copy younger
 * than `maxStalenessSeconds` is at hand. Not the token's fault: answer 503 `temporarily_unavailable` with
 * `Retry-After`, never 401 and never a pass.
 */
export class StatusListUnavailableError extends Error {
  override name = 'StatusListUnavailableError';
  readonly code = 'temporarily_unavailable';
  readonly uri: string;
  readonly retryAfterSeconds: number;
  constructor(uri: string, message: string, retryAfterSeconds = 1) {
    super(message);
    this.uri = uri;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** What the cache knows of one list (for measuring: when it was fetched and how long it is fresh). */
export interface StatusListInfo {
  uri: string;
  bits: StatusBits;
  size: number;
  /** when the list was fetched (ms since the epoch) */
  fetchedAt: number;
  /** the list's `iat` and `exp` (seconds since the epoch) */
  issuedAt: number;
  expiresAt: number | undefined;
  /** the cache time in force: the list's `ttl` clamped to the bounds (seconds) */
  ttlSeconds: number;
  /** until when the list is used without a fetch (ms since the epoch): fetchedAt + ttl, capped by exp */
  freshUntil: number;
}

export interface StatusListStats {
  /** fetches started (each answered or failed) */
  fetches: number;
  failures: number;
  /** lookups answered from a fresh cached list */
  hits: number;
  /** lookups that waited for a fetch another lookup had started */
  joined: number;
  /** lookups answered from a cached list past its ttl because no fresh copy could be had */
  stale: number;
  /** lists cached now */
  lists: number;
}

interface Entry extends StatusListInfo {
  list: StatusList;
  /** from when a lookup starts a background refresh (three quarters into the ttl) */
  refreshAt: number;
  /** when it was last looked up (the cache's lookup counter) */
  usedAt: number;
}

export interface StatusListCacheOptions extends StatusListOptions {
  /** baton's origin: the only one lists are fetched from */
  origin: string;
  /** baton's keys (the verifier's remote JWK set) */
  keys: JWTVerifyGetKey;
  fetch: typeof fetch;
  clockToleranceSeconds: number;
}

/** Verifies a Status List Token fetched from `uri` and decodes its list, with the time it is fresh for. */
async function entryOf(uri: string, jwt: string, options: StatusListCacheOptions): Promise<Entry> {
  let payload: JWTPayload;
  try {
    // §8.3 step 3–4, §5.1: RFC 7519 §7.2 validation, a signature by baton's keys, typ, sub === uri, iat
    // and, when present, exp; RFC 8725 §3.11: typ keeps an access token from passing as a list
    ({ payload } = await jwtVerify(jwt, options.keys, {
      typ: 'statuslist+jwt',
      subject: uri,
      requiredClaims: ['sub', 'iat', 'status_list'],
      clockTolerance: options.clockToleranceSeconds,
    }));
  } catch (err) {
    throw new StatusListUnavailableError(uri, `the status list token is not valid: ${(err as Error).message}`);
  }
  const { ttl, exp, iat } = payload;
  // §5.1: ttl, when present, MUST be a positive number
  if (ttl !== undefined && !(typeof ttl === 'number' && ttl > 0 && Number.isFinite(ttl)))
    throw new StatusListUnavailableError(uri, 'the status list token is not valid: "ttl" is not a positive number');
  let list: StatusList;
  try {
    list = decodeStatusList(payload.status_list, options.maxListBytes);
  } catch (err) {
    throw new StatusListUnavailableError(uri, `the status list token is not valid: ${(err as Error).message}`);
  }
  const fetchedAt = Date.now();
  // §13.7: cached for ttl after the fetch; without ttl, until exp at the latest; §11.5: within bounds
  const wanted = ttl ?? (exp !== undefined ? exp - fetchedAt / 1000 : Infinity);
  const ttlSeconds = Math.min(Math.max(wanted, options.minTtlSeconds ?? 1), options.maxTtlSeconds ?? 3600);
  // §13.7: past exp a list MUST NOT be relied upon
  const freshUntil = Math.min(fetchedAt + ttlSeconds * 1000, exp !== undefined ? exp * 1000 : Infinity);
  const refreshAt = fetchedAt + 0.75 * (freshUntil - fetchedAt);
  const issuedAt = iat!;
  return {
    uri,
    bits: list.bits,
    size: list.size,
    fetchedAt,
    issuedAt,
    expiresAt: exp,
    ttlSeconds,
    freshUntil,
    refreshAt,
    usedAt: 0,
    list,
  };
}

/** After a failed fetch, lookups use what is cached (or fail) for this long before a new attempt. */
const RETRY_AFTER_FAILURE_MS = 2000;

export function createStatusListCache(options: StatusListCacheOptions) {
  const entries = new Map<string, Entry>();
  /** a counter of lookups: each entry's `usedAt`, for evicting the least recently used beyond maxLists */
  let uses = 0;
  const inflight = new Map<string, Promise<Entry>>();
  const failed = new Map<string, { until: number; error: StatusListUnavailableError }>();
  const stats = { fetches: 0, failures: 0, hits: 0, joined: 0, stale: 0 };
  const maxLists = options.maxLists ?? 100;
  const maxStalenessMs = (options.maxStalenessSeconds ?? 30) * 1000;
  const download = downloader(options);

  async function load(uri: string): Promise<Entry> {
    stats.fetches++;
    return entryOf(uri, await download(uri), options);
  }

  function store(entry: Entry): Entry {
    entry.usedAt = ++uses;
    entries.set(entry.uri, entry);
    while (entries.size > maxLists) {
      let oldest: Entry | undefined;
      for (const e of entries.values()) if (!oldest || e.usedAt < oldest.usedAt) oldest = e;
      entries.delete(oldest!.uri);
    }
    failed.delete(entry.uri);
    return entry;
  }

  function fail(uri: string, err: unknown): never {
    stats.failures++;
    const error =
      err instanceof StatusListUnavailableError
        ? err
        : new StatusListUnavailableError(uri, `the status list could not be fetched: ${(err as Error).message}`);
    failed.delete(uri);
    failed.set(uri, { until: Date.now() + RETRY_AFTER_FAILURE_MS, error });
    for (const key of failed.keys()) {
      if (failed.size <= maxLists) break;
      failed.delete(key);
    }
    throw error;
  }

  /** One fetch per list at a time, shared by every lookup that needs it (single flight). */
  function refresh(uri: string): Promise<Entry> {
    const running = inflight.get(uri);
    if (running) {
      stats.joined++;
      return running;
    }
    const recent = failed.get(uri);
    if (recent && Date.now() < recent.until) return Promise.reject(recent.error);
    const attempt = load(uri)
      .then(store, (err: unknown) => fail(uri, err))
      .finally(() => inflight.delete(uri));
    inflight.set(uri, attempt);
    return attempt;
  }

  /** The list at `uri` if it is cached and fresh (no waiting), else undefined: `get` then fetches it. */
  function fresh(uri: string): StatusList | undefined {
    const entry = entries.get(uri);
    const now = Date.now();
    if (!entry || now >= entry.freshUntil) return undefined;
    stats.hits++;
    entry.usedAt = ++uses; // least recently used first out (store)
    // refreshed in the background before the ttl runs out: steady traffic never waits for a fetch
    if (now >= entry.refreshAt && !inflight.has(uri)) refresh(uri).catch(() => undefined);
    return entry.list;
  }

  /** The list at `uri` (an absolute URL on baton's origin), fresh, or stale within maxStaleness. */
  async function get(uri: string): Promise<StatusList> {
    const hit = fresh(uri);
    if (hit) return hit;
    const entry = entries.get(uri);
    try {
      return (await refresh(uri)).list;
    } catch (err) {
      const now = Date.now();
      // fail closed past maxStaleness, and never rely on a list past its exp (§13.7)
      const usable =
        entry &&
        now - entry.fetchedAt <= maxStalenessMs &&
        (entry.expiresAt === undefined || now < entry.expiresAt * 1000);
      if (!usable) {
        const until = failed.get(uri)?.until ?? now;
        const retryAfter = Math.max(1, Math.ceil((until - now) / 1000));
        throw new StatusListUnavailableError(uri, (err as Error).message, retryAfter);
      }
      stats.stale++;
      return entry.list;
    }
  }

  function info(uri: string): StatusListInfo | undefined {
    const entry = entries.get(uri);
    if (!entry) return undefined;
    const { list: _list, refreshAt: _refreshAt, usedAt: _usedAt, ...rest } = entry;
    return rest;
  }

  return { get, fresh, info, stats: (): StatusListStats => ({ ...stats, lists: entries.size }) };
}

export type StatusListCache = ReturnType<typeof createStatusListCache>;

/** GET uri (§8.1) → the Status List Token's compact serialization (§8.2), within the bounds of `options`. */
function downloader(options: StatusListCacheOptions) {
  const maxRedirects = options.maxRedirects ?? 3;
  // the compressed list in base64url, and the JWT around it: far below twice the inflated bound
  const maxBody = 2 * (options.maxListBytes ?? DEFAULT_MAX_LIST_BYTES) + 64 * 1024;
  const unavailable = (uri: string, message: string) => new StatusListUnavailableError(uri, message);

  return async function download(uri: string): Promise<string> {
    const signal = AbortSignal.timeout(options.timeoutMs ?? 5000);
    let url = new URL(uri);
    for (let hops = 0; ; hops++) {
      let res: Response;
      try {
        res = await options.fetch(url, { headers: { accept: STATUS_LIST_MEDIA_TYPE }, redirect: 'manual', signal });
      } catch (err) {
        throw unavailable(uri, `the status list could not be fetched: ${(err as Error).message}`);
      }
      if (res.status >= 300 && res.status < 400) {
        await res.body?.cancel();
        // §8.2: 3xx SHOULD be followed; §11.4, RFC 9110 §15.4: a bounded number of times
        if (hops >= maxRedirects) throw unavailable(uri, `more than ${maxRedirects} redirects`);
        const location = res.headers.get('location');
        const next = location ? URL.parse(location, url.href) : null;
        if (!next) throw unavailable(uri, `a ${res.status} without a usable Location`);
        // never somewhere baton's token did not name: no fetch outside baton's origin
        if (next.origin !== options.origin)
          throw unavailable(uri, `a redirect to ${next.origin}, not baton's origin, was not followed`);
        url = next;
        continue;
      }
      if (res.status < 200 || res.status >= 300) {
        await res.body?.cancel();
        throw unavailable(uri, `the status list endpoint answered ${res.status}`);
      }
      // §8.2: a successful response MUST use the media type
      const type = mediaType(res.headers.get('content-type'));
      if (type !== STATUS_LIST_MEDIA_TYPE) {
        await res.body?.cancel();
        throw unavailable(
          uri,
          `the status list endpoint answered ${type ?? 'no content type'}, not ${STATUS_LIST_MEDIA_TYPE}`,
        );
      }
      return readBounded(res, maxBody, uri);
    }
  };
}

function mediaType(header: string | null): string | undefined {
  if (!header) return undefined;
  try {
    return new MIMEType(header).essence;
  } catch {
    return undefined;
  }
}

async function readBounded(res: Response, max: number, uri: string): Promise<string> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for await (const chunk of res.body ?? []) {
      total += (chunk as Uint8Array).length;
      if (total > max) throw new Error(`the status list token is larger than ${max} bytes`);
      chunks.push(chunk as Uint8Array);
    }
  } catch (err) {
    await res.body?.cancel().catch(() => undefined);
    throw new StatusListUnavailableError(uri, `the status list could not be read: ${(err as Error).message}`);
  }
  return Buffer.concat(chunks).toString('utf8').trim();
}
