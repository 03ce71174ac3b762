/**
 * README.md's quickstart is true: its curl block (the curl-only sign-in with scripts/try-signin.sh, the code
 * redeemed with the PKCE verifier, the exchange by the logs MCP server) runs against `npm start`'s embedded
 * default (config/development.yaml, on another port and a fresh data directory), and prints tokens with the
 * claims the README shows; its directory's admin opens the console, and the access matrix of its directory
 * is what its users' tokens carry.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import request from 'supertest';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startServerProcess, writeConfig, type ServerProcess } from './processes.ts';
import { tempDir } from './temp.ts';
import { loadConfigFile } from '../src/config/load.ts';
import { personAccess } from '../src/policy/access-matrix.ts';
import { Policy } from '../src/policy/policy.ts';
import { actionOf, csrfOf, followRedirects } from './pages.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const PORT = 9487;
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
let server: ServerProcess;
let configFile: string;

/** runs a bash script at the repository's root against the started server */
async function run(script: string): Promise<{ code: unknown; out: string; err: string }> {
  const child = spawn('bash', ['-euo', 'pipefail', '-c', script], {
    cwd: ROOT,
    // scripts/try-signin.sh's BATON: the same server; `node` is any Node.js
    env: {
      ...process.env,
      BATON: `http://127.0.0.1:${PORT}`,
      PATH: `${dirname(process.execPath)}:${process.env.PATH}`,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise((ok) => child.on('exit', ok));
  return { code, out, err };
}

/** the fenced block after a README marker comment */
function blockAfter(marker: string): string {
  const at = README.indexOf(marker);
  expect(at, `README.md has no "${marker}"`).toBeGreaterThan(0);
  const start = README.indexOf('\n', README.indexOf('```', at)) + 1;
  return README.slice(start, README.indexOf('```', start));
}

beforeAll(async () => {
  const config = parseYaml(readFileSync(join(ROOT, 'config/development.yaml'), 'utf8')) as {
    listen: Record<string, unknown>;
    storage: Record<string, unknown>;
  };
  configFile = writeConfig({
    ...config,
    issuer: `http://127.0.0.1:${PORT}`,
    listen: { ...config.listen, port: PORT },
    storage: { ...config.storage, data_dir: join(tempDir('quickstart'), 'data') },
  });
  server = await startServerProcess(configFile);
}, 60_000);
afterAll(async () => {
  await server?.stop();
});

it("README.md's quickstart commands run as written and print the token claims it shows", async () => {
  const script = blockAfter('<!-- quickstart: ').replaceAll('127.0.0.1:9400', `127.0.0.1:${PORT}`);
  const { code, out, err } = await run(script);
  expect(code, err).toBe(0);

  const lines = out.trim().split('\n');
  expect(JSON.parse(lines[0]!)).toMatchObject({ issuer: `http://127.0.0.1:${PORT}` });
  expect(JSON.parse(lines[1]!)).toMatchObject({ token_type: 'Bearer', scope: 'cost.read' });
  const printed = lines.slice(-2).map((l) => JSON.parse(l) as Record<string, unknown>);
  const shown = blockAfter('<!-- quickstart output')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l.replaceAll('127.0.0.1:9400', `127.0.0.1:${PORT}`)) as Record<string, unknown>);
  expect(shown).toHaveLength(2);
  // the same claims, with the same values except ids and times (the subject is derived from the IdP's; the
  // status list index is drawn at random)
  const VARYING = ['auth_time', 'iat', 'exp', 'jti', 'gid', 'status'];
  for (const [i, claims] of printed.entries()) {
    expect(Object.keys(claims).sort()).toEqual(Object.keys(shown[i]!).sort());
    for (const k of VARYING) {
      delete claims[k];
      delete shown[i]![k];
    }
    expect(claims).toEqual(shown[i]);
  }
  expect(printed[1]).toMatchObject({
    act: { sub: 'logs-mcp', act: { sub: 'ide-agent' } },
    aud: 'http://127.0.0.1:9403',
  });

  // "scripts/try-signin.sh bob gets Bob logs.read incidents.trigger"
  const bob = await run(
    `CODE=$(scripts/try-signin.sh bob) && curl -s -d grant_type=authorization_code -d client_id=ide-agent -d code="$CODE" -d redirect_uri=http://127.0.0.1/callback -d code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk -d resource=http://127.0.0.1:9401/mcp http://127.0.0.1:${PORT}/token`,
  );
  expect(README).toContain('`scripts/try-signin.sh bob` gets Bob `logs.read incidents.trigger`');
  expect(JSON.parse(bob.out)).toMatchObject({ scope: 'logs.read incidents.trigger' });
}, 90_000);

it("the development directory's admin, carol, opens the admin console in one step; alice is refused", async () => {
  expect(README).toContain('sign in as `carol` / `carol-password`');
  const url = `http://127.0.0.1:${PORT}`;
  for (const [username, landed] of [
    ['carol', 'Overview'],
    ['alice', 'No access'],
  ] as const) {
    const agent = request.agent(url);
    const { page } = await followRedirects(agent, '/admin', () => false, 12);
    const posted = await agent
      .post(actionOf(page!.text))
      .type('form')
      .send({ csrf: csrfOf(page!.text), username, password: `${username}-password` })
      .expect(303);
    const { page: after } = await followRedirects(agent, posted.headers.location!, () => false, 12);
    expect([after!.status, /<h1>([^<]*)<\/h1>/.exec(after!.text)?.[1]]).toEqual([
      username === 'carol' ? 200 : 403,
      landed,
    ]);
  }
}, 60_000);

/** `username` signs in at the development directory's form, for the IDE agent and `resource`, asking no scope. */
async function agentSignIn(username: string, resource: string): Promise<{ status: number; scope?: string }> {
  const url = `http://127.0.0.1:${PORT}`;
  const agent = request.agent(url);
  const verifier = randomBytes(32).toString('base64url');
  const start = `/auth?${new URLSearchParams({
    client_id: 'ide-agent',
    redirect_uri: 'http://127.0.0.1/callback',
    response_type: 'code',
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    resource,
  }).toString()}`;
  const toClient = (l: string) => l.startsWith('http://127.0.0.1/callback');
  const { page } = await followRedirects(agent, start, toClient, 12);
  const posted = await agent
    .post(actionOf(page!.text))
    .type('form')
    .send({ csrf: csrfOf(page!.text), username, password: `${username}-password` })
    .expect(303);
  const done = await followRedirects(agent, posted.headers.location!, toClient, 12);
  if (!done.stoppedAt) return { status: done.page!.status };
  const token = await request(url)
    .post('/token')
    .type('form')
    .send({
      grant_type: 'authorization_code',
      code: new URL(done.stoppedAt).searchParams.get('code')!,
      code_verifier: verifier,
      redirect_uri: 'http://127.0.0.1/callback',
      client_id: 'ide-agent',
      resource,
    })
    .expect(200);
  return { status: 200, scope: token.body.scope as string };
}

it("the access matrix of the development directory is what its users' tokens carry, resource by resource", async () => {
  const config = loadConfigFile(configFile);
  const policy = new Policy(config);
  const directory = config.identity_providers.find((i) => i.id === 'local')!;
  if (directory.type !== 'local') throw new Error('the development directory is a local one');
  for (const user of directory.users) {
    const person = personAccess(policy, {
      id: 'u_unused',
      idp: 'local',
      subject: user.username,
      groups: user.groups,
      last_sign_in: null,
      disabled: false,
    });
    for (const resource of policy.resources.values()) {
      const listed = person.resources.find((r) => r.uri === resource.uri)?.scopes.map((s) => s.scope) ?? [];
      // asking for no scope asks for all of the resource's (MCP scope selection): the roles decide
      const got = await agentSignIn(user.username, resource.uri);
      if (listed.length === 0)
        expect([user.username, resource.uri, got.status]).toEqual([user.username, resource.uri, 403]);
      else
        expect([user.username, resource.uri, got.scope?.split(' ').sort()]).toEqual([
          user.username,
          resource.uri,
          listed.sort(),
        ]);
    }
  }
}, 120_000);
