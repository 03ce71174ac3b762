/**
 * A browser without JavaScript, for baton's server-rendered pages: follows redirects with a cookie jar and
 * submits each page's form with the fields `answer` chooses, until a redirect that `stopAt` accepts. Used
 * by the conformance suite's scripted sign-in, the official-suite test and the demo.
 */
export interface SignInOptions {
  /** where relative redirects resolve (baton's issuer) */
  base: string;
  /** the redirect that ends the walk (the client's redirect URI) */
  stopAt(url: URL): boolean;
  /** the fields to submit on a page (the CSRF token is added) */
  answer(html: string): Record<string, string>;
  /** sees every page shown on the way (a scenario may check its headers or what it tells the user) */
  onPage?(page: { url: string; status: number; headers: Headers; html: string }): void;
  /** sees every redirect on the way, with its status (a scenario may check how the browser is sent on) */
  onRedirect?(redirect: { from: string; status: number; location: string }): void;
  maxSteps?: number;
}

export class SignInError extends Error {
  override name = 'SignInError';
}

/** The usual answers: baton's chooser, local login form and consent page. */
export function answerAs(user: { username: string; password: string; idp?: string }) {
  return (html: string): Record<string, string> =>
    html.includes('name="password"')
      ? { username: user.username, password: user.password }
      : html.includes('name="idp"')
        ? { idp: user.idp ?? 'local' }
        : { decision: 'allow' };
}

export async function walkSignIn(start: string, opts: SignInOptions): Promise<URL> {
  const jar = new Map<string, string>();
  const go = async (href: string, init: RequestInit = {}) => {
    const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await fetch(href, {
      ...init,
      redirect: 'manual',
      headers: { ...(init.headers as Record<string, string>), ...(cookie ? { cookie } : {}) },
    });
    for (const c of res.headers.getSetCookie()) {
      const pair = c.split(';')[0]!;
      jar.set(pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1));
    }
    return res;
  };
  let url = start;
  let res = await go(start);
  for (let i = 0; i < (opts.maxSteps ?? 12); i++) {
    const location = res.headers.get('location');
    if (location) {
      const next = new URL(location, opts.base);
      opts.onRedirect?.({ from: url, status: res.status, location: next.href });
      if (opts.stopAt(next)) return next;
      url = next.href;
      res = await go(url);
      continue;
    }
    const html = await res.text();
    opts.onPage?.({ url, status: res.status, headers: res.headers, html });
    const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1]?.replaceAll('&amp;', '&');
    const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1];
    if (!action || !csrf) {
      const text = html
        .replace(/<style>.*<\/style>/s, '')
        .replace(/<[^>]+>/g, ' ')
        .replace(/\s+/g, ' ')
        .trim();
      throw new SignInError(`the sign-in stopped on a page without a form (HTTP ${res.status}: ${text.slice(0, 160)})`);
    }
    url = new URL(action, opts.base).href;
    res = await go(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ csrf, ...opts.answer(html) }).toString(),
    });
  }
  throw new SignInError(`the sign-in did not end at the redirect URI (last: HTTP ${res.status})`);
}
