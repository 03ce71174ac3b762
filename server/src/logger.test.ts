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
