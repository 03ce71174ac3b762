/**
 * buildProviderConfig is pure: the oidc-provider configuration baton derives from its own, checked here with
 * stub dependencies (no provider, no storage, no server).
 */
import { errors, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import { describe, expect, it } from 'vitest';
import type { Adapter } from '../../../adapters/src/models.ts';
import { configSchema, type Config } from '../config/schema.ts';
import { ID_JAG_PROFILE, ID_JAG_TOKEN_TYPE } from '../consts.ts';
import { Policy } from '../policy/policy.ts';
import type { AccountAccess } from './accounts.ts';
import type { ClientRegistry } from './client-registry/index.ts';
import { buildProviderConfig, type ProviderDeps } from './configuration.ts';

const COST = 'https://cost.example.com';
const LOGS = 'https://logs.example.com/mcp';
const SECRET = 'a-service-secret-0123456789abcdefghij';

function configWith(overrides: Record<string, unknown> = {}): Config {
  return configSchema.parse({
    issuer: 'http://127.0.0.1:9400',
    mode: 'development',
    resources: [
      { uri: COST, name: 'Cost', scopes: ['cost.read', 'cost.write'] },
      { uri: LOGS, name: 'Logs', scopes: ['logs.read'], access_token_ttl: 120 },
    ],
    clients: {
      static: [
        {
          client_id: 'svc',
          kind: 'service',
          client_secret: SECRET,
          grant_types: ['client_credentials'],
          resources: [COST],
          scopes: ['cost.read'],
        },
      ],
    },
    ...overrides,
  });
}

/** What buildProviderConfig reads of its dependencies, and records which adapter it was asked for. */
function stubDeps(config: Config) {
  const asked: string[] = [];
  const adapterFor = (model: string) => ({ model }) as unknown as Adapter;
  const clients = {
    clientAdapter: (stored: Adapter) => ({ wrapped: stored }) as unknown as Adapter,
    fetch: async () => new Response(),
    isFirstParty: () => false,
    validator: () => undefined,
    cimdFeature: { enabled: true },
    cimdProblem: () => undefined,
  } as unknown as ClientRegistry;
  const grants = {
    findAccount: async () => undefined,
    loadExistingGrant: async () => undefined,
    userClaims: async () => ({}),
    allowedScopes: () => [],
  } as unknown as AccountAccess;
  const policy = new Policy(config);
  const deps = {
    clients,
    adapterFor: (model: string) => {
      asked.push(model);
      return adapterFor(model);
    },
    jwks: [],
    cookieKeys: ['k'],
    policy: () => policy,
    grants,
    base: '',
    accounts: {},
    idps: {},
    db: {},
  } as unknown as ProviderDeps;
  return { deps, asked };
}

const build = (config: Config) => buildProviderConfig(config, stubDeps(config).deps);
type Features = NonNullable<Configuration['features']>;
type ResourceIndicators = Required<NonNullable<Features['resourceIndicators']>>;
const resourceIndicatorsOf = (config: Config) => build(config).features!.resourceIndicators as ResourceIndicators;
/** a request context as oidc-provider passes it to resourceIndicators' helpers: only the parameters are read */
const ctxFor = (params: Record<string, unknown>) => ({ oidc: { params } }) as unknown as KoaContextWithOIDC;
const client = (clientId: string, metadata: Record<string, unknown> = {}) =>
  ({ clientId, ...metadata }) as unknown as Parameters<ResourceIndicators['getResourceServerInfo']>[2];
const rejection = async (result: unknown) => {
  const err = await Promise.resolve(result).then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof errors.OIDCProviderError)) throw new Error(`expected an OIDCProviderError, got ${String(err)}`);
  return { error: err.error, status: err.status, description: err.error_description, detail: err.error_detail };
};

