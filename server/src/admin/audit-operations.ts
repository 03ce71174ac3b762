/**
 * `baton audit search|trace|export|verify|checkpoints|key`: admin operations (admin/operation.ts), so that
 * on the embedded store they reach a running server's store through its admin socket, like the others.
 * Results are JSON; `print` writes a text table, or JSON lines (`--json`, export, checkpoints).
 */
import type { JWK } from 'jose';
import pino from 'pino';
import { z } from 'zod';
import { AdminError } from './errors.ts';
import { operation, type Operation } from './operation.ts';
import { resolveAccount } from './resolve-account.ts';
import { resolveKek } from '../keys/kek.ts';
import type { ChainedRow } from '../audit/chain.ts';
import { auditKey, listCheckpoints, retiredAuditKeys, rotateAuditKey, type Checkpoint } from '../audit/checkpoint.ts';
import { createLogger } from '../logger.ts';
import { readChain, searchEvents, traceToken, type Trace } from '../audit/store.ts';
import { verifyChain, type VerifyReport } from '../audit/verify.ts';

const text = z.string().min(1).max(1024);
const instant = z
  .string()
  .max(64)
  .refine((v) => !Number.isNaN(Date.parse(v)), 'is not a date or an ISO 8601 time')
  .transform((v) => new Date(Date.parse(v)).toISOString());
const notFound = (err: unknown) => {
  if (err instanceof AdminError && err.code === 'not_found') return undefined;
  throw err;
};
const jsonLines = (rows: readonly unknown[]) => rows.map((r) => `${JSON.stringify(r)}\n`).join('');

/** A row for people: what happened, to whom, through which client, for which resource, and why. */
function tableOf(rows: readonly ChainedRow[], indent: (r: ChainedRow) => string = () => ''): string {
  if (rows.length === 0) return 'no events\n';
  const cells = rows.map((r) => [
    `${indent(r)}${r.seq}`,
    r.at,
    r.type,
    r.outcome,
    r.account_id ?? '-',
    r.client_id ?? '-',
    r.resource ?? '-',
    r.jti ?? '-',
    [r.event.error, r.event.reason].filter(Boolean).join(': ') || '-',
  ]);
  const head = ['seq', 'at', 'type', 'outcome', 'account', 'client', 'resource', 'jti', 'reason'];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => `${c.map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i]!))).join('  ')}\n`;
  return line(head) + cells.map(line).join('');
}

/** what a reported call was: `tools/call read_logs → 200` (tool.called, api.called) */
function callOf(e: ChainedRow): string {
  if (e.type !== 'tool.called' && e.type !== 'api.called') return '';
  const d = (e.event.details ?? {}) as { method?: unknown; name?: unknown; status?: unknown };
  const call = [d.method, d.name].filter((v) => typeof v === 'string').join(' ');
  return typeof d.status === 'number' ? `${call} → ${d.status}` : call;
}

