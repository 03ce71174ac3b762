/**
 * Protecting an MCP server with baton (MCP authorization 2026-07-28, resource-server side):
 *   - RFC 9728 protected-resource metadata naming baton, the resource and its scopes;
 *   - bearer (or DPoP) tokens verified (clients/src/verify.ts); failures → 401 with
 *     `WWW-Authenticate: Bearer … resource_metadata=…` (RFC 6750 §3, RFC 9728 §5.1); a token revoked or
 *     suspended in its Token Status List → 401 `invalid_token`, a list that cannot be had → 503;
 *   - per-method scopes: `tools/call` + tool name, `resources/read`, `prompts/get`, … → required scopes
 *     (default: a tool needs the scope named like the tool); the `Mcp-Method` / `Mcp-Name` headers, when
 *     present, must match the JSON-RPC body; a missing scope → 403 `insufficient_scope` whose `scope` is
 *     the token's scopes plus what the call needs, so the client can step up; a token with no scope at all
 *     is refused the same way for every method (RFC 6750 §3.1), unless the method is configured to need no
 *     scope (`scopes: { initialize: [] }`);
 *   - the caller (user, IdP identity, client, kind, actor chain, roles, scopes) for tool handlers;
 *   - one audit event per call, arguments hashed (or left out), to the `audit` callback and/or baton's audit
 *     trail (`reporter`, audit-reporter.ts), with the token's `jti` that ties it to baton's token chain;
 *   - DNS-rebinding protection (MCP transports 2025-11-25 §Security Warning, MUST): a request whose
 *     `Origin` is neither the resource's own origin nor one of `allowedOrigins` → 403, before anything else.
 * Framework adapters: express (the SDK's), koa and plain node:http, in clients/src/adapters.ts.
 */
import { createHash } from 'node:crypto';
import { createVerifier, DPOP_ALGS, TokenError, type Caller, type VerifierOptions, type Verify } from './verify.ts';
import { StatusListUnavailableError } from './status-list.ts';
import type { AuditReporter, ReportedCall } from './audit-reporter.ts';

/** An MCP call's audit event as baton's audit trail takes it (the reporter's `tool_call`). */
export function toolCallEvent(e: AuditEvent): ReportedCall {
  return {
    kind: 'tool_call',
    resource: e.resource,
    ...(e.jti ? { jti: e.jti } : {}),
    method: e.method ?? 'unknown',
    ...(e.name ? { name: e.name } : {}),
    outcome: e.outcome,
    status: e.status,
    ...(e.reason ? { reason: e.reason } : {}),
    ...(e.argumentsSha256 ? { arguments_sha256: e.argumentsSha256 } : {}),
    at: e.at,
  };
}

export interface McpAuthOptions extends Omit<VerifierOptions, 'audience' | 'allowEmptyScope'> {
  /** the MCP endpoint's URL: the resource identifier and the tokens' audience */
  resource: string;
  resourceName?: string;
  /** scopes advertised in the protected-resource metadata (the minimal set for basic use) */
  scopesSupported?: string[];
  /**
   * Required scopes per MCP method: keys `method` or `method:name` (tool name, prompt name or resource URI).
   * `tools/call` defaults to the tool's name; other methods need a valid token carrying some scope. An
   * explicit `[]` means the method needs no scope at all: a valid token without any scope may call it
   * (e.g. `{ initialize: [], 'notifications/initialized': [], ping: [] }`); nothing else is open to one.
   */
  scopes?: Record<string, string | string[]>;
  /** one event per call; default: none */
  audit?: (event: AuditEvent) => void;
  /**
   * baton's audit trail: each event is also reported to baton (createAuditReporter, audit-reporter.ts),
   * without ever waiting for it. Independent of `audit`, which keeps working as it is.
   */
  reporter?: Pick<AuditReporter, 'report'>;
  /** what audit events say of arguments: a SHA-256 of their JSON (default) or nothing */
  auditArguments?: 'hash' | 'omit';
  /**
   * Browser origins allowed to call the endpoint besides the resource's own (e.g. a web agent's
   * `https://agent.example.com`). A request without `Origin` (not from a browser) is not affected.
   */
  allowedOrigins?: string[];
}

export interface AuditEvent {
  type: 'mcp.call';
  outcome: 'allowed' | 'denied';
  status: number;
  /** this MCP server's resource identifier (the tokens' audience) */
  resource: string;
  /** the verified token's `jti`, when the call got that far: it joins the call to baton's token chain */
  jti?: string;
  method: string | undefined;
  name: string | undefined;
  subject: string | undefined;
  idp: Caller['idp'];
  client: string | undefined;
  actorChain: string[];
  reason?: string;
  argumentsSha256?: string;
  at: string;
}

