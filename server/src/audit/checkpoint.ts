/**
 * Signed checkpoints of the audit chain: every `audit.checkpoint_every` events, or every
 * `audit.checkpoint_interval_seconds` when the chain grew, the head (seq, hash) is signed with baton's audit
 * key (Ed25519, node:crypto; not a token-signing key: it never leaves this purpose), stored in
 * `audit_checkpoints` and written as an `audit.checkpoint` log line, the copy that lives off the database.
 * Each checkpoint names the previous one (its seq and the SHA-256 of its signed note), so checkpoints form
 * a chain of their own. Models: AWS CloudTrail digest files (a signed digest every interval, each naming the
 * previous digest) and the C2SP tlog-checkpoint / signed-note format (an origin line, the size, the root
 * hash, extension lines; the signature over those lines).
 *
 * The private key is stored like the signing keys: a JWE under the KEK (`server_secrets`, keys/kek.ts), so
 * a database superuser can neither read it nor replace it with one of their own.
 *
 * Rotation (`baton audit rotate-key`): under the audit lock, the old key signs a last checkpoint of the
 * head, its public JWK joins the retired keys (sealed under the KEK too, each with the seq it sealed last),
 * and a new key becomes the one. Checkpoints are signed with the key read inside the lock, so no process
 * signs with a retired key after the rotation; `verify` checks old checkpoints with the retired keys and
 * reports one a retired key signed after its last seq.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { Kek } from '../keys/kek.ts';
import { replaceSecret, sharedSecret } from '../keys/keystore.ts';
import { AUDIT_LOCK, readHead, type AuditWriter } from './writer.ts';

/** the origin line of every checkpoint note (C2SP tlog-checkpoint: the log's name) */
export const CHECKPOINT_ORIGIN = 'baton audit log v1';
const SECRET_NAME = 'audit-signing-key';
const RETIRED_NAME = 'audit-retired-keys';

export interface Checkpoint {
  seq: number;
  hash: string;
  /** ISO 8601 */
  at: string;
  kid: string;
  /** Ed25519 over checkpointNote(), base64url */
  signature: string;
  prev_seq: number | null;
  prev_digest: string | null;
}

export interface AuditKey {
  kid: string;
  privateKey: KeyObject;
  /** the public JWK (RFC 8037 OKP Ed25519), for anyone who verifies exported checkpoints */
  publicJwk: JWK;
}

/** The text a checkpoint signs (one field a line, in this order). */
export function checkpointNote(c: Omit<Checkpoint, 'signature' | 'kid'>): string {
  const prev = c.prev_seq === null ? 'prev none' : `prev ${c.prev_seq} ${c.prev_digest ?? ''}`;
  return `${CHECKPOINT_ORIGIN}\n${c.seq}\n${c.hash}\nat ${c.at}\n${prev}\n`;
}

/** What the next checkpoint names as its predecessor: SHA-256 of this one's note and signature. */
export function checkpointDigest(c: Checkpoint): string {
  return createHash('sha256').update(checkpointNote(c)).update(Buffer.from(c.signature, 'base64url')).digest('hex');
}

export function verifyCheckpoint(c: Checkpoint, publicJwk: JWK): boolean {
  try {
    const key = createPublicKey({ key: publicJwk, format: 'jwk' });
    return verify(null, Buffer.from(checkpointNote(c)), key, Buffer.from(c.signature, 'base64url'));
  } catch {
    return false;
  }
}

/** A retired audit key: its public JWK, and the last seq it sealed (it signs nothing after). */
export interface RetiredAuditKey {
  jwk: JWK;
  retired_after_seq: number;
  retired_at: string;
}

const newPrivateJwk = () => JSON.stringify(generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }));

async function keyFromJwk(jwk: JWK): Promise<AuditKey> {
  const { d: _d, ...pub } = jwk;
  const kid = await calculateJwkThumbprint(pub);
  return {
    kid,
    privateKey: createPrivateKey({ key: jwk, format: 'jwk' }),
    publicJwk: { ...pub, kid, alg: 'EdDSA', use: 'sig' },
  };
}

/** The audit key, generated once (by whichever process needs it first) and sealed under the KEK. */
export async function auditKey(db: Knex, kek: Kek): Promise<AuditKey> {
  return keyFromJwk(JSON.parse(await sharedSecret(db, kek, SECRET_NAME, newPrivateJwk)) as JWK);
}

/** The keys that signed checkpoints before a rotation (empty until the first). */
export async function retiredAuditKeys(db: Knex, kek: Kek): Promise<RetiredAuditKey[]> {
  return JSON.parse(await sharedSecret(db, kek, RETIRED_NAME, () => '[]')) as RetiredAuditKey[];
}

/**
 * Rotates the audit key: the old key seals the head with a last checkpoint, retires (its public JWK kept,
 * sealed), and a new key signs from the next checkpoint on. All under the audit lock: no event is appended
 * and no checkpoint made in between.
 */
