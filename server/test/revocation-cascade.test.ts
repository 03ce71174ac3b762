/**
 * Issue #14's offboarding cascade, end to end: Alice's token for the logs MCP server (the IDE agent's), the
 * token the logs MCP server exchanged for the cost service, and the one the cost service exchanged for a
 * fourth service. Each hop's resource server verifies locally with the kit (the MCP server's guard and the
 * downstream verifier: the JWKS and the Token Status List only, no introspection call). After `baton revoke
 * user`, every hop refuses its token (invalid_token) once it reads the list again, and introspection says
 * inactive. The time from the revocation to each refusal is printed (a measurement, not an assertion:
 * `npm run bench` is where figures live).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import request from 'supertest';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createMcpAuth, createVerifier, TokenError } from '../../clients/src/index.ts';
import { runOperation, type AdminStores } from '../src/admin/operations.ts';
import { localIssuer } from '../src/idp/registry.ts';
import {
  adminStoresOf,
  exchangeToken,
  freePort,
  RESOURCES,
  startTestServer,
  type TestServer,
  staticService,
} from './helpers.ts';
import { codeForm, seedCode } from './seed.ts';

const LOGS = RESOURCES[0]!.uri;
const COST = 'https://cost.internal.example.com';
const TICKETS = 'https://tickets.internal.example.com';
const SECRET = 'cascade-test-secret-0123456789abcdefghij';

const service = (client_id: string, kind: string) => staticService(client_id, SECRET, [], kind);

let t: TestServer;
let stores: AdminStores;

beforeAll(async () => {
  // the issuer at the server's own address: the kit fetches the JWKS and the status lists from it
  t = await startTestServer({
    backend: 'postgres+redis',
    port: await freePort(),
    config: (base) => ({
      resources: [
        { ...RESOURCES[0]!, client_id: 'logs-mcp' },
        { ...RESOURCES[1]!, client_id: 'cost-svc' },
        { uri: TICKETS, name: 'Ticketing', scopes: ['tickets.create'] },
      ],
      clients: { static: [...base.clients.static, service('logs-mcp', 'mcp_server'), service('cost-svc', 'service')] },
      delegation: [
        { actor: 'logs-mcp', targets: [COST], scopes: ['cost.read'], max_chain: 3 },
        { actor: 'cost-svc', targets: [TICKETS], scopes: ['tickets.create'], max_chain: 3 },
      ],
    }),
  });
  stores = adminStoresOf(t);
}, 60_000);
afterAll(async () => t?.close());

const exchange = (actor: string, form: Record<string, string>) => exchangeToken(t.url, actor, SECRET, form);

/** RFC 7662, asked by each token's own resource server */
const active = async (token: string, asker: string) =>
  (await request(t.url).post('/token/introspection').auth(asker, SECRET).type('form').send({ token }).expect(200)).body
    .active as boolean;

it('after baton revoke user, every hop of the chain is refused by its resource server, from the status list alone', async () => {
  const alice = await t.server.accounts.recordLogin({
    idpId: 'local',
    idpIssuer: localIssuer('local'),
    idpSubject: 'alice',
    profile: { email: 'alice@example.com' },
    groups: ['developers'],
    roles: ['developer'],
  });
  const seed = await seedCode(t.server.provider(), alice.id);
  const logs = (await request(t.url).post('/token').type('form').send(codeForm(seed)).expect(200)).body
    .access_token as string;
  const cost = await exchange('logs-mcp', { subject_token: logs, resource: COST, scope: 'cost.read' });
  const tickets = await exchange('cost-svc', { subject_token: cost, audience: TICKETS });

  // the resource servers: the logs MCP server's guard, the cost service's and the ticketing service's
  // verifiers; no introspection configured (the default): the JWKS and the status list only
  const issuer = t.config.issuer;
  const mcp = createMcpAuth({ issuer, resource: LOGS });
  const hops = [
    { name: 'logs MCP server (kit guard)', token: logs, verify: (tk: string) => mcp.verify(tk) },
    { name: 'cost service (verifier)', token: cost, verify: createVerifier({ issuer, audience: COST }) },
    { name: 'ticketing service (verifier)', token: tickets, verify: createVerifier({ issuer, audience: TICKETS }) },
  ];
  for (const hop of hops) await expect(hop.verify(hop.token)).resolves.toMatchObject({ subject: alice.id });

  const revoked = Date.now();
  const r = await runOperation(stores, 'revoke.user', { account: alice.id });
  expect(r).toMatchObject({ target: 'user', tokens: 3, grants: 1 });

  const refusedAfter: Record<string, number> = {};
  for (const hop of hops) {
    for (;;) {
      const outcome = await hop.verify(hop.token).then(
        () => 'accepted',
        (err: unknown) => err,
      );
      if (outcome !== 'accepted') {
        expect(outcome).toBeInstanceOf(TokenError);
        expect(outcome).toMatchObject({ code: 'invalid_token' });
        refusedAfter[hop.name] = Date.now() - revoked;
        break;
      }
      // the list is read again after its ttl (5 s by default): poll, bounded by the test's timeout
      await sleep(100);
    }
  }
  expect(await active(logs, 'logs-mcp')).toBe(false);
  expect(await active(cost, 'cost-svc')).toBe(false);
  process.stdout.write(
    `revocation → first refusal: ${Object.entries(refusedAfter)
      .map(([k, v]) => `${k} ${v} ms`)
      .join(', ')}\n`,
  );
}, 60_000);
