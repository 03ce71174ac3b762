/** Scenarios: RFC 7591/7592 dynamic registration and client ID metadata documents. */
import { assert, type Scenario } from '../context.ts';

export const registration: Scenario[] = [
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
