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
  /** how long the call took (ms, an integer): what the caller waited, to the end of the answer */
  duration_ms?: number;
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
    duration_ms:
      typeof e.duration_ms === 'number' && Number.isFinite(e.duration_ms) && e.duration_ms >= 0
        ? Math.min(Math.round(e.duration_ms), 86_400_000)
        : undefined,
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

/** RFC 6749 §4.4 + RFC 8707: an audit.write token for baton's audit API, cached and renewed before expiry. */
function auditToken(issuer: string, options: AuditReporterOptions, signal: AbortSignal) {
  const auth = clientAuthFor(issuer, options);
  const doFetch = options.fetch ?? fetch;
  let token: { value: string; renewAt: number } | undefined;
  return {
    forget: () => void (token = undefined),
    async get(): Promise<string> {
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
        signal: AbortSignal.any([signal, AbortSignal.timeout(options.timeoutMs ?? 10_000)]),
      });
      const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
      if (!res.ok || typeof body.access_token !== 'string') {
        const code = typeof body.error === 'string' ? body.error : '';
        throw Object.assign(new Error(`audit token: HTTP ${res.status} ${code}`.trim()), { status: res.status });
      }
      const ttl = typeof body.expires_in === 'number' ? body.expires_in * 1000 : 60_000;
      // renewed at three quarters of its life (at most 30 s early): never sent expired
      token = { value: body.access_token, renewAt: Date.now() + ttl - Math.min(30_000, ttl / 4) };
      return token.value;
    },
  };
}

/** The reporter's state and its loop: one send at a time, the in-flight batch before anything newer. */
class Reporter {
  readonly #options: AuditReporterOptions;
  readonly #issuer: string;
  readonly #batchSize: number;
  readonly #buffer: Ring<ReportedCall>;
  readonly #abort = new AbortController();
  readonly #token: ReturnType<typeof auditToken>;
  readonly #interval: ReturnType<typeof setInterval>;
  readonly #stats = { sent: 0, dropped: 0, retries: 0 };
  /** drops baton has not been told of yet */
  #untold = 0;
  /** the batch being sent (or waiting to be sent again) */
  #inflight: ReportedCall[] = [];
  #attempt = 0;
  #sending: Promise<void> | undefined;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** when the next retry is due (ms since the epoch), while #retryTimer waits */
  #retryAt = 0;
  /** a send is scheduled (setImmediate) by a full batch */
  #scheduled = false;
  #closed = false;

  constructor(options: AuditReporterOptions) {
    this.#options = options;
    this.#issuer = options.issuer.replace(/\/$/, '');
    this.#batchSize = Math.min(MAX_EVENTS, Math.max(1, options.batchSize ?? 100));
    this.#buffer = new Ring<ReportedCall>(Math.max(1, options.maxBuffer ?? 10_000));
    this.#token = auditToken(this.#issuer, options, this.#abort.signal);
    this.#interval = setInterval(() => void this.#kick(), options.flushIntervalMs ?? 1000);
    this.#interval.unref?.();
  }

  report(event: ReportedCall): void {
    try {
      if (this.#closed) return this.#drop(1);
      if (this.#buffer.push(wireEvent(event, this.#options.resource))) this.#drop(1);
      if (this.#buffer.size >= this.#batchSize && !this.#sending && !this.#retryTimer && !this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => {
          this.#scheduled = false;
          void this.#kick(true);
        }).unref?.();
      }
    } catch {
      // never into the caller's request path
    }
  }

