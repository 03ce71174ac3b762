/**
 * A fetched Client ID Metadata Document, checked before oidc-provider reads it, and the failure that names
 * what is wrong with it.
 */
import { CIMD_CACHE_HEADERS, CIMD_DOCUMENT_LIMIT } from '../internals.ts';

/**
 * Why a Client ID Metadata Document could not be used: a short category that is safe to show the client's
 * developer on the error page (tls, status 404, too large, not JSON, wrong content type, client_id mismatch,
 * host not allowed, rate limited, …). The detailed reason goes to the log.
 */
export class CimdFailure extends Error {
  override name = 'CimdFailure';
  readonly reason: string;
  constructor(reason: string, options?: { cause?: unknown }) {
    super(`client_id metadata document: ${reason}`, options);
    this.reason = reason;
  }
}

/** The body of a response, at most `limit` bytes (undefined past it: the rest is never read). */
async function readCapped(res: Response, limit: number): Promise<Uint8Array | undefined> {
  if (Number(res.headers.get('content-length') ?? 0) > limit) {
    await res.body?.cancel();
    return undefined;
  }
  const chunks: Uint8Array[] = [];
  if (!res.body) return new Uint8Array();
  const reader = res.body.getReader() as ReadableStreamDefaultReader<Uint8Array>;
  let size = 0;
  for (;;) {
    const next = await reader.read();
    if (next.done) break;
    size += next.value.byteLength;
    if (size > limit) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(next.value);
  }
  return Buffer.concat(chunks);
}

/** The body is a JSON object whose client_id is its own URL. */
function checkDocument(url: string, body: Uint8Array): void {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch {
    throw new CimdFailure('not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new CimdFailure('not a JSON object');
  if ((parsed as { client_id?: unknown }).client_id !== url)
    throw new CimdFailure('client_id mismatch (the document must name its own URL as client_id)');
}

/**
 * A CIMD document response checked before oidc-provider reads it, so that each failure has its own reason
 * (draft-ietf-oauth-client-id-metadata-document §4: a 200 JSON document whose client_id is its URL; served as
 * application/json, not text/html or without a content type). Returns the response rebuilt from the
 * checked body, for oidc-provider's own checks (secrets, auth methods, URIs) that follow.
 */
export async function checkedCimdResponse(url: string, res: Response): Promise<Response> {
  if (res.status !== 200) {
    await res.body?.cancel();
    throw new CimdFailure(`status ${res.status} (the document must be served with 200)`);
  }
  const type = (res.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json' && !/^application\/[a-z0-9.+-]+\+json$/.test(type)) {
    await res.body?.cancel();
    throw new CimdFailure(`wrong content type (${type || 'none'}; must be application/json)`);
  }
  const body = await readCapped(res, CIMD_DOCUMENT_LIMIT);
  if (!body) throw new CimdFailure(`too large (over ${CIMD_DOCUMENT_LIMIT} bytes)`);
  checkDocument(url, body);
  const headers = new Headers({ 'content-type': 'application/json' });
  for (const name of CIMD_CACHE_HEADERS) {
    const value = res.headers.get(name);
    if (value !== null) headers.set(name, value);
  }
  return new Response(body, { status: 200, headers });
}
