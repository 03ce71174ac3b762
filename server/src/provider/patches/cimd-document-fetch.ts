/**
 * Reliance (no rewrite): how oidc-provider fetches a Client ID Metadata Document, which baton's `fetch` hook
 * (client-registry/cimd-document.ts) checks first so that each failure has its own reason on the error page.
 *
 * Checked against: oidc-provider 9.13.3.
 * Upstream: lib/helpers/client_id_metadata_document.js (fetchMetadataDocument: GET with `redirect: 'manual'`,
 * a redirect is a failure; parseCacheDuration reads `cache-control` max-age, then `expires`);
 * lib/helpers/defaults.js (`fetchResponseBodyLimits['client_id metadata document']` = 5 KiB, enforced by
 * lib/helpers/fetch_body_check.js). The only other `redirect: 'manual'` fetches are the backchannel ping
 * and logout POSTs (lib/models/client.js), features baton does not enable; client JWKS and sector
 * identifier fetches follow redirects.
 * Serves: draft-ietf-oauth-client-id-metadata-document §4 (the document and its fetch).
 * Test: cimd-document-fetch.test.ts.
 */

/** oidc-provider 9.13's limit for a CIMD document (fetchResponseBodyLimits default), checked by baton first. */
export const CIMD_DOCUMENT_LIMIT = 5 * 1024;

/** the response headers oidc-provider reads from a CIMD response (its cache lifetime) */
export const CIMD_CACHE_HEADERS: readonly string[] = ['cache-control', 'expires'];

/** Whether a fetch by oidc-provider is that of a metadata document (`redirect: 'manual'`). */
export const isCimdDocumentFetch = (options: RequestInit): boolean => options.redirect === 'manual';
