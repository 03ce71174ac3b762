/**
 * What every scenario works with: the fixture (the deployment's clients, user and optional parts), the
 * context (metadata, form posts, the scripted sign-in, the JWKS) and the shared steps (a user's tokens, a
 * service token, a signed ID-JAG).
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer as createHttpsServer } from 'node:https';
import { createLocalJWKSet, importJWK, SignJWT, type JSONWebKeySet, type JWK } from 'jose';
import { answerAs, SignInError, walkSignIn, type SignInOptions } from './browser.ts';

export const TE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const AT_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
export const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

export interface Fixture {
  /** a resource baton serves, with one scope the user and the client credentials client may get */
  resource: string;
  scope: string;
  /** a public client with a loopback redirect, for the authorization code flow */
  publicClient: { client_id: string; redirect_uri: string };
  /** a user of baton's local directory (scripted sign-in); `idp` picks it on the chooser (default local) */
  user: { username: string; password: string; idp?: string };
  /** a confidential client allowed client_credentials for `resource` */
  confidentialClient: { client_id: string; client_secret: string; resource: string };
  /**
   * optional: an actor allowed to exchange tokens for `resource` (it serves it) towards `target`; `next`,
   * optional too, is the service at `target`, allowed to exchange onwards to its own `target` (a second hop)
   */
  exchange?: {
    client_id: string;
    client_secret: string;
    target: string;
    next?: { client_id: string; client_secret: string; target: string };
  };
  /** optional: a test IdP trusted for ID-JAGs, whose private key the suite may use, and a client */
  idJag?: { issuer: string; private_jwk: JWK; alg: string; subject: string; client_id: string; client_secret: string };
  /** optional: whether DCR is open */
  dcr?: boolean;
  /**
   * optional: an MCP server protected by the clients/ kit and trusting this issuer (its endpoint URL is the
   * resource), a scope the user may get for it, and a tool the user may not call
   */
  mcpServer?: { url: string; scope: string; deniedTool?: string };
  /** optional: a foreign authorization server the exchange actor may get ID-JAGs for (identity chaining) */
  identityChaining?: { audience: string };
  /**
   * optional: where the suite may serve client ID metadata documents: an https base URL the server fetches
   * from and trusts (listened on at its port, with this PEM key and certificate)
   */
  cimd?: { base: string; key: string; cert: string };
}

export type Level = 'MUST' | 'SHOULD';
export interface Scenario {
  id: string;
  clause: string;
  level: Level;
  title: string;
  needs?: (keyof Fixture)[];
  run(ctx: Context): Promise<void>;
}
export interface Result {
  id: string;
  clause: string;
  level: Level;
  title: string;
  status: 'pass' | 'fail' | 'skipped';
  detail?: string;
}

export class Failure extends Error {}
export const assert = (ok: unknown, message: string): void => {
  if (!ok) throw new Failure(message);
};

export interface Ctx {
  issuer: string;
  fixture: Fixture;
  metadata: Record<string, unknown>;
  form(
    path: string,
    body: Record<string, string>,
    auth?: { id: string; secret: string },
    headers?: Record<string, string>,
  ): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }>;
  /** The scripted sign-in, to the code (a Failure when none comes back). */
  signIn(
    extra?: Record<string, string>,
    watch?: Pick<SignInOptions, 'onPage' | 'onRedirect'>,
  ): Promise<{ code: string; verifier: string; location: URL }>;
  /**
   * A GET of the authorization endpoint with the public client's usual parameters (an empty value drops one),
   * redirects not followed; `error` is the error sent back to the redirect URI, if any.
   */
  authorize(params: Record<string, string>): Promise<{ status: number; location: string; error: string | null }>;
  jwks(): Promise<ReturnType<typeof createLocalJWKSet>>;
  /** Serves a client ID metadata document (an object as JSON, or raw text) at a fresh URL under fixture.cimd. */
  hostDocument(document: Record<string, unknown> | string | ((url: string) => Record<string, unknown>)): string;
  close(): Promise<void>;
}
export type Context = Ctx;

function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

const text = (v: unknown, fallback: string): string => (typeof v === 'string' ? v : fallback);

/**
 * RFC 8414 §3.1: the well-known suffix goes between the host and the issuer's path
 * (https://as.example.com/t1 → https://as.example.com/.well-known/oauth-authorization-server/t1).
 */
export function asMetadataUrl(issuer: string): string {
  const u = new URL(issuer);
  return `${u.origin}/.well-known/oauth-authorization-server${u.pathname === '/' ? '' : u.pathname}`;
}

