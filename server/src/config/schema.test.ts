/**
 * The schema's cross-checks (what names what, what only development may hold, per-IdP and per-client rules)
 * and the helpers of load.ts that load.test.ts does not reach: each refusal names its key path.
 */
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEV_XAA_KEY, DEV_XAA_THUMBPRINT } from './dev-xaa-key.ts';
import { closest, configPathFrom, ConfigError, DEFAULT_CONFIG_PATH, loadConfigFile, parseConfig } from './load.ts';
import { isLoopbackHost } from './schema.ts';
import { tempDir } from '../../test/temp.ts';

const KEK = 'n9pD4dc8S0bqgS8lHsvCq0l3b3B0e1m3uWJm3tO0lQ4';
const SECRET = 'a-client-secret-0123456789abcdefghij';
const R = 'https://r.example.com';
const base = { issuer: 'https://auth.example.com', keys: { encryption_key: KEK } };
/** JSON is YAML: a configuration object, parsed as the file would be */
const parse = (config: Record<string, unknown>) =>
  parseConfig(JSON.stringify({ ...base, ...config }), { env: {}, source: 'baton.yaml' });
const problem = (config: Record<string, unknown>) => {
  try {
    parse(config);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
};
const CLAIM_NAME = 'must be a claim name: 1-255 characters, no spaces or control characters';
const only = (line: string) => `invalid configuration in baton.yaml:\n  ${line}`;
const oidc = (extra: Record<string, unknown>) => ({
  identity_providers: [{ id: 'corp', type: 'oidc', issuer: 'https://idp.example.com', client_id: 'baton', ...extra }],
});
const service = (extra: Record<string, unknown> = {}) => ({
  client_id: 'svc',
  kind: 'service',
  client_secret: SECRET,
  ...extra,
});

describe('config cross-checks: what a key names must exist', () => {
  it.each([
    [
      'a resource listed twice',
      {
        resources: [
          { uri: R, name: 'A' },
          { uri: R, name: 'B' },
        ],
      },
      'resources[1].uri: is listed twice',
    ],
    [
      'a static client listed twice',
      { clients: { static: [service(), service()] } },
      'clients.static[1].client_id: is listed twice',
    ],
    [
      'an identity provider listed twice',
      {
        identity_providers: [
          { id: 'l', type: 'local' },
          { id: 'l', type: 'local' },
        ],
      },
      'identity_providers[1].id: is listed twice',
    ],
    [
      'a local user listed twice',
      {
        identity_providers: [
          {
            id: 'l',
            type: 'local',
            users: [
              { username: 'alice', password_hash: 'scrypt$x' },
              { username: 'alice', password_hash: 'scrypt$y' },
            ],
          },
        ],
      },
      'identity_providers[0].users[1].username: is listed twice',
    ],
    [
      "a resource at baton's own audit API",
      { resources: [{ uri: 'https://auth.example.com/audit', name: 'Mine' }] },
      'resources[0].uri: is an API baton itself serves under its issuer (its audit or admin API): choose another URI',
    ],
    [
      "a static client that takes the admin console's id",
      { clients: { static: [{ client_id: 'baton-admin-console', kind: 'app', public: true }] } },
      "clients.static[0].client_id: is the admin console's own client id, built in: choose another",
    ],
    [
      'a delegation actor that is not a static client',
      { resources: [{ uri: R, name: 'R' }], delegation: [{ actor: 'ghost', targets: [R], scopes: ['x'] }] },
      'delegation[0].actor: names client ghost, which is not in clients.static',
    ],
    [
      'a delegation target that is not a resource',
      { clients: { static: [service()] }, delegation: [{ actor: 'svc', targets: [R], scopes: ['x'] }] },
      `delegation[0].targets[0]: names ${R}, which is not in resources`,
    ],
    [
      'an identity chaining client that is not a static client',
      { identity_chaining: [{ audience: 'https://as.example.com', clients: ['ghost'] }] },
      'identity_chaining[0].clients[0]: names client ghost, which is not in clients.static',
    ],
    [
      "a resource's client_id that is not a static client",
      { resources: [{ uri: R, name: 'R', client_id: 'ghost' }] },
      'resources[0].client_id: names client ghost, which is not in clients.static',
    ],
    [
      'initial_access_token mode without the token',
      { clients: { registration: { dcr: { mode: 'initial_access_token' } } } },
      'clients.registration.dcr.initial_access_token: is required with mode initial_access_token',
    ],
  ])('%s', (_what, config, line) => {
    expect(problem(config)).toBe(only(line));
  });

  it('a configuration whose names all resolve is accepted', () => {
    const c = parse({
      resources: [{ uri: R, name: 'R', scopes: ['r.read'], client_id: 'mcp' }],
      clients: {
        static: [service(), { client_id: 'mcp', kind: 'mcp_server', client_secret: SECRET }],
        registration: { dcr: { mode: 'initial_access_token', initial_access_token: SECRET } },
      },
      delegation: [{ actor: 'mcp', targets: [R], scopes: ['r.read'] }],
      identity_chaining: [{ audience: 'https://as.example.com', clients: ['svc'] }],
    });
    expect(c.delegation[0]).toMatchObject({ actor: 'mcp', max_chain: 3, impersonation: false, workloads: [] });
    expect(c.identity_chaining[0]).toMatchObject({ scopes: [], lifetime_seconds: 300 });
  });

  it('every problem is named in one message, one line each', () => {
    expect(
      problem({
        resources: [{ uri: R, name: 'R', client_id: 'ghost' }],
        identity_chaining: [{ audience: 'https://as.example.com', clients: ['nobody'] }],
      }),
    ).toBe(
      'invalid configuration in baton.yaml:\n' +
        '  identity_chaining[0].clients[0]: names client nobody, which is not in clients.static\n' +
        '  resources[0].client_id: names client ghost, which is not in clients.static',
    );
  });
});

describe('config cross-checks: development-only settings', () => {
  const devKeyIdp = oidc({ sign_in: false, client_id: undefined, jwks: { keys: [{ ...DEV_XAA_KEY, kid: 'dev' }] } });
  const provisioned = oidc({ users: [{ subject: 'alice', groups: ['developers'] }] });
  const privateNetwork = { clients: { registration: { cimd: { allow_private_network: true } } } };

  it.each([
    [
      'the development XAA key',
      devKeyIdp,
      `identity_providers[0].jwks.keys[0]: is the development XAA issuer's key (RFC 7638 thumbprint ${DEV_XAA_THUMBPRINT}), whose private key ships in the repository: only with mode: development`,
    ],
    [
      'accounts listed for an OIDC IdP',
      provisioned,
      'identity_providers[0].users: is a development setting (mode: development); provision accounts with baton accounts add or import',
    ],
    [
      'CIMD fetches from the private network',
      privateNetwork,
      'clients.registration.cimd.allow_private_network: is a development setting (mode: development)',
    ],
  ])('%s: refused in production', (_what, config, line) => {
    expect(problem(config)).toBe(only(line));
  });

  it('all three are accepted in development mode, where no KEK is required either', () => {
    for (const config of [devKeyIdp, provisioned, privateNetwork]) {
      const c = parseConfig(JSON.stringify({ issuer: 'http://127.0.0.1:9400', mode: 'development', ...config }), {
        env: {},
      });
      expect(c.mode).toBe('development');
      expect(c.keys.encryption_key).toBeUndefined();
    }
  });

  it('an OIDC subject listed twice is refused', () => {
    const twice = oidc({ users: [{ subject: 'alice' }, { subject: 'alice' }] });
    const text = JSON.stringify({ issuer: 'http://127.0.0.1:9400', mode: 'development', ...twice });
    expect(() => parseConfig(text, { env: {}, source: 'baton.yaml' })).toThrow(
      only('identity_providers[0].users[1].subject: is listed twice'),
    );
  });
});

describe('config cross-checks: an OIDC identity provider', () => {
  it.each([
    ['scopes without openid', oidc({ scopes: ['email'] }), 'identity_providers[0].scopes: must include openid'],
    [
      'a sign-in IdP without client_id',
      oidc({ client_id: undefined }),
      'identity_providers[0].client_id: is required unless sign_in is false',
    ],
    [
      'a trust-only IdP with neither client_id nor keys',
      oidc({ client_id: undefined, sign_in: false }),
      'identity_providers[0].jwks: or jwks_uri is required without a client_id (reading the discovery document needs one)',
    ],
    [
      'email routing on a trust-only IdP',
      oidc({ sign_in: false, email_domains: ['example.com'] }),
      'identity_providers[0].email_domains: has no effect with sign_in: false',
    ],
    [
      'both jwks and jwks_uri',
      oidc({ jwks_uri: 'https://idp.example.com/keys', jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'a', y: 'b' }] } }),
      'identity_providers[0].jwks: set either jwks or jwks_uri, not both',
    ],
    [
      'a private key member in jwks',
      oidc({ jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'a', y: 'b', d: 'secret' }] } }),
      'identity_providers[0].jwks.keys[0].d: is a private key member: give only public keys',
    ],
    [
      'a symmetric key in jwks',
      oidc({ jwks: { keys: [{ kty: 'RSA', n: 'a', e: 'AQAB', k: 'secret' }] } }),
      'identity_providers[0].jwks.keys[0].k: is a private key member: give only public keys',
    ],
    [
      'jwks text that is not JSON',
      oidc({ jwks: 'not json' }),
      'identity_providers[0].jwks: must be a JWKS: an object with keys, or file:PATH to a JSON JWKS',
    ],
    [
      'an uppercase email domain',
      oidc({ email_domains: ['Example.com'] }),
      'identity_providers[0].email_domains[0]: must be a lowercase domain',
    ],
    [
      'back-channel logout without a client_id (the logout token is addressed to it)',
      oidc({
        sign_in: false,
        client_id: undefined,
        jwks_uri: 'https://idp.example.com/keys',
        back_channel_logout: 'sessions',
      }),
      'identity_providers[0].client_id: is required with back_channel_logout',
    ],
    [
      'an unknown back-channel logout mode',
      oidc({ back_channel_logout: 'all' }),
      'identity_providers[0].back_channel_logout: Invalid option: expected one of "off"|"sessions"|"everything"',
    ],
    ['an empty subject_claim', oidc({ subject_claim: '' }), `identity_providers[0].subject_claim: ${CLAIM_NAME}`],
    [
      'a subject_claim with a space',
      oidc({ subject_claim: 'object id' }),
      `identity_providers[0].subject_claim: ${CLAIM_NAME}`,
    ],
    [
      'a subject_claim that is not a string',
      oidc({ subject_claim: ['oid'] }),
      'identity_providers[0].subject_claim: Invalid input: expected string, received array',
    ],
    [
      'a subject_claim naming a claim about the token',
      oidc({ subject_claim: 'aud' }),
      'identity_providers[0].subject_claim: names a claim about the token, not about the person',
    ],
  ])('%s', (_what, config, line) => {
    expect(problem(config)).toBe(only(line));
  });

  it('subject_claim is sub unless set, and a claim name such as oid is kept as written', () => {
    expect(parse(oidc({})).identity_providers[0]).toMatchObject({ subject_claim: 'sub' });
    expect(parse(oidc({ subject_claim: 'oid' })).identity_providers[0]).toMatchObject({ subject_claim: 'oid' });
    const uri = 'https://idp.example.com/claims/employee.id';
    expect(parse(oidc({ subject_claim: uri })).identity_providers[0]).toMatchObject({ subject_claim: uri });
  });

  it('jwks given as file:PATH is read as a JSON JWKS', () => {
    const dir = tempDir('schema');
    const jwks = { keys: [{ kty: 'EC', crv: 'P-256', x: 'a', y: 'b', kid: 'k1' }] };
    writeFileSync(join(dir, 'jwks.json'), JSON.stringify(jwks));
    writeFileSync(
      join(dir, 'baton.yaml'),
      JSON.stringify({ ...base, ...oidc({ sign_in: false, client_id: undefined, jwks: 'file:jwks.json' }) }),
    );
    const c = loadConfigFile(join(dir, 'baton.yaml'), {});
    expect(c.identity_providers[0]).toMatchObject({ sign_in: false, jwks });
  });
});

