import { describe, expect, it } from 'vitest';
import { bareProvider } from './bare-provider.ts';
import { CIMD_CACHE_HEADERS, CIMD_DOCUMENT_LIMIT, isCimdDocumentFetch } from './cimd-document-fetch.ts';
import { upstreamFilesContaining, upstreamSource } from './upstream-source.ts';

const ID = 'https://agents.test/agent.json';

/** a document of exactly `size` bytes */
function documentOf(size: number): string {
  const base = { client_id: ID, redirect_uris: ['https://agents.test/cb'], token_endpoint_auth_method: 'none' };
  const empty = JSON.stringify({ ...base, client_name: '' }).length;
  return JSON.stringify({ ...base, client_name: 'x'.repeat(size - empty) });
}

async function fetchedWith(body: string, contentLength = false) {
  const calls: RequestInit[] = [];
  const { provider } = await bareProvider({
    features: { clientIdMetadataDocument: { enabled: true, ack: 'draft-02' } },
    fetch: async (_url: URL | string, options: RequestInit) => {
      calls.push(options);
      const length: Record<string, string> = contentLength ? { 'content-length': String(Buffer.byteLength(body)) } : {};
      return new Response(body, { headers: { 'content-type': 'application/json', ...length } });
    },
  });
  const found = await provider.Client.find(ID).then(
    (client) => client?.clientId,
    (err: { error?: string; error_description?: string; error_detail?: string }) => ({ ...err }),
  );
  return { calls, found };
}

describe("upstream (oidc-provider, what baton's fetch hook relies on)", () => {
  it('fetches a metadata document with GET and redirect: manual', async () => {
    const { calls, found } = await fetchedWith(documentOf(200));
    expect(found).toBe(ID);
    expect(calls.map((c) => [c.method, c.redirect])).toEqual([['GET', 'manual']]);
    expect(isCimdDocumentFetch(calls[0]!)).toBe(true);
  });

  it('uses redirect: manual only there and in the backchannel POSTs (features baton leaves off)', () => {
    expect(upstreamFilesContaining("redirect: 'manual'")).toEqual([
      'lib/helpers/client_id_metadata_document.js',
      'lib/models/client.js',
    ]);
    expect(upstreamSource('lib/models/client.js').match(/redirect: 'manual'/g)).toHaveLength(2);
    expect(upstreamSource('lib/models/client.js')).toMatch(/backchannelPing[\s\S]*backchannelLogout/);
  });

  it(`refuses a document over ${CIMD_DOCUMENT_LIMIT} bytes, and takes one of exactly that size`, async () => {
    expect((await fetchedWith(documentOf(CIMD_DOCUMENT_LIMIT))).found).toBe(ID);
    const refused = { error: 'invalid_client', error_description: 'client_id metadata document fetch failed' };
    // announced by content-length: refused before reading
    expect((await fetchedWith(documentOf(CIMD_DOCUMENT_LIMIT + 1), true)).found).toMatchObject({
      ...refused,
      error_detail: 'response too large',
    });
    // streamed: refused too (upstream's detail is then a stream error, hence baton's own check first)
    expect((await fetchedWith(documentOf(CIMD_DOCUMENT_LIMIT + 1))).found).toMatchObject(refused);
  });

  it('reads only the cache headers from a document response', () => {
    const source = upstreamSource('lib/helpers/client_id_metadata_document.js');
    const read = [...source.matchAll(/headers\.get\('([^']+)'\)/g)].map((m) => m[1]);
    expect(read).toEqual([...CIMD_CACHE_HEADERS]);
  });
});