export interface AuthRequest {
  httpMethod: string;
  /** the request URL (for DPoP htu), without query */
  url: string;
  authorization: string | undefined;
  dpop: string | undefined;
  mcpMethod: string | undefined;
  mcpName: string | undefined;
  /** the Origin header, when a browser sent one */
  origin?: string | undefined;
  /** the parsed JSON-RPC body */
  body: unknown;
}

export type AuthResult =
  | {
      ok: true;
      caller: Caller;
      token: string;
      method: string | undefined;
      name: string | undefined;
      required: string[];
      /**
       * the call's audit event (when `audit` or `reporter` is set), also given to them: for a caller that
       * completes it once the answer is known (baton gateway adds the status and duration)
       */
      event?: AuditEvent;
    }
  | { ok: false; status: 400 | 401 | 403 | 503; headers: Record<string, string>; body: unknown };

interface Call {
  method: string | undefined;
  name: string | undefined;
  args: unknown;
}

function callsOf(body: unknown): Call[] {
  const messages = Array.isArray(body) ? body : [body];
  return messages.map((m) => {
    const msg = (m ?? {}) as { method?: unknown; params?: { name?: unknown; uri?: unknown; arguments?: unknown } };
    const method = typeof msg.method === 'string' ? msg.method : undefined;
    const name =
      typeof msg.params?.name === 'string'
        ? msg.params.name
        : typeof msg.params?.uri === 'string'
          ? msg.params.uri
          : undefined;
    return { method, name, args: msg.params?.arguments };
  });
}

const quote = (s: string) => `"${s.replace(/["\\]/g, '')}"`;

/** what a browser MCP client sends (Streamable HTTP, DPoP, SEP-2243 routing headers) and may read */
const CORS_ALLOW_HEADERS =
  'authorization, content-type, accept, dpop, mcp-protocol-version, mcp-session-id, mcp-method, mcp-name, last-event-id';
const CORS_EXPOSE = 'WWW-Authenticate, Mcp-Session-Id';

