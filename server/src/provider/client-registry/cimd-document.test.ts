import { describe, expect, it } from 'vitest';
import { CimdFailure, checkedCimdResponse } from './cimd-document.ts';
import { CIMD_DOCUMENT_LIMIT } from '../internals.ts';

const URL_ID = 'https://app.example/client.json';
const json = (body: string, headers: Record<string, string> = {}, status = 200) =>
  new Response(body, { status, headers: { 'content-type': 'application/json', ...headers } });

async function reasonOf(res: Response): Promise<string> {
  const err = await checkedCimdResponse(URL_ID, res).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CimdFailure);
  return (err as CimdFailure).reason;
}

describe('a fetched Client ID Metadata Document is checked (draft-ietf-oauth-client-id-metadata-document §4)', () => {
  it('a 200 JSON object naming its own URL is passed on with only its caching headers', async () => {
    const body = JSON.stringify({ client_id: URL_ID, redirect_uris: ['https://app.example/cb'] });
    const res = await checkedCimdResponse(
      URL_ID,
      json(body, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'max-age=60', 'x-other': '1' }),
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(res.headers.get('cache-control')).toBe('max-age=60');
    expect(res.headers.get('x-other')).toBeNull();
    expect(res.headers.has('expires')).toBe(false);
    expect(await res.text()).toBe(body);
  });

  it('each failure has its own reason', async () => {
    const doc = JSON.stringify({ client_id: URL_ID });
    expect(await reasonOf(json(doc, {}, 404))).toBe('status 404 (the document must be served with 200)');
    expect(await reasonOf(json(doc, { 'content-type': 'text/html' }))).toBe(
      'wrong content type (text/html; must be application/json)',
    );
    expect(await reasonOf(new Response(new Blob([doc]), { status: 200 }))).toBe(
      'wrong content type (none; must be application/json)',
    );
    expect(await reasonOf(json(' '.repeat(CIMD_DOCUMENT_LIMIT + 1)))).toBe(
      `too large (over ${CIMD_DOCUMENT_LIMIT} bytes)`,
    );
    expect(await reasonOf(json('{"client_id":'))).toBe('not JSON');
    expect(await reasonOf(json('[1]'))).toBe('not a JSON object');
    expect(await reasonOf(json(JSON.stringify({ client_id: 'https://other.example/c.json' })))).toBe(
      'client_id mismatch (the document must name its own URL as client_id)',
    );
  });

  it('a +json media type is accepted', async () => {
    const res = await checkedCimdResponse(
      URL_ID,
      json(JSON.stringify({ client_id: URL_ID }), { 'content-type': 'application/client-metadata+json' }),
    );
    expect(res.status).toBe(200);
  });
});
