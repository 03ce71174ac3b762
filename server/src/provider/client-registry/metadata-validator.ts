/**
 * oidc-provider's `extraClientMetadata.validator`, called for each of baton's properties of every client
 * (static, registered, fetched): baton_* properties are static-only, a dynamic client is an agent or an app,
 * and the metadata of dynamic clients is checked and normalized once per client (on `client_kind`).
 */
import { errors, type Configuration } from 'oidc-provider';
import { anyLoopbackPort, invalidRedirectUri } from '../internals.ts';
import type { ClientDeps } from './deps.ts';
import { ALLOWED_RESOURCES, ALLOWED_SCOPES, CLIENT_KIND, FIRST_PARTY } from './properties.ts';
import { fetchedUriProblem, isCimdClientId, isLoopbackHttpUri, notPrintable, redirectUriProblem } from './rules.ts';
import { isStaticClient } from './static-clients.ts';

type Validator = NonNullable<NonNullable<Configuration['extraClientMetadata']>['validator']>;
type Metadata = Record<string, unknown>;

const STATIC_ONLY = new Set([FIRST_PARTY, ALLOWED_RESOURCES, ALLOWED_SCOPES]);
const KINDS = new Set(['agent', 'mcp_server', 'service', 'app']);
const DYNAMIC_KINDS = new Set(['agent', 'app']);

const listOf = (value: unknown): unknown[] => (Array.isArray(value) ? (value as unknown[]) : []);

function checkKind(value: unknown, dynamic: boolean): void {
  const kinds = dynamic ? DYNAMIC_KINDS : KINDS;
  if (value !== undefined && (typeof value !== 'string' || !kinds.has(value))) {
    throw new errors.InvalidClientMetadata(`${CLIENT_KIND} must be one of ${[...kinds].join(', ')}`);
  }
}

/**
 * registered or fetched metadata is shown on consent pages and stored: printable text only (PostgreSQL
 * jsonb cannot hold U+0000 or an unpaired surrogate at all)
 */
function checkPrintable(md: Metadata): void {
  for (const [name, v] of Object.entries(md)) {
    if (notPrintable(v))
      throw new errors.InvalidClientMetadata(`${name} must not contain control characters or unpaired surrogates`);
  }
}

/**
 * client_credentials is for configured services: a client's own scopes (baton_scopes) are static-only, so a
 * registered client could only ever get invalid_scope, and open registration must not mint services.
 * Checked when registered or updated (RFC 7591 §3.2.2, RFC 7592 §2.2: ctx is the request) and for CIMD
 * documents; a stored registration from before this rule is not refused when loaded (it gets no scope).
 */
function checkGrantTypes(md: Metadata, checked: boolean): void {
  if (checked && Array.isArray(md.grant_types) && md.grant_types.includes('client_credentials')) {
    throw new errors.InvalidClientMetadata(
      'grant_types: client_credentials is only for clients configured in clients.static',
    );
  }
}

/** A redirect or post-logout redirect URI's problem (RFC 8252 §7), if any. */
const callbackUriProblem = (uri: unknown) => (typeof uri === 'string' ? redirectUriProblem(uri) : 'must be a string');

function checkUris(md: Metadata, allowPrivateNetwork: boolean): void {
  // RFC 7591 §3.2.2 invalid_redirect_uri, saying what is wrong
  for (const uri of listOf(md.redirect_uris)) {
    const problem = callbackUriProblem(uri);
    if (problem) throw invalidRedirectUri(String(uri), problem);
  }
  // OIDC RP-Initiated Logout §3.1: the same rules as redirect URIs
  for (const uri of listOf(md.post_logout_redirect_uris)) {
    const problem = callbackUriProblem(uri);
    if (problem) throw new errors.InvalidClientMetadata(`post_logout_redirect_uris: ${String(uri)}: ${problem}`);
  }
  // URIs baton fetches: checked now, not only at the first fetch (the SSRF guard would refuse it then)
  if (md.jwks_uri !== undefined) {
    const problem = fetchedUriProblem(md.jwks_uri, allowPrivateNetwork);
    if (problem) {
      const shown = typeof md.jwks_uri === 'string' ? md.jwks_uri : JSON.stringify(md.jwks_uri);
      throw new errors.InvalidClientMetadata(`jwks_uri: ${shown}: ${problem}`);
    }
  }
}

function normalize(md: Metadata, cimdId: boolean): void {
  // CIMD normalization: a document without a secret is a public client (draft-02 §4.1 forbids secrets)
  if (
    cimdId &&
    md.client_secret === undefined &&
    typeof md.token_endpoint_auth_method === 'string' &&
    md.token_endpoint_auth_method.startsWith('client_secret')
  ) {
    md.token_endpoint_auth_method = 'none';
  }
  // RFC 8252 §7.3: loopback redirects match on any port
  if (listOf(md.redirect_uris).some(isLoopbackHttpUri)) anyLoopbackPort(md);
}

export function metadataValidator(deps: ClientDeps): Validator {
  const { cimd } = deps.config.clients.registration;
  return (ctx, key, value, metadata) => {
    const md = metadata as Metadata;
    const dynamic = !isStaticClient(deps.policy(), md.client_id);
    if (STATIC_ONLY.has(key) && dynamic && value !== undefined) {
      throw new errors.InvalidClientMetadata(`${key} cannot be registered`);
    }
    if (key !== CLIENT_KIND) return;
    // runs once per client (every client has this property's validator called)
    checkKind(value, dynamic);
    if (!dynamic) return;
    checkPrintable(md);
    if (value === undefined) md[CLIENT_KIND] = 'agent';
    const cimdId = isCimdClientId(deps.config.mode, md.client_id);
    checkGrantTypes(md, ctx !== undefined || cimdId);
    checkUris(md, cimd.allow_private_network);
    normalize(md, cimdId);
  };
}