/** The suite's document host (fixture.cimd): documents by path, served over HTTPS. */
async function documentHost(cimd: NonNullable<Fixture['cimd']>) {
  const documents = new Map<string, string>();
  const base = new URL(cimd.base);
  const server = createHttpsServer({ key: cimd.key, cert: cimd.cert }, (req, res) => {
    const body = documents.get(req.url ?? '');
    if (body === undefined) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(body);
  });
  await new Promise<void>((ok) => server.listen(Number(base.port || 443), base.hostname, ok));
  return {
    host(document: Parameters<Ctx['hostDocument']>[0]): string {
      const path = `/clients/${randomUUID()}.json`;
      const url = `${base.origin}${path}`;
      const value = typeof document === 'function' ? document(url) : document;
      documents.set(path, typeof value === 'string' ? value : JSON.stringify(value));
      return url;
    },
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

export async function createContext(issuer: string, fixture: Fixture): Promise<Ctx> {
  const documents = fixture.cimd ? await documentHost(fixture.cimd) : undefined;
  // unreachable or not JSON: the scenarios run anyway and each fails with its own reason (no crash)
  const metadata = (await fetch(asMetadataUrl(issuer))
    .then((r) => r.json())
    .catch(() => ({}))) as Record<string, unknown>;
  const tokenEndpoint = text(metadata.token_endpoint, `${issuer}/token`);
  const ctx: Ctx = {
    issuer,
    fixture,
    metadata,
    async form(path, body, auth, headers = {}) {
      const url = path === 'token' ? tokenEndpoint : `${issuer}${path}`;
      const res = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          ...(auth ? { authorization: basic(auth.id, auth.secret) } : {}),
          ...headers,
        },
        body: new URLSearchParams(body),
      });
      const raw = await res.text();
      let parsed: Record<string, unknown>;
      try {
        parsed = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
      } catch {
        parsed = { raw };
      }
      return { status: res.status, headers: res.headers, body: parsed };
    },
    /** The scripted sign-in: baton's local login form, as a browser without JavaScript would use it. */
    async signIn(extra = {}, watch = {}) {
      const verifier = randomBytes(32).toString('base64url');
      const params = new URLSearchParams({
        client_id: fixture.publicClient.client_id,
        redirect_uri: fixture.publicClient.redirect_uri,
        response_type: 'code',
        code_challenge: createHash('sha256').update(verifier).digest('base64url'),
        code_challenge_method: 'S256',
        resource: fixture.resource,
        scope: fixture.scope,
        state: randomUUID(),
        ...extra,
      });
      try {
        const location = await walkSignIn(
          `${text(metadata.authorization_endpoint, `${issuer}/auth`)}?${params.toString()}`,
          {
            base: issuer,
            stopAt: (url) => url.href.startsWith(fixture.publicClient.redirect_uri),
            answer: answerAs(fixture.user),
            ...watch,
          },
        );
        const code = location.searchParams.get('code');
        // every scenario that signs in needs the code: without one it would test nothing
        if (!code) throw new Failure(`the sign-in gave no code (${location.href.slice(0, 160)})`);
        return { code, verifier, location };
      } catch (err) {
        if (err instanceof Failure) throw err;
        throw new Failure(err instanceof SignInError ? err.message : String(err));
      }
    },
    async authorize(params) {
      const query = new URLSearchParams({
        client_id: fixture.publicClient.client_id,
        redirect_uri: fixture.publicClient.redirect_uri,
        response_type: 'code',
        code_challenge: createHash('sha256').update(randomBytes(32).toString('base64url')).digest('base64url'),
        code_challenge_method: 'S256',
        resource: fixture.resource,
        scope: fixture.scope,
        state: randomUUID(),
        ...params,
      });
      for (const [k, v] of [...query]) if (v === '') query.delete(k);
      const res = await fetch(`${text(metadata.authorization_endpoint, `${issuer}/auth`)}?${query.toString()}`, {
        redirect: 'manual',
      });
      const location = res.headers.get('location') ?? '';
      // the error goes back in the query, or in the fragment for response types that use it (RFC 6749 §4.2.2.1)
      const back = location.startsWith(fixture.publicClient.redirect_uri) ? new URL(location) : undefined;
      const error =
        back?.searchParams.get('error') ?? new URLSearchParams(back?.hash.slice(1) ?? '').get('error') ?? null;
      return { status: res.status, location, error };
    },
    async jwks() {
      const res = await fetch(text(metadata.jwks_uri, `${issuer}/jwks`));
      return createLocalJWKSet((await res.json()) as JSONWebKeySet);
    },
    hostDocument(document) {
      if (!documents) throw new Failure('the fixture has no cimd document host');
      return documents.host(document);
    },
    close: async () => documents?.close(),
  };
  return ctx;
}

