/**
 * `baton audit verify`: walks the chain in seq order and the signed checkpoints, and says what is wrong and
 * where. What each tampering looks like (chain.ts: every column of a row, its seq included, is in its hash,
 * and every row names its predecessor's hash):
 *   edited      a row's content no longer matches its hash;
 *   deleted     a gap in seq (or, when the rows after were renumbered, a row whose predecessor's hash is not
 *               the one it names, the rows after it hashing at seq + 1);
 *   inserted    a row whose successor names the hash of the row before it (the rows after renumbered);
 *   reordered   two neighbours each naming the other's predecessor;
 *   rewritten   hashes recomputed over edited rows: the chain is consistent again, but a signed checkpoint
 *               (in the database, or exported off it: the `audit.checkpoint` log lines) sealed another hash.
 * Checkpoints are checked too: the signature (the audit key, checkpoint.ts), the link to the previous one,
 * and that every exported checkpoint is in the database. Rows before the first one kept are missing by
 * retention only when that first row is sealed by a checkpoint (audit_retain keeps that row).
 */
import type { JWK } from 'jose';
import { hashRecord, type ChainedRow } from './chain.ts';
import { checkpointDigest, verifyCheckpoint, type Checkpoint } from './checkpoint.ts';

export type ProblemKind =
  | 'edited'
  | 'deleted'
  | 'inserted'
  | 'reordered'
  | 'renumbered'
  | 'broken_link'
  | 'rewritten'
  | 'missing_start'
  | 'missing_end'
  | 'bad_checkpoint';

export interface Problem {
  kind: ProblemKind;
  seq: number;
  message: string;
}

export interface VerifyReport {
  ok: boolean;
  events: number;
  first: number | null;
  last: number | null;
  checkpoints: { database: number; exported: number };
  /** events after the newest checkpoint: sealed by the chain only, not yet by a signature */
  unsealed: number;
  problems: Problem[];
}

const hashesAt = (row: ChainedRow, seq: number) => hashRecord({ ...row, seq }) === row.hash;

/** The chain walk: rows in seq order, two behind and one ahead of the row judged. */
export class ChainWalk {
  readonly problems: Problem[] = [];
  events = 0;
  first: number | null = null;
  last: ChainedRow | null = null;
  readonly #window: ChainedRow[] = [];
  #skip = false;
  #expectPrev: string | undefined;
  #shift: { delta: number; from: number; to: number } | undefined;
  /** the chain's hash at each seq, for the checkpoint comparison */
  readonly hashAt = new Map<number, string>();
  readonly #wanted: ReadonlySet<number>;

  constructor(checkpointSeqs: ReadonlySet<number>) {
    this.#wanted = checkpointSeqs;
  }

