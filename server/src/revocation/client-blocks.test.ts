/** Each process's blocked set (client-blocks.ts): the configuration's ∪ the runtime blocks, and its refresh. */
import { describe, expect, it } from 'vitest';
import { BlockedClients } from './client-blocks.ts';

describe('BlockedClients', () => {
  it('is the configuration’s set (read at each lookup: a reload applies at once) ∪ the runtime blocks', async () => {
    let configured = new Set(['partner-app']);
    const blocked = new BlockedClients(() => configured);
    expect(await blocked.refresh(() => Promise.resolve(['leaky-agent']))).toEqual(['leaky-agent']);
    expect(['partner-app', 'leaky-agent', 'ide-agent'].map((id) => blocked.has(id))).toEqual([true, true, false]);
    configured = new Set();
    expect(blocked.has('partner-app')).toBe(false);
  });

  it('a refresh answers only the ids it did not know, and drops the unblocked ones', async () => {
    const blocked = new BlockedClients(() => new Set());
    await blocked.refresh(() => Promise.resolve(['a', 'b']));
    expect(await blocked.refresh(() => Promise.resolve(['b', 'c']))).toEqual(['c']);
    expect(blocked.runtime().sort()).toEqual(['b', 'c']);
    expect(blocked.has('a')).toBe(false);
  });

  it('a local block made while a refresh reads the table is not undone by that refresh', async () => {
    const blocked = new BlockedClients(() => new Set());
    let release!: (ids: string[]) => void;
    const reading = blocked.refresh(() => new Promise<string[]>((resolve) => (release = resolve)));
    blocked.set('just-blocked', true);
    release([]); // the table as it was read before the block committed
    expect(await reading).toEqual([]);
    expect(blocked.has('just-blocked')).toBe(true);
    blocked.set('just-blocked', false);
    expect(blocked.has('just-blocked')).toBe(false);
  });
});
