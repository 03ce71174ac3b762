/**
 * The admin console's trace of one chain (`audit.trace`, audit/store.ts traceToken), drawn as a tree of nested
 * lists: the person and the grant at the root (the sign-in and consent that started it), under it the token
 * the agent got for an MCP server, under that the tokens exchanged from it (RFC 8693: the MCP server acting for
 * the person at a downstream resource), and under each token its own events: its issue, each tool call with
 * its outcome. Events are tied to tokens as the CLI's printTrace ties them: by their `jti` when it is a token
 * of the tree, else by their `parent_jti` (an exchange refused for that subject token); the grant's events
 * (no token) by `grant_id`, and its sign-in by the `auth_time` its consent records (OIDC Core §2).
 */
import type { AuditActor } from '../../audit/record.ts';
import type { ChainedRow } from '../../audit/chain.ts';
import type { Trace } from '../../audit/store.ts';
import { callOf, clientCell, reasonOf } from './audit-view.ts';
import { consolePaths, layout, type Chrome } from './layout.ts';
import { code, codeOr, h, join, none, outcome, tag, time, type Html, type Part } from './markup.ts';

const ISSUED = new Set(['token.issued', 'id_jag.issued']);

interface Tree {
  base: string;
  trace: Trace;
  known: ReadonlySet<string>;
  /** the token the trace was asked for */
  focus: string | undefined;
  /** the tokens drawn so far: each is drawn once, even when the lineage loops */
  drawn: Set<string>;
}

/** the token of the tree an event belongs to, or null (an event of the grant) */
function tokenOf(t: Tree, e: ChainedRow): string | null {
  if (e.jti && t.known.has(e.jti)) return e.jti;
  return e.parent_jti && t.known.has(e.parent_jti) ? e.parent_jti : null;
}

const eventsOf = (t: Tree, jti: string): ChainedRow[] => t.trace.events.filter((e) => tokenOf(t, e) === jti);
const issueOf = (own: readonly ChainedRow[], jti: string): ChainedRow | undefined =>
  own.find((e) => e.jti === jti && ISSUED.has(e.type));

/** RFC 8693 §4.1: the current actor first, then the prior ones */
function actors(act: AuditActor | undefined): string[] {
  const out: string[] = [];
  for (let a = act; a && out.length < 16; a = a.act) out.push(a.sub);
  return out;
}

function eventList(rows: readonly ChainedRow[]): Part {
  if (rows.length === 0) return '';
  const items = rows.map((e) => {
    const call = callOf(e);
    const why = reasonOf(e);
    return h`<li>${outcome(e.outcome)} ${code(e.type)}${call ? h` <strong>${call}</strong>` : ''}${why ? ` — ${why}` : ''}
<span class="meta">${time(e.at)} · seq ${e.seq}</span></li>`;
  });
  return h`<ul class="events" aria-label="Events">${items}</ul>`;
}

function personLink(base: string, e: ChainedRow | undefined): Part {
  if (!e?.account_id) return e?.event.idp?.sub ? code(e.event.idp.sub) : none('unknown person');
  return h`<a href="${consolePaths(base).person(e.account_id)}">${e.event.idp?.sub ?? e.account_id}</a>`;
}

/** what baton's record of issuing the token says: for whom, to which client, the actors, the scope */
function tokenFacts(base: string, issued: ChainedRow | undefined): Html {
  if (!issued) return h`<p class="node-facts">${none('baton holds no record of issuing this token')}</p>`;
  const chain = actors(issued.event.act);
  const prior = chain.length > 1 ? h` (before it: ${join(chain.slice(1).map(code), ', ')})` : '';
  const facts: Part[] = [
    h`subject ${personLink(base, issued)}`,
    h`client ${clientCell(base, issued.client_id)}`,
    h`audience ${codeOr(issued.resource)}`,
    chain.length > 0 ? h`actor ${code(chain[0]!)}${prior}` : false,
    issued.event.scope ? h`scope ${code(issued.event.scope)}` : false,
    issued.event.grant_type ? h`grant type ${code(issued.event.grant_type)}` : false,
  ];
  return h`<p class="node-facts">${join(
    facts.filter((f) => f !== false),
    ' · ',
  )}</p>`;
}

/** the nodes of these tokens, each not drawn yet (in order: a node draws its descendants first) */
function draw(t: Tree, jtis: readonly string[]): Html[] {
  return jtis.flatMap((j) => (t.drawn.has(j) ? [] : [tokenNode(t, j)]));
}

