/**
 * The label values of baton's metrics: each from a fixed set (routes, methods, grant types, OAuth error
 * codes, storage models), never from request input, so no request can grow the number of series.
 */
import { MODELS } from '../../../../adapters/src/models.ts';

const FIXED_ROUTES = new Set([
  '/token',
  '/token/introspection',
  '/token/revocation',
  '/auth',
  '/jwks',
  '/reg',
  '/me',
  '/request',
  '/session/end',
  '/.well-known/oauth-authorization-server',
  '/.well-known/openid-configuration',
  '/healthz',
  '/readyz',
]);
/** parametrised routes: the first path segments name them */
const PREFIXED_ROUTES: [string, string][] = [
  ['/interaction/callback/', '/interaction/callback/:idp'],
  ['/interaction/', '/interaction/:uid'],
  ['/auth/', '/auth/:uid'],
  ['/reg/', '/reg/:client_id'],
  ['/session/end/', '/session/end/:step'],
];
export const METHODS = new Set(['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'HEAD']);
export const GRANT_TYPES = new Set([
  'authorization_code',
  'refresh_token',
  'client_credentials',
  'urn:ietf:params:oauth:grant-type:token-exchange',
  'urn:ietf:params:oauth:grant-type:jwt-bearer',
]);
/** RFC 6749 §5.2, RFC 8693 §2.2.2, RFC 8707 §2, RFC 9449 §5 */
export const ERRORS = new Set([
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
  'invalid_target',
  'invalid_dpop_proof',
  'use_dpop_nonce',
  'server_error',
]);
export const BATON_MODELS = new Set<string>([
  ...MODELS,
  'UpstreamLogin',
  'IdJagReplay',
  'RevokedToken',
  'AdminConsoleLogin',
  'AdminConsoleSession',
  'ConnectLogin',
]);

/** The value when the set holds it, else 'other'. */
export const oneOf = (set: ReadonlySet<string>, value: unknown): string =>
  typeof value === 'string' && set.has(value) ? value : 'other';

/** The route label of a request path, under the issuer's path (`issuerPath`, '/' for none); else 'other'. */
export function routeOf(issuerPath: string, path: string): string {
  const prefix = issuerPath === '/' ? '' : issuerPath;
  const p = prefix && path.startsWith(prefix) ? path.slice(prefix.length) || '/' : path;
  if (FIXED_ROUTES.has(p)) return p;
  return PREFIXED_ROUTES.find(([start]) => p.startsWith(start))?.[1] ?? 'other';
}
