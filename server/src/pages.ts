/** Server-rendered pages: no external assets, no scripts, every interpolation escaped. */

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

export function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · baton</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;color:#1b1b1f}
h1{font-size:1.4rem}code{background:#f1f1f4;padding:.1rem .3rem;border-radius:3px}</style>
</head><body><main>${body}</main></body></html>`;
}

/**
 * oidc-provider's error page. When the client id is a Client ID Metadata Document whose fetch failed, the
 * page says what failed (a short category: tls, status, size, content type, client_id mismatch, host not
 * allowed, rate limited; never an internal message) and when baton fetches it again, so the developer of
 * the client can fix the document.
 */
export function renderErrorPage(
  out: { error: string; error_description?: string },
  opts: { cimd?: { clientId: string; reason: string } | undefined; retrySeconds?: number } = {},
): string {
  const { cimd } = opts;
  const retry = opts.retrySeconds
    ? ` After a failed fetch baton fetches the document again after ${opts.retrySeconds} s.`
    : '';
  return page(
    'Sign-in error',
    `<h1>Something went wrong</h1><p>The request could not be completed: <code>${escapeHtml(out.error)}</code>.</p>` +
      (out.error_description ? `<p>${escapeHtml(out.error_description)}</p>` : '') +
      (cimd
        ? `<p>The client's metadata document <code>${escapeHtml(cimd.clientId)}</code> could not be used: ` +
          `<strong>${escapeHtml(cimd.reason)}</strong>.</p>` +
          `<p>If you develop this client: correct the document, then try again.${retry}</p>`
        : '') +
      '<p>Return to the application and try again.</p>',
  );
}

export interface Field {
  name: string;
  value: string;
}

function hidden(fields: Field[]): string {
  return fields
    .map((f) => `<input type="hidden" name="${escapeHtml(f.name)}" value="${escapeHtml(f.value)}">`)
    .join('');
}

export function chooserPage(opts: {
  action: string;
  csrf: string;
  idps: { id: string; name: string }[];
  emailRouting: boolean;
  error?: string;
}): string {
  const buttons = opts.idps
    .map(
      (i) =>
        `<li><button type="submit" name="idp" value="${escapeHtml(i.id)}">Continue with ${escapeHtml(i.name)}</button></li>`,
    )
    .join('');
  const email = opts.emailRouting
    ? `<form method="post" action="${escapeHtml(opts.action)}">${hidden([{ name: 'csrf', value: opts.csrf }])}
<p><label for="email">Work email</label><br><input id="email" name="email" type="email" autocomplete="email" required></p>
<p><button type="submit">Continue</button></p></form><p>or choose your sign-in provider:</p>`
    : '<p>Choose your sign-in provider:</p>';
  return page(
    'Sign in',
    `<h1>Sign in</h1>${opts.error ? `<p role="alert">${escapeHtml(opts.error)}</p>` : ''}${email}
<form method="post" action="${escapeHtml(opts.action)}">${hidden([{ name: 'csrf', value: opts.csrf }])}<ul>${buttons}</ul></form>`,
  );
}

export function loginPage(opts: {
  action: string;
  csrf: string;
  idpName: string;
  username?: string;
  error?: string;
}): string {
  return page(
    'Sign in',
    `<h1>Sign in to ${escapeHtml(opts.idpName)}</h1>${opts.error ? `<p role="alert">${escapeHtml(opts.error)}</p>` : ''}
<form method="post" action="${escapeHtml(opts.action)}">${hidden([{ name: 'csrf', value: opts.csrf }])}
<p><label for="username">Username</label><br><input id="username" name="username" autocomplete="username" required value="${escapeHtml(opts.username ?? '')}"></p>
<p><label for="password">Password</label><br><input id="password" name="password" type="password" autocomplete="current-password" required></p>
<p><button type="submit">Sign in</button></p></form>`,
  );
}

export interface ConsentItem {
  resourceName: string;
  resource: string;
  granted: string[];
  denied: string[];
  descriptions: Readonly<Record<string, string>>;
}

export function consentPage(opts: {
  action: string;
  csrf: string;
  clientName: string;
  clientKind: string;
  redirectHost: string;
  user: string;
  items: ConsentItem[];
}): string {
  const items = opts.items
    .map(
      (i) => `<section><h2>${escapeHtml(i.resourceName)}</h2><p><code>${escapeHtml(i.resource)}</code></p>
<ul>${i.granted
        .map(
          (s) =>
            `<li><code>${escapeHtml(s)}</code>${i.descriptions[s] ? `: ${escapeHtml(i.descriptions[s])}` : ''}</li>`,
        )
        .join('')}</ul>${
        i.denied.length
          ? `<p>Not included (your roles do not allow it): ${i.denied.map((s) => `<code>${escapeHtml(s)}</code>`).join(', ')}</p>`
          : ''
      }</section>`,
    )
    .join('');
  return page(
    'Allow access',
    `<h1>Allow ${escapeHtml(opts.clientName)} to act for you?</h1>
<p>Signed in as <strong>${escapeHtml(opts.user)}</strong>. The ${escapeHtml(opts.clientKind)} <strong>${escapeHtml(opts.clientName)}</strong>, which returns to <strong>${escapeHtml(opts.redirectHost)}</strong>, asks for:</p>
${items}
<form method="post" action="${escapeHtml(opts.action)}">${hidden([{ name: 'csrf', value: opts.csrf }])}
<p><button type="submit" name="decision" value="allow">Allow</button> <button type="submit" name="decision" value="deny">Deny</button></p></form>`,
  );
}

export function noAccessPage(opts: {
  action: string;
  csrf: string;
  clientName: string;
  user: string;
  roles: string[];
  resources: string[];
}): string {
  return page(
    'No access',
    `<h1>No access</h1>
<p>Signed in as <strong>${escapeHtml(opts.user)}</strong>${opts.roles.length ? ` with the roles ${opts.roles.map((r) => `<code>${escapeHtml(r)}</code>`).join(', ')}` : ' with no role'}.
None of the permissions <strong>${escapeHtml(opts.clientName)}</strong> asked for on ${opts.resources.map((r) => `<code>${escapeHtml(r)}</code>`).join(', ')} is granted to you. Ask your administrator for a role that grants them.</p>
<form method="post" action="${escapeHtml(opts.action)}">${hidden([{ name: 'csrf', value: opts.csrf }])}<p><button type="submit">Return to the application</button></p></form>`,
  );
}

export function messagePage(title: string, message: string): string {
  return page(
    title,
    `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p><p>Return to the application and try again.</p>`,
  );
}

/**
 * OpenID Connect RP-Initiated Logout 1.0 §2: the confirmation at /session/end. `form` is oidc-provider's
 * (its `op.logoutForm`, carrying the anti-CSRF value, as its logoutSource hook documents); the buttons
 * submit it, "yes" with `logout=yes`.
 */
export function logoutPage(form: string): string {
  return page(
    'Sign out',
    `<h1>Sign out?</h1><p>You are signed in to baton in this browser. Applications keep the access they were given until it expires.</p>
${form}<p><button type="submit" form="op.logoutForm" name="logout" value="yes">Yes, sign me out</button> <button type="submit" form="op.logoutForm">No, stay signed in</button></p>`,
  );
}

export function signedOutPage(): string {
  return page('Signed out', '<h1>Signed out</h1><p>You are signed out of baton in this browser.</p>');
}
