/**
 * `baton gateway`: one node:http listener (`gateway.listen`) serving every configured gateway at its
 * resource's path. Each gateway is an MCP resource server through the kit (clients/src/mcp.ts createMcpAuth,
 * its `authorize()`, the node:http metadata route of clients/src/adapters.ts): RFC 9728 metadata, the
 * 401/403 challenges, per-tool scopes, DPoP, the Token Status List, Origin checks. What it allows is forwarded
 * to the upstream with the upstream's shared credential (forward.ts); the caller's token never leaves.
 *
 * A JSON-RPC batch is authorized as a whole (the kit's rule): one call in it that the caller may not make
 * refuses the batch (403 insufficient_scope naming every scope the batch needs); nothing of it is forwarded.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { Agent } from 'undici';
import { createMcpAuth, toolCallEvent, type AuditEvent, type McpAuth } from '../../../clients/src/mcp.ts';
import { authRequest, mcpMetadataRoute } from '../../../clients/src/adapters.ts';
import { createAuditReporter, type AuditReporter } from '../../../clients/src/audit-reporter.ts';
import type { Caller, ReplayStore } from '../../../clients/src/verify.ts';
import type { Config, GatewayConfig } from '../config/schema.ts';
import { CredentialError, placeCredential, type Credential, type CredentialSource } from './credential.ts';
import { forward, type Placed } from './forward.ts';
import { hostPort } from '../http/address.ts';
import { elicitConnect, rpcError, send, type Answer } from './answers.ts';
import { NotConnected, type Broker } from '../brokering/broker.ts';
import { UpstreamUnavailable } from '../brokering/upstream-auth.ts';
import { toolsListIds } from './tools-list.ts';
import { sessionBinding, sessionKey, type SessionBinding } from './sessions.ts';

export interface GatewayDeps {
  /** the current value of each gateway's upstream credential (credential.ts credentialSource) */
  credential: CredentialSource;
  log: Logger;
  /** baton's audit trail (default: the kit's reporter with gateway.client_id/client_secret, when set) */
  reporter?: Pick<AuditReporter, 'report' | 'close'>;
  /** where DPoP proof ids are remembered (default: this process's memory; several processes: Redis) */
  dpopReplay?: ReplayStore;
  /**
   * the key binding MCP session ids to the caller (sessions.ts): the same for every gateway process (the
   * command derives it from keys.encryption_key); default: a random one, for this process only
   */
  sessionKey?: Buffer;
  /** the kit's fetch (baton's JWKS, the status lists): the default fetch unless given */
  fetch?: typeof fetch;
  /** the people's upstream tokens, for the gateways with `oauth` (brokering/broker.ts; issue #20) */
  broker?: Broker;
}

export interface RunningGateway {
  /** the listener's address, e.g. http://127.0.0.1:9600 */
  url: string;
  /** stops accepting calls; calls in flight get `graceMs` (default 10 s) to finish, then are cut */
  close(graceMs?: number): Promise<void>;
}

interface Entry {
  /** set by close(): the listener is shutting down */
  state: { stopping: boolean };
  sessions: SessionBinding;
  gateway: GatewayConfig;
  reporter: GatewayDeps['reporter'];
  kit: McpAuth;
  origin: string;
  dispatcher: Agent;
  metadata: ReturnType<typeof mcpMetadataRoute>;
}

function entryOf(
  config: Config,
  gateway: GatewayConfig,
  deps: GatewayDeps,
  reporter: GatewayDeps['reporter'],
  shared: { sessions: SessionBinding; state: Entry['state'] },
): Entry {
  const { sessions, state } = shared;
  const resource = config.resources.find((r) => r.uri === gateway.resource)!;
  const kit = createMcpAuth({
    issuer: config.issuer,
    resource: gateway.resource,
    resourceName: resource.name,
    scopesSupported: resource.scopes,
    scopes: gateway.scopes,
    // a refusal is reported at once; an allowed call once its answer is complete, with its status and
    // duration (call, below, from the event the kit's authorize() gives with the call)
    ...(reporter ? { audit: (e: AuditEvent) => e.outcome === 'allowed' || reporter.report(toolCallEvent(e)) } : {}),
    ...(deps.dpopReplay ? { dpopReplay: deps.dpopReplay } : {}),
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
  });
  const ms = gateway.timeout_seconds * 1000;
  return {
    state,
    sessions,
    gateway,
    reporter,
    kit,
    origin: new URL(gateway.resource).origin,
    dispatcher: new Agent({ headersTimeout: ms, bodyTimeout: ms, connect: { timeout: ms } }),
    metadata: mcpMetadataRoute(kit),
  };
}

