import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.ts';

describe('logger redaction', () => {
  it('never writes credentials, wherever they sit', () => {
    let out = '';
    const sink = new Writable({
      write(chunk: Buffer, _e, cb) {
        out += chunk.toString();
        cb();
      },
    });
    const log = createLogger('info', sink);
    log.info({
      req: { headers: { authorization: 'Bearer SECRET-AT', cookie: 'sid=SECRET-COOKIE', dpop: 'SECRET-DPOP' } },
      params: {
        client_secret: 'SECRET-CS',
        code: 'SECRET-CODE',
        code_verifier: 'SECRET-CV',
        refresh_token: 'SECRET-RT',
      },
      body: {
        subject_token: 'SECRET-ST',
        actor_token: 'SECRET-ACT',
        assertion: 'SECRET-JAG',
        client_assertion: 'SECRET-CA',
      },
      deep: { x: { password: 'SECRET-PW', access_token: 'SECRET-AT2' } },
      keep: 'visible',
    });
    expect(out).not.toMatch(/SECRET-/);
    expect(out).toContain('visible');
    expect(out.match(/\[redacted\]/g)?.length).toBe(13);
  });
});

describe('logger formats', () => {
  it('pretty writes readable lines, redacted like JSON lines', async () => {
    let out = '';
    const sink = new Writable({
      write(chunk: Buffer, _e, cb) {
        out += chunk.toString();
        cb();
      },
    });
    const log = createLogger('info', sink, 'pretty');
    log.info({ params: { client_secret: 'SECRET-CS' }, client_id: 'ide-agent' }, 'grant.success');
    await new Promise((ok) => setTimeout(ok, 50));
    expect(out).toMatch(/^\[\d{2}:\d{2}:\d{2}\.\d{3}\] INFO: grant\.success\n/);
    expect(out).toContain('client_id: "ide-agent"');
    expect(out).toContain('[redacted]');
    expect(out).not.toContain('SECRET-');
    expect(out).not.toContain('{"level"');
  });

  it('json is the default, and auto is json when stdout is not a terminal', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _e, cb) {
        lines.push(chunk.toString());
        cb();
      },
    });
    createLogger('info', sink).info('a');
    if (!process.stdout.isTTY) createLogger('info', sink, 'auto').info('b');
    for (const l of lines) expect(JSON.parse(l)).toMatchObject({ level: 30, service: 'baton' });
    expect(lines.length).toBe(process.stdout.isTTY ? 1 : 2);
  });
});

describe('docs/events.md', () => {
  const root = resolve(import.meta.dirname, '..', '..');
  const written = new Set<string>(['server_error']);
  for (const file of (readdirSync(join(root, 'server/src'), { recursive: true }) as string[]).filter(
    (f) => f.endsWith('.ts') && !f.endsWith('.test.ts'),
  )) {
    const src = readFileSync(join(root, 'server/src', file), 'utf8');
    // the message argument of a pino call: the last argument, a quoted `<noun>.<verb>`
    for (const m of src.matchAll(
      /\.(?:info|warn|error|debug)\(\s*(?:[^;]*?,\s*)?'([a-z_]+(?:\.[a-z_]+)+)'\s*,?\s*\)/gs,
    ))
      written.add(m[1]!);
    // provider failure events logged in a loop (provider/events.ts)
    const failures = /const failures = \[([^\]]*)\]/.exec(src)?.[1];
    for (const m of failures?.matchAll(/'([a-z_.]+)'/g) ?? []) written.add(m[1]!);
  }
  // the log events: the page before its audit event catalogue (audit records, server/src/audit/catalogue.test.ts)
  const doc = readFileSync(join(root, 'docs/events.md'), 'utf8').split('\n## Audit event catalogue')[0]!;
  const listed = new Set(
    doc
      .split('\n')
      .filter((l) => l.startsWith('| `'))
      .flatMap((l) => [...l.split(' | ')[0]!.matchAll(/`([a-z_.]+)`/g)].map((m) => m[1]!)),
  );

  it('lists every event the server writes, and none it does not', () => {
    expect(written.size).toBeGreaterThan(40);
    expect([...written].filter((e) => !listed.has(e)).sort()).toEqual([]);
    expect([...listed].filter((e) => !written.has(e)).sort()).toEqual([]);
  });
});
