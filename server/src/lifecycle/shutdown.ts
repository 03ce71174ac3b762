/**
 * The graceful close of a running server (SIGTERM, see cli.ts; tests call it directly): stop accepting
 * connections, let the requests in flight finish (at most DRAIN_TIMEOUT_MS, then the rest are cut), then
 * close the admin socket, the metrics listener and the storage pools. Calling it again returns the same
 * promise.
 */
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import type { Storage } from '../storage/index.ts';

export const DRAIN_TIMEOUT_MS = 10_000;

export interface Closable {
  server: Server;
  metricsListener: { server: Server } | undefined;
  admin: { close(): Promise<void> } | undefined;
  storage: Storage;
  log: Logger;
  /** runs first: the app answers 503 from now on, the background loops stop */
  onStart(): void;
}

export function gracefulClose(parts: Closable): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () =>
    (closing ??= (async () => {
      parts.onStart();
      await drain(parts.server);
      await parts.admin?.close();
      const metrics = parts.metricsListener?.server;
      if (metrics) {
        metrics.closeAllConnections();
        await new Promise<void>((resolve) => metrics.close(() => resolve()));
      }
      await parts.storage.close();
      parts.log.info('server.closed');
    })());
}

async function drain(server: Server): Promise<void> {
  const drained = new Promise<void>((resolve) => server.close(() => resolve()));
  // keep-alive connections become idle as their in-flight request finishes: close them as they do
  const idle = setInterval(() => server.closeIdleConnections(), 50);
  const timer = setTimeout(() => server.closeAllConnections(), DRAIN_TIMEOUT_MS);
  server.closeIdleConnections();
  await drained;
  clearInterval(idle);
  clearTimeout(timer);
}
