/**
 * `baton audit search|trace|export|verify|checkpoints|key` on PostgreSQL (the command line on the store
 * itself), and on the embedded store while a server holds it (through its admin socket): the same output.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Knex } from 'knex';
import { createLogger } from '../../src/logger.ts';
import { openStorage, type Storage } from '../../src/storage/index.ts';
import { kekFrom } from '../../src/keys/kek.ts';
import { auditWriter, sharedAuditWriter, type AuditWriter } from '../../src/audit/writer.ts';
import { auditKey, writeCheckpoint } from '../../src/audit/checkpoint.ts';
import type { AuditEvent } from '../../src/audit/record.ts';
import { searchEvents } from '../../src/audit/store.ts';
import { freshDatabase, KEK, makeConfig, memoryLogger, startTestServer, type TestServer } from '../helpers.ts';
import { runCli, writeConfig } from '../processes.ts';
import { tempDir } from '../temp.ts';

const LOGS = 'https://logs.mcp.example.com/mcp';
const COST = 'https://cost.internal.example.com';
const at = Date.parse('2026-11-30T10:00:00.000Z');

/** alice signs in, ide-agent gets t1 for the logs MCP, which exchanges it for t2 (cost), which is refused once. */
const SCENARIO: AuditEvent[] = [
  {
    type: 'login.success',
    outcome: 'success',
    account: 'u_alice',
    idp: { iss: 'https://idp', sub: 'alice-sub' },
    gid: 'g1',
    at,
  },
  {
    type: 'token.issued',
    outcome: 'success',
    account: 'u_alice',
    client: 'ide-agent',
    resource: LOGS,
    jti: 't1',
    gid: 'g1',
    at: at + 1000,
  },
  {
    type: 'token.issued',
    outcome: 'success',
    account: 'u_alice',
    client: 'logs-mcp',
    act: { sub: 'logs-mcp', act: { sub: 'ide-agent' } },
    resource: COST,
    jti: 't2',
    parent_jti: 't1',
    gid: 'g1',
    at: at + 2000,
  },
  {
    type: 'tool.called',
    outcome: 'success',
    account: 'u_alice',
    client: 'logs-mcp',
    act: { sub: 'logs-mcp', act: { sub: 'ide-agent' } },
    resource: COST,
    jti: 't2',
    details: { method: 'tools/call', name: 'cost.read' },
    at: at + 3000,
  },
  {
    type: 'token.refused',
    outcome: 'refused',
    account: 'u_alice',
    client: 'logs-mcp',
    resource: LOGS,
    parent_jti: 't1',
    error: 'invalid_scope',
    reason: 'scope_not_delegable',
    at: at + 4000,
  },
  {
    type: 'token.issued',
    outcome: 'success',
    account: 'u_bob',
    client: 'ide-agent',
    resource: LOGS,
    jti: 'other',
    at: at + 5000,
  },
];

const cli = (file: string, ...args: string[]) => runCli(['audit', ...args, '--config', file]);
const json = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

async function seed(writer: AuditWriter, db: Knex): Promise<void> {
  await writer.write({ audit: SCENARIO });
  await writeCheckpoint(db, await auditKey(db, kekFrom(KEK)), createLogger('silent'));
}

