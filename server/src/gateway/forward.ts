/**
 * One authorized call forwarded to the upstream MCP server (MCP transports 2025-11-25 §Streamable HTTP) with
 * undici, its answer streamed back:
 *   - the request: the configured upstream URL only (never a path or query of the caller's), the allowlisted
 *     headers and the credential (headers.ts, credential.ts), the body as the caller sent it;
 *   - no answer headers within `timeout_seconds` → 504; a body idle that long is ended (undici
 *     `headersTimeout` / `bodyTimeout`); the caller going away aborts the upstream request;
 *   - the answer is streamed with backpressure (`stream` below: SSE is never buffered) and cut at
 *     `max_response_bytes` (the connection is closed: a cut answer must not look complete);
 *   - the upstream refusing the gateway's credential (401, 403, 407) → 502 and `gateway.upstream_refused` for
 *     the operator: the agent's own authorization was fine, it must not be sent to sign in again; but while
 *     a rotation's overlap lasts, the call is first sent once more with the previous value (the upstream
 *     did not act on a refused request: it is safe to repeat), so that rotating baton before the upstream
 *     takes the new key fails no call;
 *   - an upstream that cannot be reached → 502; an answer to `tools/list` is filtered (tools-list.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { request, type Dispatcher } from 'undici';
import type { GatewayConfig } from '../config/schema.ts';
import { downstreamHeaders, upstreamHeaders } from './headers.ts';
import { filterToolsList, UnreadableToolsList } from './tools-list.ts';
import { rpcError, type Answer } from './answers.ts';

/** A tools/list answer is read whole: at most this much (or max_response_bytes, when smaller). */
const TOOLS_LIST_MAX_BYTES = 4 * 1024 * 1024;

export interface ForwardCall {
  /** what went wrong, for the audit trail (set here; no credential in it) */
  outcome: { reason?: string };
  gateway: GatewayConfig;
  dispatcher: Dispatcher;
  log: Logger;
  req: IncomingMessage;
  res: ServerResponse;
  /** the raw request body (POST), as received */
  body: Buffer | undefined;
  /** the JSON-RPC id, for error answers */
  id: unknown;
  upstream: Placed;
  /**
   * what to send once more when the upstream refuses `upstream`: the previous value while a rotation's
   * overlap lasts, or a brokered token refreshed (or the answer to give instead: connect again)
   */
  second?: () => Promise<Placed | { answer: Answer }>;
  /** the credential's values, to keep them out of what is logged */
  secrets: string[];
  /** the upstream's session id for the caller's (undefined: none sent), and the caller's for the upstream's */
  session: { upstreamId: string | undefined; bind: (upstreamId: string) => string };
  /** whether the gateway is shutting down (a call it cuts then is not the upstream's failure) */
  stopping: () => boolean;
  /** tools/list request ids in the body, and whether the caller may call a tool */
  toolsList: { ids: Set<unknown>; mayCall: (tool: string) => boolean };
}

/** the upstream URL and the credential's header for one attempt (credential.ts placeCredential) */
export type Placed = { url: string; header?: [string, string] };

class CapExceeded extends Error {}

/** An error's text without the credential in it (a query credential can be in a URL an error names). */
const scrub = (text: string, secrets: string[]) =>
  secrets.reduce((t, secret) => (secret ? t.split(secret).join('[redacted]') : t), text);

function failureAnswer(call: ForwardCall, err: unknown): Answer {
  const code = (err as { code?: string }).code ?? '';
  const reason = scrub(`${code} ${(err as Error).message}`.trim(), call.secrets);
  call.outcome.reason = code === 'UND_ERR_HEADERS_TIMEOUT' ? 'upstream_timeout' : 'upstream_unreachable';
  if (code === 'UND_ERR_HEADERS_TIMEOUT') {
    call.log.warn({ gateway: call.gateway.id, seconds: call.gateway.timeout_seconds }, 'gateway.upstream_timeout');
    return rpcError(504, call.id, 'Gateway Timeout: the upstream MCP server did not answer in time');
  }
  call.log.error({ gateway: call.gateway.id, reason }, 'gateway.upstream_unreachable');
  return rpcError(502, call.id, 'Bad Gateway: the upstream MCP server cannot be reached');
}

const LOG_EVERY_MS = 10_000;
const lastLogged = new Map<string, number>();
/** whether a repeated log line about this gateway is due again */
function due(gatewayId: string): boolean {
  const now = Date.now();
  if (now - (lastLogged.get(gatewayId) ?? 0) < LOG_EVERY_MS) return false;
  lastLogged.set(gatewayId, now);
  return true;
}

/** the upstream refused the gateway's credential (RFC 9110 §15.5.2, §15.5.4, §15.5.8) */
const refused = (status: number) => status === 401 || status === 403 || status === 407;

