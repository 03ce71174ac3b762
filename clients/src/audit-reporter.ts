/**
 * Reporting calls to baton's audit trail (issue #13): an MCP server (or a downstream service) sends each
 * call it allowed or denied to `POST ${issuer}/audit/events`, authenticated with its own client credentials.
 *
 *   - the token: RFC 6749 §4.4 client_credentials for baton's own resource `${issuer}/audit` (RFC 8707
 *     `resource`), scope `audit.write`, cached and renewed before it expires and once on a 401;
 *   - batches of at most `batchSize` events, sent every `flushIntervalMs` or as soon as a batch is full;
 *   - a failed send (network, 5xx) is retried with exponential backoff and full jitter; 429 waits for
 *     Retry-After; another 4xx is not retried: baton names the event it refused (`events[i]`), which is
 *     dropped and counted, and the rest of the batch is sent again;
 *   - the buffer is bounded (`maxBuffer`): when full, the oldest event is dropped and counted, and the count
 *     goes with the next batch as `dropped`, which baton records as an `audit.dropped` record: never silent;
 *   - `report()` is synchronous and O(1), never throws and never waits: a tool call is never slowed or
 *     failed because baton is slow or down. `close()` sends what it can within `closeTimeoutMs`.
 *
 * Node 24 (clients/README.md): fetch, AbortSignal.timeout and unref'd timers, nothing else.
 */
import { clientAuthFor, type ClientCredentials } from './client-auth.ts';
import type { Caller } from './verify.ts';

/** One call as baton's ingestion endpoint takes it (server/src/audit/ingest.ts). */
export interface ReportedCall {
  kind: 'tool_call' | 'api_call';
  /** the resource the call was made to (default: the reporting client's only one, as baton knows it) */
  resource?: string;
  /** the verified token's `jti`: baton takes the person and the chain from its own record of that token */
  jti?: string;
  /** the MCP method (`tools/call`, …), or an HTTP method for an api_call */
  method: string;
  /** the tool, prompt or resource URI; the path for an api_call */
  name?: string;
  outcome: 'allowed' | 'denied';
  status: number;
  reason?: string;
  arguments_sha256?: string;
  /** ISO 8601 */
  at: string;
}

export interface AuditReporterOptions extends ClientCredentials {
  issuer: string;
  /** the resource every event is for, when the events do not say (a client serving several must say) */
  resource?: string;
  /** events per request (at most 500, baton's limit; default 100) */
  batchSize?: number;
  /** how often the buffer is sent (default 1000 ms) */
  flushIntervalMs?: number;
  /** events kept while baton cannot be reached (default 10 000); beyond, the oldest are dropped and counted */
  maxBuffer?: number;
  /** how long `close()` may try to send what is left (default 5000 ms) */
  closeTimeoutMs?: number;
  /** one request's limit (default 10 000 ms) */
  timeoutMs?: number;
  /** the longest wait between retries (default 30 000 ms) */
  maxBackoffMs?: number;
  /** told of each failed send or refused event (for the reporter's own log); never awaited, never thrown from */
  onError?: (err: Error) => void;
  fetch?: typeof fetch;
}

export interface AuditReporterStats {
  /** events baton accepted */
  sent: number;
  /** events dropped (buffer full, refused by baton, or reported after close) */
  dropped: number;
  /** events waiting to be sent (in flight included) */
  buffered: number;
  /** sends retried */
  retries: number;
}

export interface AuditReporter {
  /** Queues one event. Synchronous, O(1), never throws. */
  report(event: ReportedCall): void;
  /** Sends what is buffered now; resolves when the buffer is empty or a send failed (it stays buffered). */
  flush(): Promise<void>;
  /** Stops the timer and sends what it can within closeTimeoutMs; later reports are dropped (and counted). */
  close(): Promise<void>;
  stats(): AuditReporterStats;
}

/** baton's limits (server/src/audit/ingest.ts): longer strings are cut, control characters replaced */
const MAX_EVENTS = 500;
const LIMITS = { resource: 2048, jti: 256, method: 128, name: 2048, reason: 1024 } as const;
// eslint-disable-next-line no-control-regex -- the point is to replace them
const CONTROL = /[\u0000-\u001f\u007f]/g;

