/** Scenarios: RFC 8414 metadata, RFC 9207, the JWKS. */
import { assert, asMetadataUrl, type Scenario } from '../context.ts';

export const discovery: Scenario[] = [
  {
    id: 'discovery.metadata',
    clause: 'RFC 8414 §3, §3.1, §3.2; MCP authorization 2026-07-28 §Authorization Server Metadata Discovery',
    level: 'MUST',
    title: 'AS metadata at the RFC 8414 well-known URI (suffix before any issuer path), issuer identical',
    async run(ctx) {
      const res = await fetch(asMetadataUrl(ctx.issuer));
      assert(res.status === 200, `HTTP ${res.status}`);
      assert(/^application\/json/.test(res.headers.get('content-type') ?? ''), 'RFC 8414 §3.2: not application/json');
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
    id: 'discovery.endpoints-secure',
    clause: 'MCP authorization §Communication Security (every AS endpoint over HTTPS); OAuth 2.1 §1.5; RFC 8414 §2',
    level: 'MUST',
    title: "every endpoint in the metadata is https (or loopback http, for a local deployment) under the issuer's host",
    async run(ctx) {
      const issuer = new URL(ctx.issuer);
      const endpoints = Object.entries(ctx.metadata).filter(
        ([k, v]) => (k.endsWith('_endpoint') || k === 'jwks_uri') && typeof v === 'string',
      );
      assert(endpoints.length >= 3, 'too few endpoints advertised');
      for (const [k, v] of endpoints) {
        const u = new URL(String(v));
        const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(u.hostname);
        assert(u.protocol === 'https:' || (u.protocol === 'http:' && loopback), `${k} is ${String(v)}`);
        assert(u.host === issuer.host, `${k} is on another host: ${String(v)}`);
      }
    },
  },

  {
    id: 'discovery.oidc-pkce',
    clause:
      'MCP authorization §Authorization Code Protection (OIDC Discovery, when offered, MUST list code_challenge_methods_supported)',
    level: 'MUST',
    title: 'the OpenID configuration, when served, lists S256 in code_challenge_methods_supported',
    async run(ctx) {
      const res = await fetch(`${ctx.issuer}/.well-known/openid-configuration`);
      if (res.status === 404) return; // not offered: RFC 8414 metadata alone is enough
      const oidc = (await res.json()) as { code_challenge_methods_supported?: string[] };
      assert(oidc.code_challenge_methods_supported?.includes('S256'), 'S256 not listed in the OpenID configuration');
    },
  },
];
