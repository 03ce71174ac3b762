import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { bareProvider } from './bare-provider.ts';
import { offerScriptHashes, providerScriptHashes } from './script-hashes.ts';

/** the CSP hash-source of the one inline script of a page */
function inlineScriptSource(html: string): string {
  const script = /<script>([\s\S]*?)<\/script>/.exec(html)?.[1];
  expect(script).toBeDefined();
  return `'sha256-${createHash('sha256').update(script!).digest('base64')}'`;
}

/** GET /session/end without a session: oidc-provider's self-submitting sign-out form (form_post template) */
async function signOutPage(before?: (ctx: { set(f: string, v: string): void }) => void) {
  const bare = await bareProvider();
  let hashes: string[] | undefined;
  bare.provider.use(async (ctx, next) => {
    before?.(ctx);
    await next();
    if (ctx.response.get('Content-Security-Policy') !== undefined) hashes = providerScriptHashes(ctx);
  });
  const res = await bare.http.get('/session/end');
  expect(res.status).toBe(200);
  expect(res.type).toBe('text/html');
  return { res, hashes: hashes! };
}

describe('upstream (oidc-provider without the patch)', () => {
  it('adds no policy of its own to a page it submits by script', async () => {
    const { res } = await signOutPage();
    expect(res.text).toContain('document.forms[0].submit()');
    expect(res.headers['content-security-policy']).toBeUndefined();
  });

  it('adds nothing to a policy without a script-src directive', async () => {
    const { res } = await signOutPage((ctx) => ctx.set('Content-Security-Policy', "default-src 'none'"));
    expect(res.headers['content-security-policy']).toBe("default-src 'none'");
  });

  it("adds its inline script's sha256 hash-source to a script-src directive already there", async () => {
    const { res } = await signOutPage((ctx) => ctx.set('Content-Security-Policy', "default-src 'none'; script-src"));
    expect(res.headers['content-security-policy']).toBe(
      `default-src 'none';script-src ${inlineScriptSource(res.text)}`,
    );
  });
});

describe('script-hashes (the patch)', () => {
  it('offers an empty script-src and reads back exactly the hash of the script on the page', async () => {
    const { res, hashes } = await signOutPage(offerScriptHashes);
    expect(hashes).toEqual([inlineScriptSource(res.text)]);
  });

  it('reads no hash from an answer without a script, or from sources that are not hashes', () => {
    const policy = (value: string) => ({ response: { get: () => value } });
    expect(providerScriptHashes(policy(''))).toEqual([]);
    expect(providerScriptHashes(policy('script-src'))).toEqual([]);
    expect(providerScriptHashes(policy("script-src 'unsafe-inline' https: 'sha256-AbC+/9='"))).toEqual([
      "'sha256-AbC+/9='",
    ]);
  });
});