/** Sends the call upstream; resolves once the answer is given (streamed, refused or failed). */
export async function forward(call: ForwardCall): Promise<Answer | undefined> {
  const { gateway, req, res } = call;
  const abort = new AbortController();
  // the caller went away before the answer was complete: the upstream request is abandoned (an answer sent
  // whole also ends in 'close', and aborting then would cost an error object per call for nothing)
  res.once('close', () => res.writableFinished || abort.abort());
  const attempt = (placed: Placed) =>
    request(placed.url, {
      method: req.method as 'POST' | 'GET' | 'DELETE',
      headers: upstreamHeaders(req.headers, placed.header, call.session.upstreamId),
      ...(call.body ? { body: call.body } : {}),
      dispatcher: call.dispatcher,
      signal: abort.signal,
    });
  let upstream: Dispatcher.ResponseData;
  try {
    upstream = await attempt(call.upstream);
    if (refused(upstream.statusCode) && call.second) {
      upstream.body.dump().catch(() => {});
      // a shared key: the upstream does not take the new value yet, the previous one in its overlap (said to
      // the operator at most every LOG_EVERY_MS per gateway, not at every call); a brokered token: refreshed
      if (due(gateway.id))
        call.log.warn({ gateway: gateway.id, status: upstream.statusCode }, 'gateway.upstream_refused_current');
      const next = await call.second();
      if ('answer' in next) return next.answer;
      upstream = await attempt(next);
    }
  } catch (err) {
    if (abort.signal.aborted) return undefined; // the caller went away
    if (call.stopping()) return rpcError(503, call.id, 'Service Unavailable: the gateway is shutting down');
    return failureAnswer(call, err);
  }
  const { statusCode, headers, body } = upstream;
  if (refused(statusCode)) {
    body.dump().catch(() => {});
    // issue #16 §3: the upstream refused the gateway's own credential (a wrong or revoked key)
    call.log.error({ gateway: gateway.id, status: statusCode }, 'gateway.upstream_refused');
    call.outcome.reason = `upstream_refused ${statusCode}`;
    return rpcError(502, call.id, 'Bad Gateway: the upstream MCP server refused the gateway');
  }
  const length = Number(headers['content-length'] ?? NaN);
  if (length > gateway.max_response_bytes) {
    body.dump().catch(() => {});
    call.log.warn({ gateway: gateway.id, reason: 'size', bytes: length }, 'gateway.response_cut');
    call.outcome.reason = 'response_cut size';
    return rpcError(502, call.id, 'Bad Gateway: the upstream answer is too large');
  }
  if (call.toolsList.ids.size > 0 && statusCode === 200) return filtered(call, upstream);
  res.writeHead(statusCode, downstreamHeaders(headers, call.session.bind));
  await stream(call, body);
  return undefined;
}

/**
 * The answer streamed to the caller as it comes (SSE is never buffered), with backpressure (the upstream is
 * paused while the caller's socket is full) and cut at max_response_bytes. By hand rather than with
 * stream.pipeline, which costs an AbortController and an error object per finished answer (measured: about a
 * tenth of the gateway's time per call in `npm run bench`).
 */
function stream(call: ForwardCall, body: Dispatcher.ResponseData['body']): Promise<void> {
  const { res } = call;
  const cap = call.gateway.max_response_bytes;
  let bytes = 0;
  return new Promise((resolve) => {
    let done = false;
    const finish = (reason?: 'size' | 'idle' | 'upstream' | 'caller_gone') => {
      if (done) return;
      done = true;
      body.off('data', onData);
      if (reason) {
        if (reason !== 'caller_gone' && !call.stopping())
          call.log.warn({ gateway: call.gateway.id, reason, bytes }, 'gateway.response_cut');
        call.outcome.reason = reason === 'caller_gone' ? 'caller_gone' : `response_cut ${reason}`;
        body.destroy();
        res.destroy(); // a cut answer must not look complete
      }
      resolve();
    };
    const onData = (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > cap) return finish('size');
      if (!res.write(chunk)) {
        body.pause();
        res.once('drain', () => body.resume());
      }
    };
    body.on('data', onData);
    body.once('end', () => {
      if (done) return;
      res.end();
      finish();
    });
    body.once('error', (err) =>
      finish((err as { code?: string }).code === 'UND_ERR_BODY_TIMEOUT' ? 'idle' : 'upstream'),
    );
    res.once('close', () => res.writableFinished || finish('caller_gone'));
  });
}

/** A tools/list answer, read whole (capped), filtered to what the caller may call, then sent. */
async function filtered(call: ForwardCall, upstream: Dispatcher.ResponseData): Promise<Answer | undefined> {
  const cap = Math.min(call.gateway.max_response_bytes, TOOLS_LIST_MAX_BYTES);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of upstream.body) {
      size += (chunk as Buffer).length;
      if (size > cap) throw new CapExceeded();
      chunks.push(chunk as Buffer);
    }
  } catch (err) {
    upstream.body.destroy();
    if (call.res.destroyed) return undefined;
    const reason =
      err instanceof CapExceeded ? `over ${cap} bytes` : scrub(String((err as Error).message), call.secrets);
    call.log.warn({ gateway: call.gateway.id, reason }, 'gateway.tools_list_unreadable');
    call.outcome.reason = 'tools_list_unreadable';
    return rpcError(502, call.id, 'Bad Gateway: the upstream answer to tools/list cannot be read');
  }
  const type = upstream.headers['content-type'];
  let text: string;
  try {
    text = filterToolsList(
      Array.isArray(type) ? type[0] : type,
      Buffer.concat(chunks).toString('utf8'),
      call.toolsList.ids,
      call.toolsList.mayCall,
    );
  } catch (err) {
    if (!(err instanceof UnreadableToolsList)) throw err;
    call.log.warn({ gateway: call.gateway.id, reason: err.message }, 'gateway.tools_list_unreadable');
    call.outcome.reason = 'tools_list_unreadable';
    return rpcError(502, call.id, 'Bad Gateway: the upstream answer to tools/list cannot be read');
  }
  const out = Buffer.from(text, 'utf8');
  call.res.writeHead(200, {
    ...downstreamHeaders(upstream.headers, call.session.bind),
    'content-length': String(out.length),
  });
  call.res.end(out);
  return undefined;
}
