/**
 * baton's conformance suite: black-box scenarios over HTTP only, each naming the clause it proves and its
 * level. Runs against any baton deployment (`npm run conformance -- --issuer <url> --fixture <file>`); the
 * fixture names the clients, a user of the local directory for the scripted sign-in, and optional parts
 * (token exchange, ID-JAG with a test IdP key). Traceability: conformance/README.md.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import { answerAs, SignInError, walkSignIn } from './browser.ts';
import {
  createLocalJWKSet,
  decodeJwt,
  decodeProtectedHeader,
  importJWK,
  jwtVerify,
  SignJWT,
  type JSONWebKeySet,
  type JWK,
} from 'jose';

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
const assert = (ok: unknown, message: string): void => {
  if (!ok) throw new Failure(message);
};

interface Ctx {
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

async function userTokens(ctx: Ctx) {
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
async function signIdJag(ctx: Ctx, aud: string | string[], extra: Record<string, unknown> = {}): Promise<string> {
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
async function serviceToken(ctx: Ctx): Promise<string> {
  const c = ctx.fixture.confidentialClient;
  const res = await ctx.form(
    'token',
    { grant_type: 'client_credentials', resource: c.resource },
    { id: c.client_id, secret: c.client_secret },
  );
  assert(res.status === 200, `client credentials: HTTP ${res.status} ${String(res.body.error)}`);
  return String(res.body.access_token);
}

const TE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

export const scenarios: Scenario[] = [
  {
    id: 'discovery.metadata',
    clause: 'RFC 8414 §3; MCP authorization 2026-07-28 §Authorization Server Metadata Discovery',
    level: 'MUST',
    title: 'AS metadata at /.well-known/oauth-authorization-server with issuer identical to the issuer',
    async run(ctx) {
      assert(ctx.metadata.issuer === ctx.issuer, `issuer is ${String(ctx.metadata.issuer)}`);
      for (const k of ['authorization_endpoint', 'token_endpoint', 'jwks_uri', 'response_types_supported'])
        assert(ctx.metadata[k], `${k} missing`);
    },
  },
  {
    id: 'discovery.oidc',
    clause: 'OIDC Discovery 1.0 §4; MCP authorization §Authorization Server Metadata Discovery',
    level: 'SHOULD',
    title: 'OpenID configuration agrees with the RFC 8414 document',
    async run(ctx) {
      const oidc = (await (await fetch(`${ctx.issuer}/.well-known/openid-configuration`)).json()) as Record<
        string,
        unknown
      >;
      assert(
        oidc.issuer === ctx.issuer && oidc.token_endpoint === ctx.metadata.token_endpoint,
        'the two documents disagree',
      );
    },
  },
  {
    id: 'discovery.pkce-methods',
    clause: 'MCP authorization §Authorization Code Protection; RFC 8414 §2',
    level: 'MUST',
    title: 'code_challenge_methods_supported lists S256 (and not plain)',
    async run(ctx) {
      const methods = ctx.metadata.code_challenge_methods_supported as string[] | undefined;
      assert(Array.isArray(methods) && methods.includes('S256'), 'S256 not advertised');
      assert(!methods!.includes('plain'), 'plain advertised');
    },
  },
  {
    id: 'discovery.iss-parameter',
    clause: 'RFC 9207 §3; MCP authorization §Authorization Response Validation',
    level: 'MUST',
    title: 'authorization_response_iss_parameter_supported is true',
    async run(ctx) {
      assert(ctx.metadata.authorization_response_iss_parameter_supported === true, 'not advertised');
    },
  },
  {
    id: 'jwks.public-only',
    clause: 'RFC 7517 §4, §9.3 (no private key members published)',
    level: 'MUST',
    title: 'the JWKS holds only public keys',
    async run(ctx) {
      const set = (await (await fetch(String(ctx.metadata.jwks_uri))).json()) as { keys: Record<string, unknown>[] };
      assert(set.keys.length > 0, 'no keys');
      for (const k of set.keys)
        for (const p of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'])
          assert(!(p in k), `key ${String(k.kid)} publishes ${p}`);
    },
  },
  {
    id: 'pkce.required',
    clause: 'OAuth 2.1 §4.1.1, §7.5.1; RFC 7636 §4.4.1; MCP authorization §Authorization Code Protection',
    level: 'MUST',
    title: 'an authorization request without code_challenge is refused',
    async run(ctx) {
      const params = new URLSearchParams({
        client_id: ctx.fixture.publicClient.client_id,
        redirect_uri: ctx.fixture.publicClient.redirect_uri,
        response_type: 'code',
        resource: ctx.fixture.resource,
        scope: ctx.fixture.scope,
        state: 'x',
      });
      const res = await fetch(`${String(ctx.metadata.authorization_endpoint)}?${params.toString()}`, {
        redirect: 'manual',
      });
      const location = res.headers.get('location') ?? '';
      assert(
        location.startsWith(ctx.fixture.publicClient.redirect_uri) &&
          new URL(location).searchParams.get('error') === 'invalid_request',
        `not refused (HTTP ${res.status} → ${location.slice(0, 80)})`,
      );
    },
  },
  {
    id: 'pkce.no-plain',
    clause: 'OAuth 2.1 §4.1.1 (S256); RFC 9700 §2.1.1',
    level: 'MUST',
    title: 'code_challenge_method=plain is refused',
    async run(ctx) {
      const params = new URLSearchParams({
        client_id: ctx.fixture.publicClient.client_id,
        redirect_uri: ctx.fixture.publicClient.redirect_uri,
        response_type: 'code',
        resource: ctx.fixture.resource,
        code_challenge: 'a'.repeat(43),
        code_challenge_method: 'plain',
        state: 'x',
      });
      const res = await fetch(`${String(ctx.metadata.authorization_endpoint)}?${params.toString()}`, {
        redirect: 'manual',
      });
      assert(
        new URL(res.headers.get('location') ?? 'http://x').searchParams.get('error') === 'invalid_request',
        'plain accepted',
      );
    },
  },
  {
    id: 'redirect.exact',
    clause: 'OAuth 2.1 §4.1.2.1, §7.12; RFC 9700 §4.1; MCP authorization §Open Redirection',
    level: 'MUST',
    title: 'an unregistered redirect_uri is never redirected to',
    async run(ctx) {
      const params = new URLSearchParams({
        client_id: ctx.fixture.publicClient.client_id,
        redirect_uri: 'https://attacker.example.com/cb',
        response_type: 'code',
        code_challenge: 'a'.repeat(43),
        code_challenge_method: 'S256',
        resource: ctx.fixture.resource,
      });
      const res = await fetch(`${String(ctx.metadata.authorization_endpoint)}?${params.toString()}`, {
        redirect: 'manual',
      });
      assert(
        !(res.headers.get('location') ?? '').includes('attacker.example.com'),
        'redirected to an unregistered URI',
      );
      assert(res.status === 400, `HTTP ${res.status}`);
    },
  },
  {
    id: 'authorization.iss',
    clause: 'RFC 9207 §2; MCP authorization §Authorization Response Validation',
    level: 'MUST',
    title: 'the authorization response carries iss equal to the issuer',
    async run(ctx) {
      const { location } = await ctx.signIn();
      assert(location.searchParams.get('iss') === ctx.issuer, `iss is ${String(location.searchParams.get('iss'))}`);
    },
  },
  {
    id: 'code.single-use',
    clause: 'RFC 6749 §4.1.2, OAuth 2.1 §4.1.3',
    level: 'MUST',
    title: 'an authorization code is redeemable once',
    async run(ctx) {
      const { code, verifier } = await ctx.signIn();
      const form = {
        grant_type: 'authorization_code',
        code: code!,
        code_verifier: verifier,
        redirect_uri: ctx.fixture.publicClient.redirect_uri,
        client_id: ctx.fixture.publicClient.client_id,
        resource: ctx.fixture.resource,
      };
      assert((await ctx.form('token', form)).status === 200, 'first redemption failed');
      const again = await ctx.form('token', form);
      assert(
        again.status === 400 && again.body.error === 'invalid_grant',
        `second redemption: HTTP ${again.status} ${String(again.body.error)}`,
      );
    },
  },
  {
    id: 'code.verifier',
    clause: 'RFC 7636 §4.6',
    level: 'MUST',
    title: 'a wrong code_verifier is invalid_grant',
    async run(ctx) {
      const { code } = await ctx.signIn();
      const res = await ctx.form('token', {
        grant_type: 'authorization_code',
        code: code!,
        code_verifier: randomBytes(32).toString('base64url'),
        redirect_uri: ctx.fixture.publicClient.redirect_uri,
        client_id: ctx.fixture.publicClient.client_id,
        resource: ctx.fixture.resource,
      });
      assert(res.status === 400 && res.body.error === 'invalid_grant', `HTTP ${res.status} ${String(res.body.error)}`);
    },
  },
  {
    id: 'token.jwt-profile',
    clause: 'RFC 9068 §2.1, §2.2; RFC 8707 §2.2; MCP authorization §Token Audience Binding',
    level: 'MUST',
    title: 'the access token is an at+jwt for exactly the requested resource, signed by a JWKS key',
    async run(ctx) {
      const { access_token } = await userTokens(ctx);
      assert(decodeProtectedHeader(access_token).typ === 'at+jwt', 'typ is not at+jwt');
      const { payload } = await jwtVerify(access_token, await ctx.jwks(), {
        issuer: ctx.issuer,
        audience: ctx.fixture.resource,
        typ: 'at+jwt',
      });
      for (const c of ['sub', 'client_id', 'iat', 'exp', 'jti']) assert(payload[c] !== undefined, `${c} missing`);
      assert(payload.aud === ctx.fixture.resource, 'aud is not exactly the resource');
    },
  },
  {
    id: 'token.invalid-target',
    clause: 'RFC 8707 §2 (invalid_target); MCP authorization §Resource Parameter Implementation',
    level: 'MUST',
    title: 'a token request for an unknown resource is invalid_target',
    async run(ctx) {
      const c = ctx.fixture.confidentialClient;
      const res = await ctx.form(
        'token',
        { grant_type: 'client_credentials', resource: 'https://unknown-resource.invalid' },
        { id: c.client_id, secret: c.client_secret },
      );
      assert(res.status === 400 && res.body.error === 'invalid_target', `HTTP ${res.status} ${String(res.body.error)}`);
    },
  },
  {
    id: 'refresh.rotation',
    clause: 'OAuth 2.1 §4.3.1; RFC 9700 §4.14.2; MCP authorization §Token Theft (rotate for public clients)',
    level: 'MUST',
    title: 'a public client refresh token rotates, and the old one is refused',
    async run(ctx) {
      const tokens = await userTokens(ctx);
      assert(tokens.refresh_token, 'no refresh token issued');
      const form = {
        grant_type: 'refresh_token',
        refresh_token: tokens.refresh_token!,
        client_id: ctx.fixture.publicClient.client_id,
        resource: ctx.fixture.resource,
      };
      const first = await ctx.form('token', form);
      assert(
        first.status === 200 && first.body.refresh_token && first.body.refresh_token !== tokens.refresh_token,
        'not rotated',
      );
      const reuse = await ctx.form('token', form);
      assert(reuse.status === 400 && reuse.body.error === 'invalid_grant', 'the rotated-out refresh token still works');
    },
  },
  {
    id: 'client.auth-failure',
    clause: 'RFC 6749 §5.2 (invalid_client, 401 with WWW-Authenticate)',
    level: 'MUST',
    title: 'a wrong client secret is 401 invalid_client with WWW-Authenticate',
    async run(ctx) {
      const c = ctx.fixture.confidentialClient;
      const res = await ctx.form(
        'token',
        { grant_type: 'client_credentials', resource: c.resource },
        { id: c.client_id, secret: 'wrong-secret' },
      );
      assert(
        res.status === 401 && res.body.error === 'invalid_client' && res.headers.get('www-authenticate'),
        `HTTP ${res.status} ${String(res.body.error)}`,
      );
    },
  },
  {
    id: 'client-credentials',
    clause: 'RFC 6749 §4.4; RFC 9068',
    level: 'MUST',
    title: 'client credentials for a resource gives an at+jwt for it',
    async run(ctx) {
      const c = ctx.fixture.confidentialClient;
      const res = await ctx.form(
        'token',
        { grant_type: 'client_credentials', resource: c.resource },
        { id: c.client_id, secret: c.client_secret },
      );
      assert(res.status === 200, `HTTP ${res.status} ${String(res.body.error)}`);
      await jwtVerify(String(res.body.access_token), await ctx.jwks(), { audience: c.resource, typ: 'at+jwt' });
    },
  },
  {
    id: 'token-exchange.act',
    clause: 'RFC 8693 §2.1, §2.2.1, §4.1',
    level: 'MUST',
    title: 'an exchange answers issued_token_type and a token whose act names the actor, then the prior actor',
    needs: ['exchange'],
    async run(ctx) {
      const x = ctx.fixture.exchange!;
      const { access_token } = await userTokens(ctx);
      const res = await ctx.form(
        'token',
        { grant_type: TE, subject_token: access_token, subject_token_type: AT_TYPE, resource: x.target },
        { id: x.client_id, secret: x.client_secret },
      );
      assert(res.status === 200, `HTTP ${res.status} ${String(res.body.error)}`);
      assert(res.body.issued_token_type === AT_TYPE && res.body.token_type, 'issued_token_type/token_type missing');
      const claims = decodeJwt(String(res.body.access_token));
      const act = claims.act as { sub?: string; act?: { sub?: string } } | undefined;
      assert(
        act?.sub === x.client_id && act.act?.sub === ctx.fixture.publicClient.client_id,
        `act is ${JSON.stringify(claims.act)}`,
      );
      assert(claims.aud === x.target && claims.exp! <= decodeJwt(access_token).exp!, 'audience or expiry wrong');
    },
  },
  {
    id: 'token-exchange.errors',
    clause: 'RFC 8693 §2.2.2',
    level: 'MUST',
    title: 'an unacceptable subject token is invalid_request; an unknown target is invalid_target',
    needs: ['exchange'],
    async run(ctx) {
      const x = ctx.fixture.exchange!;
      const auth = { id: x.client_id, secret: x.client_secret };
      const bad = await ctx.form(
        'token',
        { grant_type: TE, subject_token: 'not-a-token', subject_token_type: AT_TYPE, resource: x.target },
        auth,
      );
      assert(bad.status === 400 && bad.body.error === 'invalid_request', `bad subject: ${String(bad.body.error)}`);
      const { access_token } = await userTokens(ctx);
      const target = await ctx.form(
        'token',
        {
          grant_type: TE,
          subject_token: access_token,
          subject_token_type: AT_TYPE,
          resource: 'https://unknown-resource.invalid',
        },
        auth,
      );
      assert(
        target.status === 400 && target.body.error === 'invalid_target',
        `unknown target: ${String(target.body.error)}`,
      );
    },
  },
  {
    id: 'id-jag.metadata',
    clause: 'draft-ietf-oauth-identity-assertion-authz-grant-04 §7.2; MCP Enterprise-Managed Authorization §6',
    level: 'MUST',
    title: 'the id-jag grant profile is advertised with jwt-bearer in grant_types_supported',
    async run(ctx) {
      assert(
        (ctx.metadata.authorization_grant_profiles_supported as string[] | undefined)?.includes(
          'urn:ietf:params:oauth:grant-profile:id-jag',
        ),
        'profile not advertised',
      );
      assert(
        (ctx.metadata.grant_types_supported as string[] | undefined)?.includes(JWT_BEARER),
        'jwt-bearer not in grant_types_supported',
      );
    },
  },
  {
    id: 'id-jag.replay',
    clause: 'MCP Enterprise-Managed Authorization §7.4.2; RFC 7523 §3 (jti)',
    level: 'MUST',
    title: 'an ID-JAG is redeemable once',
    needs: ['idJag'],
    async run(ctx) {
      const j = ctx.fixture.idJag!;
      const assertion = await signIdJag(ctx, ctx.issuer, { scope: ctx.fixture.scope });
      const auth = { id: j.client_id, secret: j.client_secret };
      const first = await ctx.form('token', { grant_type: JWT_BEARER, assertion }, auth);
      assert(first.status === 200, `first redemption: HTTP ${first.status} ${String(first.body.error)}`);
      assert(first.body.refresh_token === undefined, 'a refresh token was issued (ID-JAG §4.4.3)');
      const replay = await ctx.form('token', { grant_type: JWT_BEARER, assertion }, auth);
      assert(
        replay.status === 400 && replay.body.error === 'invalid_grant',
        `replay: HTTP ${replay.status} ${String(replay.body.error)}`,
      );
    },
  },
  {
    id: 'id-jag.audience',
    clause: 'draft-ietf-oauth-identity-assertion-authz-grant-04 §4.4.1 (aud exactly the AS)',
    level: 'MUST',
    title: 'an ID-JAG for another audience is invalid_grant',
    needs: ['idJag'],
    async run(ctx) {
      const j = ctx.fixture.idJag!;
      const assertion = await signIdJag(ctx, [ctx.issuer, 'https://other-as.invalid']);
      const res = await ctx.form(
        'token',
        { grant_type: JWT_BEARER, assertion },
        { id: j.client_id, secret: j.client_secret },
      );
      assert(res.status === 400 && res.body.error === 'invalid_grant', `HTTP ${res.status} ${String(res.body.error)}`);
    },
  },
  {
    id: 'introspection',
    clause: 'RFC 7662 §2.2',
    level: 'MUST',
    title: 'introspection answers active for a valid token (to its client) and active:false for garbage',
    async run(ctx) {
      const c = ctx.fixture.confidentialClient;
      const auth = { id: c.client_id, secret: c.client_secret };
      const token = await serviceToken(ctx);
      const on = await ctx.form('/token/introspection', { token }, auth);
      assert(
        on.status === 200 && on.body.active === true && on.body.client_id === c.client_id,
        `valid token: ${JSON.stringify(on.body)}`,
      );
      const off = await ctx.form('/token/introspection', { token: 'garbage' }, auth);
      assert(off.status === 200 && off.body.active === false, 'garbage is not active:false');
    },
  },
  {
    id: 'revocation',
    clause: 'RFC 7009 §2.1, §2.2',
    level: 'MUST',
    title: 'a revoked token is inactive; revoking garbage is 200',
    async run(ctx) {
      const c = ctx.fixture.confidentialClient;
      const auth = { id: c.client_id, secret: c.client_secret };
      const token = await serviceToken(ctx);
      assert((await ctx.form('/token/revocation', { token }, auth)).status === 200, 'revocation failed');
      assert(
        (await ctx.form('/token/introspection', { token }, auth)).body.active === false,
        'still active after revocation',
      );
      assert(
        (await ctx.form('/token/revocation', { token: 'garbage' }, auth)).status === 200,
        'garbage revocation is not 200',
      );
    },
  },
  {
    id: 'dcr.redirect-uris',
    clause: 'RFC 7591 §2, §3.2.2 (invalid_redirect_uri); RFC 8252 §7; MCP authorization §Client Registration',
    level: 'MUST',
    title: 'a registration with a javascript: redirect URI is refused',
    needs: ['dcr'],
    async run(ctx) {
      const res = await fetch(`${ctx.issuer}/reg`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ redirect_uris: ['javascript:alert(1)'], token_endpoint_auth_method: 'none' }),
      });
      const body = (await res.json()) as { error?: string };
      assert(
        res.status === 400 && /^invalid_(redirect_uri|client_metadata)$/.test(body.error ?? ''),
        `HTTP ${res.status} ${String(body.error)}`,
      );
    },
  },
  {
    id: 'token.no-store',
    clause: 'RFC 6749 §5.1 (Cache-Control: no-store); OAuth 2.1 §3.2.3',
    level: 'MUST',
    title: 'token responses are not cached',
    async run(ctx) {
      const c = ctx.fixture.confidentialClient;
      const res = await ctx.form(
        'token',
        { grant_type: 'client_credentials', resource: c.resource },
        { id: c.client_id, secret: c.client_secret },
      );
      assert(
        res.status === 200 && res.headers.get('cache-control') === 'no-store',
        `Cache-Control: ${String(res.headers.get('cache-control'))}`,
      );
    },
  },
  {
    id: 'scope.omitted',
    clause: 'MCP authorization 2026-07-28 §Scope Selection Strategy (clients may omit scope)',
    level: 'MUST',
    title: 'an authorization request without scope still yields a token with what the user may have',
    async run(ctx) {
      const { code, verifier } = await ctx.signIn({ scope: '' });
      assert(code, 'no code without a scope');
      const res = await ctx.form('token', {
        grant_type: 'authorization_code',
        code: code!,
        code_verifier: verifier,
        redirect_uri: ctx.fixture.publicClient.redirect_uri,
        client_id: ctx.fixture.publicClient.client_id,
        resource: ctx.fixture.resource,
      });
      assert(
        res.status === 200 &&
          typeof res.body.scope === 'string' &&
          res.body.scope.split(' ').includes(ctx.fixture.scope),
        `scope is ${String(res.body.scope)}`,
      );
    },
  },
  {
    id: 'token-exchange.act-not-copied',
    clause: 'RFC 8693 §4.1 (act built by the AS from validated inputs)',
    level: 'MUST',
    title: 'an act sent by the client is never copied into the issued token',
    needs: ['exchange'],
    async run(ctx) {
      const x = ctx.fixture.exchange!;
      const { access_token } = await userTokens(ctx);
      const res = await ctx.form(
        'token',
        {
          grant_type: TE,
          subject_token: access_token,
          subject_token_type: AT_TYPE,
          resource: x.target,
          act: JSON.stringify({ sub: 'admin' }),
        },
        { id: x.client_id, secret: x.client_secret },
      );
      assert(res.status === 200, `HTTP ${res.status}`);
      assert(
        !JSON.stringify(decodeJwt(String(res.body.access_token)).act).includes('admin'),
        'the client-supplied act was copied',
      );
    },
  },
  {
    id: 'dpop.exchange-binding',
    clause: 'RFC 9449 §5 (cnf.jkt, token_type DPoP), §11.1 (proof replay)',
    level: 'MUST',
    title: 'a DPoP proof binds the exchanged token to its key; a replayed proof is refused',
    needs: ['exchange'],
    async run(ctx) {
      const x = ctx.fixture.exchange!;
      const { privateKey, publicKey } = await generateKeyPair('ES256');
      const jwk = await exportJWK(publicKey);
      const proof = await new SignJWT({ htm: 'POST', htu: String(ctx.metadata.token_endpoint), jti: randomUUID() })
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk })
        .setIssuedAt()
        .sign(privateKey);
      const { access_token } = await userTokens(ctx);
      const form = { grant_type: TE, subject_token: access_token, subject_token_type: AT_TYPE, resource: x.target };
      const res = await ctx.form('token', form, { id: x.client_id, secret: x.client_secret }, { DPoP: proof });
      assert(
        res.status === 200 && res.body.token_type === 'DPoP',
        `HTTP ${res.status} token_type ${String(res.body.token_type)}`,
      );
      const cnf = decodeJwt(String(res.body.access_token)).cnf as { jkt?: string } | undefined;
      assert(cnf?.jkt === (await calculateJwkThumbprint(jwk)), 'cnf.jkt is not the proof key thumbprint');
      const replay = await ctx.form('token', form, { id: x.client_id, secret: x.client_secret }, { DPoP: proof });
      assert(replay.status === 400, `a replayed proof was accepted (HTTP ${replay.status})`);
    },
  },
  {
    id: 'dcr.management',
    clause: 'RFC 7592 §2 (read and delete with the registration access token; others refused)',
    level: 'MUST',
    title: 'a registered client is read and deleted with its registration access token, and not without it',
    needs: ['dcr'],
    async run(ctx) {
      const reg = await fetch(`${ctx.issuer}/reg`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          redirect_uris: [ctx.fixture.publicClient.redirect_uri],
          token_endpoint_auth_method: 'none',
          application_type: 'native',
        }),
      });
      const body = (await reg.json()) as { registration_client_uri?: string; registration_access_token?: string };
      assert(
        reg.status === 201 && body.registration_client_uri && body.registration_access_token,
        `registration: HTTP ${reg.status}`,
      );
      const uri = body.registration_client_uri!;
      assert(
        (await fetch(uri, { headers: { authorization: 'Bearer wrong-token' } })).status === 401,
        'read with a wrong token was not 401',
      );
      assert(
        (await fetch(uri, { headers: { authorization: `Bearer ${body.registration_access_token}` } })).status === 200,
        'read failed',
      );
      assert(
        (await fetch(uri, { method: 'DELETE', headers: { authorization: `Bearer ${body.registration_access_token}` } }))
          .status === 204,
        'delete failed',
      );
      assert(
        (await fetch(uri, { headers: { authorization: `Bearer ${body.registration_access_token}` } })).status === 401,
        'a deleted client is still readable',
      );
    },
  },
  {
    id: 'cimd.advertised',
    clause: 'MCP authorization §Client Registration (CIMD SHOULD); draft-ietf-oauth-client-id-metadata-document',
    level: 'SHOULD',
    title: 'client_id_metadata_document_supported is advertised',
    async run(ctx) {
      assert(ctx.metadata.client_id_metadata_document_supported === true, 'not advertised');
    },
  },
];

export async function runSuite(issuer: string, fixture: Fixture, only?: string[]): Promise<Result[]> {
  const ctx = await createContext(issuer, fixture);
  const results: Result[] = [];
  for (const s of scenarios) {
    if (only && !only.includes(s.id)) continue;
    const base = { id: s.id, clause: s.clause, level: s.level, title: s.title };
    if (s.needs?.some((n) => fixture[n] === undefined || fixture[n] === false)) {
      results.push({ ...base, status: 'skipped', detail: `the fixture has no ${s.needs.join(', ')}` });
      continue;
    }
    try {
      await s.run(ctx);
      results.push({ ...base, status: 'pass' });
    } catch (err) {
      results.push({
        ...base,
        status: 'fail',
        detail: err instanceof Failure ? err.message : `${(err as Error).name}: ${(err as Error).message}`,
      });
    }
  }
  return results;
}