  async flush(): Promise<void> {
    if (this.#retryTimer) {
      clearTimeout(this.#retryTimer); // an explicit flush tries now
      this.#retryTimer = undefined;
    }
    do await this.#kick().catch(() => {});
    while (!this.#retryTimer && !this.#abort.signal.aborted && this.#pending());
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#interval);
    const until = Date.now() + (this.#options.closeTimeoutMs ?? 5000);
    const deadline = new Promise<void>((ok) => setTimeout(ok, until - Date.now()).unref?.());
    await Promise.race([this.#drain(until), deadline]);
    this.#abort.abort(); // a send still in flight is given up
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    await this.#sending?.catch(() => {});
    const lost = this.#buffer.take(this.#buffer.size).length + this.#inflight.length;
    this.#inflight = [];
    this.#stats.dropped += lost;
  }

  stats(): AuditReporterStats {
    return { ...this.#stats, buffered: this.#buffer.size + this.#inflight.length };
  }

  #pending = () => this.#buffer.size > 0 || this.#inflight.length > 0 || this.#untold > 0;

  #drop(n: number): void {
    this.#stats.dropped += n;
    this.#untold += n;
  }

  #tell(err: Error): void {
    try {
      this.#options.onError?.(err);
    } catch {
      // the reporter's own observer must not break it
    }
  }

  /** full jitter over an exponential ceiling (at most maxBackoffMs) */
  #backoff(): number {
    const ceiling = Math.min(this.#options.maxBackoffMs ?? 30_000, 500 * 2 ** Math.min(this.#attempt, 16));
    return Math.floor(Math.random() * ceiling);
  }

  /** `full`: a full batch is waiting (report()); otherwise a flush (the interval, flush(), a retry) */
  #kick(full = false): Promise<void> {
    if (this.#sending) return this.#sending;
    if (this.#retryTimer) return Promise.resolve(); // waiting for the backoff
    this.#sending = this.#pump(full).finally(() => (this.#sending = undefined));
    return this.#sending;
  }

  /**
   * Sends batches, or schedules a retry after a failure: a flush sends until the buffer is empty; a pump
   * started by a full batch sends full batches only, and leaves the rest for the next flush (sending what
   * came in during each send at once would make many small batches under load: each one request, one
   * token check and one write at baton).
   */
  async #pump(fullOnly: boolean): Promise<void> {
    while (!this.#abort.signal.aborted) {
      if (this.#inflight.length === 0 && fullOnly && this.#buffer.size < this.#batchSize) return;
      if (this.#inflight.length === 0) this.#inflight = this.#buffer.take(this.#batchSize);
      if (this.#inflight.length === 0 && this.#untold === 0) return;
      const outcome = await this.#sendInflight();
      if (outcome.ok) {
        this.#attempt = 0;
        continue;
      }
      this.#attempt++;
      this.#stats.retries++;
      this.#retryAt = Date.now() + outcome.retryInMs;
      this.#retryTimer = setTimeout(() => {
        this.#retryTimer = undefined;
        void this.#kick();
      }, outcome.retryInMs);
      this.#retryTimer.unref?.();
      return;
    }
  }

  /** Sends until nothing is left or `until` (ms since the epoch), waiting out each backoff within it. */
  async #drain(until: number): Promise<void> {
    await this.flush();
    while (this.#retryTimer && this.#pending() && Date.now() < until) {
      clearTimeout(this.#retryTimer);
      this.#retryTimer = undefined;
      const wait = Math.max(0, Math.min(this.#retryAt, until) - Date.now());
      await new Promise<void>((ok) => setTimeout(ok, wait).unref?.());
      if (Date.now() < until) await this.flush();
    }
  }

  async #post(events: ReportedCall[], dropped: number): Promise<Response> {
    const bearer = await this.#token.get();
    return (this.#options.fetch ?? fetch)(`${this.#issuer}/audit/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` },
      body: JSON.stringify({ events, ...(dropped > 0 ? { dropped } : {}) }),
      signal: AbortSignal.any([this.#abort.signal, AbortSignal.timeout(this.#options.timeoutMs ?? 10_000)]),
    });
  }

  /** One attempt at the in-flight batch (with one renewal of the token on a 401). */
  async #sendInflight(): Promise<Outcome> {
    const dropped = this.#untold;
    let res: Response;
    try {
      res = await this.#post(this.#inflight, dropped);
      if (res.status === 401) {
        this.#token.forget(); // RFC 6750 §3.1 invalid_token: a new token, once
        res = await this.#post(this.#inflight, dropped);
      }
    } catch (err) {
      this.#tell(err as Error);
      return { ok: false, retryInMs: this.#backoff() };
    }
    if (res.status === 202) {
      this.#stats.sent += this.#inflight.length;
      this.#untold -= dropped;
      this.#inflight = [];
      return { ok: true };
    }
    return this.#refused(res);
  }

  /** A send baton did not accept: when to try again, and what (if anything) is dropped. */
  async #refused(res: Response): Promise<Outcome> {
    const body = (await res.json().catch(() => ({}))) as { error?: string; error_description?: string };
    this.#tell(
      new Error(`audit events: HTTP ${res.status} ${body.error ?? ''} ${body.error_description ?? ''}`.trim()),
    );
    if (res.status === 429)
      return { ok: false, retryInMs: retryAfterMs(res.headers.get('retry-after')) ?? this.#backoff() };
    if (res.status >= 500 || res.status === 401) return { ok: false, retryInMs: this.#backoff() };
    // another 4xx: baton refused an event (it names it) or the whole batch; never sent again as it is
    const index = /^events\[(\d+)\]/.exec(body.error_description ?? '')?.[1];
    const i = index === undefined ? -1 : Number(index);
    if (i >= 0 && i < this.#inflight.length) {
      this.#inflight.splice(i, 1); // the rest goes again at once: each round removes one event
      this.#drop(1);
      return { ok: true };
    }
    // the whole batch (403, a misconfiguration): dropped and counted, and the next try waits its backoff
    this.#drop(this.#inflight.length);
    this.#inflight = [];
    return { ok: false, retryInMs: this.#backoff() };
  }
}

export function createAuditReporter(options: AuditReporterOptions): AuditReporter {
  const reporter = new Reporter(options);
  return {
    report: (event) => reporter.report(event),
    flush: () => reporter.flush(),
    close: () => reporter.close(),
    stats: () => reporter.stats(),
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
