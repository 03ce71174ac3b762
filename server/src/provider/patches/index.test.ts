import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { basic, bareProvider, MemoryAdapter } from './bare-provider.ts';
import { applyPatches, CHECKED_AGAINST, errorCorrections } from './index.ts';
import { clientErrorCodes } from './client-error-codes.ts';
import { dpopReplayIsInvalidProof } from './dpop-replay-error.ts';
import { upstreamVersion } from './upstream-source.ts';

const here = new URL('./', import.meta.url);
/** the patch files: every module here but the list itself and the test helpers */
const patches = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
  .filter((f) => !['index.ts', 'bare-provider.ts', 'upstream-source.ts'].includes(f))
  .sort();

describe('the patches (provider/patches)', () => {
  it(`were checked against the installed oidc-provider (${CHECKED_AGAINST}): an upgrade re-checks them (README.md)`, () => {
    expect(upstreamVersion()).toBe(CHECKED_AGAINST);
  });

  it.each(patches)('%s names the version it was checked against, has a test and a README row', (file) => {
    const text = readFileSync(new URL(file, here), 'utf8');
    expect(text).toContain(`Checked against: oidc-provider ${CHECKED_AGAINST}.`);
    expect(text).toMatch(/Upstream: lib\//);
    expect(text).toMatch(/Serves: /);
    expect(readdirSync(here)).toContain(file.replace(/\.ts$/, '.test.ts'));
    expect(readFileSync(new URL('README.md', here), 'utf8')).toContain(`| [${file}](${file}) |`);
  });

  it('lists the error corrections in their order: client error codes, then the DPoP replay', () => {
    expect(errorCorrections).toEqual([...clientErrorCodes, dpopReplayIsInvalidProof]);
    expect(errorCorrections.map(([event]) => event)).toEqual([
      'grant.error',
      'introspection.error',
      'revocation.error',
      'pushed_authorization_request.error',
      'grant.error',
    ]);
  });

  it('applyPatches installs the patches it lists on a provider', async () => {
    const SECRET = 'svc-secret-0123456789';
    const bare = await bareProvider({
      clients: [
        {
          client_id: 'svc',
          client_secret: SECRET,
          grant_types: ['client_credentials'],
          redirect_uris: [],
          response_types: [],
        },
      ],
      features: { clientCredentials: { enabled: true }, clientIdMetadataDocument: { enabled: true, ack: 'draft-02' } },
    });
    const replays = new MemoryAdapter();
    const accepted: unknown[] = [];
    applyPatches(bare.provider, {
      resourceScopes: () => ['files:read'],
      replayStore: replays,
      acceptClientIdUrl: (id) => (accepted.push(id), false),
    });
    const discovery = await bare.http.get('/.well-known/oauth-authorization-server');
    expect(discovery.body.scopes_supported).toContain('files:read');
    const post = await bare.http
      .post('/token')
      .type('form')
      .send({ grant_type: 'client_credentials', client_id: 'svc', client_secret: SECRET });
    expect(post.status).toBe(401); // registered for client_secret_basic
    const ok = await bare.http
      .post('/token')
      .set('authorization', basic('svc', SECRET))
      .type('form')
      .send({ grant_type: 'client_credentials' });
    expect(ok.status).toBe(200);
    expect(accepted).toContain('svc');
    const unique = (bare.provider.ReplayDetection as unknown as { unique: (...a: unknown[]) => Promise<boolean> })
      .unique;
    expect(await unique('svc', 'jti', Math.floor(Date.now() / 1000) + 60)).toBe(true);
    expect(replays.records.size).toBe(1);
  });
});
