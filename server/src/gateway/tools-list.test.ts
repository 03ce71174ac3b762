import { describe, expect, it } from 'vitest';
import { filterToolsList, toolsListIds, UnreadableToolsList } from './tools-list.ts';

const may = (tool: string) => tool === 'echo';
const list = (id: number) => ({ jsonrpc: '2.0', id, result: { tools: [{ name: 'echo' }, { name: 'get-env' }] } });

describe('tools/list filtering (gateway/tools-list.ts)', () => {
  it('finds the ids of tools/list requests, in a batch too', () => {
    expect([...toolsListIds({ jsonrpc: '2.0', id: 3, method: 'tools/list' })]).toEqual([3]);
    expect([
      ...toolsListIds([
        { jsonrpc: '2.0', id: 'a', method: 'tools/list' },
        { jsonrpc: '2.0', id: 'b', method: 'tools/call' },
        { jsonrpc: '2.0', method: 'tools/list' },
      ]),
    ]).toEqual(['a']);
  });

  it('filters a JSON answer, a batch answer only at the listed ids', () => {
    const one = JSON.parse(filterToolsList('application/json', JSON.stringify(list(1)), new Set([1]), may));
    expect(one.result.tools).toEqual([{ name: 'echo' }]);
    const batch = JSON.parse(
      filterToolsList('application/json; charset=utf-8', JSON.stringify([list(1), list(2)]), new Set([2]), may),
    );
    expect((batch as { result: { tools: unknown[] } }[]).map((m) => m.result.tools.length)).toEqual([2, 1]);
  });

  it('filters an SSE answer, keeping event ids, a priming event without data, and retry', () => {
    const sse = `retry: 1000\n\nid: p1\ndata: \n\nevent: message\nid: e1\ndata: ${JSON.stringify(list(5))}\n\n`;
    const out = filterToolsList('text/event-stream', sse, new Set([5]), may);
    expect(out).toBe(
      `retry: 1000\n\nid: p1\ndata: \n\nevent: message\nid: e1\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: 5, result: { tools: [{ name: 'echo' }] } })}\n\n`,
    );
  });

  it('fails closed on an answer it cannot read (never an unfiltered list)', () => {
    expect(() => filterToolsList('text/plain', JSON.stringify(list(1)), new Set([1]), may)).toThrow(
      UnreadableToolsList,
    );
    expect(() => filterToolsList('application/json', '{"tools": [', new Set([1]), may)).toThrow(UnreadableToolsList);
  });
});