describe('buildProviderConfig: OAuth 2.1 defaults', () => {
  it('PKCE is required for every client, confidential ones too, with no method option (9.x: S256 only)', () => {
    const pkce = build(configWith()).pkce!;
    expect(Object.keys(pkce)).toEqual(['required']);
    const required = pkce.required as (ctx: unknown, client: unknown) => boolean;
    expect(required({}, { clientAuthMethod: 'client_secret_basic' })).toBe(true);
    expect(required({}, { clientAuthMethod: 'none' })).toBe(true);
  });

  it('refresh tokens rotate on every use, and are issued only to clients allowed the refresh_token grant', async () => {
    const cfg = build(configWith());
    expect(cfg.rotateRefreshToken).toBe(true);
    const issue = cfg.issueRefreshToken as (ctx: unknown, client: unknown) => Promise<boolean>;
    const allowing = (grants: string[]) => ({ grantTypeAllowed: (g: string) => grants.includes(g) });
    expect(await issue({}, allowing(['authorization_code', 'refresh_token']))).toBe(true);
    expect(await issue({}, allowing(['authorization_code']))).toBe(false);
  });

  it('only the code response type, the openid and offline_access scopes, sub in openid', () => {
    const cfg = build(configWith());
    expect(cfg.responseTypes).toEqual(['code']);
    expect(cfg.scopes).toEqual(['openid', 'offline_access']);
    expect(cfg.claims).toEqual({ openid: ['sub'] });
    expect(cfg.clientDefaults).toEqual({
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'ES256',
    });
  });

  it('the signing algorithm of the configuration signs ID tokens and userinfo; client assertions are asymmetric', () => {
    const cfg = build(configWith({ keys: { algorithm: 'EdDSA' } }));
    expect(cfg.enabledJWA).toEqual({
      idTokenSigningAlgValues: ['EdDSA'],
      userinfoSigningAlgValues: ['EdDSA'],
      clientAuthSigningAlgValues: ['ES256', 'ES384', 'EdDSA', 'Ed25519', 'PS256', 'RS256'],
    });
    expect(cfg.clientDefaults!.id_token_signed_response_alg).toBe('EdDSA');
  });

  it('maps the lifetimes of tokens: from the configuration', () => {
    const cfg = build(
      configWith({
        tokens: {
          access_token_ttl: 111,
          refresh_token_ttl: 2222,
          authorization_code_ttl: 33,
          session_ttl: 4444,
          interaction_ttl: 555,
        },
      }),
    );
    expect(cfg.ttl).toEqual({
      AccessToken: 111,
      ClientCredentials: 111,
      AuthorizationCode: 33,
      IdToken: 111,
      RefreshToken: 2222,
      Session: 4444,
      Grant: 2222,
      Interaction: 555,
      DeviceCode: 600,
      BackchannelAuthenticationRequest: 600,
    });
  });

  it("baton's client metadata is declared; the Client model's adapter is the registry's, the others storage's", () => {
    const config = configWith();
    const { deps, asked } = stubDeps(config);
    const cfg = buildProviderConfig(config, deps);
    expect(cfg.extraClientMetadata!.properties).toEqual([
      'client_kind',
      'baton_first_party',
      'baton_resources',
      'baton_scopes',
    ]);
    const adapter = cfg.adapter as (name: string) => unknown;
    expect(adapter('Client')).toEqual({ wrapped: { model: 'Client' } });
    expect(adapter('Grant')).toEqual({ model: 'Grant' });
    expect(asked).toEqual(['Client', 'Grant']);
  });

  it('CORS for a client: only the origins of its redirect URIs', () => {
    const cors = build(configWith()).clientBasedCORS as (ctx: unknown, origin: string, client: unknown) => boolean;
    const app = { redirectUris: ['https://app.example.com/cb', 'http://127.0.0.1:8080/cb'] };
    expect(cors({}, 'https://app.example.com', app)).toBe(true);
    expect(cors({}, 'http://127.0.0.1:8080', app)).toBe(true);
    expect(cors({}, 'https://evil.example.com', app)).toBe(false);
    expect(cors({}, 'http://127.0.0.1:8081', app)).toBe(false);
    expect(cors({}, 'https://app.example.com', {})).toBe(false);
  });
});

