/**
 * Debian's Chromium for the page tests, driven by playwright-core: one launch for every browser test file,
 * and the steps of a sign-in flow every such file takes (the authorization request, the sign-in form).
 * This machine's network is closed: no background connections, and no sandbox (the tests run as root).
 */
import { createHash, randomBytes } from 'node:crypto';
import { chromium, type Browser, type Page } from 'playwright-core';

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * An authorization request to `issuer` (RFC 6749 §4.1.1) with a fresh PKCE pair (RFC 7636, S256) and state:
 * the URL to open, and the verifier and state the client keeps.
 */
export function authorizationRequest(
  issuer: string,
  params: Record<string, string>,
): { url: string; verifier: string; state: string } {
  const verifier = randomBytes(32).toString('base64url');
  const state = randomBytes(8).toString('hex');
  const url = new URL(`${issuer}/auth`);
  url.search = new URLSearchParams({
    response_type: 'code',
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    state,
    ...params,
  }).toString();
  return { url: url.href, verifier, state };
}

/**
 * Signs in on the local directory's form (the scenario's "Example Corp"), once `page` shows it: fills in
 * the username and the password (by default the scenario's `<username>-password`) and submits.
 */
export async function signInWithPassword(page: Page, username: string, password = `${username}-password`) {
  await page.getByRole('heading', { name: 'Sign in to Example Corp' }).waitFor();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}