/** A ring of at most `capacity` events: push drops the oldest when full (and says so), O(1) both ends. */
class Ring<T> {
  readonly #items: (T | undefined)[];
  readonly capacity: number;
  #head = 0;
  #size = 0;
  constructor(capacity: number) {
    this.capacity = capacity;
    this.#items = new Array<T | undefined>(capacity);
  }
  get size() {
    return this.#size;
  }
  /** true when the oldest was dropped to make room */
  push(item: T): boolean {
    const full = this.#size === this.capacity;
    this.#items[(this.#head + this.#size) % this.capacity] = item;
    if (full) this.#head = (this.#head + 1) % this.capacity;
    else this.#size++;
    return full;
  }
  take(n: number): T[] {
    const out: T[] = [];
    while (out.length < n && this.#size > 0) {
      out.push(this.#items[this.#head]!);
      this.#items[this.#head] = undefined;
      this.#head = (this.#head + 1) % this.capacity;
      this.#size--;
    }
    return out;
  }
}

/** the event as baton accepts it: bounded, printable strings; empty optional members left out */
function wireEvent(e: ReportedCall, resource: string | undefined): ReportedCall {
  const clean = (s: string | undefined, max: number) => {
    const v = s?.replace(CONTROL, '\uFFFD').slice(0, max);
    return v ? v : undefined;
  };
  const out: Record<string, unknown> = {
    kind: e.kind,
    resource: clean(e.resource ?? resource, LIMITS.resource),
    jti: clean(e.jti, LIMITS.jti),
    method: clean(e.method, LIMITS.method) ?? 'unknown',
    name: clean(e.name, LIMITS.name),
    outcome: e.outcome,
    status: e.status,
    reason: e.reason?.slice(0, LIMITS.reason) || undefined,
    arguments_sha256: e.arguments_sha256,
    at: e.at,
  };
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out as unknown as ReportedCall;
}

/** RFC 9110 §10.2.3: Retry-After as seconds or an HTTP date; ms, or undefined */
function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

type Outcome = { ok: true } | { ok: false; retryInMs: number };

export function createAuditReporter(options: AuditReporterOptions): AuditReporter {
  const issuer = options.issuer.replace(/\/$/, '');
  const doFetch = options.fetch ?? fetch;
  const auth = clientAuthFor(issuer, options);
  const batchSize = Math.min(MAX_EVENTS, Math.max(1, options.batchSize ?? 100));
  const buffer = new Ring<ReportedCall>(Math.max(1, options.maxBuffer ?? 10_000));
  const timeoutMs = options.timeoutMs ?? 10_000;
  const maxBackoff = options.maxBackoffMs ?? 30_000;
  const stats = { sent: 0, dropped: 0, retries: 0 };
  /** drops baton has not been told of yet */
  let untold = 0;
  /** the batch being sent (or waiting to be sent again), before anything newer */
  let inflight: ReportedCall[] = [];
  let token: { value: string; renewAt: number } | undefined;
  let attempt = 0;
  let sending: Promise<void> | undefined;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** when the next retry is due (ms since the epoch), while retryTimer waits */
  let retryAt = 0;
  let closed = false;
  /** a send is scheduled (setImmediate) by a full batch */
  let scheduled = false;
  const abort = new AbortController();

  const tell = (err: Error) => {
    try {
      options.onError?.(err);
    } catch {
      // the reporter's own observer must not break it
    }
  };
  const drop = (n: number) => {
    stats.dropped += n;
    untold += n;
  };

  /** RFC 6749 §4.4 + RFC 8707: an audit.write token for baton's audit API, renewed before it expires */
  async function accessToken(): Promise<string> {
    if (token && token.renewAt > Date.now()) return token.value;
    const { headers, params } = await auth();
    const res = await doFetch(`${issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        resource: `${issuer}/audit`,
        scope: 'audit.write',
        ...params,
      }),
      signal: AbortSignal.any([abort.signal, AbortSignal.timeout(timeoutMs)]),
    });
    const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
    if (!res.ok || typeof body.access_token !== 'string') {
      const err = new Error(
        `audit token: HTTP ${res.status} ${typeof body.error === 'string' ? body.error : ''}`.trim(),
      );
      throw Object.assign(err, { status: res.status });
    }
    const ttl = typeof body.expires_in === 'number' ? body.expires_in * 1000 : 60_000;
    // renew at three quarters of its life (at most 30 s early): never sent expired
    token = { value: body.access_token, renewAt: Date.now() + ttl - Math.min(30_000, ttl / 4) };
    return token.value;
  }

  const backoff = () => {
    const ceiling = Math.min(maxBackoff, 500 * 2 ** Math.min(attempt, 16));
    return Math.floor(Math.random() * ceiling); // full jitter
  };

  async function post(events: ReportedCall[], dropped: number): Promise<Response> {
    const bearer = await accessToken();
    return doFetch(`${issuer}/audit/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` },
      body: JSON.stringify({ events, ...(dropped > 0 ? { dropped } : {}) }),
      signal: AbortSignal.any([abort.signal, AbortSignal.timeout(timeoutMs)]),
    });
  }

  /** One attempt at the in-flight batch (with one renewal on 401). */
  async function sendInflight(): Promise<Outcome> {
    const dropped = untold;
    let res: Response;
    try {
      res = await post(inflight, dropped);
      if (res.status === 401) {
        token = undefined; // RFC 6750 §3.1 invalid_token: a new token, once
        res = await post(inflight, dropped);
      }
    } catch (err) {
      tell(err as Error);
      return { ok: false, retryInMs: backoff() };
    }
    if (res.status === 202) {
      stats.sent += inflight.length;
      untold -= dropped;
      inflight = [];
      return { ok: true };
    }
    const body = (await res.json().catch(() => ({}))) as { error?: string; error_description?: string };
    tell(new Error(`audit events: HTTP ${res.status} ${body.error ?? ''} ${body.error_description ?? ''}`.trim()));
    if (res.status === 429) return { ok: false, retryInMs: retryAfterMs(res.headers.get('retry-after')) ?? backoff() };
    if (res.status >= 500 || res.status === 401) return { ok: false, retryInMs: backoff() };
    // another 4xx: baton refused an event (it names it) or the whole batch; never sent again as it is
    const index = /^events\[(\d+)\]/.exec(body.error_description ?? '')?.[1];
    const i = index === undefined ? -1 : Number(index);
    if (i >= 0 && i < inflight.length) {
      inflight.splice(i, 1); // the rest goes again at once: each round removes one event
      drop(1);
      return { ok: true };
    }
    // the whole batch (403, a misconfiguration): dropped and counted, and the next try waits its backoff
    drop(inflight.length);
    inflight = [];
    return { ok: false, retryInMs: backoff() };
  }

  /** Sends batches until the buffer is empty, or schedules a retry after a failure. */
  async function pump(): Promise<void> {
    while (!abort.signal.aborted) {
      if (inflight.length === 0) inflight = buffer.take(batchSize);
      if (inflight.length === 0 && untold === 0) return;
      const outcome = await sendInflight();
      if (!outcome.ok) {
        attempt++;
        stats.retries++;
        retryAt = Date.now() + outcome.retryInMs;
        retryTimer = setTimeout(() => {
          retryTimer = undefined;
          void kick();
        }, outcome.retryInMs);
        retryTimer.unref?.();
        return;
      }
      attempt = 0;
    }
  }

  function kick(): Promise<void> {
    if (sending) return sending;
    if (retryTimer) return Promise.resolve(); // waiting for the backoff
    sending = pump().finally(() => (sending = undefined));
    return sending;
  }

  const interval = setInterval(() => void kick(), options.flushIntervalMs ?? 1000);
  interval.unref?.();

  const pending = () => buffer.size > 0 || inflight.length > 0 || untold > 0;

  async function flush(): Promise<void> {
    if (retryTimer) {
      clearTimeout(retryTimer); // an explicit flush tries now
      retryTimer = undefined;
    }
    do await kick().catch(() => {});
    while (!retryTimer && !abort.signal.aborted && pending());
  }

  /** Sends until nothing is left or `until` (ms since the epoch), waiting out each backoff within it. */
  async function drain(until: number): Promise<void> {
    await flush();
    while (retryTimer && pending() && Date.now() < until) {
      clearTimeout(retryTimer);
      retryTimer = undefined;
      const wait = Math.max(0, Math.min(retryAt, until) - Date.now());
      await new Promise<void>((ok) => setTimeout(ok, wait).unref?.());
      if (Date.now() < until) await flush();
    }
  }

  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    clearInterval(interval);
    const until = Date.now() + (options.closeTimeoutMs ?? 5000);
    const deadline = new Promise<void>((ok) => setTimeout(ok, until - Date.now()).unref?.());
    await Promise.race([drain(until), deadline]);
    abort.abort(); // a send still in flight is given up
    if (retryTimer) clearTimeout(retryTimer);
    retryTimer = undefined;
    await sending?.catch(() => {});
    const lost = buffer.take(buffer.size).length + inflight.length;
    inflight = [];
    stats.dropped += lost;
  }

  return {
    report(event) {
      try {
        if (closed) return drop(1);
        if (buffer.push(wireEvent(event, options.resource))) drop(1);
        if (buffer.size >= batchSize && !sending && !retryTimer && !scheduled) {
          scheduled = true;
          setImmediate(() => {
            scheduled = false;
            void kick();
          }).unref?.();
        }
      } catch {
        // never into the caller's request path
      }
    },
    flush,
    close,
    stats: () => ({ ...stats, buffered: buffer.size + inflight.length }),
  };
}

/** The `api_call` of a downstream service (the verifier alone): who asked, through which token, the answer. */
export function apiCallEvent(call: {
  caller?: Caller | undefined;
  method: string;
  path: string;
  outcome: 'allowed' | 'denied';
  status: number;
  reason?: string;
  resource?: string;
}): ReportedCall {
  const jti = call.caller?.claims.jti;
  return {
    kind: 'api_call',
    ...(call.resource ? { resource: call.resource } : {}),
    ...(typeof jti === 'string' ? { jti } : {}),
    method: call.method,
    name: call.path,
    outcome: call.outcome,
    status: call.status,
    ...(call.reason ? { reason: call.reason } : {}),
    at: new Date().toISOString(),
  };
}
