/**
 * The lifecycle of a running server, without a server: the background loops (lifecycle/timers.ts) and the
 * graceful close (lifecycle/shutdown.ts). The whole process on SIGTERM is cli.test.ts's.
 */
import { createServer, get, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startBackground } from '../src/lifecycle/timers.ts';
import { gracefulClose } from '../src/lifecycle/shutdown.ts';
import type { Storage } from '../src/storage/index.ts';
import { makeConfig, memoryLogger } from './helpers.ts';

const events = (lines: string[], msg: string) => lines.filter((line) => JSON.parse(line).msg === msg).length;

describe('background loops', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('refresh the keys every interval and collect storage every GC interval; a failure is logged; stop() ends both', async () => {
    vi.useFakeTimers();
    const base = makeConfig();
    const config = {
      ...base,
      keys: { ...base.keys, refresh_interval_seconds: 1 },
      storage: { ...base.storage, gc_interval_seconds: 10 },
    };
    const { log, lines } = memoryLogger();
    let refreshes = 0;
    const refreshKeys = async () => {
      refreshes += 1;
      if (refreshes === 2) throw new Error('key table unreachable');
    };
    // a store whose every query fails: the collection is logged as failed, and runs again next interval
    const down = () => {
      throw new Error('store down');
    };
    const background = startBackground(config, log, { db: down } as unknown as Storage, refreshKeys);
    await vi.advanceTimersByTimeAsync(1000);
    expect(refreshes).toBe(1);
    await vi.advanceTimersByTimeAsync(1000);
    expect(refreshes).toBe(2);
    expect(events(lines(), 'keys.refresh_failed')).toBe(1);
    expect(events(lines(), 'storage.gc_failed')).toBe(0);
    await vi.advanceTimersByTimeAsync(8000);
    expect(refreshes).toBe(10);
    expect(events(lines(), 'storage.gc_failed')).toBe(1);
    background.stop();
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(refreshes).toBe(10);
    expect(events(lines(), 'storage.gc_failed')).toBe(1);
  });
});

describe('the policy reload generation', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('is checked at the key refresh cadence; a failed check is logged and the next one runs', async () => {
    vi.useFakeTimers();
    const base = makeConfig();
    const config = { ...base, keys: { ...base.keys, refresh_interval_seconds: 2 } };
    const { log, lines } = memoryLogger();
    let checks = 0;
    const follow = async () => {
      checks += 1;
      if (checks === 1) throw new Error('policy_generation unreachable');
    };
    const background = startBackground(
      config,
      log,
      { db: () => Promise.reject(new Error('store down')) } as unknown as Storage,
      async () => {},
      follow,
    );
    await vi.advanceTimersByTimeAsync(2000);
    expect([checks, events(lines(), 'policy.follow_failed')]).toEqual([1, 1]);
    await vi.advanceTimersByTimeAsync(4000);
    expect([checks, events(lines(), 'policy.follow_failed')]).toEqual([3, 1]);
    background.stop();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(checks).toBe(3);
  });
});

describe('graceful close', () => {
  const listening = async (server: Server) => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as AddressInfo).port;
  };

  it('stops accepting, lets the request in flight finish, then closes the admin socket and the storage, once', async () => {
    let release = () => {};
    let entered = () => {};
    const inHandler = new Promise<void>((resolve) => (entered = resolve));
    const server = createServer((_req, res) => {
      entered();
      release = () => res.end('done');
    });
    const port = await listening(server);
    const order: string[] = [];
    const { log, lines } = memoryLogger();
    const close = gracefulClose({
      server,
      metricsListener: undefined,
      admin: { close: async () => void order.push('admin') },
      storage: { close: async () => void order.push('storage') } as unknown as Storage,
      log,
      onStart: () => order.push('start'),
    });

    const response = new Promise<{ status?: number; body: string }>((resolve, reject) => {
      get({ host: '127.0.0.1', port, path: '/slow' }, (res: IncomingMessage) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode, body }));
      }).on('error', reject);
    });
    await inHandler;
    const closing = close();
    expect(close()).toBe(closing);
    expect(order).toEqual(['start']);
    expect(server.listening).toBe(false);
    const refused = await new Promise<string | undefined>((resolve) =>
      get({ host: '127.0.0.1', port, path: '/' }, () => resolve(undefined)).on('error', (err: NodeJS.ErrnoException) =>
        resolve(err.code),
      ),
    );
    expect(refused).toBe('ECONNREFUSED');
    // the pools stay open while a request is in flight
    expect(order).toEqual(['start']);

    release();
    expect(await response).toEqual({ status: 200, body: 'done' });
    await closing;
    expect(order).toEqual(['start', 'admin', 'storage']);
    expect(events(lines(), 'server.closed')).toBe(1);
  });
});