export function createMcpAuth(options: McpAuthOptions) {
  // the guard decides about tokens without scope itself (per method, below)
  const verify: Verify = createVerifier({ ...options, audience: options.resource, allowEmptyScope: true });
  const resourceUrl = new URL(options.resource);
  const metadataPath = `/.well-known/oauth-protected-resource${resourceUrl.pathname === '/' ? '' : resourceUrl.pathname}`;
  const metadataUrl = `${resourceUrl.origin}${metadataPath}`;

  /** RFC 9728 §2 */
  const metadata = {
    resource: options.resource,
    authorization_servers: [options.issuer],
    scopes_supported: options.scopesSupported ?? [],
    bearer_methods_supported: ['header'],
    dpop_signing_alg_values_supported: DPOP_ALGS,
    ...(options.resourceName ? { resource_name: options.resourceName } : {}),
  };

  /** The configured rule for a call, if any. */
  function ruleOf(method: string, name: string | undefined): string[] | undefined {
    const rule = options.scopes?.[`${method}:${name ?? ''}`] ?? options.scopes?.[method];
    return rule === undefined ? undefined : Array.isArray(rule) ? rule : [rule];
  }

  function requiredScopes(method: string | undefined, name: string | undefined): string[] {
    if (!method) return [];
    return ruleOf(method, name) ?? (method === 'tools/call' && name ? [name] : []);
  }

  /** Only a method configured with an explicit `[]` is open to a token without any scope. */
  const needsNoScope = (call: Call) => call.method !== undefined && ruleOf(call.method, call.name)?.length === 0;

  /**
   * RFC 6750 §3 / RFC 9728 §5.1; a request that used the DPoP scheme gets a DPoP challenge with the proof
   * algorithms (RFC 9449 §7.1). Requests without a token get Bearer, the scheme MCP clients look for first.
   */
  function challenge(
    status: 401 | 403,
    error?: string,
    description?: string,
    scope?: string[],
    scheme: 'Bearer' | 'DPoP' = 'Bearer',
  ) {
    const params = [
      ...(error ? [`error=${quote(error)}`] : []),
      ...(description ? [`error_description=${quote(description)}`] : []),
      ...(scope?.length ? [`scope=${quote(scope.join(' '))}`] : []),
      ...(scheme === 'DPoP' ? [`algs=${quote(DPOP_ALGS.join(' '))}`] : []),
      `resource_metadata=${quote(metadataUrl)}`,
    ];
    return {
      ok: false as const,
      status,
      headers: { 'WWW-Authenticate': `${scheme} ${params.join(', ')}`, 'Cache-Control': 'no-store' },
      body: { error: error ?? 'invalid_token', ...(description ? { error_description: description } : {}) },
    };
  }

  function audit(
    outcome: AuditEvent['outcome'],
    status: number,
    call: Call | undefined,
    caller: Caller | undefined,
    reason?: string,
  ): AuditEvent | undefined {
    if (!options.audit && !options.reporter) return undefined;
    const jti = caller?.claims.jti;
    const event: AuditEvent = {
      type: 'mcp.call',
      outcome,
      status,
      resource: options.resource,
      ...(typeof jti === 'string' ? { jti } : {}),
      method: call?.method,
      name: call?.name,
      subject: caller?.subject,
      idp: caller?.idp,
      client: caller?.clientId,
      actorChain: caller?.actorChain ?? [],
      ...(reason ? { reason } : {}),
      ...(options.auditArguments !== 'omit' && call?.args !== undefined
        ? { argumentsSha256: createHash('sha256').update(JSON.stringify(call.args)).digest('hex') }
        : {}),
      at: new Date().toISOString(),
    };
    options.reporter?.report(toolCallEvent(event)); // never throws, never waits
    options.audit?.(event);
    return event;
  }

  const allowedOrigins = new Set([resourceUrl.origin, ...(options.allowedOrigins ?? []).map((o) => new URL(o).origin)]);

  /**
   * CORS (Fetch standard) for a browser request from an allowed origin: the client may read the answer,
   * including the challenge in WWW-Authenticate it needs to find baton. Other origins get no CORS headers.
   */
  function corsHeaders(origin: string | undefined): Record<string, string> {
    if (!origin || !allowedOrigins.has(origin)) return {};
    return { 'Access-Control-Allow-Origin': origin, 'Access-Control-Expose-Headers': CORS_EXPOSE, Vary: 'Origin' };
  }

  /** A CORS preflight (OPTIONS) at the MCP endpoint: 204 for an allowed origin, 403 for any other. */
  function preflight(origin: string | undefined): { status: 204 | 403; headers: Record<string, string> } {
    if (!origin || !allowedOrigins.has(origin)) return { status: 403, headers: {} };
    return {
      status: 204,
      headers: {
        'Access-Control-Allow-Origin': origin,
        'Access-Control-Allow-Methods': 'GET, POST, DELETE',
        'Access-Control-Allow-Headers': CORS_ALLOW_HEADERS,
        'Access-Control-Max-Age': '600',
        Vary: 'Origin',
      },
    };
  }

  async function authorize(req: AuthRequest): Promise<AuthResult> {
    const result = await decide(req);
    if (!result.ok) result.headers = { ...corsHeaders(req.origin), ...result.headers };
    return result;
  }

  async function decide(req: AuthRequest): Promise<AuthResult> {
    const calls = callsOf(req.body);
    const first = calls[0];
    // MCP transports 2025-11-25 §Security Warning: servers MUST validate Origin; an invalid one → 403
    if (req.origin !== undefined && !allowedOrigins.has(req.origin)) {
      audit('denied', 403, first, undefined, `origin ${req.origin} is not allowed`);
      return {
        ok: false,
        status: 403,
        headers: {},
        body: { jsonrpc: '2.0', id: null, error: { code: -32000, message: 'Forbidden: origin not allowed' } },
      };
    }
    // MCP 2026-07-28 (SEP-2243): the routing headers must agree with the body
    if (
      req.mcpMethod !== undefined &&
      (calls.length !== 1 ||
        req.mcpMethod !== first?.method ||
        (req.mcpName !== undefined && req.mcpName !== first?.name))
    ) {
      audit('denied', 400, first, undefined, 'Mcp-Method/Mcp-Name do not match the body');
      return {
        ok: false,
        status: 400,
        headers: {},
        body: {
          jsonrpc: '2.0',
          id: null,
          error: { code: -32600, message: 'Mcp-Method/Mcp-Name headers do not match the request body' },
        },
      };
    }
    // RFC 7235 §2.1: the scheme name is case-insensitive; RFC 6750 §2.1 b64token
    const match = /^(Bearer|DPoP) ([A-Za-z0-9\-._~+/]+=*)$/i.exec(req.authorization ?? '');
    if (!req.authorization) {
      audit('denied', 401, first, undefined, 'no token');
      return challenge(401, undefined, undefined, options.scopesSupported); // RFC 6750 §3.1: no error code
    }
    if (!match) {
      audit('denied', 401, first, undefined, 'malformed authorization header');
      return challenge(401, 'invalid_request', 'malformed Authorization header');
    }
    const [, schemeName, token] = match as unknown as [string, string, string];
    const scheme = schemeName.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer';
    let caller: Caller;
    try {
      caller = await verify(token, { proof: req.dpop, method: req.httpMethod, url: req.url });
    } catch (err) {
      if (err instanceof StatusListUnavailableError) {
        // draft-ietf-oauth-status-list-20 §8.3: no statement about the token's status can be made → fail
        // closed, but not with a 401 that would send the client to sign in again (RFC 6749 §4.1.2.1)
        audit('denied', 503, first, undefined, `status list unavailable: ${err.message}`);
        return {
          ok: false,
          status: 503,
          headers: { 'Retry-After': String(err.retryAfterSeconds), 'Cache-Control': 'no-store' },
          body: {
            error: 'temporarily_unavailable',
            error_description: "the token's status cannot be checked right now",
          },
        };
      }
      if (!(err instanceof TokenError)) {
        // baton's introspection or the DPoP replay store could not answer: the token is not at fault
        audit('denied', 503, first, undefined, `verification unavailable: ${(err as Error).message}`);
        return {
          ok: false,
          status: 503,
          headers: { 'Retry-After': '5', 'Cache-Control': 'no-store' },
          body: { error: 'temporarily_unavailable', error_description: 'the token cannot be verified right now' },
        };
      }
      audit('denied', 401, first, undefined, err.message);
      return challenge(401, err.code, 'the access token is not valid here', undefined, scheme);
    }
    if (scheme === 'DPoP' && !caller.claims.cnf) {
      // RFC 9449 §7.1: the DPoP scheme is for DPoP-bound tokens; an unbound token proves no key
      audit('denied', 401, first, caller, 'a token that is not DPoP-bound sent with the DPoP scheme');
      return challenge(401, 'invalid_token', 'this token is not DPoP-bound: use the Bearer scheme', undefined, 'DPoP');
    }
    if (scheme === 'Bearer' && caller.claims.cnf && req.dpop) {
      // a bound token presented as a bearer token with a proof: still refuse the downgrade (RFC 9449 §7.1)
      audit('denied', 401, first, caller, 'DPoP-bound token sent with the Bearer scheme');
      return challenge(401, 'invalid_token', 'a DPoP-bound token must use the DPoP scheme', undefined, 'DPoP');
    }
    const required = [...new Set(calls.flatMap((c) => requiredScopes(c.method, c.name)))];
    const missing = required.filter((s) => !caller.scopes.includes(s));
    if (missing.length > 0) {
      audit('denied', 403, first, caller, `missing scope ${missing.join(' ')}`);
      // RFC 6750 §3, MCP authorization §Scope Challenge Handling: `scope` is what to re-authorize for, the
      // token's scopes followed by those the call needs. A 2026-07-28 client unions granted and challenged
      // scopes itself (SEP-2350), to this same set; a client that takes the challenged scope as is (MCP SDK
      // 1.32, after 2025-11-25) then keeps what it had instead of trading it for the new scope.
      const stepUpTo = [...new Set([...caller.scopes, ...required])];
      return challenge(403, 'insufficient_scope', `this call needs ${required.join(' ')}`, stepUpTo, scheme);
    }
    if (caller.scopes.length === 0 && !(calls.length > 0 && calls.every(needsNoScope))) {
      // RFC 6750 §3.1, MCP authorization §Scope Challenge Handling: a valid token that grants nothing
      // here (a resource server that checks only the audience would let it list everything) → 403
      // naming the scopes for basic use, so the client asks for them
      const needed = required.length > 0 ? required : (options.scopesSupported ?? []);
      audit('denied', 403, first, caller, 'the token carries no scope');
      return challenge(403, 'insufficient_scope', 'this token carries no scope', needed, scheme);
    }
    const event = audit('allowed', 200, first, caller);
    return { ok: true, caller, token, method: first?.method, name: first?.name, required, ...(event ? { event } : {}) };
  }

  /** Whether the caller may call a tool (for filtering `tools/list`). */
  function mayCall(caller: Caller, tool: string): boolean {
    return requiredScopes('tools/call', tool).every((s) => caller.scopes.includes(s));
  }

  return {
    metadata,
    metadataPath,
    metadataUrl,
    /** the path of the MCP endpoint (the resource's) */
    resourcePath: resourceUrl.pathname,
    authorize,
    corsHeaders,
    preflight,
    requiredScopes,
    mayCall,
    /** the guard's verifier: it accepts a token without scope (the guard refuses one per method) */
    verify,
  };
}

export type McpAuth = ReturnType<typeof createMcpAuth>;
