import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfigFile, parseConfig } from './load.ts';
import { tempDir } from '../../test/temp.ts';

const KEK = 'n9pD4dc8S0bqgS8lHsvCq0l3b3B0e1m3uWJm3tO0lQ4';
const base = `issuer: https://auth.example.com\nkeys: { encryption_key: ${KEK} }\n`;
const fail = (text: string, env: Record<string, string> = {}) => {
  try {
    parseConfig(text, { env, source: 'baton.yaml' });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
};

describe('config', () => {
  it('applies defaults to a minimal production file', () => {
    const c = parseConfig(base, { env: {} });
    expect(c.mode).toBe('production');
    expect(c.keys.algorithm).toBe('ES256');
    expect(c.tokens.access_token_ttl).toBe(300);
    expect(c.storage).toMatchObject({ data_dir: '.baton-data', migrate_on_start: true, redis_key_prefix: 'baton:' });
    expect(c.listen).toEqual({ host: '127.0.0.1', port: 9400, trust_proxy: false });
    expect(Object.isFrozen(c.storage)).toBe(true);
  });

  it('parses the shape of README "Configuration" and docs/config.md: roles, bindings, resources, static clients', () => {
    const c = parseConfig(
      `${base}
roles:
  developer: [logs.read, analytics.query]
  sre: [logs.read, logs.debug.write, incidents.trigger]
identity_providers:
  - id: corp
    type: oidc
    issuer: https://corp.okta.com
    client_id: baton
    client_secret: s3cret
    email_domains: [example.com]
    groups_claim: groups
    accept_id_jag: true
  - id: local
    type: local
    users:
      - { username: alice, password_hash: "scrypt$10$8$1$pZrFuOrhiSquu3_NU6jJ_g$89UT67qr-qPFn0lnmYKokqt2QKnfkz6VLZmdv0bOpI4", groups: [developers], email: alice@example.com }
role_bindings:
  corp: { developers: [developer], oncall: [sre] }
  local: { developers: [developer] }
resources:
  - { uri: https://logs.mcp.example.com/mcp, name: Logs, scopes: [logs.read] }
clients:
  static:
    - { client_id: ide-agent, kind: agent, public: true, first_party: true, redirect_uris: ["http://127.0.0.1/callback"] }
`,
      { env: {} },
    );
    expect(c.roles.sre).toContain('incidents.trigger');
    expect(c.identity_providers.map((i) => i.id)).toEqual(['corp', 'local']);
    expect(c.identity_providers[0]).toMatchObject({ scopes: ['openid', 'email', 'profile'], sync_on_refresh: true });
    expect(c.clients.static[0]).toMatchObject({ client_id: 'ide-agent', public: true, first_party: true });
  });

  it('resolves env: and file: secret references', () => {
    const dir = tempDir('cfg');
    writeFileSync(join(dir, 'kek'), `${KEK}\n`);
    const file = join(dir, 'baton.yaml');
    writeFileSync(
      file,
      'issuer: https://auth.example.com\nkeys: { encryption_key: "file:kek" }\nstorage: { postgres: env:DB }\n',
    );
    const c = loadConfigFile(file, { DB: 'postgresql://u:p@db/baton' });
    expect(c.keys.encryption_key).toBe(KEK);
    expect(c.storage.postgres).toBe('postgresql://u:p@db/baton');
  });

  it.each([
    [
      'an unset env reference',
      `${base}storage: { postgres: env:NOPE }`,
      'baton.yaml: environment variable not set: NOPE (storage.postgres)',
    ],
    [
      'an unreadable file reference',
      `${base}storage: { postgres: "file:/nonexistent/x" }`,
      'baton.yaml: storage.postgres: cannot read file:/nonexistent/x (ENOENT)',
    ],
    ['an unknown key', `${base}storag: {}`, 'storag: unknown key'],
    ['a nested unknown key', `${base}storage: { postgress: x }`, 'storage.postgress: unknown key'],
    [
      'an issuer with a query',
      `issuer: https://a.example.com/?x=1\nkeys: { encryption_key: ${KEK} }`,
      'issuer: must not have a query or fragment (RFC 8414 §2)',
    ],
    [
      'an http issuer off loopback',
      `issuer: http://auth.example.com\nkeys: { encryption_key: ${KEK} }`,
      'issuer: must use https (http only on a loopback host)',
    ],
    [
      'production without a KEK',
      'issuer: https://auth.example.com',
      'keys.encryption_key: is required in production mode',
    ],
    [
      'a short KEK',
      'issuer: https://auth.example.com\nkeys: { encryption_key: abc }',
      'keys.encryption_key: must be 32 random bytes',
    ],
    ['redis without postgres', `${base}storage: { redis: redis://r }`, 'storage.redis: needs storage.postgres as well'],
    [
      'a resource with a fragment',
      `${base}resources: [{ uri: "https://r.example.com/#x", name: R }]`,
      'resources[0].uri: must not contain a fragment (RFC 8707 §2)',
    ],
    [
      'a role binding to an unknown role',
      `${base}role_bindings: { corp: { devs: [ghost] } }`,
      'role_bindings.corp.devs[0]: names role ghost, which is not in roles',
    ],
    [
      'a secret client without a secret',
      `${base}clients: { static: [{ client_id: svc, kind: service }] }`,
      'clients.static[0].client_secret: is required with auth client_secret_basic',
    ],
    [
      'a public client with a secret auth',
      `${base}clients: { static: [{ client_id: a, kind: agent, public: true, auth: client_secret_basic }] }`,
      'clients.static[0].auth: a public client authenticates with none',
    ],
    [
      'a client naming an unknown resource',
      `${base}clients: { static: [{ client_id: a, kind: agent, public: true, resources: [https://x.example.com] }] }`,
      'clients.static[0].resources[0]: names https://x.example.com, which is not in resources',
    ],
    [
      'a binding for an unknown IdP',
      `${base}role_bindings: { corp: { devs: [] } }`,
      'role_bindings.corp: names identity provider corp, which is not in identity_providers',
    ],
    [
      'an http IdP off loopback',
      `${base}identity_providers: [{ id: c, type: oidc, issuer: "http://idp.example.com", client_id: x }]`,
      'identity_providers[0].issuer: must use https',
    ],
    [
      'a plaintext password',
      `${base}identity_providers: [{ id: l, type: local, users: [{ username: a, password_hash: hunter2 }] }]`,
      'identity_providers[0].users[0].password_hash: must be a scrypt hash',
    ],
    ['an unknown IdP type', `${base}identity_providers: [{ id: l, type: saml }]`, 'identity_providers[0].type:'],
    ['a wrong type', `${base}tokens: { access_token_ttl: "5m" }`, 'tokens.access_token_ttl:'],
    ['invalid YAML', `${base}roles: [unclosed`, 'baton.yaml:3:8:'],
    ['duplicate keys', `${base}issuer: https://b.example.com`, 'invalid YAML'],
  ])('%s names the key path', (_what, text, expected) => {
    const message = fail(text, {});
    expect(message).toContain(expected);
    expect(message).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('names every unset env reference at once, with the file and the keys that use it', () => {
    const text =
      'issuer: https://auth.example.com\nkeys: { encryption_key: env:BATON_KEK }\n' +
      'storage: { postgres: env:DATABASE_URL, redis: env:REDIS_URL }\n' +
      'clients: { static: [{ client_id: svc, kind: service, client_secret: env:DATABASE_URL }] }\n';
    expect(fail(text, { REDIS_URL: 'redis://r' })).toBe(
      'baton.yaml: environment variables not set: BATON_KEK (keys.encryption_key), ' +
        'DATABASE_URL (storage.postgres, clients.static[0].client_secret)',
    );
  });

  it('an unset env reference and an unreadable file reference are both named', () => {
    expect(fail(`${base}storage: { postgres: env:DB, redis: "file:/nonexistent/r" }`)).toBe(
      'baton.yaml:\n  environment variable not set: DB (storage.postgres)\n' +
        '  storage.redis: cannot read file:/nonexistent/r (ENOENT)',
    );
  });

  it.each([
    ['a top-level typo', `${base}role_binding: {}`, 'role_binding: unknown key, did you mean `role_bindings`?'],
    ['a nested typo', `${base}storage: { postgress: x }`, 'storage.postgress: unknown key, did you mean `postgres`?'],
    [
      'a typo in an oidc IdP',
      `${base}identity_providers: [{ id: c, type: oidc, issuer: "https://a.example.com", client_id: x, client_secrt: y }]`,
      'identity_providers[0].client_secrt: unknown key, did you mean `client_secret`?',
    ],
    [
      'a typo in a local IdP (the branch of its type)',
      `${base}identity_providers: [{ id: l, type: local, user: [] }]`,
      'identity_providers[0].user: unknown key, did you mean `users`?',
    ],
    [
      'a typo in a static client',
      `${base}clients: { static: [{ client_id: a, kind: agent, public: true, redirect_uri: [] }] }`,
      'clients.static[0].redirect_uri: unknown key, did you mean `redirect_uris`?',
    ],
    ['a key like no other', `${base}wholly_unrelated: 1`, 'wholly_unrelated: unknown key'],
  ])('an unknown key suggests the closest known one: %s', (_what, text, expected) => {
    expect(fail(text)).toBe(`invalid configuration in baton.yaml:\n  ${expected}`);
  });

  it.each([
    [
      'an unclosed [ is reported where it was opened',
      `${base}roles: [unclosed\nmode: development\n`,
      'baton.yaml:3:8: invalid YAML: the [ opened here is not closed with ]',
    ],
    [
      'an unclosed { inside a file',
      `${base}roles: {a: [b]\nmode: development\n`,
      'baton.yaml:3:8: invalid YAML: the { opened here is not closed with }',
    ],
    [
      'an unclosed quote',
      'issuer: "https://a.example.com\nmode: development\n',
      'baton.yaml:1:9: invalid YAML: the " opened here is not closed with "',
    ],
    [
      'a duplicate key',
      `${base}issuer: https://b.example.com`,
      'baton.yaml:3:1: invalid YAML: Map keys must be unique',
    ],
    [
      'a tab as indentation',
      'storage:\n\tpostgres: x\n',
      'baton.yaml:2:1: invalid YAML: Tabs are not allowed as indentation',
    ],
  ])('a YAML error has the line and no dangling colon: %s', (_what, text, expected) => {
    expect(fail(text)).toBe(expected);
  });

  it('reports a missing file as such', () => {
    expect(() => loadConfigFile('/nonexistent/baton.yaml', {})).toThrow(
      'cannot read config file /nonexistent/baton.yaml: ENOENT',
    );
  });
});