export async function rotateAuditKey(
  db: Knex,
  kek: Kek,
  log: Logger,
): Promise<{ kid: string; previous_kid: string; sealed_seq: number }> {
  const { rotated, sealed } = await db.transaction(async (trx) => {
    await trx.raw('select pg_advisory_xact_lock(?)', [AUDIT_LOCK]);
    const old = await auditKey(trx, kek);
    const sealed = await checkpointUnderLock(trx, old);
    const head = await readHead(trx);
    const retired = await retiredAuditKeys(trx, kek);
    retired.push({ jwk: old.publicJwk, retired_after_seq: head.seq, retired_at: new Date().toISOString() });
    await replaceSecret(trx, kek, RETIRED_NAME, JSON.stringify(retired));
    const fresh = newPrivateJwk();
    await replaceSecret(trx, kek, SECRET_NAME, fresh);
    const next = await keyFromJwk(JSON.parse(fresh) as JWK);
    return { rotated: { kid: next.kid, previous_kid: old.kid, sealed_seq: head.seq }, sealed };
  });
  if (sealed) log.info({ checkpoint: sealed }, 'audit.checkpoint');
  log.info(
    { kid: rotated.kid, previous_kid: rotated.previous_kid, sealed_seq: rotated.sealed_seq },
    'audit.key_rotated',
  );
  return rotated;
}

type CheckpointRow = Omit<Checkpoint, 'seq' | 'at' | 'prev_seq'> & {
  seq: string | number;
  at: Date | string;
  prev_seq: string | number | null;
};

export const checkpointFromRow = (r: CheckpointRow): Checkpoint => ({
  seq: Number(r.seq),
  hash: r.hash,
  at: new Date(r.at).toISOString(),
  kid: r.kid,
  signature: r.signature,
  prev_seq: r.prev_seq === null ? null : Number(r.prev_seq),
  prev_digest: r.prev_digest,
});

export async function listCheckpoints(db: Knex): Promise<Checkpoint[]> {
  return (await db('audit_checkpoints').orderBy('seq').select<CheckpointRow[]>('*')).map(checkpointFromRow);
}

/** Inside a transaction holding AUDIT_LOCK: signs the head with `key`, unless the last checkpoint covers it. */
async function checkpointUnderLock(trx: Knex.Transaction, key: AuditKey): Promise<Checkpoint | undefined> {
  const head = await readHead(trx);
  const last = await trx('audit_checkpoints').orderBy('seq', 'desc').first<CheckpointRow | undefined>('*');
  const prev = last ? checkpointFromRow(last) : undefined;
  if (head.seq === 0 || (prev && prev.seq >= head.seq)) return undefined;
  const unsigned = {
    seq: head.seq,
    hash: head.hash,
    at: new Date().toISOString(),
    prev_seq: prev?.seq ?? null,
    prev_digest: prev ? checkpointDigest(prev) : null,
  };
  const signature = sign(null, Buffer.from(checkpointNote(unsigned)), key.privateKey).toString('base64url');
  const checkpoint: Checkpoint = { ...unsigned, kid: key.kid, signature };
  await trx('audit_checkpoints').insert(checkpoint);
  return checkpoint;
}

/**
 * Signs the current head, unless the last checkpoint already covers it; logs it once committed. `key` is
 * the audit key, or how to read it: read inside the lock, a key rotated meanwhile is never used.
 */
export async function writeCheckpoint(
  db: Knex,
  key: AuditKey | ((trx: Knex.Transaction) => Promise<AuditKey>),
  log: Logger,
): Promise<Checkpoint | undefined> {
  const made = await db.transaction(async (trx) => {
    await trx.raw('select pg_advisory_xact_lock(?)', [AUDIT_LOCK]);
    return checkpointUnderLock(trx, typeof key === 'function' ? await key(trx) : key);
  });
  // the off-database copy: `baton audit verify --checkpoints FILE` reads these lines back
  if (made) log.info({ checkpoint: made }, 'audit.checkpoint');
  return made;
}

export interface Checkpointing {
  /** a checkpoint now, if the chain grew (what the timer and the event count call) */
  checkpoint(): Promise<Checkpoint | undefined>;
  stop(): Promise<void>;
}

/** Whether the chain grew past the last checkpoint (read without the lock: a hint, writeCheckpoint decides). */
async function chainGrew(db: Knex): Promise<boolean> {
  const head = await readHead(db);
  const last = await db('audit_checkpoints').max<{ seq: string | number | null }[]>('seq as seq');
  return head.seq > Number(last[0]?.seq ?? 0);
}

/**
 * Checkpoints after every `every` events this process wrote, and every `intervalSeconds` (any process's).
 * `key` is read at each checkpoint, inside its lock (an empty trail makes no audit key; a rotated key is
 * picked up at once by every process).
 */
export function startCheckpoints(
  writer: AuditWriter,
  db: Knex,
  key: (trx: Knex.Transaction) => Promise<AuditKey>,
  log: Logger,
  opts: { every: number; intervalSeconds: number },
): Checkpointing {
  let running: Promise<Checkpoint | undefined> | undefined;
  let coveredSeq = 0;
  let stopped = false;
  const attempt = async () => {
    if (!(await chainGrew(db))) return undefined;
    return writeCheckpoint(db, key, log);
  };
  const checkpoint = () => {
    running ??= attempt()
      .then((c) => {
        if (c) coveredSeq = c.seq;
        return c;
      })
      .catch((err: Error) => {
        log.warn({ err: { message: err.message } }, 'audit.checkpoint_failed');
        return undefined;
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  };
  writer.onCommit((head) => {
    if (!stopped && head.seq - coveredSeq >= opts.every) void checkpoint();
  });
  const timer = setInterval(() => void checkpoint(), opts.intervalSeconds * 1000);
  timer.unref();
  return {
    checkpoint,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
