/** Scenarios: RFC 7591/7592 dynamic registration and client ID metadata documents. */
import { decodeJwt } from 'jose';
import { assert, codeForm, nativeClient, registerClient, type Context, type Scenario } from '../context.ts';

/** A valid client ID metadata document for the URL it is served at, with `override` applied. */
function document(ctx: Context, override: Record<string, unknown> = {}) {
  return (url: string): Record<string, unknown> => ({
    client_id: url,
    client_name: 'Conformance CIMD agent',
    redirect_uris: [ctx.fixture.publicClient.redirect_uri],
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    ...override,
  });
}

/**
 * The control for a refusal: a valid document from the same host is accepted (the request goes on to the
 * sign-in), so a refusal that follows is about the document, not an unreachable or untrusted host.
 */
async function documentsReachable(ctx: Context): Promise<void> {
  const res = await ctx.authorize({ client_id: ctx.hostDocument(document(ctx)) });
  assert(
    (res.status === 302 || res.status === 303) && res.error === null,
    `a valid document is not accepted (HTTP ${res.status} → ${res.location.slice(0, 100)}): is the host trusted?`,
  );
}

export const registration: Scenario[] = [
  {
    id: 'dcr.redirect-uris',
    clause: 'RFC 7591 §2, §3.2.2 (invalid_redirect_uri); RFC 8252 §7; MCP authorization §Client Registration',
    level: 'MUST',
    title: 'a registration with a javascript: redirect URI is refused',
    needs: ['dcr'],
    async run(ctx) {
      const res = await registerClient(ctx, {
        redirect_uris: ['javascript:alert(1)'],
        token_endpoint_auth_method: 'none',
      });
      assert(
        res.status === 400 && /^invalid_(redirect_uri|client_metadata)$/.test(String(res.body.error)),
        `HTTP ${res.status} ${String(res.body.error)}`,
      );
    },
  },

  {
    id: 'dcr.management',
    clause: 'RFC 7592 §2 (read and delete with the registration access token; others refused)',
    level: 'MUST',
    title: 'a registered client is read and deleted with its registration access token, and not without it',
    needs: ['dcr'],
    async run(ctx) {
      const reg = await registerClient(ctx, nativeClient(ctx));
      const body = reg.body as { registration_client_uri?: string; registration_access_token?: string };
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

  {
    id: 'dcr.response',
    clause: 'RFC 7591 §3.2.1 (201, client_id, the registered metadata returned)',
    level: 'MUST',
    title: 'a registration answers 201 with a client_id and the metadata as registered',
    needs: ['dcr'],
    async run(ctx) {
      const redirect = ctx.fixture.publicClient.redirect_uri;
      const res = await registerClient(
        ctx,
        nativeClient(ctx, { client_name: 'Conformance agent', grant_types: ['authorization_code', 'refresh_token'] }),
      );
      assert(res.status === 201, `HTTP ${res.status} ${String(res.body.error)}`);
      assert(typeof res.body.client_id === 'string' && res.body.client_id, 'no client_id');
      assert(
        JSON.stringify(res.body.redirect_uris) === JSON.stringify([redirect]) &&
          res.body.client_name === 'Conformance agent' &&
          res.body.token_endpoint_auth_method === 'none',
        `metadata not returned as registered: ${JSON.stringify(res.body)}`,
      );
      assert(res.body.client_secret === undefined, 'a public client got a secret');
      assert(res.headers.get('cache-control') === 'no-store', 'the response may be cached');
    },
  },
  {
    id: 'dcr.confidential',
    clause: 'RFC 7591 §3.2.1 (client_secret, and client_secret_expires_at REQUIRED when a secret is issued)',
    level: 'MUST',
    title: 'a confidential registration answers a client_secret with client_secret_expires_at',
    needs: ['dcr'],
    async run(ctx) {
      const res = await registerClient(ctx, {
        redirect_uris: ['https://agent.example.com/callback'],
        token_endpoint_auth_method: 'client_secret_basic',
        application_type: 'web',
      });
      assert(res.status === 201, `HTTP ${res.status} ${String(res.body.error)}`);
      assert(typeof res.body.client_secret === 'string' && res.body.client_secret, 'no client_secret');
      assert(
        typeof res.body.client_secret_expires_at === 'number',
        `client_secret_expires_at is ${String(res.body.client_secret_expires_at)}`,
      );
    },
  },
  {
    id: 'dcr.invalid-metadata',
    clause: 'RFC 7591 §3.2.2 (invalid_client_metadata)',
    level: 'MUST',
    title: 'a registration with an unsupported token_endpoint_auth_method is invalid_client_metadata',
    needs: ['dcr'],
    async run(ctx) {
      const res = await registerClient(ctx, {
        redirect_uris: [ctx.fixture.publicClient.redirect_uri],
        token_endpoint_auth_method: 'conformance_unknown_method',
      });
      assert(
        res.status === 400 && res.body.error === 'invalid_client_metadata',
        `HTTP ${res.status} ${String(res.body.error)}`,
      );
    },
  },
  {
    id: 'dcr.redirect-https',
    clause:
      'MCP authorization §Communication Security (redirect URIs: localhost or HTTPS); OAuth 2.1 §2.3.1; RFC 9700 §4.1.1',
    level: 'MUST',
    title: 'a plain-http redirect URI on a non-loopback host is refused',
    needs: ['dcr'],
    async run(ctx) {
      for (const application_type of ['web', 'native']) {
        const res = await registerClient(ctx, {
          redirect_uris: ['http://agent.example.com/callback'],
          token_endpoint_auth_method: 'none',
          application_type,
        });
        assert(
          res.status === 400 && /^invalid_(redirect_uri|client_metadata)$/.test(String(res.body.error)),
          `${application_type}: HTTP ${res.status} ${String(res.body.error)}`,
        );
      }
    },
  },
  {
    id: 'dcr.update',
    clause: 'RFC 7592 §2.2 (update with the registration access token replaces the metadata)',
    level: 'MUST',
    title: 'a registered client updates its metadata with its registration access token',
    needs: ['dcr'],
    async run(ctx) {
      const metadata = nativeClient(ctx);
      const reg = await registerClient(ctx, metadata);
      assert(reg.status === 201, `registration: HTTP ${reg.status}`);
      const uri = String(reg.body.registration_client_uri);
      const put = (token: string) =>
        fetch(uri, {
          method: 'PUT',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          body: JSON.stringify({ ...metadata, client_id: reg.body.client_id, client_name: 'Renamed' }),
        });
      assert((await put('wrong-token')).status === 401, 'an update with a wrong token was not 401');
      const res = await put(String(reg.body.registration_access_token));
      const body = (await res.json()) as Record<string, unknown>;
      assert(res.status === 200 && body.client_name === 'Renamed', `update: HTTP ${res.status} ${String(body.error)}`);
    },
  },
  {
    id: 'cimd.https-only',
    clause:
      'draft-ietf-oauth-client-id-metadata-document §3 (the client_id is an https URL); MCP authorization §Client ID Metadata Documents',
    level: 'MUST',
    title: 'a URL client_id that is not https is refused without a redirect',
    async run(ctx) {
      const res = await ctx.authorize({ client_id: 'http://agent.example.com/client.json' });
      assert(res.status === 400 && res.location === '', `HTTP ${res.status} → ${res.location.slice(0, 120)}`);
    },
  },

  {
    id: 'cimd.sign-in',
    clause: 'draft-ietf-oauth-client-id-metadata-document §4, §5; MCP authorization §Client ID Metadata Documents',
    level: 'MUST',
    title: 'an https URL client_id whose document names it signs the user in and gets a token (as advertised)',
    needs: ['cimd'],
    async run(ctx) {
      const clientId = ctx.hostDocument(document(ctx));
      const { code, verifier } = await ctx.signIn({ client_id: clientId });
      const res = await ctx.form('token', codeForm(ctx, code, verifier, { client_id: clientId }));
      assert(res.status === 200, `HTTP ${res.status} ${String(res.body.error)}`);
      assert(decodeJwt(String(res.body.access_token)).client_id === clientId, 'the token names another client');
    },
  },
  {
    id: 'cimd.client-id-match',
    clause:
      'draft-ietf-oauth-client-id-metadata-document §4.1 (client_id in the document equals its URL); MCP authorization §Client ID Metadata Documents',
    level: 'MUST',
    title: 'a document that names another client_id is refused, and nothing is redirected',
    needs: ['cimd'],
    async run(ctx) {
      await documentsReachable(ctx);
      const clientId = ctx.hostDocument(document(ctx, { client_id: 'https://someone-else.example.com/client.json' }));
      const res = await ctx.authorize({ client_id: clientId });
      assert(res.status === 400 && res.location === '', `HTTP ${res.status} → ${res.location.slice(0, 120)}`);
    },
  },
  {
    id: 'cimd.redirect-uri',
    clause:
      'MCP authorization §Client ID Metadata Documents (redirect_uri validated against the document); OAuth 2.1 §4.1.2.1',
    level: 'MUST',
    title: 'a redirect_uri the document does not list is refused, and nothing is redirected',
    needs: ['cimd'],
    async run(ctx) {
      await documentsReachable(ctx);
      const clientId = ctx.hostDocument(document(ctx));
      const res = await ctx.authorize({ client_id: clientId, redirect_uri: 'http://127.0.0.1:1/elsewhere' });
      assert(res.status === 400 && res.location === '', `HTTP ${res.status} → ${res.location.slice(0, 120)}`);
    },
  },
  {
    id: 'cimd.document-rules',
    clause:
      'MCP authorization §Client ID Metadata Documents (JSON with client_id, client_name, redirect_uris); draft-ietf-oauth-client-id-metadata-document §4.1 (no client_secret)',
    level: 'MUST',
    title: 'a document that is not JSON, lacks redirect_uris, or carries a client_secret is refused',
    needs: ['cimd'],
    async run(ctx) {
      await documentsReachable(ctx);
      const cases: [string, Parameters<typeof ctx.hostDocument>[0]][] = [
        ['not JSON', '<html>a client</html>'],
        ['no redirect_uris', (url) => ({ ...document(ctx)(url), redirect_uris: undefined })],
        ['a client_secret', (url) => ({ ...document(ctx)(url), client_secret: 'leaked-secret-0123456789abcdef' })],
      ];
      for (const [what, doc] of cases) {
        const res = await ctx.authorize({ client_id: ctx.hostDocument(doc) });
        assert(
          res.status === 400 && res.location === '',
          `${what}: HTTP ${res.status} → ${res.location.slice(0, 100)}`,
        );
      }
    },
  },
];
