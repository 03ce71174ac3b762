/**
 * The admin socket: a server on the embedded store holds it alone (the lock of storage/index.ts), so the
 * command line's admin operations reach the store through that server. It listens on a Unix domain socket
 * in its data directory (`<data_dir>/admin.sock`, mode 0600: only the user who runs baton can connect), and
 * speaks HTTP (node:http) on it: `POST /operations/<name>` with the arguments as a JSON body answers
 * `{ "result": … }`, or `{ "error": code, "message": … }` with a 4xx/5xx status.
 * Nothing listens on the network: on PostgreSQL the command line uses the database directly.
 */
import { chmodSync, rmSync } from 'node:fs';
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { AuditRecordError } from './audit-record.ts';
import { ADMIN_ERROR_STATUS, AdminError } from './errors.ts';
import { runOperation, type AdminStores } from './operations.ts';

export const adminSocketPath = (dataDir: string) => join(dataDir, 'admin.sock');

const MAX_BODY = 1 << 20;
const PATH = /^\/operations\/([a-z][a-z0-9_-]*(?:\.[a-z][a-z0-9_-]*)*)$/;

/** The running server's socket cannot be reached (not listening yet, or the holder is not a server). */
export class AdminUnavailableError extends Error {
  override name = 'AdminUnavailableError';
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new AdminError('invalid_request', 'request body too large');
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return text ? (JSON.parse(text) as unknown) : {};
  } catch {
    throw new AdminError('invalid_request', 'the body is not JSON');
  }
}

function setUmask(mask: number): number | undefined {
  try {
    return process.umask(mask);
  } catch {
    return undefined;
  }
}

export interface AdminSocket {
  path: string;
  close(): Promise<void>;
}

/** Serves the admin operations on `<dataDir>/admin.sock`. Call it holding the data directory's lock. */
export async function serveAdminSocket(dataDir: string, stores: AdminStores, log: Logger): Promise<AdminSocket> {
  const path = adminSocketPath(dataDir);
  const server = createServer((req, res) => {
    const name = req.method === 'POST' ? PATH.exec((req.url ?? '').split('?')[0]!)?.[1] : undefined;
    if (!name) return send(res, 404, { error: 'not_found', message: 'POST /operations/<name>' });
    readJson(req)
      .then((args) => runOperation(stores, name, args, 'admin_socket'))
      .then(
        (result) => {
          log.info({ operation: name }, 'admin.operation');
          send(res, 200, { result });
        },
        (err: Error) => {
          if (err instanceof AdminError) {
            log.info({ operation: name, error: err.code }, 'admin.refused');
            return send(res, ADMIN_ERROR_STATUS[err.code], { error: err.code, message: err.message });
          }
          if (err instanceof AuditRecordError) {
            // the change is done; the operator learns that the trail misses it (issue #13)
            log.error({ operation: name, reason: err.message }, 'audit.write_failed');
            return send(res, 503, { error: 'audit_failed', message: err.message });
          }
          log.error({ operation: name, err: { name: err.name, message: err.message } }, 'admin.failed');
          send(res, 500, { error: 'server_error', message: `${name} failed (see the server's log)` });
        },
      );
  });
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  // a socket left by a server that died is stale: this process holds the data directory's lock
  rmSync(path, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // the socket file is created by bind(2), synchronously inside listen(): with this umask it is born 0600
    // (a worker thread cannot set the umask: the chmod below and the 0700 data directory still apply)
    const umask = setUmask(0o177);
    try {
      server.listen(path, () => resolve());
    } finally {
      if (umask !== undefined) setUmask(umask);
    }
  });
  chmodSync(path, 0o600);
  return {
    path,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(path, { force: true });
    },
  };
}

/** Asks the server holding `dataDir` to run an operation; resolves to its result, or throws AdminError. */
export function callAdminSocket(dataDir: string, name: string, args: unknown): Promise<unknown> {
  const socketPath = adminSocketPath(dataDir);
  const body = JSON.stringify(args);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath,
        method: 'POST',
        path: `/operations/${name}`,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        timeout: 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          let answer: { result?: unknown; error?: string; message?: string };
          try {
            answer = JSON.parse(Buffer.concat(chunks).toString('utf8')) as typeof answer;
          } catch {
            return reject(new Error(`the admin socket ${socketPath} answered ${res.statusCode} without JSON`));
          }
          if (res.statusCode === 200) return resolve(answer.result);
          if (answer.error === 'unknown_operation') {
            return reject(
              new AdminError(
                'unknown_operation',
                `the running server does not know ${name}: it runs another version of baton; stop it first, or restart it`,
              ),
            );
          }
          reject(new AdminError('invalid_request', answer.message ?? `${name} failed (${res.statusCode})`));
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`the admin socket ${socketPath} did not answer in 30 s`)));
    req.on('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'ENOENT' || err.code === 'ECONNREFUSED'
          ? new AdminUnavailableError(`${socketPath}: ${err.code}`)
          : err,
      );
    });
    req.end(body);
  });
}
