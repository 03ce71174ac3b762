/**
 * The conformance suite passes against baton (on PostgreSQL + Redis, with token exchange, a test IdP for
 * ID-JAGs, open DCR and the example MCP server behind the kit), and, pointed at a deliberately misconfigured
 * authorization server (bare oidc-provider with PKCE optional; a baton whose ID-JAG replay store accepts
 * everything), fails and names the clauses; the CLI exits non-zero.
 */
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../server/src/main.ts';
import { RESOURCES, SERVICE_SECRET, selfSignedCertificate, startBatonAt } from '../../server/test/helpers.ts';
import { startHostileIdp, type HostileIdp } from '../../server/test/idp/hostile-idp.ts';
import { parse as parseYaml } from 'yaml';
import { startAnalyticsMcp } from '../../clients/examples/analytics-mcp.ts';
import { startLogsMcp } from '../../clients/examples/logs-mcp.ts';
import { startServerProcess, writeConfig } from '../../server/test/processes.ts';
import { runSuite, scenarios, type Fixture } from '../src/suite.ts';
import { tempDir } from '../../server/test/temp.ts';

const ISSUER = 'http://127.0.0.1:9480';
const SECRET = 'conformance-secret-0123456789abcdefghij';
const LOGS = 'https://logs.mcp.example.com/mcp';
const COST = 'https://cost.internal.example.com';
const TICKETS = 'https://tickets.internal.example.com';
const PARTNER_AS = 'https://as.partner.example.com';
const MCP_PORT = 9482;
const MCP = `http://127.0.0.1:${MCP_PORT}/mcp`;
let baton: RunningServer;
let mcp: Server;
let idp: HostileIdp;
let bare: Server;
let cleanup: () => Promise<void>;
let fixture: Fixture;

beforeAll(async () => {
  idp = await startHostileIdp();
  // the suite serves client ID metadata documents over HTTPS on loopback: baton trusts its certificate and,
  // in development mode only, fetches from a loopback address
  const tls = selfSignedCertificate();
  const started = await startBatonAt(9480, (base) => ({
    mode: 'development',
    resources: [
      { ...RESOURCES[0]!, client_id: 'logs-mcp' },
      { ...RESOURCES[1]!, client_id: 'cost-svc' },
      { uri: TICKETS, name: 'Ticketing', scopes: ['tickets.create'] },
      { ...RESOURCES[0]!, uri: MCP, name: 'Logs (example MCP server behind the kit)' },
    ],
    identity_providers: [
      ...base.identity_providers,
      { id: 'corp', type: 'oidc', issuer: idp.issuer, client_id: 'baton', accept_id_jag: true },
    ],
    role_bindings: { ...base.role_bindings, corp: { developers: ['developer'] } },
    clients: {
      registration: { cimd: { allow_private_network: true, extra_ca: tls.cert } },
      static: [
        ...base.clients.static,
        { client_id: 'logs-mcp', kind: 'mcp_server', client_secret: SECRET, grant_types: ['client_credentials'] },
        { client_id: 'cost-svc', kind: 'service', client_secret: SECRET, grant_types: ['client_credentials'] },
        {
          client_id: 'xaa-app',
          kind: 'agent',
          client_secret: SECRET,
          grant_types: ['urn:ietf:params:oauth:grant-type:jwt-bearer'],
        },
      ],
    },
    identity_chaining: [{ audience: PARTNER_AS, clients: ['logs-mcp'], scopes: ['partner.read'] }],
    delegation: [
      { actor: 'logs-mcp', targets: [COST], scopes: ['cost.read'] },
      { actor: 'cost-svc', targets: [TICKETS], scopes: ['tickets.create'] },
    ],
  }));
  baton = started.server;
  cleanup = started.cleanup;
  await baton.accounts.recordLogin({
    idpId: 'corp',
    idpIssuer: idp.issuer,
    idpSubject: 'alice-xaa',
    profile: {},
    groups: ['developers'],
    roles: ['developer'],
  });
  // the test IdP's key: the hostile fixture signs with its own, so sign through it by exporting a wrapper key
  fixture = {
    resource: LOGS,
    scope: 'logs.read',
    publicClient: { client_id: 'ide-agent', redirect_uri: 'http://127.0.0.1/callback' },
    user: { username: 'alice', password: 'alice-password' },
    confidentialClient: {
      client_id: 'cost-reporter',
      client_secret: SERVICE_SECRET,
      resource: 'https://cost.internal.example.com',
    },
    exchange: {
      client_id: 'logs-mcp',
      client_secret: SECRET,
      target: COST,
      next: { client_id: 'cost-svc', client_secret: SECRET, target: TICKETS },
    },
    idJag: {
      issuer: idp.issuer,
      private_jwk: idp.privateJwk,
      alg: 'RS256',
      subject: 'alice-xaa',
      client_id: 'xaa-app',
      client_secret: SECRET,
    },
    dcr: true,
    mcpServer: { url: MCP, scope: 'logs.read', deniedTool: 'trigger_incident' },
    identityChaining: { audience: PARTNER_AS },
    cimd: { base: 'https://127.0.0.1:9483', key: tls.key, cert: tls.cert },
  };
  // the example logs MCP server behind the kit, trusting this baton
  mcp = await startLogsMcp({
    issuer: ISSUER,
    port: MCP_PORT,
    costUrl: 'http://127.0.0.1:9/unused',
    clientSecret: 'unused',
    audit: () => {},
  });

  // a deliberately misconfigured AS: bare oidc-provider with PKCE optional (and a loopback client)
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const provider = new Provider('http://127.0.0.1:9481', {
    jwks: { keys: [{ ...(await exportJWK(privateKey)), alg: 'ES256', use: 'sig' }] as never },
    clientDefaults: { id_token_signed_response_alg: 'ES256' },
    clients: [
      {
        client_id: 'ide-agent',
        token_endpoint_auth_method: 'none',
        redirect_uris: ['http://127.0.0.1/callback'],
        application_type: 'native',
      },
    ],
    pkce: { required: () => false },
    features: { devInteractions: { enabled: true } },
  });
  const handler = provider.callback();
  bare = await new Promise<Server>((ok) => {
    const s = createServer((req, res) => void handler(req, res)).listen(9481, '127.0.0.1', () => ok(s));
  });
}, 60_000);
afterAll(async () => {
  await new Promise((ok) => bare?.close(ok));
  await new Promise((ok) => mcp?.close(ok));
  await baton?.close();
  await cleanup?.();
  await idp?.stop();
});

