/**
 * README.md's quickstart is true: its curl block (the curl-only sign-in with scripts/try-signin.sh, the code
 * redeemed with the PKCE verifier, the exchange by the logs MCP server) runs against `npm start`'s embedded
 * default (config/development.yaml, on another port and a fresh data directory), and prints tokens with the
 * claims the README shows.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import request from 'supertest';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startServerProcess, writeConfig, type ServerProcess } from './processes.ts';
import { tempDir } from './temp.ts';
import { actionOf, csrfOf, followRedirects } from './pages.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const PORT = 9487;
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
let server: ServerProcess;

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
  server = await startServerProcess(
    writeConfig({
      ...config,
      issuer: `http://127.0.0.1:${PORT}`,
      listen: { ...config.listen, port: PORT },
      storage: { ...config.storage, data_dir: join(tempDir('quickstart'), 'data') },
    }),
  );
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
