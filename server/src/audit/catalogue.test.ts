/**
 * The audit event catalogue (docs/events.md "Audit event catalogue") and the code agree: every AuditType
 * (record.ts) has its row, the catalogue lists no type that is not one, and the code writes no `type: '…'`
 * literal of an audit record that the union does not name (a source scan, like the log events' test).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..', '..', '..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');

/** the string literals of `export type AuditType = | '…' | …;` */
function auditTypes(): Set<string> {
  const block = /export type AuditType =([\s\S]*?);/.exec(read('server/src/audit/record.ts'))?.[1] ?? '';
  return new Set([...block.replaceAll(/\/\*\*[\s\S]*?\*\//g, '').matchAll(/'([a-z_.]+)'/g)].map((m) => m[1]!));
}

/** the first column of the catalogue table: the section up to the next heading */
function catalogued(): string[] {
  const doc = read('docs/events.md');
  const section = /^## Audit event catalogue\n([\s\S]*?)(?=^## |(?![\s\S]))/m.exec(doc)?.[1] ?? '';
  return section
    .split('\n')
    .filter((l) => l.startsWith('| `'))
    .map((l) => /^\| `([a-z_.]+)`/.exec(l)![1]!);
}

/** dotted literals in a `type: …` member of the server's code (an audit event's type, a ternary of two) */
function written(): Map<string, string> {
  const found = new Map<string, string>();
  const dir = join(root, 'server/src');
  for (const file of (readdirSync(dir, { recursive: true }) as string[]).filter(
    (f) => f.endsWith('.ts') && !f.endsWith('.test.ts'),
  )) {
    const src = readFileSync(join(dir, file), 'utf8');
    for (const m of src.matchAll(/\btype:\s*([^,\n}]+)/g))
      for (const lit of m[1]!.matchAll(/'([a-z_]+\.[a-z_.]+)'/g)) found.set(lit[1]!, file);
  }
  return found;
}

describe('the audit event catalogue', () => {
  const types = auditTypes();
  const rows = catalogued();

  it('has one row for every AuditType, and none for anything else', () => {
    expect(types.size).toBeGreaterThanOrEqual(19);
    expect(rows.length).toBe(new Set(rows).size);
    expect([...types].filter((t) => !rows.includes(t)).sort()).toEqual([]);
    expect(rows.filter((t) => !types.has(t)).sort()).toEqual([]);
  });

  it('the code writes no audit type the union does not name', () => {
    const code = written();
    expect(code.size).toBeGreaterThan(10);
    expect([...code].filter(([t]) => !types.has(t)).map(([t, f]) => `${t} (${f})`)).toEqual([]);
  });
});