describe('the conformance suite', () => {
  it('passes against baton: every scenario, MUST and SHOULD', async () => {
    const results = await runSuite(ISSUER, fixture);
    expect(results.filter((r) => r.status !== 'pass')).toEqual([]);
    expect(results).toHaveLength(scenarios.length);
  }, 60_000);

  it('the traceability table in conformance/README.md lists every scenario with its level', () => {
    const readme = readFileSync(resolve(import.meta.dirname, '../README.md'), 'utf8');
    const rows = [...readme.matchAll(/^\| (.+) \| (MUST|SHOULD) \| `([^`]+)` \| .+ \| pass \|$/gm)].map((m) => ({
      id: m[3],
      level: m[2],
      clause: m[1],
    }));
    expect(rows).toEqual(scenarios.map((s) => ({ id: s.id, level: s.level, clause: s.clause })));
  });

  it('names the clause a baton that allows ID-JAG replay breaks (its replay store sabotaged)', async () => {
    const replay = baton.storage.adapterFor('IdJagReplay');
    const claim = replay.claim.bind(replay);
    replay.claim = async () => true; // every jti is "new": replay detection is off
    try {
      const [result] = await runSuite(ISSUER, fixture, ['id-jag.replay']);
      expect(result).toMatchObject({
        status: 'fail',
        level: 'MUST',
        clause: expect.stringContaining('MCP Enterprise-Managed Authorization §7.4.2') as string,
        detail: 'replay: HTTP 200 undefined',
      });
    } finally {
      replay.claim = claim;
    }
    expect((await runSuite(ISSUER, fixture, ['id-jag.replay']))[0]?.status).toBe('pass');
  }, 60_000);

  it('names the clauses a misconfigured AS breaks (PKCE optional), and the CLI exits 1', async () => {
    // the parts a bare oidc-provider does not have are left out
    const bareFixture: Fixture = {
      ...fixture,
      exchange: undefined,
      idJag: undefined,
      dcr: false,
      mcpServer: undefined,
      identityChaining: undefined,
      cimd: undefined,
    };
    const results = await runSuite('http://127.0.0.1:9481', bareFixture, ['discovery.metadata', 'pkce.required']);
    expect(results.find((r) => r.id === 'discovery.metadata')?.status).toBe('pass');
    const pkce = results.find((r) => r.id === 'pkce.required')!;
    expect(pkce).toMatchObject({
      status: 'fail',
      level: 'MUST',
      clause: expect.stringContaining('RFC 7636 §4.4.1') as string,
    });

    const dir = tempDir('conf');
    writeFileSync(join(dir, 'fixture.json'), JSON.stringify(bareFixture));
    const child = spawn(
      process.execPath,
      [
        resolve(import.meta.dirname, '../run.ts'),
        '--issuer',
        'http://127.0.0.1:9481',
        '--fixture',
        join(dir, 'fixture.json'),
        '--only',
        'pkce.required',
        '--report',
        join(dir, 'report.json'),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise((ok) => child.on('exit', ok));
    expect(out).toMatch(/^FAIL {2}MUST {3}pkce\.required .*OAuth 2\.1 §4\.1\.1/m);
    expect(out).toContain('1 MUST failure(s)');
    expect(code).toBe(1);
  }, 60_000);

  it.each(['', '/tenant1'])(
    "the CLI passes against `npm start`'s embedded default with conformance/fixture.development.json (issuer path '%s'); it skips exactly what conformance/README.md says",
    async (path) => {
      // config/development.yaml as is, on another port and a fresh data directory
      const config = parseYaml(readFileSync(resolve(import.meta.dirname, '../../config/development.yaml'), 'utf8')) as {
        issuer: string;
        listen: { port: number };
        storage: { data_dir: string };
      };
      const dir = tempDir('conf-dev');
      const port = 9484;
      const issuer = `http://127.0.0.1:${port}${path}`;
      const server = await startServerProcess(
        writeConfig({
          ...config,
          issuer,
          listen: { ...config.listen, port },
          storage: { ...config.storage, data_dir: join(dir, 'data') },
        }),
      );
      // the fixture's mcpServer: the example analytics MCP server where the development config puts it
      // (9402), as `node clients/examples/analytics-mcp.ts` runs it, trusting this baton
      const analytics = await startAnalyticsMcp({ issuer, port: 9402, audit: () => {} });
      try {
        const child = spawn(
          process.execPath,
          [
            resolve(import.meta.dirname, '../run.ts'),
            '--issuer',
            `${server.url.replace('localhost', '127.0.0.1')}${path}`,
            '--fixture',
            resolve(import.meta.dirname, '../fixture.development.json'),
          ],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        );
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (out += d.toString()));
        const code = await new Promise((ok) => child.on('exit', ok));
        expect(out).not.toMatch(/^FAIL/m);
        // the development XAA issuer makes the ID-JAG redemption scenarios run (and pass) on the default
        for (const id of ['id-jag.replay', 'id-jag.token', 'id-jag.signature', 'id-jag.client-binding'])
          expect(out).toMatch(new RegExp(`^PASS +MUST +${id.replace('.', '\\.')} `, 'm'));
        expect(out).toMatch(/conformance: \d+ passed, 0 failed, \d+ skipped; 0 MUST failure\(s\)/);
        expect(code, out).toBe(0);
        // what is skipped there, and the summary line, are exactly what conformance/README.md states
        const skipped = [...out.matchAll(/^SKIP {2}\S+ +(\S+) /gm)].map((m) => m[1]);
        const documented = developmentSkips();
        expect(skipped).toEqual(documented.ids);
        expect(out).toContain(documented.summary);
      } finally {
        await new Promise((ok) => analytics.close(ok));
        await server.stop();
      }
    },
    120_000,
  );

  it("conformance/README.md's counts are the scenario list's", () => {
    const readme = readFileSync(resolve(import.meta.dirname, '../README.md'), 'utf8');
    const must = scenarios.filter((s) => s.level === 'MUST').length;
    expect(readme).toContain(`${scenarios.length} scenarios (${must} MUST, ${scenarios.length - must} SHOULD)`);
    // the summary against the development default adds up to the whole list
    const { summary, ids } = developmentSkips();
    const [, passed, , skippedCount] = /(\d+) passed, (\d+) failed, (\d+) skipped/.exec(summary)!.map(Number);
    expect(passed! + skippedCount!).toBe(scenarios.length);
    expect(skippedCount).toBe(ids.length);
    // the top-level README's figures too
    // (line breaks fall anywhere in prose: compared with white space folded)
    const top = readFileSync(resolve(import.meta.dirname, '../../README.md'), 'utf8').replace(/\s+/g, ' ');
    expect(top).toContain(`${scenarios.length} spec-traced black-box scenarios (${must} MUST`);
    expect(top).toContain(`${passed} of the ${scenarios.length} scenarios run there`);
    expect(top).toContain(`lists the ${skippedCount} it skips and why`);
  });
});

/**
 * What conformance/README.md says the run against the development default skips (the bullet list under
 * "Skipped against the development default", one `id` per bullet) and the summary line it shows.
 */
function developmentSkips(): { ids: string[]; summary: string } {
  const readme = readFileSync(resolve(import.meta.dirname, '../README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('Skipped against the development default'));
  const list = section.slice(0, section.indexOf('\n\n', section.indexOf('\n- ')));
  const ids = [...list.matchAll(/^- `([^`]+)`/gm)].map((m) => m[1]!);
  const summary =
    /# … (conformance: \d+ passed, 0 failed, \d+ skipped; 0 MUST failure\(s\))/.exec(readme)?.[1] ?? '(none)';
  return { ids, summary };
}
