/**
 * Bad input never hurts (README "Operations"): every parameter of every public endpoint, one at a time,
 * replaced by each hostile value (empty, NUL and other control characters, percent garbage, lone surrogates,
 * a long string, JSON, forged JWTs, path traversal) in an otherwise valid request. Each answer must be an
 * OAuth error or a redirect or page, never a 5xx; JSON errors use the RFC 6749 §5.2 / RFC 7591 §3.2.2 codes.
 * On every storage backend (PostgreSQL alone holds every record, interactions included).
 */
import { decodeJwt } from 'jose';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { BACKENDS, batonOn, makeConfig, SERVICE_SECRET } from '../helpers.ts';
import { AGENT_AUTHORIZATION, LOGS } from '../seed.ts';

const COST = 'https://cost.internal.example.com';
const HOSTILE = [
  '',
  '\u0000',
  'a\u0000b',
  '\u0007\r\n',
  '%zz%',
  '\ud800',
  'x'.repeat(8000),
  '{"a":1}',
  '../../etc/passwd',
  'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.',
  'eyJ.eyJ.x',
  'https://[::1',
];
const OAUTH_ERRORS = new Set([
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'unauthorized_client',
  'unsupported_grant_type',
  'invalid_scope',
  'invalid_target',
  'invalid_dpop_proof',
  'unsupported_token_type',
  'invalid_client_metadata',
  'invalid_redirect_uri',
  'invalid_token',
]);

describe.each(BACKENDS)(
  'every parameter, every hostile value, on $name storage: an OAuth error, never a 5xx',
  (backend) => {
    const baton = batonOn(backend, {
      clients: { ...makeConfig().clients, registration: { dcr: { mode: 'open' } } },
    });
    const logs = baton.logs;

    /** Each valid request with one parameter replaced by each hostile value (and once left out). */
    function* mutations(valid: Record<string, string>): Generator<[string, Record<string, string>]> {
      for (const name of Object.keys(valid)) {
        const { [name]: _dropped, ...without } = valid;
        yield [`${name} left out`, without];
        for (const value of HOSTILE)
          yield [`${name}=${JSON.stringify(value).slice(0, 24)}`, { ...valid, [name]: value }];
      }
    }

    function expectOAuthError(what: string, res: request.Response): void {
      expect(res.status, what).toBeLessThan(500);
      // 431: headers over Node's limit, refused before any code of ours runs
      if (res.status >= 400 && res.status !== 431) {
        expect(res.headers['content-type'] ?? '', `${what}: HTTP ${res.status} ${res.text}`).toMatch(
          /^application\/json/,
        );
        expect(OAUTH_ERRORS.has(res.body.error as string), `${what}: ${String(res.body.error)}`).toBe(true);
      }
      // a token that is issued always carries a scope of its resource: never a valid token granting nothing
      if (res.status === 200 && typeof res.body?.access_token === 'string') {
        expect(res.body.scope, `${what}: the answer's scope`).toMatch(/\S/);
        expect(decodeJwt(res.body.access_token as string).scope, `${what}: the token's scope`).toMatch(/\S/);
      }
    }

    const token = (form: Record<string, string>, basic?: [string, string]) => {
      const req = request(baton.server.url).post('/token').type('form');
      return (basic ? req.auth(...basic) : req).send(form);
    };

    it('the token endpoint, for each grant type', async () => {
      const grants: [Record<string, string>, [string, string] | undefined][] = [
        [{ grant_type: 'client_credentials', resource: COST, scope: 'cost.read' }, ['cost-reporter', SERVICE_SECRET]],
        [
          {
            grant_type: 'authorization_code',
            client_id: 'ide-agent',
            code: 'c'.repeat(43),
            code_verifier: 'v'.repeat(43),
            redirect_uri: 'http://127.0.0.1/callback',
            resource: LOGS,
          },
          undefined,
        ],
        [{ grant_type: 'refresh_token', client_id: 'ide-agent', refresh_token: 'r'.repeat(43) }, undefined],
        [
          {
            grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
            subject_token: 'eyJ.eyJ.x',
            subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
            resource: COST,
            actor_token: 'eyJ.eyJ.x',
            actor_token_type: 'urn:ietf:params:oauth:token-type:access_token',
          },
          ['cost-reporter', SERVICE_SECRET],
        ],
        [
          { grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: 'eyJ.eyJ.x', resource: LOGS },
          ['cost-reporter', SERVICE_SECRET],
        ],
      ];
      let sent = 0;
      for (const [valid, basic] of grants) {
        for (const [what, form] of mutations(valid)) {
          expectOAuthError(`${valid.grant_type} ${what}`, await token(form, basic));
          sent++;
        }
      }
      // a hostile DPoP header (RFC 9449 §4.3: invalid_dpop_proof)
      for (const value of HOSTILE.filter((v) => /^[\x20-\x7e]*$/.test(v))) {
        const res = await request(baton.server.url)
          .post('/token')
          .auth('cost-reporter', SERVICE_SECRET)
          .set('DPoP', value)
          .type('form')
          .send(grants[0]![0]);
        expectOAuthError(`DPoP ${value.slice(0, 10)}`, res);
      }
      // hostile client credentials in the Authorization header
      for (const value of HOSTILE.filter((v) => !/[\r\n]/.test(v))) {
        expectOAuthError(`basic ${value.slice(0, 10)}`, await token(grants[0]![0], [value, value]));
      }
      // every parameter of every grant: left out once, and once per hostile value
      expect(sent).toBe(grants.reduce((n, [valid]) => n + Object.keys(valid).length * (HOSTILE.length + 1), 0));
    });

    it('introspection and revocation', async () => {
      for (const path of ['/token/introspection', '/token/revocation']) {
        for (const [what, form] of mutations({ token: 'eyJ.eyJ.x', token_type_hint: 'access_token' })) {
          const res = await request(baton.server.url)
            .post(path)
            .auth('cost-reporter', SERVICE_SECRET)
            .type('form')
            .send(form);
          expectOAuthError(`${path} ${what}`, res);
        }
      }
    });

    it('registration (RFC 7591): string members, one at a time', async () => {
      const valid = {
        client_name: 'Sweep',
        redirect_uris: 'http://127.0.0.1/sweep',
        token_endpoint_auth_method: 'none',
        scope: 'logs.read',
        client_uri: 'https://sweep.example.com',
      };
      for (const [what, fields] of mutations(valid)) {
        const body = {
          ...fields,
          ...(fields.redirect_uris !== undefined ? { redirect_uris: [fields.redirect_uris] } : {}),
        };
        const res = await request(baton.server.url).post('/reg').send(body);
        expect(res.status, what).toBeLessThan(500);
        if (res.status >= 400)
          expect(OAUTH_ERRORS.has(res.body.error as string), `${what}: ${res.body.error}`).toBe(true);
      }
    });

    it('the authorization endpoint: a redirect with an error, or an error page', async () => {
      const valid = {
        ...AGENT_AUTHORIZATION,
        state: 'sweep',
        login_hint: 'alice@example.com',
        prompt: 'consent',
        ui_locales: 'en',
      };
      for (const [what, query] of mutations(valid)) {
        const res = await request(baton.server.url).get('/auth').query(query);
        expect(res.status, what).toBeLessThan(500);
        expect([303, 400], what).toContain(res.status);
      }
    });

    it('wrote no server error', () => {
      expect(logs.lines().filter((l) => l.includes('"level":50'))).toEqual([]);
    });
  },
);