describe('config cross-checks: a static client', () => {
  it.each([
    [
      'private_key_jwt without jwks_uri',
      service({ auth: 'private_key_jwt', client_secret: undefined }),
      'clients.static[0].jwks_uri: is required with auth private_key_jwt',
    ],
    [
      'auth none with a secret',
      service({ kind: 'agent', auth: 'none' }),
      'clients.static[0].client_secret: must not be set for a public client',
    ],
    [
      'a short secret',
      service({ client_secret: 'short' }),
      'clients.static[0].client_secret: must be at least 32 characters',
    ],
    [
      'client_secret_post without a secret',
      service({ auth: 'client_secret_post', client_secret: undefined }),
      'clients.static[0].client_secret: is required with auth client_secret_post',
    ],
    [
      'an id with a space',
      service({ client_id: 'my svc' }),
      'clients.static[0].client_id: must be 1-128 of A-Z a-z 0-9 . _ : -',
    ],
  ])('%s', (_what, client, line) => {
    expect(problem({ clients: { static: [client] } })).toBe(only(line));
  });

  it('defaults: a secret client authenticates with client_secret_basic; no DPoP, no first-party', () => {
    const c = parse({ clients: { static: [service()] } });
    expect(c.clients.static[0]).toEqual({
      ...service(),
      public: false,
      first_party: false,
      dpop_bound_access_tokens: false,
      redirect_uris: [],
      scopes: [],
    });
  });
});

