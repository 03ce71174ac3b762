/** README.md's figures that can be checked cheaply: the bench table has exactly the columns bench/run.ts prints. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');

it("the README's bench table has the columns and rows the bench prints", () => {
  const bench = readFileSync(resolve(ROOT, 'bench/run.ts'), 'utf8');
  const columnsSource = /const columns: \[string, number\]\[\] = \[([\s\S]*?)\];/.exec(bench)?.[1] ?? '';
  const columns = [...columnsSource.matchAll(/\['([^']+)', \d+\]/g)].map((m) => m[1]);
  // the rows it pushes one by one, then each baton row of `twins` and its audit-off twin
  const single = [...bench.matchAll(/rows\.push\(\s*await run\(\s*'([^']+)'/g)].map((m) => m[1]);
  const twinsSource = /const twins: .*\]\[\] = \[([\s\S]*?)\n\];/.exec(bench)?.[1] ?? '';
  const twins = [...twinsSource.matchAll(/^\s*\[?\s*'([^']+)',/gm)].map((m) => m[1]!);
  const rows = [...single, ...twins.flatMap((name) => [name, `${name}, audit off`])];
  expect(twins).toHaveLength(3);
  expect(columns.length).toBeGreaterThan(5);
  expect(rows.length).toBeGreaterThan(3);

  const readme = readFileSync(resolve(ROOT, 'README.md'), 'utf8');
  const header = readme.split('\n').find((l) => l.startsWith('| scenario | req/s |'));
  expect(
    header
      ?.split('|')
      .slice(1, -1)
      .map((c) => c.trim()),
  ).toEqual(columns);
  const table = readme.slice(readme.indexOf(header!));
  const names = table
    .split('\n')
    .slice(2)
    .filter((l) => l.startsWith('|'))
    .map((l) => l.split('|')[1]!.trim());
  expect(names).toEqual(rows);
});