describe('buildProviderConfig: features', () => {
  it('the features baton uses are on, development interactions off', () => {
    const f = build(configWith()).features!;
    expect(f.devInteractions).toEqual({ enabled: false });
    expect(f.clientCredentials).toEqual({ enabled: true });
    expect(f.introspection!.enabled).toBe(true);
    expect(f.revocation!.enabled).toBe(true);
    expect(f.rpInitiatedLogout!.enabled).toBe(true);
    expect(f.resourceIndicators!.enabled).toBe(true);
    expect(f.clientIdMetadataDocument).toEqual({ enabled: true });
  });

  it('introspection and revocation (RFC 7662 §4, RFC 7009 §2.1): only for the client the token was issued to', async () => {
    const f = build(configWith()).features!;
    for (const allowed of [f.introspection!.allowedPolicy!, f.revocation!.allowedPolicy!]) {
      const check = allowed as (ctx: unknown, client: unknown, token: unknown) => Promise<boolean>;
      expect(await check({}, { clientId: 'a' }, { clientId: 'a' })).toBe(true);
      expect(await check({}, { clientId: 'b' }, { clientId: 'a' })).toBe(false);
    }
  });

  it.each([
    ['open', {}, { enabled: true, initialAccessToken: false }, true],
    [
      'initial_access_token',
      { initial_access_token: 'an-initial-access-token-0123456789abcdef' },
      { enabled: true, initialAccessToken: 'an-initial-access-token-0123456789abcdef' },
      true,
    ],
    ['off', {}, { enabled: false, initialAccessToken: false }, false],
  ])('DCR mode %s (RFC 7591, RFC 7592)', (mode, extra, registration, managed) => {
    const f = build(configWith({ clients: { registration: { dcr: { mode, ...extra } } } })).features!;
    expect(f.registration).toEqual(registration);
    expect(f.registrationManagement).toEqual({ enabled: managed, rotateRegistrationAccessToken: true });
  });

  it('discovery names the ID-JAG profile; identity chaining token types only when identity_chaining is configured', () => {
    const c = configWith();
    const aggregation = { status_list_aggregation_endpoint: `${c.issuer}/statuslists` };
    expect(build(c).discovery).toEqual({ authorization_grant_profiles_supported: [ID_JAG_PROFILE], ...aggregation });
    const chaining = configWith({
      identity_chaining: [{ audience: 'https://as.partner.example.com', clients: ['svc'] }],
    });
    expect(build(chaining).discovery).toEqual({
      authorization_grant_profiles_supported: [ID_JAG_PROFILE],
      identity_chaining_requested_token_types_supported: [ID_JAG_TOKEN_TYPE],
      ...aggregation,
    });
  });
});

