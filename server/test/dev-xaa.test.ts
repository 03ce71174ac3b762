/**
 * The development XAA issuer: `npm start`'s default configuration redeems an ID-JAG on a fresh embedded
 * store (the issuer's key is in the configuration, `jwks`; its users are provisioned at start; it signs no
 * one in, `sign_in: false`), `baton dev mint-id-jag` signs one, and no configuration outside development
 * mode may trust the shipped key.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { calculateJwkThumbprint, decodeJwt, decodeProtectedHeader, type JWK } from 'jose';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ConfigError, loadConfigFile, parseConfig } from '../src/config/load.ts';
import type { Config } from '../src/config/schema.ts';
import { mintDevIdJag } from '../src/idp/dev-issuer.ts';
import {
  DEV_XAA_JWKS_PATH,
  DEV_XAA_PRIVATE_JWK_PATH,
  DEV_XAA_THUMBPRINT,
  isDevXaaKey,
} from '../src/config/dev-xaa-key.ts';
import type { RunningServer } from '../src/main.ts';
import { BACKENDS, startTestServer, type TestServer } from './helpers.ts';
import { runCli, writeConfig } from './processes.ts';

const DEV_YAML = resolve(import.meta.dirname, '../../config/development.yaml');
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const XAA_SECRET = 'dev-only-xaa-app-secret-0123456789abcdef';
const LOGS = 'http://127.0.0.1:9401/mcp';
const shippedJwks = () => JSON.parse(readFileSync(DEV_XAA_JWKS_PATH, 'utf8')) as { keys: JWK[] };

/** config/development.yaml as is, with the given changes (the file's own key paths) */
const devYaml = (change: (raw: Record<string, unknown>) => void = () => {}) => {
  const raw = parseYaml(readFileSync(DEV_YAML, 'utf8')) as Record<string, unknown>;
  change(raw);
  return raw;
};
const idpsOf = (raw: Record<string, unknown>) => raw.identity_providers as Record<string, unknown>[];

describe('the shipped development key', () => {
  it('is the key of config/dev, with the thumbprint the schema refuses in production', async () => {
    const [pub] = shippedJwks().keys;
    expect(await calculateJwkThumbprint(pub!)).toBe(DEV_XAA_THUMBPRINT);
    expect(isDevXaaKey(pub as Record<string, unknown>)).toBe(true);
    const { d: _d, ...publicHalf } = JSON.parse(readFileSync(DEV_XAA_PRIVATE_JWK_PATH, 'utf8')) as JWK;
    expect(publicHalf).toEqual(pub);
    // development.yaml trusts exactly this key
    const devIdp = loadConfigFile(DEV_YAML).identity_providers.find((i) => i.id === 'dev-xaa');
    expect(devIdp).toMatchObject({ type: 'oidc', sign_in: false, accept_id_jag: true, jwks: shippedJwks() });
  });

  it('outside development mode, an IdP trusting it is refused, naming the key path', () => {
    const raw = devYaml((r) => {
      r.mode = 'production';
      r.keys = { encryption_key: 'n9pD4dc8S0bqgS8lHsvCq0l3b3B0e1m3uWJm3tO0lQ4' };
      delete idpsOf(r)[1]!.users;
    });
    expect(() => parseConfig(JSON.stringify(raw))).toThrow(ConfigError);
    expect(() => parseConfig(JSON.stringify(raw))).toThrow(
      `identity_providers[1].jwks.keys[0]: is the development XAA issuer's key (RFC 7638 thumbprint ${DEV_XAA_THUMBPRINT})`,
    );
    // by file reference too (what `file:` reads is checked the same)
    idpsOf(raw)[1]!.jwks = `file:${DEV_XAA_JWKS_PATH}`;
    expect(() => parseConfig(JSON.stringify(raw))).toThrow('identity_providers[1].jwks.keys[0]: is the development');
  });

  it('outside development mode, users listed under an OIDC IdP are refused', () => {
    const raw = devYaml((r) => {
      r.mode = 'production';
      r.keys = { encryption_key: 'n9pD4dc8S0bqgS8lHsvCq0l3b3B0e1m3uWJm3tO0lQ4' };
      delete idpsOf(r)[1]!.jwks;
      idpsOf(r)[1]!.jwks_uri = 'https://idp.example.com/jwks';
    });
    expect(() => parseConfig(JSON.stringify(raw))).toThrow(
      'identity_providers[1].users: is a development setting (mode: development)',
    );
  });

  it('a jwks with a private member, not JSON, or without keys is refused', () => {
    const withKey = (jwks: unknown) =>
      devYaml((r) => {
        idpsOf(r)[1]!.jwks = jwks;
      });
    const priv = JSON.parse(readFileSync(DEV_XAA_PRIVATE_JWK_PATH, 'utf8')) as JWK;
    expect(() => parseConfig(JSON.stringify(withKey({ keys: [priv] })))).toThrow(
      'identity_providers[1].jwks.keys[0].d: is a private key member: give only public keys',
    );
    expect(() => parseConfig(JSON.stringify(withKey('{not json')))).toThrow(
      'identity_providers[1].jwks: must be a JWKS: an object with keys, or file:PATH to a JSON JWKS',
    );
    expect(() => parseConfig(JSON.stringify(withKey({ keys: [{ kty: 'oct', k: 'c2VjcmV0' }] })))).toThrow(
      'identity_providers[1].jwks.keys[0].kty',
    );
  });

  it('an IdP that signs users in needs a client_id; one with sign_in: false needs keys instead', () => {
    const raw = devYaml((r) => {
      idpsOf(r)[1]!.sign_in = true;
    });
    expect(() => parseConfig(JSON.stringify(raw))).toThrow(
      'identity_providers[1].client_id: is required unless sign_in is false',
    );
    const keyless = devYaml((r) => {
      delete idpsOf(r)[1]!.jwks;
    });
    expect(() => parseConfig(JSON.stringify(keyless))).toThrow('identity_providers[1].jwks: or jwks_uri is required');
  });

  it('dev mint-id-jag refuses a production configuration', async () => {
    const file = writeConfig({
      issuer: 'https://auth.example.com',
      keys: { encryption_key: 'n9pD4dc8S0bqgS8lHsvCq0l3b3B0e1m3uWJm3tO0lQ4' },
    });
    const res = await runCli([
      'dev',
      'mint-id-jag',
      '--config',
      file,
      '--subject',
      'a',
      '--client',
      'c',
      '--resource',
      LOGS,
    ]);
    expect(res).toMatchObject({
      code: 1,
      stderr: 'baton: dev mint-id-jag runs only on a development configuration (mode: development)\n',
    });
  });
});

