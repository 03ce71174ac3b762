/**
 * What every scenario works with: the fixture (the deployment's clients, user and optional parts), the
 * context (metadata, form posts, the scripted sign-in, the JWKS) and the shared steps (a user's tokens, a
 * service token, a signed ID-JAG).
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createLocalJWKSet, importJWK, SignJWT, type JSONWebKeySet, type JWK } from 'jose';
import { answerAs, SignInError, walkSignIn } from './browser.ts';

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
  /** optional: an actor allowed to exchange tokens for `resource` (it serves it) towards `target` */
  exchange?: { client_id: string; client_secret: string; target: string };
  /** optional: a test IdP trusted for ID-JAGs, whose private key the suite may use, and a client */
  idJag?: { issuer: string; private_jwk: JWK; alg: string; subject: string; client_id: string; client_secret: string };
  /** optional: whether DCR is open */
  dcr?: boolean;
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
  signIn(extra?: Record<string, string>): Promise<{ code?: string; verifier: string; location: URL }>;
  jwks(): Promise<ReturnType<typeof createLocalJWKSet>>;
}
export type Context = Ctx;

function basic(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

const text = (v: unknown, fallback: string): string => (typeof v === 'string' ? v : fallback);

export async function createContext(issuer: string, fixture: Fixture): Promise<Ctx> {
  const metaRes = await fetch(`${issuer}/.well-known/oauth-authorization-server`);
  const metadata = (await metaRes.json().catch(() => ({}))) as Record<string, unknown>;
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
    async signIn(extra = {}) {
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
          },
        );
        return { code: location.searchParams.get('code') ?? undefined, verifier, location };
      } catch (err) {
        throw new Failure(err instanceof SignInError ? err.message : String(err));
      }
    },
    async jwks() {
      const res = await fetch(text(metadata.jwks_uri, `${issuer}/jwks`));
      return createLocalJWKSet((await res.json()) as JSONWebKeySet);
    },
  };
  return ctx;
}

export async function userTokens(ctx: Ctx) {
  const { code, verifier } = await ctx.signIn();
  assert(code, 'the sign-in gave no code');
  const res = await ctx.form('token', {
    grant_type: 'authorization_code',
    code: code!,
    code_verifier: verifier,
    redirect_uri: ctx.fixture.publicClient.redirect_uri,
    client_id: ctx.fixture.publicClient.client_id,
    resource: ctx.fixture.resource,
  });
  assert(res.status === 200, `the code was not redeemed (HTTP ${res.status} ${String(res.body.error)})`);
  return res.body as { access_token: string; refresh_token?: string; scope?: string };
}

/** An ID-JAG from the fixture's test IdP for the fixture's user and client, with the given audience. */
export async function signIdJag(
  ctx: Ctx,
  aud: string | string[],
  extra: Record<string, unknown> = {},
): Promise<string> {
  const j = ctx.fixture.idJag!;
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ client_id: j.client_id, resource: ctx.fixture.resource, ...extra })
    .setProtectedHeader({
      alg: j.alg,
      typ: 'oauth-id-jag+jwt',
      ...(j.private_jwk.kid ? { kid: j.private_jwk.kid } : {}),
    })
    .setIssuer(j.issuer)
    .setSubject(j.subject)
    .setAudience(aud)
    .setJti(randomUUID())
    .setIssuedAt(now)
    .setExpirationTime(now + 120)
    .sign(await importJWK(j.private_jwk, j.alg));
}

/** A client-credentials access token of the fixture's confidential client. */
export async function serviceToken(ctx: Ctx): Promise<string> {
  const c = ctx.fixture.confidentialClient;
  const res = await ctx.form(
    'token',
    { grant_type: 'client_credentials', resource: c.resource },
    { id: c.client_id, secret: c.client_secret },
  );
  assert(res.status === 200, `client credentials: HTTP ${res.status} ${String(res.body.error)}`);
  return String(res.body.access_token);
}

export const TE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const AT_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
export const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