/** The token tree, each token with its events under it (indented by its depth). */
function printTrace(t: Trace): string {
  if (t.tokens.length === 1 && t.events.length === 0) return `no events name ${t.tokens[0]!.jti}\n`;
  const depth = new Map(t.tokens.map((k) => [k.jti, k.depth]));
  const children = (parent: string | null) => t.tokens.filter((k) => k.parent_jti === parent);
  const out: string[] = [];
  const tokenOf = (e: ChainedRow) => (e.jti && depth.has(e.jti) ? e.jti : e.parent_jti);
  const write = (pad: string, e: ChainedRow) => {
    const why = [e.event.error, e.event.reason].filter(Boolean).join(': ');
    const what = callOf(e);
    out.push(
      `${pad}  ${e.seq}  ${e.at}  ${e.type}  ${e.outcome}  ${e.account_id ?? '-'}  ${e.client_id ?? '-'}  ${e.resource ?? '-'}${what ? `  ${what}` : ''}${why ? `  ${why}` : ''}\n`,
    );
  };
  // the grant's own events first: the sign-in that started it (by its auth_time), the consent
  const authTime = (e: ChainedRow) => (e.event.details as { auth_time?: unknown } | undefined)?.auth_time;
  const signIns = t.events.filter((e) => e.type === 'login.success' && tokenOf(e) === null);
  const shown = new Set<number>();
  for (const gid of new Set(t.events.filter((e) => tokenOf(e) === null && e.grant_id).map((e) => e.grant_id))) {
    out.push(`grant ${gid}\n`);
    const own = t.events.filter((x) => tokenOf(x) === null && x.grant_id === gid);
    // (the store returned, per grant, the last sign-in before it with its auth_time)
    const started = signIns.filter((l) =>
      own.some(
        (g) =>
          g.account_id === l.account_id && authTime(g) !== undefined && authTime(g) === authTime(l) && l.seq < g.seq,
      ),
    );
    for (const e of [...started, ...own].sort((a, b) => a.seq - b.seq)) {
      shown.add(e.seq);
      write('', e);
    }
  }
  const loose = t.events.filter((e) => tokenOf(e) === null && !e.grant_id && !shown.has(e.seq));
  if (loose.length > 0) out.push('grant -\n');
  for (const e of loose) write('', e);
  const visit = (jti: string) => {
    const pad = '  '.repeat(depth.get(jti) ?? 0);
    out.push(`${pad}token ${jti}\n`);
    for (const e of t.events.filter((x) => tokenOf(x) === jti)) write(pad, e);
    for (const c of children(jti)) visit(c.jti);
  };
  for (const root of children(null)) visit(root.jti);
  return out.join('');
}

const checkpointShape = z.object({
  seq: z.number().int().positive(),
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  at: z.string().max(64),
  kid: z.string().min(1).max(128),
  signature: z.string().max(256),
  prev_seq: z.number().int().positive().nullable(),
  prev_digest: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .nullable(),
});

/** Exported checkpoints: JSON lines, each a checkpoint or an `audit.checkpoint` log line holding one. */
export function parseCheckpoints(content: string): Checkpoint[] {
  const out: Checkpoint[] = [];
  for (const [i, line] of content.split('\n').entries()) {
    if (!line.trim()) continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new AdminError('invalid_request', `checkpoints line ${i + 1}: not JSON`);
    }
    const v = value as { msg?: unknown; checkpoint?: unknown };
    if (v.msg !== undefined && v.msg !== 'audit.checkpoint') continue; // another log line
    const parsed = checkpointShape.safeParse(v.msg === 'audit.checkpoint' ? v.checkpoint : value);
    if (!parsed.success) throw new AdminError('invalid_request', `checkpoints line ${i + 1}: not a checkpoint`);
    out.push(parsed.data);
  }
  return out;
}

/** `--key FILE`: a JWK, or a JWKS (`baton audit key --all`), of audit public keys to trust */
function pinnedKeys(text: string): JWK[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new AdminError('invalid_request', '--key: the file is not a JWK or a JWKS (JSON)');
  }
  const keys = (value as { keys?: unknown }).keys ?? [value];
  if (
    !Array.isArray(keys) ||
    !keys.every((k) => typeof k === 'object' && k !== null && typeof (k as JWK).kid === 'string')
  )
    throw new AdminError('invalid_request', '--key: the file is not a JWK or a JWKS of keys with a kid');
  return keys as JWK[];
}

function printVerify(r: VerifyReport): string {
  const range = r.first === null ? 'no events' : `${r.events} events (seq ${r.first}–${r.last})`;
  const cps = `${r.checkpoints.database} checkpoints in the database, ${r.checkpoints.exported} exported`;
  if (r.ok) return `ok: ${range}, ${cps}; ${r.unsealed} events after the last checkpoint\n`;
  return `FAILED: ${range}, ${cps}; ${r.problems.length} problems:\n${r.problems.map((p) => `  ${p.message}\n`).join('')}`;
}