  push(row: ChainedRow): void {
    this.events++;
    this.first ??= row.seq;
    if (this.#wanted.has(row.seq)) this.hashAt.set(row.seq, row.hash);
    this.#window.push(row);
    if (this.#window.length > 4) this.#window.shift();
    if (this.#window.length >= 2) this.#judge(this.#window.length - 2);
  }

  end(): void {
    if (this.#window.length >= 1) this.#judge(this.#window.length - 1);
    this.#flushShift();
    this.last = this.#window[this.#window.length - 1] ?? null;
  }

  #problem(kind: ProblemKind, seq: number, message: string) {
    this.problems.push({ kind, seq, message });
  }

  #judge(i: number): void {
    const [pp, p, r, n] = [this.#window[i - 2], this.#window[i - 1], this.#window[i]!, this.#window[i + 1]];
    if (this.#skip) {
      this.#skip = false;
      return;
    }
    if (p && r.seq !== p.seq + 1) {
      const [a, b] = [p.seq + 1, r.seq - 1];
      this.#problem('deleted', a, a === b ? `seq ${a} is missing: deleted` : `seq ${a}–${b} are missing: deleted`);
    }
    // after a reordered pair, the row after it names the first of the two (the second's place in the chain)
    const expected = this.#expectPrev ?? p?.hash;
    this.#expectPrev = undefined;
    const linked = !p || r.seq !== p.seq + 1 || r.prev_hash === expected;
    if (p && n && n.seq === r.seq + 1 && r.prev_hash === n.hash && n.prev_hash === p.hash) {
      this.#problem('reordered', r.seq, `seq ${r.seq} and ${n.seq} are in each other's place: reordered`);
      this.#skip = true;
      this.#expectPrev = r.hash;
      return;
    }
    const contentOk = r.hash === hashRecord(r);
    const delta = contentOk ? 0 : hashesAt(r, r.seq - 1) ? 1 : hashesAt(r, r.seq + 1) ? -1 : undefined;
    if (delta === undefined)
      this.#problem('edited', r.seq, `seq ${r.seq}: its content does not match its hash: edited`);
    else this.#noteShift(r.seq, delta);
    if (linked) return;
    if (pp && r.prev_hash === pp.hash && p.hash === hashRecord(p)) {
      this.#problem('inserted', p.seq, `seq ${p.seq} is not in the chain (seq ${r.seq} names seq ${pp.seq}): inserted`);
    } else if (delta === -1) {
      this.#problem(
        'deleted',
        r.seq,
        `a row before seq ${r.seq} is missing (the rows after it were renumbered): deleted`,
      );
    } else {
      this.#problem(
        'broken_link',
        r.seq,
        `seq ${r.seq} does not name the hash of seq ${p.seq}: seq ${p.seq} was replaced, or the chain broken there`,
      );
    }
  }

  /** Rows moved to another seq by an insertion or deletion: one problem per run. */
  #noteShift(seq: number, delta: number): void {
    if (this.#shift && (delta === 0 || delta !== this.#shift.delta)) this.#flushShift();
    if (delta === 0) return;
    if (this.#shift) this.#shift.to = seq;
    else this.#shift = { delta, from: seq, to: seq };
  }

  #flushShift(): void {
    const s = this.#shift;
    if (!s) return;
    this.#shift = undefined;
    const was = (n: number) => n - s.delta;
    this.#problem(
      'renumbered',
      s.from,
      `seq ${s.from}–${s.to} hash as seq ${was(s.from)}–${was(s.to)}: renumbered by ${s.delta > 0 ? '+' : ''}${s.delta}`,
    );
  }
}

/**
 * Signatures and links of one list of checkpoints. The database keeps every checkpoint (`complete`: one
 * missing between two is reported); an exported file may hold a part of them (log lines of some days).
 */
function checkList(
  list: readonly Checkpoint[],
  keys: readonly JWK[],
  retiredAfter: ReadonlyMap<string, number>,
  source: string,
  complete: boolean,
): Problem[] {
  const out: Problem[] = [];
  const bad = (seq: number, message: string) => out.push({ kind: 'bad_checkpoint', seq, message });
  let prev: Checkpoint | undefined;
  for (const c of list) {
    const key = keys.find((k) => k.kid === c.kid);
    const after = retiredAfter.get(c.kid);
    if (!key) bad(c.seq, `${source} checkpoint at seq ${c.seq} is signed by an unknown key ${c.kid}`);
    else if (!verifyCheckpoint(c, key))
      bad(c.seq, `${source} checkpoint at seq ${c.seq}: its signature does not verify`);
    else if (after !== undefined && c.seq > after)
      bad(c.seq, `${source} checkpoint at seq ${c.seq} is signed by key ${c.kid}, retired after seq ${after}`);
    if (prev && (c.prev_seq === prev.seq || complete)) {
      if (c.prev_seq !== prev.seq || c.prev_digest !== checkpointDigest(prev)) {
        bad(c.seq, `${source} checkpoint at seq ${c.seq} does not name the checkpoint at seq ${prev.seq} before it`);
      }
    }
    prev = c;
  }
  return out;
}

