/** The test helper that starts real server processes never leaves one behind. */
import { expect, it } from 'vitest';
import { BACKENDS, makeConfig } from './helpers.ts';
import { startServerProcess, writeConfig } from './processes.ts';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

it('a server that does not say it listens in time is killed, not left holding its port', async () => {
  // at level warn the server never logs server.listening, so the helper's wait runs out
  const store = await BACKENDS.find((b) => b.name === 'embedded')!.create();
  const config = makeConfig({ logging: { level: 'warn' }, storage: store.storage });
  const failure = await startServerProcess(writeConfig(config), 2000).then(
    () => undefined,
    (err: Error & { pid?: number }) => err,
  );
  expect(failure?.message).toMatch(/^server did not start/);
  expect(failure?.pid).toBeTypeOf('number');
  await expect.poll(() => alive(failure!.pid!), { interval: 50, timeout: 5000 }).toBe(false);
  await store.cleanup();
});