describe('buildProviderConfig: resource indicators (RFC 8707, MCP token audience binding)', () => {
  it('client_credentials without a resource is invalid_target; other grants keep what they were given', async () => {
    const { defaultResource } = resourceIndicatorsOf(configWith());
    const svc = client('svc');
    expect(await rejection(defaultResource(ctxFor({ grant_type: 'client_credentials' }), svc))).toEqual({
      error: 'invalid_target',
      status: 400,
      description: 'the resource parameter is required',
      detail: 'no resource',
    });
    expect(await defaultResource(ctxFor({ grant_type: 'client_credentials' }), svc, [COST])).toEqual([COST]);
    expect(await defaultResource(ctxFor({ grant_type: 'authorization_code' }), svc)).toBeUndefined();
    expect(await resourceIndicatorsOf(configWith()).useGrantedResource(ctxFor({}), {} as never)).toBe(true);
  });

  it('an unknown resource is invalid_target, for every grant', async () => {
    const { getResourceServerInfo } = resourceIndicatorsOf(configWith());
    for (const grant_type of ['client_credentials', 'authorization_code', 'refresh_token']) {
      expect(
        await rejection(getResourceServerInfo(ctxFor({ grant_type }), 'https://unknown.example.com', client('svc'))),
      ).toEqual({
        error: 'invalid_target',
        status: 400,
        description: 'resource indicator is missing, or unknown',
        detail: 'unknown resource https://unknown.example.com',
      });
    }
  });

  it('a known resource the client is not allowed is invalid_target', async () => {
    const { getResourceServerInfo } = resourceIndicatorsOf(configWith());
    const svc = client('svc', { baton_resources: [COST], baton_scopes: ['cost.read'] });
    expect(await rejection(getResourceServerInfo(ctxFor({ grant_type: 'client_credentials' }), LOGS, svc))).toEqual({
      error: 'invalid_target',
      status: 400,
      description: 'resource indicator is missing, or unknown',
      detail: `client svc is not allowed resource ${LOGS}`,
    });
  });

  it('client_credentials on a known resource: a JWT for that audience with the scopes configured for the client', async () => {
    const { getResourceServerInfo } = resourceIndicatorsOf(configWith({ tokens: { access_token_ttl: 240 } }));
    const svc = client('svc', { baton_resources: [COST], baton_scopes: ['cost.read'] });
    expect(
      await getResourceServerInfo(ctxFor({ grant_type: 'client_credentials', scope: 'cost.read' }), COST, svc),
    ).toEqual({
      scope: 'cost.read',
      audience: COST,
      accessTokenTTL: 240,
      accessTokenFormat: 'jwt',
      jwt: { sign: { alg: 'ES256' } },
    });
    // asked for none: all of its configured scopes of the resource (RFC 6749 §3.3), and the request says so
    const ctx = ctxFor({ grant_type: 'client_credentials' });
    expect((await getResourceServerInfo(ctx, COST, svc)).scope).toBe('cost.read');
    expect(ctx.oidc.params!.scope).toBe('cost.read');
  });

  it("a resource's own access_token_ttl wins over the configuration's", async () => {
    const { getResourceServerInfo } = resourceIndicatorsOf(configWith());
    const any = client('svc', { baton_scopes: ['logs.read'] });
    const info = await getResourceServerInfo(ctxFor({ grant_type: 'client_credentials' }), LOGS, any);
    expect(info).toMatchObject({ audience: LOGS, scope: 'logs.read', accessTokenTTL: 120 });
  });

  it('client_credentials: asked-for scopes it may not have, or no configured scope of the resource, are invalid_scope', async () => {
    const { getResourceServerInfo } = resourceIndicatorsOf(configWith());
    const svc = client('svc', { baton_resources: [COST], baton_scopes: ['cost.read'] });
    expect(
      await rejection(
        getResourceServerInfo(ctxFor({ grant_type: 'client_credentials', scope: 'cost.write' }), COST, svc),
      ),
    ).toMatchObject({ error: 'invalid_scope', status: 400, description: 'requested scope is not allowed' });
    const bare = client('registered');
    expect(await rejection(getResourceServerInfo(ctxFor({ grant_type: 'client_credentials' }), COST, bare))).toEqual({
      error: 'invalid_scope',
      status: 400,
      description: 'no scope can be granted for this resource',
      detail: `client registered has no scope of ${COST} configured`,
    });
  });
});

describe('buildProviderConfig: client assertion lifetime (RFC 7523 §3)', () => {
  const check = (max: number, claims: Record<string, unknown>) => {
    const assert = build(configWith({ tokens: { client_assertion_max_lifetime_seconds: max } }))
      .assertJwtClientAuthClaimsAndHeader as (ctx: unknown, claims: unknown, header: unknown) => Promise<void>;
    return assert({}, claims, {});
  };
  const now = () => Math.floor(Date.now() / 1000);

  it('an assertion within the limit passes, with or without iat', async () => {
    await expect(check(300, { exp: now() + 60, iat: now() })).resolves.toBeUndefined();
    await expect(check(300, { exp: now() + 60 })).resolves.toBeUndefined();
  });

  it('no exp, an exp too far from now, or exp - iat over the limit: invalid_client', async () => {
    expect(await rejection(check(300, { iat: now() }))).toMatchObject({
      error: 'invalid_client',
      status: 401,
      detail: 'client_assertion has no exp',
    });
    expect(await rejection(check(300, { exp: now() + 3600 }))).toMatchObject({
      error: 'invalid_client',
      detail: expect.stringMatching(/^client_assertion expires in \d+s, more than 300s$/),
    });
    const iat = now() - 100;
    expect(await rejection(check(300, { iat, exp: iat + 301 }))).toMatchObject({
      error: 'invalid_client',
      detail: 'client_assertion lives 301s (exp - iat), more than 300s',
    });
  });
});
