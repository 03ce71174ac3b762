/**
 * The oidc-provider models (9.13) and how baton stores them. See adapters/STORAGE.md.
 */

/** Every model name oidc-provider asks an adapter for. */
export const MODELS = [
  'Grant',
  'Session',
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'ClientCredentials',
  'Client',
  'InitialAccessToken',
  'RegistrationAccessToken',
  'DeviceCode',
  'Interaction',
  'ReplayDetection',
  'BackchannelAuthenticationRequest',
  'PreAuthorizedCode',
  'PushedAuthorizationRequest',
] as const;

/** Models whose `consume()` is called (9.13: grant_source.js, refresh_token.js, respond.js, …). */
export const CONSUMABLE: ReadonlySet<string> = new Set([
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PushedAuthorizationRequest',
  'PreAuthorizedCode',
  'UpstreamLogin', // baton's own: the server-side state of a sign-in at an upstream IdP (single use)
  'IdJagReplay', // baton's own: redeemed ID-JAG ids (iss, jti), single use until exp
  'AdminConsoleLogin', // baton's own: a sign-in to the admin console under way (single use)
  'ConnectLogin', // baton's own: a step of connecting a brokered upstream (issue #20; single use)
]);

/**
 * Durable models live in PostgreSQL even when Redis is configured: losing them logs users out of
 * every client (grants, refresh tokens) or forgets registered clients.
 */
export const DURABLE: ReadonlySet<string> = new Set([
  'Client',
  'Grant',
  'RefreshToken',
  'RegistrationAccessToken',
  'InitialAccessToken',
]);

/** The oidc-provider adapter contract (lib/helpers/initialize_adapter.js; every method async). */
export interface Adapter {
  upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void>;
  find(id: string): Promise<AdapterPayload | undefined>;
  findByUserCode(userCode: string): Promise<AdapterPayload | undefined>;
  findByUid(uid: string): Promise<AdapterPayload | undefined>;
  consume(id: string): Promise<void>;
  destroy(id: string): Promise<void>;
  revokeByGrantId(grantId: string): Promise<void>;
  /**
   * baton's own, not oidc-provider's: records `id` as used, consumed at once, unless a live entry already
   * has it. One round trip, atomic across every process: true for the single caller that got it. For
   * single-use identifiers that arrive from outside (an ID-JAG's jti), where upsert-then-consume would
   * take two.
   */
  claim(id: string, payload: AdapterPayload, expiresIn: number): Promise<boolean>;
}

export interface AdapterPayload {
  [key: string]: unknown;
  grantId?: string;
  userCode?: string;
  uid?: string;
  consumed?: unknown;
}

export function indexFields(payload: AdapterPayload): { grantId?: string; userCode?: string; uid?: string } {
  const str = (v: unknown) => (typeof v === 'string' && v.length > 0 ? v : undefined);
  return { grantId: str(payload.grantId), userCode: str(payload.userCode), uid: str(payload.uid) };
}

/**
 * The id a stored payload is kept under, as oidc-provider 9.13 writes its models: the payload's `jti`
 * (for a Session, lib/models/session.js: the session cookie's value, regenerated at each login by
 * `resetIdentifier` in lib/actions/authorization/resume.js, while its `uid` stays for the session's life,
 * `findByUid`). Undefined when the payload has none.
 */
export function payloadId(payload: Record<string, unknown> | undefined): string | undefined {
  return typeof payload?.jti === 'string' && payload.jti ? payload.jti : undefined;
}