/** The request body, or 'too_large' past `max` bytes (RFC 9110 §15.5.14: 413). */
function readBody(req: IncomingMessage, max: number): Promise<Buffer | 'too_large'> {
  if (Number(req.headers['content-length'] ?? 0) > max) return Promise.resolve('too_large');
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= max) return void chunks.push(chunk);
      req.off('data', onData);
      req.resume(); // the rest is read and dropped; the answer closes the connection
      resolve('too_large');
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
  });
}

const idOf = (body: unknown) => (Array.isArray(body) ? null : (body as { id?: unknown } | null)?.id);

async function call(
  entry: Entry,
  deps: GatewayDeps,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<Answer | undefined> {
  const { gateway, kit } = entry;
  if (req.method !== 'POST' && req.method !== 'GET' && req.method !== 'DELETE')
    return rpcError(405, null, 'Method Not Allowed', -32000, { allow: 'GET, POST, DELETE' });
  const started = performance.now();
  const raw = req.method === 'POST' ? await readBody(req, gateway.max_request_bytes) : undefined;
  if (raw === 'too_large')
    return rpcError(413, null, `Payload Too Large: at most ${gateway.max_request_bytes} bytes`, -32600, {
      connection: 'close',
    });
  let body: unknown;
  try {
    body = raw?.length ? JSON.parse(raw.toString('utf8')) : undefined;
  } catch {
    return rpcError(400, null, 'Parse error', -32700);
  }
  const auth = await kit.authorize(authRequest(req, body, entry.origin));
  if (!auth.ok) return { status: auth.status, headers: auth.headers, body: auth.body };
  const outcome: { reason?: string } = {};
  const answer = await allowed(entry, deps, { req, res, raw, body, outcome, caller: auth.caller });
  // issue #16 §4: the call in baton's trail, with its status as the caller got it and how long it took
  if (auth.event && entry.reporter)
    entry.reporter.report({
      ...toolCallEvent(auth.event),
      status: answer?.status ?? res.statusCode,
      ...(outcome.reason ? { reason: outcome.reason } : {}),
      duration_ms: Math.round(performance.now() - started),
    });
  return answer;
}

/**
 * A brokered token that cannot be had, as the agent's answer: the person must connect (an MCP URL
 * elicitation, answers.ts elicitConnect), or the upstream's authorization server cannot be asked now (503).
 * undefined: not a brokering failure.
 */
function brokerAnswer(
  err: unknown,
  id: unknown,
  outcome: { reason?: string },
  deps: GatewayDeps,
  gatewayId: string,
): Answer | undefined {
  if (err instanceof NotConnected) {
    outcome.reason = err.reason;
    return elicitConnect(id, err.connectUrl, gatewayId);
  }
  if (err instanceof UpstreamUnavailable) {
    deps.log.warn({ gateway: gatewayId, reason: err.message }, 'gateway.upstream_auth_unavailable');
    outcome.reason = 'upstream_auth_unavailable';
    return rpcError(503, id, "Service Unavailable: the upstream's authorization server cannot be reached now", -32000, {
      'retry-after': '5',
    });
  }
  return undefined;
}

/** An authorized call: the credential, then the upstream. */
async function allowed(
  entry: Entry,
  deps: GatewayDeps,
  c: {
    req: IncomingMessage;
    res: ServerResponse;
    raw: Buffer | undefined;
    body: unknown;
    outcome: { reason?: string };
    caller: Caller;
  },
): Promise<Answer | undefined> {
  const { gateway, kit, sessions } = entry;
  const subject = c.caller.subject;
  const presented = c.req.headers['mcp-session-id'];
  const upstreamId = typeof presented === 'string' ? sessions.unwrap(gateway.id, subject, presented) : undefined;
  if (presented !== undefined && upstreamId === undefined) {
    // MCP transports 2025-11-25 §Session Management: an unknown session → 404 (not this caller's, or altered)
    c.outcome.reason = 'session_not_bound_to_caller';
    return rpcError(404, idOf(c.body), 'Session not found', -32001);
  }
  const id = idOf(c.body);
  const unavailable = () =>
    rpcError(503, id, 'Service Unavailable: the gateway cannot reach its upstream now', -32000, { 'retry-after': '5' });
  let credential: Credential;
  let second: (() => Promise<Placed | { answer: Answer }>) | undefined;
  try {
    if (gateway.oauth) {
      // issue #20: the person's own upstream token, brokered; refreshed once if the upstream refuses it
      const broker = deps.broker!;
      credential = { value: await broker.token(gateway.id, subject) };
      const sent = credential.value;
      second = () =>
        broker.token(gateway.id, subject, { refused: sent }).then(
          (value) => placeCredential(gateway, value),
          (err: unknown) => ({ answer: brokerAnswer(err, id, c.outcome, deps, gateway.id) ?? unavailable() }),
        );
    } else {
      credential = await deps.credential(gateway.id);
      const { previous } = credential;
      if (previous !== undefined) second = () => Promise.resolve(placeCredential(gateway, previous));
    }
  } catch (err) {
    const brokered = brokerAnswer(err, id, c.outcome, deps, gateway.id);
    if (brokered) return brokered;
    const reason = err instanceof CredentialError ? err.message : 'the credential source failed';
    deps.log.error({ gateway: gateway.id, reason }, 'gateway.credential_unavailable');
    c.outcome.reason = 'credential_unavailable';
    return unavailable();
  }
  return forward({
    outcome: c.outcome,
    gateway,
    dispatcher: entry.dispatcher,
    log: deps.log,
    req: c.req,
    res: c.res,
    body: c.raw?.length ? c.raw : undefined,
    id,
    upstream: placeCredential(gateway, credential.value),
    ...(second ? { second } : {}),
    secrets: credential.previous !== undefined ? [credential.value, credential.previous] : [credential.value],
    session: { upstreamId, bind: (id) => sessions.wrap(gateway.id, subject, id) },
    stopping: () => entry.state.stopping,
    toolsList: { ids: toolsListIds(c.body), mayCall: (tool) => kit.mayCall(c.caller, tool) },
  });
}

function route(entries: Entry[], deps: GatewayDeps) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0];
    const entry = entries.find((e) => e.kit.metadataPath === path || e.kit.resourcePath === path);
    if (!entry) return send(res, { status: 404, headers: {}, body: { error: 'not_found' } });
    // RFC 9728 metadata, CORS preflight and CORS headers at the MCP endpoint: the kit's node:http route
    entry.metadata(req, res, () => {
      call(entry, deps, req, res).then(
        (answer) => answer && send(res, answer),
        (err: unknown) => {
          deps.log.error({ gateway: entry.gateway.id, err }, 'gateway.request_failed');
          send(res, rpcError(502, null, 'Bad Gateway'));
        },
      );
    });
  };
}

