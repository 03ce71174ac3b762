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

export function renderErrorPage(out: { error: string; error_description?: string }): string {
  return page(
    'Sign-in error',
    `<h1>Something went wrong</h1><p>The request could not be completed: <code>${escapeHtml(out.error)}</code>.</p>` +
      (out.error_description ? `<p>${escapeHtml(out.error_description)}</p>` : '') +
      '<p>Return to the application and try again.</p>',
  );
}