const search = operation({
  args: z.strictObject({
    account: text.optional(),
    client: text.optional(),
    resource: text.optional(),
    type: text.optional(),
    outcome: z.enum(['success', 'refused', 'failure']).optional(),
    jti: text.optional(),
    tool: text.optional(),
    agent: text.optional(),
    since: instant.optional(),
    until: instant.optional(),
    after: z.number().int().min(0).optional(),
    limit: z.number().int().min(1).max(10_000).default(100),
    /** the newest `limit` events, newest first (the console's "recent activity"); no `after` with it */
    newest: z.boolean().default(false),
    json: z.boolean().default(false),
  }),
  async run({ db, accounts }, { json, ...q }) {
    // an account as the operator names it (admin/resolve-account.ts), else the id or IdP subject as given
    // (events about a person without an account: a failed sign-in)
    const found = q.account ? await resolveAccount(db, accounts, q.account).catch(notFound) : undefined;
    return { json, rows: await searchEvents(db, { ...q, ...(found ? { accountId: found.id } : {}) }) };
  },
  print: ({ json, rows }) => (json ? jsonLines(rows) : tableOf(rows)),
  reads: true,
});

export const AUDIT_OPERATIONS: [string, Operation<unknown, unknown>][] = [
  ['audit.search', search],
  [
    'audit.trace',
    operation({
      args: z.strictObject({ jti: text, json: z.boolean().default(false) }),
      async run({ db }, { jti, json }) {
        return { json, trace: await traceToken(db, jti) };
      },
      print: ({ json, trace }) => (json ? jsonLines(trace.events) : printTrace(trace)),
      reads: true,
    }),
  ],
  [
    'audit.export',
    operation({
      args: z.strictObject({
        since: instant.optional(),
        after: z.number().int().min(0).optional(),
        limit: z.number().int().min(1).max(100_000).default(100_000),
      }),
      async run({ db }, q) {
        return searchEvents(db, q);
      },
      print: jsonLines,
      reads: true,
    }),
  ],
  [
    'audit.verify',
    operation({
      // the exported checkpoints' text, and audit public keys (a JWK or a JWKS), read by the command line
      args: z.strictObject({
        checkpoints: z.string().max(900_000).optional(),
        key: z.string().max(100_000).optional(),
      }),
      async run({ config, db }, { checkpoints, key }) {
        const kek = resolveKek(config);
        const retired = await retiredAuditKeys(db, kek);
        const keys: JWK[] = [
          ...(key ? pinnedKeys(key) : []),
          (await auditKey(db, kek)).publicJwk,
          ...retired.map((r) => r.jwk),
        ];
        const retiredAfter = new Map(retired.map((r) => [r.jwk.kid!, r.retired_after_seq]));
        const exported = checkpoints ? parseCheckpoints(checkpoints) : [];
        return verifyChain({ rows: readChain(db), database: await listCheckpoints(db), exported, keys, retiredAfter });
      },
      print: printVerify,
      status: (r) => (r.ok ? 0 : 1),
      reads: true,
    }),
  ],
  [
    'audit.checkpoints',
    operation({
      args: z.strictObject({}),
      run: async ({ db }) => listCheckpoints(db),
      print: jsonLines,
      reads: true,
    }),
  ],
  [
    'audit.key',
    operation({
      args: z.strictObject({ all: z.boolean().default(false) }),
      async run({ config, db }, { all }) {
        const kek = resolveKek(config);
        const active = (await auditKey(db, kek)).publicJwk;
        return all ? { keys: [active, ...(await retiredAuditKeys(db, kek)).map((r) => r.jwk)] } : active;
      },
      print: (jwk) => `${JSON.stringify(jwk)}\n`,
      reads: true,
    }),
  ],
  [
    'audit.rotate_key',
    operation({
      args: z.strictObject({}),
      async run({ config, db }) {
        // the log lines (the old key's last checkpoint, audit.key_rotated) on stderr: stdout is the answer
        const log = createLogger(config.logging.level, pino.destination({ fd: 2, sync: true }));
        return rotateAuditKey(db, resolveKek(config), log);
      },
      // the rotation is in the trail itself, sealed by the new key's first checkpoint
      audit: (rotated) => [
        { type: 'keys.changed', outcome: 'success', details: { action: 'audit_key_rotated', ...rotated } },
      ],
      print: (r) =>
        `audit key ${r.previous_kid} retired after sealing seq ${r.sealed_seq}; checkpoints are now signed by ${r.kid} (pin both: baton audit key --all)\n`,
    }),
  ],
];
