/**
 * Two processes on one PostgreSQL writing audit events at once keep one chain: every seq from 1 to the
 * total, once, and it verifies (writer.ts: one advisory lock per batch, the head re-read under it).
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { openStorage, type Storage } from '../../src/storage/index.ts';
import { readChain } from '../../src/audit/store.ts';
import { verifyChain } from '../../src/audit/verify.ts';
import { freshDatabase, makeConfig } from '../helpers.ts';

const SCRIPT = resolve(import.meta.dirname, 'write-events.ts');

function writer(url: string, n: number, tag: string): Promise<{ code: number | null; out: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [SCRIPT, url, String(n), tag], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => done({ code, out }));
  });
}

let storage: Storage;
let db: Awaited<ReturnType<typeof freshDatabase>>;
beforeAll(async () => {
  db = await freshDatabase();
  storage = await openStorage(makeConfig({ storage: { postgres: db.url } }), createLogger('silent'));
  await storage.migrate('latest');
});
afterAll(async () => {
  await storage?.close();
  await db?.drop();
});

it('two processes writing at once keep one gap-free chain that verifies', async () => {
  const results = await Promise.all([writer(db.url, 400, 'a'), writer(db.url, 400, 'b')]);
  expect(results).toEqual([
    { code: 0, out: 'done\n' },
    { code: 0, out: 'done\n' },
  ]);
  const rows = [];
  for await (const r of readChain(storage.db)) rows.push(r);
  expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: 800 }, (_, i) => i + 1));
  expect(new Set(rows.map((r) => r.jti)).size).toBe(800);
  expect(await verifyChain({ rows, database: [], keys: [] })).toMatchObject({ ok: true, events: 800, problems: [] });
});
