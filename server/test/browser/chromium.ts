/**
 * Debian's Chromium for the page tests, driven by playwright-core: one launch for every browser test file.
 * This machine's network is closed: no background connections, and no sandbox (the tests run as root).
 */
import { chromium, type Browser } from 'playwright-core';

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