/** Starts the gateway listener for every gateway of `config` (config.gateways). */
export async function startGateway(config: Config, deps: GatewayDeps): Promise<RunningGateway> {
  const { client_id: clientId, client_secret: clientSecret } = config.gateway;
  const reporter =
    deps.reporter ??
    (clientId && clientSecret
      ? createAuditReporter({
          issuer: config.issuer,
          clientId,
          clientSecret,
          onError: (err) => deps.log.warn({ reason: err.message }, 'gateway.audit_report_failed'),
        })
      : undefined);
  const shared = { sessions: sessionBinding(deps.sessionKey ?? sessionKey(undefined)), state: { stopping: false } };
  const entries = config.gateways.map((g) => entryOf(config, g, deps, reporter, shared));
  const server = createServer(route(entries, deps));
  const { host, port } = config.gateway.listen;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const url = `http://${hostPort(address.address, address.port)}`;
  deps.log.info({ url, gateways: entries.map((e) => e.gateway.resource) }, 'gateway.started');
  return {
    url,
    async close(graceMs = 10_000) {
      shared.state.stopping = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const cut = setTimeout(() => server.closeAllConnections(), graceMs);
      await closed;
      clearTimeout(cut);
      await Promise.all(entries.map((e) => e.dispatcher.destroy()));
      await reporter?.close();
    },
  };
}
