/**
 * The outgoing-fetch dispatcher (CIMD documents, client JWKS): an extra CA is trusted in addition to
 * Node's default roots, never instead of them; the SSRF guard refuses a special-use address before any
 * TCP connection is opened, and connects to exactly the address it checked (DNS rebinding).
 */
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type AddressInfo, type Server } from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import {
  isValidHttpsClientIdUrl,
  outgoingDispatcher,
  publicOnlyLookup,
  trustedCAs,
  type Lookup,
} from '../src/provider/internals.ts';
import { selfSignedCertificate } from './helpers.ts';

const require = createRequire(import.meta.url);
const fetchWith = (url: string, dispatcher: object) =>
  fetch(url, { dispatcher } as RequestInit & { dispatcher: object });
const causeOf = (err: unknown) => (err as { cause?: Error }).cause;

describe('the trusted CAs of outgoing fetches', () => {
  it('are the default roots with the extra CA added', () => {
    const extra = selfSignedCertificate().cert;
    const cas = trustedCAs(extra)!;
    expect(cas.at(-1)).toBe(extra);
    expect(cas.slice(0, -1)).toEqual(tls.getCACertificates('default'));
    expect(cas.length).toBeGreaterThan(100); // Mozilla's roots are there
    for (const root of tls.rootCertificates) expect(cas).toContain(root);
  });

  it('are left to Node (its defaults) when no extra CA is configured', () => {
    expect(trustedCAs(undefined)).toBeUndefined();
  });
});

describe('the SSRF guard, before connecting', () => {
  let tcp: Server;
  let port: number;
  let connections = 0;
  beforeAll(async () => {
    tcp = createTcpServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((ok) => tcp.listen(0, '127.0.0.1', ok));
    port = (tcp.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((ok) => tcp.close(() => ok())));

  it.each([
    ['a host name that resolves to 127.0.0.1 (localhost)', () => `https://localhost:${port}/doc.json`],
    ['a loopback IP literal', () => `https://127.0.0.1:${port}/doc.json`],
  ])('refuses %s without opening a connection', async (_what, url) => {
    const before = connections;
    const dispatcher = outgoingDispatcher({ allowPrivateNetwork: false });
    const err = await fetchWith(url(), dispatcher).catch((e: unknown) => e);
    expect(causeOf(err)?.message).toBe('hostname resolves to a special-use IP address');
    // the server saw nothing (it would count a connection the moment one is accepted)
    await new Promise((ok) => setImmediate(ok));
    expect(connections).toBe(before);
  });

  it('refuses a public-looking name a resolver maps to a private address (rebinding), no connection', async () => {
    const before = connections;
    const rebinding: Lookup = (_host, options, cb) =>
      options.all ? cb(null, [{ address: '127.0.0.1', family: 4 }]) : cb(null, '127.0.0.1', 4);
    const dispatcher = outgoingDispatcher({ allowPrivateNetwork: false, lookup: rebinding });
    const err = await fetchWith(`https://docs.example.com:${port}/doc.json`, dispatcher).catch((e: unknown) => e);
    expect(causeOf(err)?.message).toBe('hostname resolves to a special-use IP address');
    await new Promise((ok) => setImmediate(ok));
    expect(connections).toBe(before);
  });

  it('lets a public address through, and hands the connection exactly the addresses it checked', async () => {
    const seen: unknown[] = [];
    const lookup = publicOnlyLookup((_host, options, cb) =>
      options.all ? cb(null, [{ address: '93.184.215.14', family: 4 }]) : cb(null, '93.184.215.14', 4),
    );
    await new Promise<void>((ok) =>
      lookup('docs.example.com', { all: true }, (err, address) => {
        seen.push(err, address);
        ok();
      }),
    );
    expect(seen).toEqual([null, [{ address: '93.184.215.14', family: 4 }]]);
    const mixed = publicOnlyLookup((_host, _options, cb) =>
      cb(null, [
        { address: '93.184.215.14', family: 4 },
        { address: '::1', family: 6 },
      ]),
    );
    const err = await new Promise((ok) => mixed('docs.example.com', { all: true }, (e) => ok(e)));
    expect((err as Error).message).toBe('hostname resolves to a special-use IP address');
  });
});

describe('a document under the extra CA', () => {
  it('is fetched (the extra CA is trusted) with the SSRF guard off for development', async () => {
    const pair = selfSignedCertificate();
    const server = createHttpsServer(pair, (_req, res) => res.writeHead(200).end('ok'));
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    try {
      const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      const res = await fetchWith(url, outgoingDispatcher({ allowPrivateNetwork: true, ca: pair.cert }));
      expect(await res.text()).toBe('ok');
      // and without it, the same server is not trusted
      const err = await fetchWith(url, outgoingDispatcher({ allowPrivateNetwork: true })).catch((e: unknown) => e);
      expect((causeOf(err) as { code?: string }).code).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
    } finally {
      await new Promise((ok) => server.close(ok));
    }
  });
});

describe('the oidc-provider internals the CIMD code relies on (server/src/provider/internals.ts)', () => {
  it('is oidc-provider 9.13: an upgrade re-reads the seam (Client.find, the CIMD fetch, its error flow)', () => {
    const { version } = JSON.parse(readFileSync(require.resolve('oidc-provider/package.json'), 'utf8')) as {
      version: string;
    };
    expect(version).toMatch(/^9\.13\./);
  });

  it('upstream recognises https client id URLs only: development mode still needs its own http loopback rule', () => {
    expect(isValidHttpsClientIdUrl('https://127.0.0.1:8443/agent.json')).toBe(true);
    expect(isValidHttpsClientIdUrl('http://127.0.0.1:8080/agent.json')).toBe(false);
  });
});
