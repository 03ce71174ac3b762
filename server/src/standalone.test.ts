/**
 * The repository stands alone: no tracked file cites a document that is not in it (a product brief, a
 * folder beside the checkout). What the code and tests rely on is in README.md, docs/ and the other pages
 * of this repository.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
// spelled in pieces, so that this file does not cite them itself
const FORBIDDEN = [new RegExp(['PRODUCT', 'md'].join('\\.')), new RegExp(['\\.\\.', 'shared\\b'].join('/'))];

it('no tracked file cites a document outside the repository', () => {
  const files = execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' }).split('\0').filter(Boolean);
  expect(files.length).toBeGreaterThan(50);
  const citing: string[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(join(ROOT, file), 'utf8');
    } catch {
      continue; // listed but absent from the work tree (deleted, not yet committed)
    }
    text.split('\n').forEach((line, i) => {
      if (FORBIDDEN.some((re) => re.test(line))) citing.push(`${file}:${i + 1}: ${line.trim()}`);
    });
  }
  expect(citing).toEqual([]);
});