describe('config values', () => {
  it.each([
    ['an issuer ending with a slash', { issuer: 'https://auth.example.com/' }, 'issuer: must not end with a slash'],
    ['an issuer that is not a URL', { issuer: 'auth.example.com' }, 'issuer: must be an absolute URL'],
    [
      'a resource that is not an absolute URI',
      { resources: [{ uri: 'logs', name: 'Logs' }] },
      'resources[0].uri: must be an absolute URI (RFC 8707 §2)',
    ],
    [
      'a scope with a space',
      { roles: { dev: ['logs read'] } },
      'roles.dev[0]: is not a valid scope token (RFC 6749 §3.3)',
    ],
    [
      'a scope with a quote',
      { resources: [{ uri: R, name: 'R', scopes: ['a"b'] }] },
      'resources[0].scopes[0]: is not a valid scope token (RFC 6749 §3.3)',
    ],
    [
      'a previous KEK that is not one',
      { keys: { encryption_key: KEK, previous_encryption_keys: ['old'] } },
      'keys.previous_encryption_keys[0]: must be 32 random bytes, base64url without padding (baton keys generate-kek)',
    ],
  ])('%s', (_what, config, line) => {
    expect(problem(config)).toBe(only(line));
  });

  it('http issuers on loopback hosts are accepted', () => {
    for (const issuer of ['http://127.0.0.1:9400', 'http://localhost:9400', 'http://[::1]:9400', 'http://127.1.2.3']) {
      expect(parse({ issuer }).issuer).toBe(issuer);
    }
  });

  it('loopback hosts are 127.0.0.0/8, localhost and [::1]', () => {
    for (const host of ['127.0.0.1', '127.255.0.9', 'localhost', '[::1]']) expect(isLoopbackHost(host)).toBe(true);
    for (const host of ['127.0.0.1.example.com', '128.0.0.1', 'localhost.example.com', '::1', '0.0.0.0'])
      expect(isLoopbackHost(host)).toBe(false);
  });

  it('the loaded configuration is frozen all the way down', () => {
    const c = parse({ resources: [{ uri: R, name: 'R', scopes: ['r.read'] }], clients: { static: [service()] } });
    expect(Object.isFrozen(c.resources)).toBe(true);
    expect(Object.isFrozen(c.resources[0])).toBe(true);
    expect(Object.isFrozen(c.resources[0]!.scopes)).toBe(true);
    expect(Object.isFrozen(c.clients.static[0])).toBe(true);
    expect(() => c.resources[0]!.scopes.push('x')).toThrow(TypeError);
  });
});

describe('load.ts helpers', () => {
  it('the config file: --config, else BATON_CONFIG, else config/development.yaml; always absolute', () => {
    expect(configPathFrom('a.yaml', { BATON_CONFIG: '/etc/baton.yaml' })).toBe(resolve('a.yaml'));
    expect(configPathFrom(undefined, { BATON_CONFIG: '/etc/baton.yaml' })).toBe('/etc/baton.yaml');
    expect(configPathFrom(undefined, { BATON_CONFIG: 'rel.yaml' })).toBe(resolve('rel.yaml'));
    expect(configPathFrom(undefined, {})).toBe(DEFAULT_CONFIG_PATH);
    expect(DEFAULT_CONFIG_PATH.endsWith('/config/development.yaml')).toBe(true);
  });

  it('closest: the nearest known key within a third of its length, case-insensitive', () => {
    expect(closest('postgress', ['postgres', 'redis'])).toBe('postgres');
    expect(closest('Issuer', ['issuer', 'listen'])).toBe('issuer');
    expect(closest('prt', ['port', 'host'])).toBe('port');
    expect(closest('xyz', ['postgres', 'redis'])).toBeUndefined();
    expect(closest('anything', [])).toBeUndefined();
  });
});
