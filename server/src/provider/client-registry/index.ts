/**
 * Clients: static (from the configuration), registered (RFC 7591 DCR, managed by RFC 7592), and Client ID
 * Metadata Documents (CIMD, the MCP authorization 2026-07-28 default), behind one policy:
 *
 *   - the Client adapter serves static clients from the current configuration (so SIGHUP reloads them and a
 *     blocked id disappears at once), then registered ones from storage; URL ids fall through to CIMD;
 *   - a blocked client id (any kind) is unknown: invalid_client on its next request;
 *   - anonymous registrations and metadata documents can never claim first-party status, resources or
 *     scopes (baton_* metadata is for static clients only); their kind is agent or app;
 *   - redirect URIs of dynamic clients: https, http on loopback (any port, RFC 8252 §7.3), or a private-use
 *     scheme (RFC 8252 §7.1); never javascript:, data:, file:, fragments or wildcards;
 *   - CIMD fetches: allowed/denied host patterns, a per-host rate limit (shared through Redis), failures
 *     cached (briefly) with their reason, shown on the error page; the SSRF guard kept unless the
 *     development flag says otherwise; in development mode an http client id on loopback is accepted too;
 *   - URIs baton fetches (jwks_uri, request_uris) are checked at registration like the fetch would.
 *
 * The modules of this folder:
 *   - index.ts              `clientRegistry(deps)`: the parts below assembled for oidc-provider;
 *   - properties.ts         baton's own client metadata property names (client_kind, baton_*);
 *   - rules.ts              the pure rules: CIMD ids, host patterns, redirect and fetched URIs, failure reasons;
 *   - static-clients.ts     static clients as oidc-provider metadata, derived once per policy;
 *   - stored-clients.ts     the Client adapter: static, blocked, CIMD, then stored (secrets sealed), `touch`;
 *   - metadata-validator.ts the extraClientMetadata validator (kinds, static-only properties, URIs);
 *   - cimd.ts               the CIMD feature: fetch policy, rate limit, failure cache, error-page reason;
 *   - cimd-document.ts      a fetched metadata document checked, and `CimdFailure`;
 *   - outgoing-fetch.ts     oidc-provider's outgoing fetch through the SSRF-guarded dispatcher;
 *   - audit.ts              the audit records: client.registered (DCR, CIMD), cimd.refused;
 *   - deps.ts               `ClientDeps`, what the registry is built from.
 */
import type { ClientDeps } from './deps.ts';
import { registryAudit } from './audit.ts';
import { cimdClients } from './cimd.ts';
import { metadataValidator } from './metadata-validator.ts';
import { outgoingFetch } from './outgoing-fetch.ts';
import { FIRST_PARTY } from './properties.ts';
import { fetchedUriProblem, hostMatches, isCimdClientId, isDevelopmentLoopbackClientId } from './rules.ts';
import { storedClients } from './stored-clients.ts';

export type { ClientDeps } from './deps.ts';
export type { CimdProblem } from './cimd.ts';
export { CimdFailure } from './cimd-document.ts';
export { ALLOWED_RESOURCES, ALLOWED_SCOPES, CLIENT_KIND, FIRST_PARTY } from './properties.ts';
export {
  fetchedUriProblem,
  hostMatches,
  isDevelopmentLoopbackClientId,
  isUrlClientId,
  networkFailureReason,
  redirectUriProblem,
} from './rules.ts';
export { staticClientMetadata, staticMetadata } from './static-clients.ts';

export function clientRegistry(deps: ClientDeps) {
  const { cimd } = deps.config.clients.registration;
  const audit = registryAudit(deps.audit, deps.db);
  const { clientAdapter, touch } = storedClients(deps, audit);
  const urlClients = cimdClients(deps, audit);

  function isFirstParty(client: { clientId: string; [key: string]: unknown }): boolean {
    if (client[FIRST_PARTY] === true) return true;
    if (deps.config.clients.first_party.includes(client.clientId)) return true;
    return (
      isCimdClientId(deps.config.mode, client.clientId) &&
      hostMatches(new URL(client.clientId).host, cimd.first_party_hosts)
    );
  }

  return {
    clientAdapter,
    touch,
    isFirstParty,
    validator: metadataValidator(deps),
    cimdFeature: urlClients.feature,
    fetch: outgoingFetch(deps, urlClients.recordFailure, audit),
    cimdProblem: urlClients.problem,
    /** CIMD ids oidc-provider does not recognise itself (see patches/client-id-urls.ts) */
    isDevelopmentLoopbackClientId: (id: unknown) => cimd.enabled && isDevelopmentLoopbackClientId(deps.config.mode, id),
    fetchedUriProblem: (uri: unknown) => fetchedUriProblem(uri, cimd.allow_private_network),
  };
}

export type ClientRegistry = ReturnType<typeof clientRegistry>;
