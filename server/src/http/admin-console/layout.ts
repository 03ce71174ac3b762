/**
 * The admin console's page frame: the document (one stylesheet, no script, no inline style: the console's
 * CSP is `default-src 'none'; style-src 'self'`), the header with the navigation and the sign-out form, the
 * flash message, and the paths of the console's pages, so that links and routes agree.
 */
import { h, path, type Html, type Part } from './markup.ts';

/** What every signed-in page needs besides its data. */
export interface Chrome {
  /** the console's path prefix, e.g. `/admin` or `/tenant/admin` (no trailing slash) */
  base: string;
  /** the signed-in admin: a name to show, and their account id when they have one */
  admin: { name: string; account?: string };
  /** the session's CSRF token, sent back by every form as the hidden field `csrf` */
  csrf: string;
  /** the admin holds `admin.write`: the pages show their write forms */
  canWrite: boolean;
  /** a message about the last action (shown once, as a status) */
  flash?: string;
}

/** A frame without a signed-in admin: the console's prefix alone (the stylesheet, a way back in). */
export interface BareFrame {
  base: string;
}

export type Section = 'overview' | 'access' | 'accounts' | 'clients' | 'audit' | 'keys';

/** The console's pages, under `base`. */
export const consolePaths = (base: string) => ({
  overview: base || '/',
  access: `${base}/access`,
  accounts: `${base}/accounts`,
  clients: `${base}/clients`,
  audit: `${base}/audit`,
  keys: `${base}/keys`,
  stylesheet: `${base}/assets/console.css`,
  signOut: `${base}/sign-out`,
  person: (account: string) => path(base, 'people', account),
  personAction: (account: string, action: 'revoke' | 'disable' | 'enable') => path(base, 'people', account, action),
  client: (client: string) => path(base, 'clients', client),
  clientAction: (client: string, action: 'block' | 'unblock') => path(base, 'clients', client, action),
  trace: (jti: string) => path(base, 'audit', 'trace', jti),
});

const NAV: readonly [Section, string][] = [
  ['overview', 'Overview'],
  ['access', 'Access'],
  ['accounts', 'Accounts'],
  ['clients', 'Clients'],
  ['audit', 'Audit'],
  ['keys', 'Keys'],
];

export const csrfField = (csrf: string): Html => h`<input type="hidden" name="csrf" value="${csrf}">`;

/** A POST form carrying the CSRF token. */
export const postForm = (csrf: string, action: string, body: Part): Html =>
  h`<form class="action" method="post" action="${action}">${csrfField(csrf)}${body}</form>`;

/** the document; without a base (an error before the console is known) it goes without the stylesheet */
function documentOf(base: string | undefined, title: string, header: Html, main: Part): string {
  const sheet = base === undefined ? '' : h`<link rel="stylesheet" href="${consolePaths(base).stylesheet}">`;
  return h`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<title>${title} · baton admin</title>
${sheet}
</head><body>
<a class="skip" href="#main">Skip to content</a>
${header}
<main id="main" tabindex="-1">${main}</main>
</body></html>
`.text;
}

function navOf(base: string, current: Section | undefined): Html {
  const paths = consolePaths(base);
  const items = NAV.map(
    ([section, label]) =>
      h`<li><a href="${paths[section]}"${section === current ? h` aria-current="page"` : ''}>${label}</a></li>`,
  );
  return h`<nav aria-label="Console"><ul>${items}</ul></nav>`;
}

/** A signed-in page: the header with the navigation, who is signed in, sign-out, then the flash and the body. */
export function layout(chrome: Chrome, title: string, current: Section | undefined, body: Part): string {
  const paths = consolePaths(chrome.base);
  const readOnly = chrome.canWrite ? '' : h` <span class="tag tag-info">read-only</span>`;
  const signOut = h`<form class="sign-out" method="post" action="${paths.signOut}">${csrfField(chrome.csrf)}
<span class="who">Signed in as <strong>${chrome.admin.name}</strong>${readOnly}</span>
<button type="submit">Sign out</button></form>`;
  const header = h`<header class="top"><div class="bar">
<a class="brand" href="${paths.overview}">baton admin</a>${navOf(chrome.base, current)}${signOut}</div></header>`;
  const flash = chrome.flash ? h`<p class="flash" role="status">${chrome.flash}</p>` : '';
  return documentOf(chrome.base, title, header, [flash, body]);
}

/** A page without a signed-in admin (signed out, no admin role, an error before the session). */
export function barePage(frame: BareFrame | undefined, title: string, body: Part): string {
  const brand = frame ? h`<a class="brand" href="${consolePaths(frame.base).overview}">baton admin</a>` : 'baton admin';
  const header = h`<header class="top"><div class="bar"><span class="brand">${brand}</span></div></header>`;
  return documentOf(frame?.base, title, header, body);
}
