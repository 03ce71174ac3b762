/**
 * Policy reloads without a restart: SIGHUP re-reads roles, role bindings and resources, validated before
 * they replace the old ones; a role removed from policy is gone from the next token (refresh).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { makeConfig, SERVICE_SECRET, startTestServer } from './helpers.ts';
import { runCli, startServerProcess, writeConfig } from './processes.ts';
import { codeForm, LOGS, seedAccount, seedCode } from './seed.ts';
import { tempDir } from './temp.ts';

const COST = 'https://cost.internal.example.com';

describe('policy reload', () => {
  it('SIGHUP applies a valid file and refuses an invalid one, keeping the old policy', async () => {
    const dir = tempDir('reload');
    const config = { ...makeConfig({ storage: { data_dir: join(dir, 'data') } }), logging: { level: 'info' } };
    const file = writeConfig(config);
    const server = await startServerProcess(file);
    const token = () =>
      request(server.url)
        .post('/token')
        .auth('cost-reporter', SERVICE_SECRET)
        .type('form')
        .send({ grant_type: 'client_credentials', resource: COST, scope: 'cost.read' });
    try {
      await token().expect(200);

      // an invalid file: refused, logged, the old policy stays
      writeFileSync(file, readFileSync(file, 'utf8').replace('"roles": {', '"roles": "nope", "x": {'));
      server.child.kill('SIGHUP');
      await until(() => server.output.some((l) => l.includes('"msg":"policy.reload_refused"')));
      expect(server.output.find((l) => l.includes('policy.reload_refused'))).toContain('roles: Invalid input');
      await token().expect(200);

      // a valid file without the cost resource's cost.read scope: applied, the scope is gone
      const next = {
        ...config,
        resources: config.resources.map((r) => (r.uri === COST ? { ...r, scopes: ['cost.write'] } : r)),
      };
      writeFileSync(file, JSON.stringify(next));
      server.child.kill('SIGHUP');
      await until(() => server.output.some((l) => l.includes('"msg":"policy.reloaded"')));
      const res = await token().expect(400);
      expect(res.body.error).toBe('invalid_scope');
    } finally {
      expect(await server.stop()).toBe(0);
    }
  });

  it('a role removed from policy is gone from the next refresh (nothing left: invalid_grant)', async () => {
    const baton = await startTestServer({ backend: 'postgres' });
    const { server } = baton;
    try {
      const account = await seedAccount(server.accounts);
      const tokens = await request(server.url)
        .post('/token')
        .type('form')
        .send(codeForm(await seedCode(server.provider(), account)))
        .expect(200);
      expect(tokens.body.scope).toBe('logs.read');
      await server.reloadPolicy(
        makeConfig({ storage: baton.config.storage, roles: { developer: ['analytics.query'], sre: [] } }),
      );
      const refreshed = await request(server.url)
        .post('/token')
        .type('form')
        .send({
          grant_type: 'refresh_token',
          refresh_token: tokens.body.refresh_token,
          client_id: 'ide-agent',
          resource: LOGS,
        })
        .expect(400);
      expect(refreshed.body.error).toBe('invalid_grant');
    } finally {
      await baton.close();
    }
  });

  it('users hash-password reads stdin and prints a scrypt hash the directory accepts', async () => {
    const res = await runCli(['users', 'hash-password'], {}, 'correct horse battery\n');
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^scrypt\$15\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}\n$/);
  });
});

async function until(check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (check()) return;
    await sleep(100);
  }
  throw new Error('timed out');
}