/** Every exported checkpoint must be in the database, unchanged. */
function compareExported(database: readonly Checkpoint[], exported: readonly Checkpoint[]): Problem[] {
  const bySeq = new Map(database.map((c) => [c.seq, c]));
  return exported.flatMap((e): Problem[] => {
    const d = bySeq.get(e.seq);
    if (!d)
      return [
        {
          kind: 'rewritten',
          seq: e.seq,
          message: `the exported checkpoint at seq ${e.seq} is not in the database: removed`,
        },
      ];
    if (d.hash !== e.hash || d.signature !== e.signature) {
      return [
        {
          kind: 'rewritten',
          seq: e.seq,
          message: `the database's checkpoint at seq ${e.seq} is not the exported one: replaced`,
        },
      ];
    }
    return [];
  });
}

/** The chain against the checkpoints: each sealed hash, the end, and the start (retention). */
function compareChain(walk: ChainWalk, all: readonly { c: Checkpoint; source: string }[]): Problem[] {
  const out: Problem[] = [];
  const first = walk.first;
  const last = walk.last?.seq ?? 0;
  let matched = 0;
  for (const { c, source } of all) {
    if (c.seq > last) {
      const from = last + 1;
      out.push({
        kind: 'missing_end',
        seq: from,
        message: `the chain ends at seq ${last}, but the ${source} checkpoint sealed seq ${c.seq}: seq ${from}–${c.seq} were deleted`,
      });
    } else if (first !== null && c.seq >= first) {
      const hash = walk.hashAt.get(c.seq);
      if (hash === c.hash) matched = Math.max(matched, c.seq);
      else if (hash !== undefined) {
        out.push({
          kind: 'rewritten',
          seq: c.seq,
          message: `the chain's hash at seq ${c.seq} is not the one the ${source} checkpoint signed: seq ${matched + 1}–${c.seq} were rewritten and their hashes recomputed`,
        });
      }
    }
  }
  if (first !== null && first > 1 && !all.some(({ c }) => c.seq === first && walk.hashAt.get(first) === c.hash)) {
    out.push({
      kind: 'missing_start',
      seq: 1,
      message: `seq 1–${first - 1} are missing, and seq ${first} is not a checkpoint (retention deletes up to one): deleted`,
    });
  }
  return out;
}

const bySeq = (a: { seq: number }, b: { seq: number }) => a.seq - b.seq;

export async function verifyChain(input: {
  rows: AsyncIterable<ChainedRow> | Iterable<ChainedRow>;
  database: readonly Checkpoint[];
  exported?: readonly Checkpoint[];
  /** the keys checkpoints may be signed with: the audit key, the retired ones, pinned ones */
  keys: readonly JWK[];
  /** retired keys (kid → the last seq each sealed): a checkpoint it signed after that is reported */
  retiredAfter?: ReadonlyMap<string, number>;
}): Promise<VerifyReport> {
  const database = [...input.database].sort(bySeq);
  const retiredAfter = input.retiredAfter ?? new Map<string, number>();
  const exported = [...(input.exported ?? [])].sort(bySeq);
  const walk = new ChainWalk(new Set([...database, ...exported].map((c) => c.seq)));
  for await (const row of input.rows) walk.push(row);
  walk.end();
  // only checkpoints whose signature verifies say what the chain was (a forged one is reported as such)
  const signed = (c: Checkpoint) => input.keys.some((k) => k.kid === c.kid && verifyCheckpoint(c, k));
  const all = [
    ...database.filter(signed).map((c) => ({ c, source: 'database' })),
    ...exported.filter(signed).map((c) => ({ c, source: 'exported' })),
  ].sort((a, b) => a.c.seq - b.c.seq);
  const problems = [
    ...walk.problems,
    ...checkList(database, input.keys, retiredAfter, 'database', true),
    ...checkList(exported, input.keys, retiredAfter, 'exported', false),
    ...compareExported(database, exported),
    ...compareChain(walk, all),
  ].sort(bySeq);
  const last = walk.last?.seq ?? null;
  const sealed = Math.max(0, ...all.filter(({ c }) => walk.hashAt.get(c.seq) === c.hash).map(({ c }) => c.seq));
  return {
    ok: problems.length === 0,
    events: walk.events,
    first: walk.first,
    last,
    checkpoints: { database: database.length, exported: exported.length },
    unsealed: last === null ? 0 : last - Math.max(sealed, (walk.first ?? 1) - 1),
    problems,
  };
}
