/**
 * npm run conformance -- --issuer <url> --fixture <file.json> [--report <file.json>] [--only id,id]
 * Runs the suite against any baton deployment; prints a summary per clause; writes a JSON report; exits
 * non-zero when a MUST fails.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { runSuite, type Fixture } from './src/suite.ts';

const { values } = parseArgs({
  options: {
    issuer: { type: 'string' },
    fixture: { type: 'string' },
    report: { type: 'string' },
    only: { type: 'string' },
  },
});
if (!values.issuer || !values.fixture) {
  process.stderr.write(
    'usage: npm run conformance -- --issuer <url> --fixture <file.json> [--report <file.json>] [--only id,id]\n',
  );
  process.exit(64);
}
const fixture = JSON.parse(readFileSync(values.fixture, 'utf8')) as Fixture;
const results = await runSuite(values.issuer, fixture, values.only?.split(','));
for (const r of results) {
  const mark = r.status === 'pass' ? 'PASS' : r.status === 'fail' ? 'FAIL' : 'SKIP';
  process.stdout.write(
    `${mark}  ${r.level.padEnd(6)} ${r.id.padEnd(26)} ${r.clause}${r.detail ? `\n        ${r.detail}` : ''}\n`,
  );
}
const failedMust = results.filter((r) => r.status === 'fail' && r.level === 'MUST');
const count = (s: string) => results.filter((r) => r.status === s).length;
process.stdout.write(
  `\nconformance: ${count('pass')} passed, ${count('fail')} failed, ${count('skipped')} skipped; ${failedMust.length} MUST failure(s)\n`,
);
if (values.report)
  writeFileSync(
    values.report,
    JSON.stringify({ issuer: values.issuer, at: new Date().toISOString(), results }, null, 2),
  );
process.exitCode = failedMust.length ? 1 : 0;
