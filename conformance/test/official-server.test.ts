/**
 * The official MCP conformance suite's `server` scenarios against the example logs MCP server, protected by
 * the `clients/` kit and trusting baton. The suite's runner sends no token (it does no OAuth at all), so it
 * talks to the MCP server through a token-injecting proxy (conformance/src/token-proxy.ts) that adds Alice's
 * access token, obtained from baton through the authorization code flow with her scripted sign-in. These
 * scenarios test the MCP server's protocol behaviour behind the kit, not the auth handshake (that is the
 * `authorization` command's job, and our own suite's). Scenarios that need tools, prompts or resources the
 * example does not have are not run; the expected failures of the ones run live in conformance/baseline.yml.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { resolve } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startLogsMcp } from '../../clients/examples/logs-mcp.ts';
import type { RunningServer } from '../../server/src/main.ts';
import { startBatonAt } from '../../server/test/helpers.ts';
import { answerAs, walkSignIn } from '../src/browser.ts';
import { startTokenProxy } from '../src/token-proxy.ts';
import { tempDir } from '../../server/test/temp.ts';

const ISSUER = 'http://127.0.0.1:9493';
const MCP_PORT = 9494;
const MCP = `http://127.0.0.1:${MCP_PORT}/mcp`;
const REDIRECT = 'http://127.0.0.1:9495/callback';
const CLI = resolve(import.meta.dirname, '../../node_modules/@modelcontextprotocol/conformance/dist/index.js');

/** The server scenarios of the 2026-07-28 requirement set that apply to an MCP server with tools only. */
export const SERVER_SCENARIOS = ['server-initialize', 'ping', 'tools-list', 'dns-rebinding-protection'];

let baton: RunningServer;
let cleanup: () => Promise<void>;
let mcp: Server;
let proxy: { url: string; close(): Promise<void> };

beforeAll(async () => {
  const started = await startBatonAt(9493, (base) => ({
    resources: [...base.resources, { uri: MCP, name: 'Logs (conformance)', scopes: ['logs.read'] }],
    clients: {
      static: [
        ...base.clients.static,
        { client_id: 'conformance-agent', kind: 'agent', public: true, first_party: true, redirect_uris: [REDIRECT] },
      ],
    },
  }));
  baton = started.server;
  cleanup = started.cleanup;
  mcp = await startLogsMcp({
    issuer: ISSUER,
    port: MCP_PORT,
    costUrl: 'http://127.0.0.1:9/unused',
    clientSecret: 'unused',
    audit: () => {},
  });

  // Alice signs in (scripted) and the agent redeems the code for a token to the MCP server
  const verifier = randomBytes(32).toString('base64url');
  const start = `${ISSUER}/auth?${new URLSearchParams({
    client_id: 'conformance-agent',
    redirect_uri: REDIRECT,
    response_type: 'code',
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    resource: MCP,
    scope: 'logs.read',
    state: randomBytes(8).toString('hex'),
  }).toString()}`;
  const callback = await walkSignIn(start, {
    base: ISSUER,
    stopAt: (url) => url.href.startsWith(REDIRECT),
    answer: answerAs({ username: 'alice', password: 'alice-password' }),
  });
  const token = (await (
    await fetch(`${ISSUER}/token`, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code: callback.searchParams.get('code') ?? '',
        code_verifier: verifier,
        redirect_uri: REDIRECT,
        client_id: 'conformance-agent',
        resource: MCP,
      }),
    })
  ).json()) as { access_token: string };
  proxy = await startTokenProxy({ target: MCP, token: token.access_token });
}, 60_000);
afterAll(async () => {
  await proxy?.close();
  await new Promise((ok) => mcp?.close(ok));
  await baton?.close();
  await cleanup?.();
});

it('the official MCP conformance suite: server scenarios against the example MCP server behind the kit', async () => {
  const baseline = (parse(readFileSync(resolve(import.meta.dirname, '../baseline.yml'), 'utf8')) ?? {}) as {
    server?: { scenario: string; reason: string }[];
  };
  const out = tempDir('mcp-server-conf');
  const results: Record<string, { code: number | null; output: string }> = {};
  for (const scenario of SERVER_SCENARIOS) {
    const child = spawn(
      process.execPath,
      [CLI, 'server', '--url', `${proxy.url}/mcp`, '--scenario', scenario, '--spec-version', '2025-11-25', '-o', out],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const code = await new Promise<number | null>((ok) => child.on('exit', ok));
    results[scenario] = { code, output };
  }
  const expected = new Set((baseline.server ?? []).map((b) => b.scenario));
  for (const [scenario, r] of Object.entries(results)) {
    const passed = /Passed: (\d+)\/(\d+), (\d+) failed/.exec(r.output);
    // every scenario ran checks (a scenario with nothing to check proves nothing)
    expect(Number(passed?.[2] ?? 0), `${scenario}\n${r.output}`).toBeGreaterThan(0);
    if (expected.has(scenario)) expect(r.code, `${scenario} now passes: take it out of baseline.yml`).not.toBe(0);
    else expect(r.code, `${scenario}\n${r.output}`).toBe(0);
  }
}, 240_000);