describe('baton audit on PostgreSQL', () => {
  let storage: Storage;
  let drop: () => Promise<void>;
  let file: string;
  beforeAll(async () => {
    const db = await freshDatabase();
    drop = db.drop;
    const config = makeConfig({ storage: { postgres: db.url } });
    storage = await openStorage(config, createLogger('silent'));
    await storage.migrate('latest');
    await seed(auditWriter(storage.db), storage.db);
    file = writeConfig({ ...config, logging: { level: 'warn' } });
  });
  afterAll(async () => {
    await storage?.close();
    await drop?.();
  });

  it(
    'search: a text table, or JSON lines; by account, IdP subject, client, resource, type, outcome, time',
    { timeout: 60_000 },
    async () => {
      const table = await cli(file, 'search', '--account', 'u_alice', '--outcome', 'refused');
      expect(table.code).toBe(0);
      expect(table.stdout.split('\n')[0]).toMatch(/^seq +at +type +outcome +account +client +resource +jti +reason$/);
      expect(table.stdout).toContain('token.refused  refused  u_alice  logs-mcp');
      expect(table.stdout).toContain('invalid_scope: scope_not_delegable');
      expect(table.stdout.trim().split('\n')).toHaveLength(2);
      const seqs = async (...args: string[]) =>
        json((await cli(file, 'search', '--json', ...args)).stdout).map((r) => r.seq);
      expect(await seqs('--account', 'alice-sub')).toEqual([1]);
      expect(await seqs('--account', 'u_alice')).toEqual([1, 2, 3, 4, 5]);
      expect(await seqs('--client', 'ide-agent')).toEqual([2, 6]);
      expect(await seqs('--resource', COST, '--type', 'tool.called')).toEqual([4]);
      expect(await seqs('--since', '2026-11-30T10:00:02Z', '--until', '2026-11-30T10:00:04Z')).toEqual([3, 4]);
      expect(await seqs('--after', '4', '--limit', '1')).toEqual([5]);
      const [row] = json((await cli(file, 'search', '--json', '--type', 'tool.called')).stdout);
      expect(row).toMatchObject({ seq: 4, jti: 't2', event: { details: { name: 'cost.read' } } });
      // --tool: what an MCP server reported; --agent: the client, or an actor anywhere in the chain (act.act)
      expect(await seqs('--agent', 'ide-agent', '--tool', 'cost.read')).toEqual([4]);
      const found = async (q: { tool?: string; agent?: string; type?: string }) =>
        (await searchEvents(storage.db, { ...q, limit: 100 })).map((r) => r.seq);
      expect(await found({ tool: 'cost.read' })).toEqual([4]);
      expect(await found({ tool: 'logs.read' })).toEqual([]);
      expect(await found({ agent: 'ide-agent' })).toEqual([2, 3, 4, 6]);
      expect(await found({ agent: 'logs-mcp', type: 'token.refused' })).toEqual([5]);
      expect(await found({ agent: "x' or '1'='1" })).toEqual([]);
      expect(await cli(file, 'search', '--outcome', 'maybe')).toMatchObject({
        code: 1,
        stderr: expect.stringContaining('audit.search'),
      });
      expect(await cli(file, 'search', '--since', 'yesterday-ish')).toMatchObject({
        code: 1,
        stderr: expect.stringContaining('is not a date'),
      });
      expect(await cli(file, 'search', '--limit', 'ten')).toMatchObject({
        code: 64,
        stderr: expect.stringContaining('--limit takes a number'),
      });
    },
  );

  it('trace: the tree the token belongs to, from any token in it, with the events naming its tokens', async () => {
    const tree = await cli(file, 'trace', 't2');
    expect(tree.code).toBe(0);
    const lines = tree.stdout.trimEnd().split('\n');
    expect(lines.map((l) => l.replace(/ {2}\d{4}-\S+/, '')).join('\n')).toBe(
      [
        'grant g1',
        '  1  login.success  success  u_alice  -  -',
        'token t1',
        `  2  token.issued  success  u_alice  ide-agent  ${LOGS}`,
        `  5  token.refused  refused  u_alice  logs-mcp  ${LOGS}  invalid_scope: scope_not_delegable`,
        '  token t2',
        `    3  token.issued  success  u_alice  logs-mcp  ${COST}`,
        `    4  tool.called  success  u_alice  logs-mcp  ${COST}  tools/call cost.read`,
      ].join('\n'),
    );
    expect(json((await cli(file, 'trace', 't1', '--json')).stdout).map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
    expect((await cli(file, 'trace', 'nobody')).stdout).toBe('no events name nobody\n');
  });

  it('export: JSON lines since a time; checkpoints and key; verify, against an exported checkpoint file', async () => {
    // (every command before this one has its own admin.operation record, stamped now: left out here)
    const exported = json((await cli(file, 'export', '--since', '2026-11-30T10:00:04Z')).stdout).filter(
      (r) => r.type !== 'admin.operation',
    );
    expect(exported.map((r) => [r.seq, r.type])).toEqual([
      [5, 'token.refused'],
      [6, 'token.issued'],
    ]);
    expect(exported[0]).toHaveProperty('hash');
    const key = JSON.parse((await cli(file, 'key')).stdout) as Record<string, unknown>;
    expect(key).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA' });
    expect(key).not.toHaveProperty('d');
    const checkpoints = (await cli(file, 'checkpoints')).stdout;
    expect(json(checkpoints).map((c) => c.seq)).toEqual([6]);
    const dir = tempDir('audit-cli');
    // the checkpoint as the server logs it (audit.checkpoint), among other log lines
    const logged = join(dir, 'checkpoints.log');
    writeFileSync(
      logged,
      `{"msg":"server.listening"}\n${JSON.stringify({ level: 30, msg: 'audit.checkpoint', checkpoint: json(checkpoints)[0] })}\n`,
    );
    const keyFile = join(dir, 'audit-key.json');
    writeFileSync(keyFile, JSON.stringify(key));
    // the scenario's 6 events, then the admin.operation records of the commands so far
    expect(await cli(file, 'verify', '--checkpoints', logged, '--key', keyFile)).toEqual({
      code: 0,
      stdout: expect.stringMatching(
        /^ok: (\d+) events \(seq 1–\1\), 1 checkpoints in the database, 1 exported; \d+ events after the last checkpoint\n$/,
      ),
      stderr: '',
    });
    // a superuser edits a row and removes the database's checkpoints
    await storage.db.transaction(async (trx) => {
      await trx.raw('alter table audit_events disable trigger audit_events_append_only');
      await trx.raw(`update audit_events set outcome = 'success' where seq = 5`);
      await trx.raw('alter table audit_events enable trigger audit_events_append_only');
    });
    await storage.db('audit_checkpoints').delete();
    expect(await cli(file, 'verify', '--checkpoints', logged)).toEqual({
      code: 1,
      stdout: expect.stringMatching(
        new RegExp(
          [
            '^FAILED: (\\d+) events \\(seq 1–\\1\\), 0 checkpoints in the database, 1 exported; 2 problems:',
            '  seq 5: its content does not match its hash: edited',
            '  the exported checkpoint at seq 6 is not in the database: removed',
            '$',
          ].join('\n'),
        ),
      ),
      stderr: '',
    });
    writeFileSync(logged, 'not json\n');
    expect(await cli(file, 'verify', '--checkpoints', logged)).toMatchObject({
      code: 1,
      stderr: 'baton: checkpoints line 1: not JSON\n',
    });
  });
});

describe('baton audit on the embedded store, through the running server', () => {
  let baton: TestServer;
  let file: string;
  beforeAll(async () => {
    baton = await startTestServer({ backend: 'embedded', logs: memoryLogger() });
    await seed(sharedAuditWriter(baton.server.storage.db), baton.server.storage.db);
    const carol = await baton.server.accounts.provision({
      idpId: 'local',
      idpIssuer: 'https://idp.example.com',
      subject: 'carol',
      groups: ['finance'],
      roles: [],
      email: 'carol@example.com',
    });
    await sharedAuditWriter(baton.server.storage.db).write({
      audit: [{ type: 'account.disabled', outcome: 'success', account: carol.id, details: { by: 'cli' } }],
    });
    file = writeConfig({ ...baton.config, logging: { level: 'warn' } });
  });
  afterAll(async () => {
    await baton?.close();
  });

  it('search, trace and verify answer as on PostgreSQL', async () => {
    const search = await cli(file, 'search', '--client', 'ide-agent', '--json');
    expect(search.code).toBe(0);
    expect(json(search.stdout).map((r) => r.jti)).toEqual(['t1', 'other']);
    expect((await cli(file, 'trace', 't1')).stdout).toContain('  token t2\n');
    // an account as the operator names it (here by email), as for `baton accounts`
    const byEmail = json((await cli(file, 'search', '--account', 'carol@example.com', '--json')).stdout);
    expect(byEmail.map((r) => [r.seq, r.type])).toEqual([[7, 'account.disabled']]);
    // the jsonpath filters work on the embedded store too
    const byAgent = json((await cli(file, 'search', '--agent', 'ide-agent', '--tool', 'cost.read', '--json')).stdout);
    expect(byAgent.map((r) => r.seq)).toEqual([4]);
    expect(await cli(file, 'verify')).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/^ok: \d+ events \(seq 1–\d+\)/), // 7, then the commands' own records
    });
  });
});
