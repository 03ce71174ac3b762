/** npm run demo runs in CI as a test: the whole incident scenario, from a clean start, leaving nothing behind. */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { expect, it } from 'vitest';

it('npm run demo: every step of the incident scenario behaves as PRODUCT.md says', async () => {
  const child = spawn(process.execPath, [resolve(import.meta.dirname, '../examples/demo.ts')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((ok) => child.on('exit', ok));
  expect(out).not.toContain('✘');
  expect(out).toContain('✔ read_logs → 3 errors in checkout-service');
  expect(out).toContain('tools/list offers her: cost_of_logs, read_logs');
  expect(out).toContain(`the user's roles do not include incidents.trigger`);
  expect(out).toContain('act={"sub":"logs-mcp","act":{"sub":"ide-agent"}}');
  expect(out).toContain('cost service: subject alice, actor logs-mcp, chain logs-mcp ← ide-agent');
  expect(out).toContain('✔ trigger_incident → incident INC-42 declared by bob');
  expect(out).toMatch(/bob\s+trigger_incident\s+allowed\s+200/);
  expect(out).toContain('demo: every step behaved as the scenario says');
  expect(code).toBe(0);
}, 60_000);
