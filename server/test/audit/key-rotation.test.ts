/**
 * Rotating the audit key (`baton audit rotate-key`): the old key seals the head and retires, a new key signs
 * from then on, in every process; verify checks the old checkpoints with the retired key, and catches a
 * checkpoint the retired key signed after its last seq (someone holding the old private key).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { openStorage, type Storage } from '../../src/storage/index.ts';
import { kekFrom } from '../../src/keys/kek.ts';
import { auditWriter } from '../../src/audit/writer.ts';
import { auditKey, listCheckpoints, retiredAuditKeys, writeCheckpoint } from '../../src/audit/checkpoint.ts';
import type { AuditEvent } from '../../src/audit/record.ts';
import { freshDatabase, KEK, makeConfig } from '../helpers.ts';
import { runCli, writeConfig } from '../processes.ts';
import { tempDir } from '../temp.ts';

const silent = createLogger('silent');
const events = (from: number, n: number): AuditEvent[] =>
  Array.from({ length: n }, (_, i) => ({ type: 'token.issued', outcome: 'success', jti: `j${from + i}` }));
const lines = (stdout: string) =>
  stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('baton audit rotate-key', () => {
  let storage: Storage;
  let drop: () => Promise<void>;
  let file: string;
  const kek = kekFrom(KEK);
  const cli = (...args: string[]) => runCli(['audit', ...args, '--config', file]);
  beforeAll(async () => {
    const db = await freshDatabase();
    drop = db.drop;
    const config = makeConfig({ storage: { postgres: db.url } });
    storage = await openStorage(config, silent);
    await storage.migrate('latest');
    file = writeConfig({ ...config, logging: { level: 'info' } });
  });
  afterAll(async () => {
    await storage?.close();
    await drop?.();
  });

  it('the old key seals the head and retires; checkpoints after it are signed by the new key', async () => {
    const writer = auditWriter(storage.db);
    const old = await auditKey(storage.db, kek);
    await writer.write({ audit: events(0, 3) });
    await writeCheckpoint(storage.db, old, silent); // seq 3, old key
    await writer.write({ audit: events(3, 2) }); // seq 4–5, not yet sealed

    const rotated = await cli('rotate-key');
    expect(rotated.code).toBe(0);
    const next = await auditKey(storage.db, kek);
    expect(next.kid).not.toBe(old.kid);
    expect(rotated.stdout).toBe(
      `audit key ${old.kid} retired after sealing seq 5; checkpoints are now signed by ${next.kid} (pin both: baton audit key --all)\n`,
    );
    // the old key's last checkpoint went to the log (stderr: stdout is the answer), as every checkpoint does
    const logged = lines(rotated.stderr).map((l) => l.msg);
    expect(logged).toEqual(['audit.checkpoint', 'audit.key_rotated']);
    expect((await listCheckpoints(storage.db)).map((c) => [c.seq, c.kid])).toEqual([
      [3, old.kid],
      [5, old.kid],
    ]);
    expect(await retiredAuditKeys(storage.db, kek)).toEqual([
      { jwk: old.publicJwk, retired_after_seq: 5, retired_at: expect.any(String) },
    ]);
    // the rotation is in the trail (seq 6, with the operation's own record), sealed by the new key
    const records = await storage.db('audit_events').where('seq', '>', 5).orderBy('seq').select('type', 'event');
    expect(records).toMatchObject([
      {
        type: 'keys.changed',
        event: { details: { action: 'audit_key_rotated', kid: next.kid, previous_kid: old.kid, sealed_seq: 5 } },
      },
      { type: 'admin.operation', event: { outcome: 'success', details: { operation: 'audit.rotate_key' } } },
    ]);
    // a process's checkpoint reads the key inside the lock: the new one, without a restart
    await writer.write({ audit: events(5, 1) });
    const after = await writeCheckpoint(storage.db, (trx) => auditKey(trx, kek), silent);
    expect(after).toMatchObject({ seq: 8, kid: next.kid, prev_seq: 5 });

    expect(await cli('verify')).toMatchObject({
      code: 0,
      stdout: 'ok: 8 events (seq 1–8), 3 checkpoints in the database, 0 exported; 0 events after the last checkpoint\n',
    });
    // both public keys, to pin off the database: verify --key accepts the JWKS
    const jwks = JSON.parse((await cli('key', '--all')).stdout) as { keys: { kid: string; d?: string }[] };
    expect(jwks.keys.map((k) => k.kid)).toEqual([next.kid, old.kid]);
    expect(jwks.keys.some((k) => 'd' in k)).toBe(false);
    const pinned = join(tempDir('audit-rotate'), 'keys.json');
    writeFileSync(pinned, JSON.stringify(jwks));
    expect((await cli('verify', '--key', pinned)).code).toBe(0);
    writeFileSync(pinned, '{"keys": [{"kty": "OKP"}]}');
    expect(await cli('verify', '--key', pinned)).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('--key: the file is not a JWK or a JWKS of keys with a kid'),
    });
  });

  it('a checkpoint the retired key signs after its last seq is reported (its private key leaked)', async () => {
    // the test holds the old private key the way a thief would: from before the rotation
    const retired = (await retiredAuditKeys(storage.db, kek))[0]!;
    const thief = await auditKey(storage.db, kek); // the current key: rotate once more to retire it
    expect((await cli('rotate-key')).code).toBe(0);
    await auditWriter(storage.db).write({ audit: events(100, 1) });
    const forged = await writeCheckpoint(storage.db, thief, silent);
    expect(forged?.kid).toBe(thief.kid);
    const verify = await cli('verify');
    expect(verify.code).toBe(1);
    expect(verify.stdout).toContain(
      `database checkpoint at seq ${forged!.seq} is signed by key ${thief.kid}, retired after seq ${forged!.seq - 3}`,
    );
    expect(retired.jwk.kid).not.toBe(thief.kid);
  });
});
