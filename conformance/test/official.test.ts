/**
 * The official MCP conformance suite (`@modelcontextprotocol/conformance` 0.2 alpha, its `authorization`
 * command) against baton: the metadata endpoint scenario and the authorization code grant, with the
 * sign-in it waits for driven from this test (baton's local login form, as a browser would). Expected
 * failures live in conformance/baseline.yml and may only shrink (it is empty).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { RunningServer } from '../../server/src/main.ts';
import { startBatonAt } from '../../server/test/helpers.ts';
import { answerAs, walkSignIn } from '../src/browser.ts';
import { tempDir } from '../../server/test/temp.ts';

const ISSUER = 'http://127.0.0.1:9490';
const CALLBACK_PORT = 9491;
const MCP = 'http://127.0.0.1:9492/mcp';
const CLI = resolve(import.meta.dirname, '../../node_modules/@modelcontextprotocol/conformance/dist/index.js');
let baton: RunningServer;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  const started = await startBatonAt(9490, (base) => ({
    resources: [...base.resources, { uri: MCP, name: 'Conformance MCP server', scopes: ['logs.read'] }],
    clients: {
      static: [
        ...base.clients.static,
        {
          client_id: 'conformance-public',
          kind: 'agent',
          public: true,
          first_party: true,
          redirect_uris: [`http://127.0.0.1:${CALLBACK_PORT}/callback`],
        },
      ],
    },
  }));
  baton = started.server;
  cleanup = started.cleanup;
});
afterAll(async () => {
  await baton?.close();
  await cleanup?.();
});

/** The browser: signs Alice in through baton's pages and delivers the callback to the suite. */
async function browse(start: string): Promise<void> {
  const callback = await walkSignIn(start, {
    base: ISSUER,
    stopAt: (url) => url.port === String(CALLBACK_PORT),
    answer: answerAs({ username: 'alice', password: 'alice-password' }),
  });
  await fetch(callback); // the suite's callback server
}

it('the official MCP conformance suite: authorization server scenarios pass (baseline empty)', async () => {
  const baseline = parse(readFileSync(resolve(import.meta.dirname, '../baseline.yml'), 'utf8')) as {
    authorization?: string[];
  } | null;
  expect(baseline?.authorization ?? []).toEqual([]);
  const out = tempDir('mcp-conf');
  const child = spawn(
    process.execPath,
    [
      CLI,
      'authorization',
      '--url',
      ISSUER,
      '--client-id',
      'conformance-public',
      '--resource',
      MCP,
      '-p',
      String(CALLBACK_PORT),
      '-o',
      out,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const lines = createInterface({ input: child.stdout });
  const browsing: Promise<void>[] = [];
  lines.on('line', (line) => {
    output += `${line}\n`;
    const url = /(http:\/\/127\.0\.0\.1:9490\/auth\?\S+)/.exec(line)?.[1];
    if (url) browsing.push(browse(url));
  });
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const code = await new Promise<number | null>((ok) => child.on('exit', ok));
  await Promise.all(browsing);
  expect(output).toMatch(/Total: 3 passed, 0 failed/);
  expect(code, output).toBe(0);
}, 120_000);