/**
 * The token request that redeems a code of the fixture's public client (RFC 6749 §4.1.3, RFC 7636 §4.5,
 * RFC 8707 §2.2), for its redirect URI and resource; `override` changes a field on purpose. Without a
 * verifier, no code_verifier is sent.
 */
export function codeForm(
  ctx: Ctx,
  code: string,
  verifier: string | undefined,
  override: Record<string, string> = {},
): Record<string, string> {
  return {
    grant_type: 'authorization_code',
    code,
    ...(verifier === undefined ? {} : { code_verifier: verifier }),
    redirect_uri: ctx.fixture.publicClient.redirect_uri,
    client_id: ctx.fixture.publicClient.client_id,
    resource: ctx.fixture.resource,
    ...override,
  };
}

export async function userTokens(ctx: Ctx, resource = ctx.fixture.resource, scope = ctx.fixture.scope) {
  const { code, verifier } = await ctx.signIn({ resource, scope });
  assert(code, 'the sign-in gave no code');
  const res = await ctx.form('token', codeForm(ctx, code, verifier, { resource }));
  assert(res.status === 200, `the code was not redeemed (HTTP ${res.status} ${String(res.body.error)})`);
  return res.body as { access_token: string; refresh_token?: string; scope?: string };
}

/**
 * An ID-JAG from the fixture's test IdP for the fixture's user and client, with the given audience. `claims`
 * override any claim (iss, exp, client_id, …); `header.typ` the type; `key` signs with another key.
 */
export async function signIdJag(
  ctx: Ctx,
  aud: string | string[],
  claims: Record<string, unknown> = {},
  opts: { typ?: string; key?: { jwk: JWK; alg: string } } = {},
): Promise<string> {
  const j = ctx.fixture.idJag!;
  const key = opts.key ?? { jwk: j.private_jwk, alg: j.alg };
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    iss: j.issuer,
    sub: j.subject,
    aud,
    client_id: j.client_id,
    resource: ctx.fixture.resource,
    jti: randomUUID(),
    iat: now,
    exp: now + 120,
    ...claims,
  })
    .setProtectedHeader({
      alg: key.alg,
      typ: opts.typ ?? 'oauth-id-jag+jwt',
      ...(key.jwk.kid ? { kid: key.jwk.kid } : {}),
    })
    .sign(await importJWK(key.jwk, key.alg));
}

/** Registration metadata of a public native client like the fixture's (its loopback redirect URI). */
export function nativeClient(ctx: Ctx, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    redirect_uris: [ctx.fixture.publicClient.redirect_uri],
    token_endpoint_auth_method: 'none',
    application_type: 'native',
    ...extra,
  };
}

/** An RFC 7591 registration (POST to the registration endpoint); the status and the parsed body. */
export async function registerClient(ctx: Ctx, metadata: Record<string, unknown>) {
  const res = await fetch(text(ctx.metadata.registration_endpoint, `${ctx.issuer}/reg`), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(metadata),
  });
  const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  return { status: res.status, headers: res.headers, body };
}

/** The form without the fields set to undefined (a scenario drops a parameter on purpose). */
function defined(form: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(form).filter((e): e is [string, string] => e[1] !== undefined));
}

type Actor = { client_id: string; client_secret: string; target: string };

/**
 * An RFC 8693 token exchange (§2.1) of an access token by the fixture's exchange actor (or `as`), towards
 * its target; `fields` add or change parameters, undefined drops one.
 */
export function exchangeToken(
  ctx: Ctx,
  subject: string,
  fields: Record<string, string | undefined> = {},
  as: Actor = ctx.fixture.exchange!,
  headers?: Record<string, string>,
) {
  return ctx.form(
    'token',
    defined({ grant_type: TE, subject_token: subject, subject_token_type: AT_TYPE, resource: as.target, ...fields }),
    { id: as.client_id, secret: as.client_secret },
    headers,
  );
}

/** A client credentials request (RFC 6749 §4.4) of the fixture's confidential client for its resource. */
export function clientCredentials(
  ctx: Ctx,
  fields: Record<string, string | undefined> = {},
  opts: { secret?: string; headers?: Record<string, string> } = {},
) {
  const c = ctx.fixture.confidentialClient;
  return ctx.form(
    'token',
    defined({ grant_type: 'client_credentials', resource: c.resource, ...fields }),
    { id: c.client_id, secret: opts.secret ?? c.client_secret },
    opts.headers,
  );
}

/** A client-credentials access token of the fixture's confidential client. */
export async function serviceToken(ctx: Ctx): Promise<string> {
  const res = await clientCredentials(ctx);
  assert(res.status === 200, `client credentials: HTTP ${res.status} ${String(res.body.error)}`);
  return String(res.body.access_token);
}
