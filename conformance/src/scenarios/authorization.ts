/** Scenarios: the authorization endpoint and the code: PKCE, redirect URIs, iss, single use. */
import { randomBytes, randomUUID } from 'node:crypto';
import { assert, codeForm, nativeClient, registerClient, type Scenario } from '../context.ts';

export const authorization: Scenario[] = [
  {
    id: 'pkce.required',
    clause: 'OAuth 2.1 §4.1.1, §7.5.1; RFC 7636 §4.4.1; MCP authorization §Authorization Code Protection',
    level: 'MUST',
    title: 'an authorization request without code_challenge is refused',
    async run(ctx) {
      const res = await ctx.authorize({ code_challenge: '', code_challenge_method: '' });
      assert(res.error === 'invalid_request', `not refused (HTTP ${res.status} → ${res.location.slice(0, 80)})`);
    },
  },

  {
    id: 'pkce.no-plain',
    clause: 'OAuth 2.1 §4.1.1 (S256); RFC 9700 §2.1.1',
    level: 'MUST',
    title: 'code_challenge_method=plain is refused',
    async run(ctx) {
      const res = await ctx.authorize({ code_challenge: 'a'.repeat(43), code_challenge_method: 'plain' });
      assert(res.error === 'invalid_request', `plain accepted (HTTP ${res.status} → ${res.location.slice(0, 80)})`);
    },
  },

  {
    id: 'redirect.exact',
    clause: 'OAuth 2.1 §4.1.2.1, §7.12; RFC 9700 §4.1; MCP authorization §Open Redirection',
    level: 'MUST',
    title: 'an unregistered redirect_uri is never redirected to',
    async run(ctx) {
      const res = await ctx.authorize({ redirect_uri: 'https://attacker.example.com/cb' });
      assert(!res.location.includes('attacker.example.com'), 'redirected to an unregistered URI');
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
      const form = codeForm(ctx, code, verifier);
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
      const res = await ctx.form('token', codeForm(ctx, code, randomBytes(32).toString('base64url')));
      assert(res.status === 400 && res.body.error === 'invalid_grant', `HTTP ${res.status} ${String(res.body.error)}`);
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
      const res = await ctx.form('token', codeForm(ctx, code, verifier));
      assert(
        res.status === 200 &&
          typeof res.body.scope === 'string' &&
          res.body.scope.split(' ').includes(ctx.fixture.scope),
        `scope is ${String(res.body.scope)}`,
      );
    },
  },

  {
    id: 'authorization.state',
    clause: 'RFC 6749 §4.1.2 (state returned exactly); OAuth 2.1 §4.1.2',
    level: 'MUST',
    title: 'the authorization response returns the client state unchanged',
    async run(ctx) {
      const state = `s-${randomUUID()}~.!`;
      const { location } = await ctx.signIn({ state });
      assert(location.searchParams.get('state') === state, `state is ${String(location.searchParams.get('state'))}`);
    },
  },
  {
    id: 'authorization.code-only',
    clause: 'OAuth 2.1 §4.1.1, §10.1 (no implicit grant); RFC 9700 §2.1.2',
    level: 'MUST',
    title: 'response_type=token (the implicit grant) is refused with unsupported_response_type',
    async run(ctx) {
      const res = await ctx.authorize({ response_type: 'token' });
      assert(res.error === 'unsupported_response_type', `HTTP ${res.status} → ${res.location.slice(0, 120)}`);
      assert(!/[#&?]access_token=/.test(res.location), 'an access token was returned from the authorization endpoint');
    },
  },
  {
    id: 'authorization.unknown-client',
    clause: 'RFC 6749 §4.1.2.1 (invalid client_id: no redirect); RFC 9700 §4.1',
    level: 'MUST',
    title: 'an unknown client_id gets an error page, never a redirect',
    async run(ctx) {
      const res = await ctx.authorize({ client_id: `unknown-${randomUUID()}` });
      assert(res.status === 400 && res.location === '', `HTTP ${res.status} → ${res.location.slice(0, 120)}`);
    },
  },
  {
    id: 'authorization.invalid-target',
    clause:
      'RFC 8707 §2 (absolute URI, no fragment; invalid_target); MCP authorization §Resource Parameter Implementation',
    level: 'MUST',
    title: 'a resource with a fragment, or not an absolute URI, is refused with invalid_target',
    async run(ctx) {
      for (const resource of [`${ctx.fixture.resource}#part`, 'relative/path']) {
        const res = await ctx.authorize({ resource });
        assert(
          res.error === 'invalid_target',
          `resource ${resource}: HTTP ${res.status} → ${res.location.slice(0, 120)}`,
        );
      }
    },
  },
  {
    id: 'pkce.verifier-required',
    clause: 'RFC 7636 §4.5, §4.6; OAuth 2.1 §4.1.3',
    level: 'MUST',
    title: 'a code issued with a code_challenge is not redeemed without its code_verifier',
    async run(ctx) {
      const { code } = await ctx.signIn();
      const res = await ctx.form('token', codeForm(ctx, code, undefined));
      assert(
        res.status === 400 && res.body.error === 'invalid_grant' && res.body.access_token === undefined,
        `HTTP ${res.status} ${String(res.body.error)}`,
      );
    },
  },
  {
    id: 'code.redirect-uri',
    clause: "RFC 6749 §4.1.3 (redirect_uri identical to the authorization request's); OAuth 2.1 §4.1.3",
    level: 'MUST',
    title: 'a code redeemed with another redirect_uri is invalid_grant',
    async run(ctx) {
      const { code, verifier } = await ctx.signIn();
      const res = await ctx.form(
        'token',
        codeForm(ctx, code, verifier, { redirect_uri: `${ctx.fixture.publicClient.redirect_uri}/other` }),
      );
      assert(res.status === 400 && res.body.error === 'invalid_grant', `HTTP ${res.status} ${String(res.body.error)}`);
    },
  },
  {
    id: 'code.client-binding',
    clause: 'RFC 6749 §4.1.3 (the code was issued to the authenticated client); OAuth 2.1 §4.1.3',
    level: 'MUST',
    title: 'a code redeemed by another client (registered with the same redirect URI) is invalid_grant',
    needs: ['dcr'],
    async run(ctx) {
      const other = await registerClient(ctx, nativeClient(ctx));
      const { code, verifier } = await ctx.signIn();
      const res = await ctx.form('token', codeForm(ctx, code, verifier, { client_id: String(other.body.client_id) }));
      assert(res.status === 400 && res.body.error === 'invalid_grant', `HTTP ${res.status} ${String(res.body.error)}`);
    },
  },
  {
    id: 'code.reuse-revokes',
    clause: 'RFC 6749 §4.1.2 (a reused code SHOULD revoke what it issued); OAuth 2.1 §4.1.2; RFC 9700 §4.5',
    level: 'SHOULD',
    title: 'after a code is presented twice, the refresh token it gave no longer works',
    async run(ctx) {
      const { code, verifier } = await ctx.signIn();
      const form = codeForm(ctx, code, verifier);
      const first = await ctx.form('token', form);
      assert(first.status === 200 && first.body.refresh_token, `first redemption: HTTP ${first.status}`);
      assert((await ctx.form('token', form)).status === 400, 'the second redemption was not refused');
      const refresh = await ctx.form('token', {
        grant_type: 'refresh_token',
        refresh_token: String(first.body.refresh_token),
        client_id: ctx.fixture.publicClient.client_id,
        resource: ctx.fixture.resource,
      });
      assert(refresh.status === 400 && refresh.body.error === 'invalid_grant', `refresh: HTTP ${refresh.status}`);
    },
  },

  {
    id: 'authorization.iss-on-error',
    clause: 'RFC 9207 §2 (iss in error responses too); MCP authorization §Authorization Response Validation',
    level: 'SHOULD',
    title: 'an error sent back to the redirect URI carries iss equal to the issuer',
    async run(ctx) {
      const res = await ctx.authorize({ code_challenge: '' });
      assert(res.error, `no error redirect (HTTP ${res.status})`);
      assert(
        new URL(res.location).searchParams.get('iss') === ctx.issuer,
        `iss missing or wrong: ${res.location.slice(0, 160)}`,
      );
    },
  },
  {
    id: 'consent.no-framing',
    clause:
      'MCP authorization §Confused Deputy (consent UI protected against clickjacking: frame-ancestors, X-Frame-Options)',
    level: 'MUST',
    title: 'every sign-in and consent page forbids framing',
    async run(ctx) {
      const pages: { url: string; headers: Headers }[] = [];
      await ctx.signIn({}, { onPage: (page) => pages.push(page) });
      assert(pages.length > 0, 'no page was shown');
      for (const p of pages) {
        const csp = p.headers.get('content-security-policy') ?? '';
        assert(
          /frame-ancestors 'none'/.test(csp) || p.headers.get('x-frame-options')?.toUpperCase() === 'DENY',
          `${p.url.slice(0, 80)} may be framed`,
        );
      }
    },
  },
  {
    id: 'consent.redirect-host',
    clause:
      'MCP authorization §Client ID Metadata Documents / §Confused Deputy (the consent page names the client and the redirect URI host)',
    level: 'MUST',
    title: 'the consent page for a registered third-party client shows its name and its redirect URI host',
    needs: ['dcr'],
    async run(ctx) {
      const name = `Conformance third party ${randomUUID().slice(0, 8)}`;
      const reg = await registerClient(ctx, nativeClient(ctx, { client_name: name }));
      assert(reg.status === 201, `registration: HTTP ${reg.status}`);
      const pages: string[] = [];
      await ctx.signIn({ client_id: String(reg.body.client_id) }, { onPage: (page) => pages.push(page.html) });
      // what the user reads: the text, without markup (form actions) and without the issuer's own URLs
      const text = pages.map((html) => html.replace(/<[^>]*>/g, ' ').replaceAll(ctx.issuer, ''));
      const consent = text.find((t) => t.includes(name));
      assert(consent, 'no page named the client');
      assert(
        consent!.includes(new URL(ctx.fixture.publicClient.redirect_uri).hostname),
        'the consent page does not show the redirect URI host',
      );
    },
  },

  {
    id: 'authorization.no-307',
    clause: 'RFC 9700 §4.12 (no 307 redirect after the user posts credentials); OAuth 2.1 §7.5.3',
    level: 'MUST',
    title: 'no step of the sign-in redirects with 307 (which would re-post the password to the client)',
    async run(ctx) {
      const redirects: { from: string; status: number }[] = [];
      await ctx.signIn({}, { onRedirect: (r) => redirects.push(r) });
      assert(redirects.length > 0, 'no redirect was seen');
      const bad = redirects.find((r) => r.status === 307);
      assert(!bad, `307 from ${bad?.from.slice(0, 80) ?? ''}`);
    },
  },
];
