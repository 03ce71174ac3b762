/**
 * Patch: in development mode, an `http://` client id on a loopback host is a CIMD client id too.
 *
 * Checked against: oidc-provider 9.13.3.
 * Upstream: lib/models/client.js (`Client.find`, the model's static method every endpoint calls, sends only
 * an https id that `isValidClientIdUrl` accepts to CIMD resolution); lib/helpers/client_id_metadata_document.js
 * (`resolveClientByMetadataDocument(provider, id)`: allowFetch, the `fetch` hook, its cache and the document
 * checks, for any id it is given).
 * Serves: draft-ietf-oauth-client-id-metadata-document (MCP authorization 2026-07-28 client registration),
 * for local development without https; never in production mode (the caller's `accept` decides).
 * Test: client-id-urls.test.ts.
 */
import type Provider from 'oidc-provider';
import { resolveClientByMetadataDocument } from 'oidc-provider/lib/helpers/client_id_metadata_document.js';

/** `accept` decides which ids go to oidc-provider's own CIMD resolution; every other id takes the normal way. */
export function acceptClientIdUrls(provider: Provider, accept: (id: unknown) => boolean): void {
  const Client = provider.Client as unknown as { find(id: unknown): Promise<unknown> };
  const find = Client.find.bind(Client);
  Client.find = async (id) => (accept(id) ? resolveClientByMetadataDocument(provider, id as string) : find(id));
}
