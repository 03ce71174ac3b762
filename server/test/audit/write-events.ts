/**
 * A separate process writing audit events (server/test/audit/processes.test.ts): `node write-events.ts URL
 * N TAG` writes N events, 20 callers at a time sharing the group-commit writer, then prints `done`.
 */
import knexFactory from 'knex';
import { auditWriter } from '../../src/audit/writer.ts';

const [url, count, tag] = process.argv.slice(2);
const db = knexFactory({ client: 'pg', connection: url!, pool: { min: 0, max: 4 } });
const writer = auditWriter(db);
const n = Number(count);
for (let i = 0; i < n; i += 20) {
  await Promise.all(
    Array.from({ length: Math.min(20, n - i) }, (_, j) =>
      writer.write({ audit: [{ type: 'tool.called', outcome: 'success', client: tag!, jti: `${tag}-${i + j}` }] }),
    ),
  );
}
await db.destroy();
process.stdout.write('done\n');