describe.each(BACKENDS.filter((b) => b.name === 'embedded'))(
  "npm start's default on a fresh $name store",
  (backend) => {
    let baton: TestServer | undefined;
    let server: RunningServer;
    let config: Config;
    beforeAll(async () => {
      // the file's configuration in place of the scenario's, on a fresh store of its own
      const { storage: _fileStorage, ...base } = loadConfigFile(DEV_YAML);
      baton = await startTestServer({
        backend: backend.name,
        config: () => ({
          ...base,
          listen: { ...base.listen, port: 0 },
          logging: { ...base.logging, level: 'silent' },
        }),
      });
      server = baton.server;
      config = baton.config;
    });
    afterAll(async () => {
      await baton?.close();
    });

    const redeem = (assertion: string) =>
      request(server.url)
        .post('/token')
        .auth('xaa-app', XAA_SECRET)
        .type('form')
        .send({ grant_type: JWT_BEARER, assertion });

    it("redeems a minted ID-JAG for the issuer's pre-provisioned users, with their groups' scopes", async () => {
      const alice = await mintDevIdJag(config, { subject: 'alice', clientId: 'xaa-app', resource: LOGS });
      expect(decodeProtectedHeader(alice)).toEqual({ alg: 'ES256', typ: 'oauth-id-jag+jwt', kid: DEV_XAA_THUMBPRINT });
      const res = await redeem(alice);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body).toMatchObject({ token_type: 'Bearer', scope: 'logs.read', resource: LOGS });
      expect(decodeJwt(res.body.access_token)).toMatchObject({
        aud: LOGS,
        client_id: 'xaa-app',
        idp: { iss: 'http://127.0.0.1:9400/dev-xaa', sub: 'alice' },
        roles: ['developer'],
      });
      const bob = await redeem(
        await mintDevIdJag(config, { subject: 'bob', clientId: 'xaa-app', resource: LOGS, scope: 'incidents.trigger' }),
      );
      expect(bob.body.scope).toBe('incidents.trigger');
      // a subject the configuration does not list has no account
      const mallory = await redeem(
        await mintDevIdJag(config, { subject: 'mallory', clientId: 'xaa-app', resource: LOGS }),
      );
      expect(mallory.status).toBe(400);
      expect(mallory.body.error).toBe('invalid_grant');
    });

    it('the ID-JAG-only issuer is not offered for sign-in: the local directory is the only one', async () => {
      const agent = request.agent(server.url);
      const toInteraction = await agent
        .get('/auth')
        .query({
          client_id: 'ide-agent',
          redirect_uri: 'http://127.0.0.1/callback',
          response_type: 'code',
          code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
          code_challenge_method: 'S256',
          resource: LOGS,
          scope: 'logs.read',
        })
        .expect(303);
      const page = await agent.get(toInteraction.headers.location!.replace(config.issuer, '')).expect(200);
      // straight to the local directory's form: no chooser, no dev-xaa
      expect(page.text).toContain('name="password"');
      expect(page.text).not.toContain('dev-xaa');
      expect(page.text).not.toContain('Development XAA issuer');
    });
  },
);
