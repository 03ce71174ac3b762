/**
 * Debian's Chromium for the page tests, driven by playwright-core: one launch for every browser test file,
 * and the sign-in form every such file fills in (the authorization request is server/test/pages.ts's).
 * This machine's network is closed: no background connections, and no sandbox (the tests run as root).
 */
import { chromium, type Browser, type Page } from 'playwright-core';

export { authorizationRequest } from '../pages.ts';

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
 * Signs in on the local directory's form (the scenario's "Example Corp"), once `page` shows it: fills in
 * the username and the password (by default the scenario's `<username>-password`) and submits.
 */
export async function signInWithPassword(page: Page, username: string, password = `${username}-password`) {
  await page.getByRole('heading', { name: 'Sign in to Example Corp' }).waitFor();
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}
