/**
 * The audit writer alone (server/src/audit/writer.ts), in this process, on a fresh database of the
 * PostgreSQL in TEST_DATABASE_URL: CONCURRENCY callers each writing one token.issued event at a time (and
 * every LINEAGE_EVERY-th a lineage row with it, as an exchange does), TOTAL events after a warm-up. Reports
 * this process's CPU time per event and the PostgreSQL backend's (the pool holds one connection, so one
 * backend serves every batch; read from /proc, so PostgreSQL must run on this machine). A micro-benchmark,
 * for comparing two versions of the writer back to back on one machine, not a test:
 *   node bench/audit-writer.ts [TOTAL=20000] [CONCURRENCY=40] [LINEAGE_EVERY=3]
 * (`node --cpu-prof bench/audit-writer.ts` profiles it).
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AuditEvent, LineageRow } from '../server/src/audit/record.ts';
import { auditWriter } from '../server/src/audit/writer.ts';
import { createLogger } from '../server/src/logger.ts';
import { openStorage } from '../server/src/storage/index.ts';
import { freshDatabase, makeConfig } from '../server/test/helpers.ts';

const [total = 20_000, concurrency = 40, lineageEvery = 3] = process.argv.slice(2).map(Number);
const database = await freshDatabase();
const storage = await openStorage(
  makeConfig({ storage: { postgres: database.url, postgres_pool_max: 1 } }),
  createLogger('silent'),
);
await storage.migrate('latest');
const writer = auditWriter(storage.db);
const { rows } = await storage.db.raw<{ rows: { pid: number }[] }>('select pg_backend_pid() as pid');

/** utime + stime of the PostgreSQL backend (µs) */
function backendCpu(): number {
  const stat = readFileSync(`/proc/${rows[0]!.pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000; // USER_HZ 100
}

function write(i: number): Promise<void> {
  const jti = randomUUID();
  const event: AuditEvent = {
    ...{ type: 'token.issued', outcome: 'success', client: 'logs-mcp', account: 'u_0123456789abcdef' },
    grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
    idp: { iss: 'https://idp.example.com', sub: 'alice' },
    act: { sub: 'logs-mcp', act: { sub: 'ide-agent' } },
    ...{ resource: 'https://cost.internal.example.com', scope: 'cost.read', jti, parent_jti: 'parent-jti' },
    ...{ gid: 'grant-0123456789', request_id: 'request-0123456789', at: Date.now() },
  };
  const lineage: LineageRow[] =
    i % lineageEvery === 0
      ? [
          {
            ...{ jti, parent_jti: 'parent-jti', grant_id: 'grant-0123456789', account_id: 'u_0123456789abcdef' },
            ...{ actor: 'logs-mcp', audience: 'https://cost.internal.example.com', depth: 1 },
            expires_at: new Date(Date.now() + 300_000),
          },
        ]
      : [];
  return writer.write({ audit: [event], lineage });
}

async function run(n: number): Promise<void> {
  let next = 0;
  const caller = async () => {
    while (next < n) await write(next++);
  };
  await Promise.all(Array.from({ length: concurrency }, caller));
}

await run(2000); // warm-up
const [cpu0, backend0, t0] = [process.cpuUsage(), backendCpu(), performance.now()];
await run(total);
const cpu = process.cpuUsage(cpu0);
const [backend, ms] = [backendCpu() - backend0, performance.now() - t0];
process.stdout.write(
  `${total} events, ${concurrency} callers: ${((cpu.user + cpu.system) / total).toFixed(1)} µs of CPU per event ` +
    `here, ${(backend / total).toFixed(1)} µs in the PostgreSQL backend, ${((total / ms) * 1000).toFixed(0)} events/s\n`,
);
await storage.close();
await database.drop();
