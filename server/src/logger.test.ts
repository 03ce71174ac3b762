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