function tokenNode(t: Tree, jti: string): Html {
  t.drawn.add(jti);
  const own = eventsOf(t, jti);
  const issued = issueOf(own, jti);
  const children = draw(
    t,
    t.trace.tokens.filter((k) => k.parent_jti === jti).map((k) => k.jti),
  );
  const focus = jti === t.focus ? h` ${tag('this token', 'info')}` : '';
  const aud = issued?.resource ? code(issued.resource) : none('unknown audience');
  const kind = issued?.event.parent_jti ? 'exchanged token' : 'token';
  const nested = children.length > 0 ? h`<ul>${children}</ul>` : '';
  return h`<li class="node node-token"><p class="node-head"><span class="node-kind">${kind}</span>${clientCell(t.base, issued?.client_id)} → ${aud}${focus}
<span class="meta">jti <a href="${consolePaths(t.base).trace(jti)}">${code(jti)}</a></span></p>
${tokenFacts(t.base, issued)}${eventList(own)}${nested}</li>`;
}

const authTime = (e: ChainedRow): unknown => (e.event.details as { auth_time?: unknown } | undefined)?.auth_time;

/** the grant of a root token: its issue's `gid`, else any of its events' */
function grantOfToken(t: Tree, jti: string): string | null {
  const own = eventsOf(t, jti);
  return (issueOf(own, jti) ?? own.find((e) => e.grant_id))?.grant_id ?? null;
}

/** the sign-ins that started a grant: the same account and auth_time as one of its events, and before it */
const startedBy = (signIns: readonly ChainedRow[], own: readonly ChainedRow[]): ChainedRow[] =>
  signIns.filter((l) =>
    own.some(
      (g) => g.account_id === l.account_id && authTime(g) !== undefined && authTime(g) === authTime(l) && l.seq < g.seq,
    ),
  );

/** The grants (each with its person, its own events and its root tokens), then the roots without a grant. */
function roots(t: Tree): Html[] {
  const loose = t.trace.events.filter((e) => tokenOf(t, e) === null);
  const signIns = loose.filter((e) => e.type === 'login.success');
  const rootTokens = t.trace.tokens.filter((k) => k.parent_jti === null).map((k) => k.jti);
  const gids = new Set([
    ...loose.flatMap((e) => (e.grant_id ? [e.grant_id] : [])),
    ...rootTokens.flatMap((j) => grantOfToken(t, j) ?? []),
  ]);
  const shown = new Set<number>();
  const nodes = [...gids].map((gid) => {
    const own = loose.filter((e) => e.grant_id === gid);
    const events = [...new Set([...startedBy(signIns, own), ...own])].sort((a, b) => a.seq - b.seq);
    for (const e of events) shown.add(e.seq);
    const tokens = rootTokens.filter((j) => grantOfToken(t, j) === gid);
    const person = events.find((e) => e.account_id) ?? tokens.map((j) => issueOf(eventsOf(t, j), j)).find(Boolean);
    const drawn = draw(t, tokens);
    const nested = drawn.length > 0 ? h`<ul>${drawn}</ul>` : '';
    return h`<li class="node node-grant"><p class="node-head"><span class="node-kind">person</span>${personLink(t.base, person)}
<span class="meta">grant ${code(gid)}</span></p>${eventList(events)}${nested}</li>`;
  });
  const rest = loose.filter((e) => !e.grant_id && !shown.has(e.seq));
  if (rest.length > 0)
    nodes.push(
      h`<li class="node node-grant"><p class="node-head"><span class="node-kind">other events</span>of no grant</p>${eventList(rest)}</li>`,
    );
  const orphans = draw(
    t,
    rootTokens.filter((j) => grantOfToken(t, j) === null),
  );
  // a token no root reaches (its lineage loops): drawn at the top, with what it reaches
  const unreached = draw(
    t,
    t.trace.tokens.map((k) => k.jti),
  );
  return [...nodes, ...orphans, ...unreached];
}

const count = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/** The trace of one chain as a tree; `jti` (the token asked for) is marked in it. */
export function tracePage(chrome: Chrome, trace: Trace, jti?: string): string {
  const asked = jti ?? trace.tokens[0]?.jti;
  const known = new Set(trace.tokens.map((k) => k.jti));
  const t: Tree = { base: chrome.base, trace, known, focus: asked, drawn: new Set() };
  const tree =
    trace.events.length === 0
      ? h`<p class="empty">No event of the audit trail names the token ${codeOr(asked)}.</p>`
      : h`<ul class="tree" aria-label="The chain, from the person to the last exchanged token">${roots(t)}</ul>`;
  const sizes = `${count(trace.tokens.length, 'token', 'tokens')}, ${count(trace.events.length, 'event', 'events')}`;
  const body = h`<h1>Trace of a token chain</h1>
<p class="sub">The chain of token ${codeOr(asked)}: ${sizes}. Each token is shown as <em>client → audience</em>, with its events under it; the tokens exchanged from it are nested below it.</p>
${tree}
<p><a href="${consolePaths(chrome.base).audit}">Back to the audit trail</a></p>`;
  return layout(chrome, 'Trace', 'audit', body);
}
