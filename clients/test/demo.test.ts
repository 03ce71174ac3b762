/**
 * npm run demo runs in CI as a test: the whole incident scenario (README.md "See it work", clients/README.md
 * "The demo"), from a clean start, leaving nothing behind.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { expect, it } from 'vitest';

it('npm run demo: every step of the incident scenario behaves as described', async () => {
  const child = spawn(process.execPath, [resolve(import.meta.dirname, '../examples/demo.ts')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((ok) => child.on('exit', ok));
  expect(out).not.toContain('✘');
  expect(out).toContain('✔ read_logs → 3 errors in checkout-service');
  expect(out).toContain(`the user's roles do not include incidents.trigger`);
  expect(out).toContain('act={"sub":"logs-mcp","act":{"sub":"ide-agent"}}');
  expect(out).toContain('cost service: subject alice, actor logs-mcp, chain logs-mcp ← ide-agent');
  expect(out).toContain('✔ trigger_incident → incident INC-42 declared by bob');
  expect(out).toContain('demo: every step behaved as the scenario says');
  expect(code).toBe(0);

  // tools/list: every tool, the ones the token does not cover marked with the scope to step up to; Bob's
  // lists trigger_incident, which he may call (after a step-up his roles allow)
  const stepUp = 'set_debug (step-up: logs.debug.write), trigger_incident (step-up: incidents.trigger)';
  expect(out).toContain(`tools/list offers her: cost_of_logs, read_logs, ${stepUp}`);
  expect(out).toContain(`tools/list offers him: cost_of_logs, read_logs, ${stepUp}`);
  expect(out).toContain(
    'tools/list now offers him: cost_of_logs, read_logs, set_debug (step-up: logs.debug.write), trigger_incident\n',
  );

  // the audit trail: each call once (a refused call is not re-sent by the client), and the cost service's hop
  const trail = out.slice(out.indexOf('6. The audit trail'));
  const lines = (re: RegExp) => trail.split('\n').filter((l) => re.test(l)).length;
  expect(lines(/ logs +alice +trigger_incident +denied +403 /)).toBe(1);
  expect(lines(/ logs +bob +trigger_incident +denied +403 /)).toBe(1);
  expect(lines(/ logs +bob +trigger_incident +allowed +200 /)).toBe(1);
  expect(lines(/ cost +alice +GET \/cost\/logs +allowed +200 +via logs-mcp ← ide-agent$/)).toBe(1);

  // baton's own trail (issue #13): `baton audit trace` of the token the cost service got reconstructs the
  // chain hop by hop: Alice's sign-in and grant → her token at the logs MCP (ide-agent) and its tool call →
  // the token exchanged for the cost service (logs-mcp) and the cost service's request
  const own = out.slice(out.indexOf('7. baton'), out.indexOf('8. A third-party MCP server'));
  const trace = own.slice(own.indexOf('$ baton audit trace'), own.indexOf('✔ the trace'));
  const shape = trace
    .split('\n')
    .slice(1)
    .filter((l) => l.trim())
    .map((l) =>
      l
        .replace(/ \d+ {2}\S+Z {2}/, ' ')
        .replace(/u_[\w-]+/g, 'ACCOUNT')
        .replace(/(grant|token) \S+$/, '$1'),
    );
  expect(shape).toEqual([
    '  grant',
    '    login.success  success  ACCOUNT  ide-agent  -',
    '    consent.given  success  ACCOUNT  ide-agent  http://127.0.0.1:9501/mcp',
    '  token',
    '    token.issued  success  ACCOUNT  ide-agent  http://127.0.0.1:9501/mcp',
    '    tool.called  success  ACCOUNT  ide-agent  http://127.0.0.1:9501/mcp  tools/call cost_of_logs → 200',
    '    token',
    '      token.issued  success  ACCOUNT  logs-mcp  http://127.0.0.1:9503',
    '      api.called  success  ACCOUNT  logs-mcp  http://127.0.0.1:9503  GET /cost/logs → 200',
  ]);
  // and the refused incidents.trigger calls, found by agent and tool across every person and hop
  const search = own.slice(own.indexOf('$ baton audit search')).split('\n').slice(2);
  expect(search.filter((l) => / tool\.called +refused +u_/.test(l))).toHaveLength(2);
  expect(search.filter((l) => / tool\.called +success +u_/.test(l))).toHaveLength(1);

  // the gateway (issue #16): a shared-key server used by two people, a rotation, the trail naming each
  const gateway = out.slice(out.indexOf('8. A third-party MCP server'));
  expect(gateway).toContain('$ baton secrets set search-key < key.txt\n  created secret search-key version 1\n');
  expect(gateway).toContain('tools/list offers Alice: echo\n');
  expect(gateway).toContain('tools/list offers Bob: echo, get-sum\n');
  expect(gateway).toContain('✔ Alice: echo → Echo: hello from Alice');
  expect(gateway).toContain('✔ Bob: get-sum → The sum of 2 and 3 is 5.');
  expect(gateway).toContain("the user's roles do not include search.admin");
  expect(gateway).toMatch(/rotated secret search-key to version 2; version 1 is still handed out until \S+Z\n/);
  // the server saw the first key, then the second, never anything else; no call failed
  expect(gateway).toMatch(/what the server saw, in order: (\w{8}) ×\d+, (?!\1)\w{8} ×\d+\n/);
  expect(gateway).toMatch(/✔ \d+ calls during the rotation, 0 failed/);
  const gatewayTrail = gateway.slice(gateway.indexOf('$ baton audit search --resource')).split('\n').slice(2, 7);
  const [aliceId, bobId] = /\((u_\S+) is alice and (u_\S+) is bob/.exec(gateway)!.slice(1);
  expect(
    gatewayTrail.filter((l) => l.includes(` refused  ${aliceId!}  ide-agent  http://127.0.0.1:9504/search/mcp`)),
  ).toHaveLength(1);
  expect(
    gatewayTrail.filter((l) => l.includes(` success  ${bobId!}  ide-agent  http://127.0.0.1:9504/search/mcp`)),
  ).toHaveLength(4);
}, 90_000);
