import { describe, expect, it } from 'vitest';
import { chainEvents, GENESIS, type ChainedRow } from './chain.ts';
import { verifyChain } from './verify.ts';

const chain = (n: number): ChainedRow[] =>
  chainEvents(
    { seq: 0, hash: GENESIS },
    Array.from({ length: n }, (_, i) => ({ type: 'token.issued' as const, outcome: 'success' as const, jti: `j${i}` })),
    1_800_000_000_000,
  );
const problems = async (rows: ChainedRow[]) =>
  (await verifyChain({ rows, database: [], keys: [] })).problems.map((p) => `${p.kind}@${p.seq}`);

describe('verifyChain (the walk)', () => {
  it('an intact chain verifies; nothing is sealed without checkpoints', async () => {
    expect(await verifyChain({ rows: chain(5), database: [], keys: [] })).toEqual({
      ok: true,
      events: 5,
      first: 1,
      last: 5,
      checkpoints: { database: 0, exported: 0 },
      unsealed: 5,
      problems: [],
    });
    expect(await verifyChain({ rows: [], database: [], keys: [] })).toMatchObject({ ok: true, events: 0, last: null });
  });

  it('names an edited row, a gap, a reordered pair, a replaced row and a missing start', async () => {
    const edited = chain(6);
    edited[2] = { ...edited[2]!, outcome: 'refused' };
    expect(await problems(edited)).toEqual(['edited@3']);
    expect(await problems(chain(6).filter((r) => r.seq !== 4))).toEqual(['deleted@4']);
    const swapped = chain(6);
    [swapped[2], swapped[3]] = [
      { ...swapped[3]!, seq: 3 },
      { ...swapped[2]!, seq: 4 },
    ];
    expect(await problems(swapped)).toEqual(['reordered@3']);
    // the last pair reordered (no row after it)
    const tail = chain(4);
    [tail[2], tail[3]] = [
      { ...tail[3]!, seq: 3 },
      { ...tail[2]!, seq: 4 },
    ];
    expect(await problems(tail)).toEqual(['reordered@3']);
    const replaced = chain(6);
    const [fake] = chainEvents({ seq: 2, hash: replaced[1]!.hash }, [
      { type: 'token.issued', outcome: 'success', jti: 'x' },
    ]);
    replaced[2] = fake!;
    expect(await problems(replaced)).toEqual(['broken_link@4']);
    expect(await problems(chain(6).slice(2))).toEqual(['missing_start@1']);
  });
});
