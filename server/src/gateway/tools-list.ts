/**
 * `tools/list` answers, filtered to the tools the caller may call (the kit's `mayCall`, the gateway's
 * per-tool scopes): the upstream lists every tool its key reaches, an agent sees those its person may use.
 * The answer is small: it is read whole (up to a cap), as JSON or as an SSE stream (eventsource-parser),
 * each JSON-RPC response to one of the listed request ids filtered, and written again in the same form.
 */
import { createParser } from 'eventsource-parser';

/** The ids of the `tools/list` requests in a JSON-RPC body (one message or a batch). */
export function toolsListIds(body: unknown): Set<unknown> {
  const messages = Array.isArray(body) ? body : [body];
  const ids = new Set<unknown>();
  for (const m of messages) {
    const msg = m as { method?: unknown; id?: unknown } | null;
    if (msg && msg.method === 'tools/list' && (typeof msg.id === 'string' || typeof msg.id === 'number')) {
      ids.add(msg.id);
    }
  }
  return ids;
}

type MayCall = (tool: string) => boolean;

/** The upstream's answer to tools/list could not be read: it is not passed on (502). */
export class UnreadableToolsList extends Error {
  override name = 'UnreadableToolsList';
}

function filterMessage(message: unknown, ids: Set<unknown>, mayCall: MayCall): unknown {
  const m = message as { id?: unknown; result?: { tools?: unknown } } | null;
  if (!m || !ids.has(m.id) || !Array.isArray(m.result?.tools)) return message;
  const tools = (m.result.tools as unknown[]).filter((t) => {
    const name = (t as { name?: unknown } | null)?.name;
    return typeof name === 'string' && mayCall(name);
  });
  return { ...m, result: { ...m.result, tools } };
}

function filterJsonText(text: string, ids: Set<unknown>, mayCall: MayCall): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // fail closed: an answer the gateway cannot read could list what the caller may not call
    throw new UnreadableToolsList('the answer to tools/list is not JSON');
  }
  return JSON.stringify(
    Array.isArray(parsed) ? parsed.map((m) => filterMessage(m, ids, mayCall)) : filterMessage(parsed, ids, mayCall),
  );
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** An SSE stream (WHATWG HTML §9.2), each event's data filtered when it is a listed response. */
function filterSse(text: string, ids: Set<unknown>, mayCall: MayCall): string {
  const out: string[] = [];
  const parser = createParser({
    onEvent(e) {
      // an event whose data is not JSON (the SDK's priming event for resumability has none) is no
      // JSON-RPC message to any client: it passes as it is
      const data = isJson(e.data) ? filterJsonText(e.data, ids, mayCall) : e.data;
      out.push(
        [
          ...(e.event ? [`event: ${e.event}`] : []),
          ...(e.id !== undefined ? [`id: ${e.id}`] : []),
          ...data.split('\n').map((line) => `data: ${line}`),
        ].join('\n') + '\n\n',
      );
    },
    onRetry(ms) {
      out.push(`retry: ${ms}\n\n`);
    },
  });
  parser.feed(text);
  parser.reset({ consume: true });
  return out.join('');
}

/** The answer to a body holding `tools/list` requests, filtered; `contentType` says JSON or SSE. Throws UnreadableToolsList. */
export function filterToolsList(
  contentType: string | undefined,
  text: string,
  ids: Set<unknown>,
  mayCall: MayCall,
): string {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'text/event-stream') return filterSse(text, ids, mayCall);
  if (type === 'application/json') return filterJsonText(text, ids, mayCall);
  throw new UnreadableToolsList(`the answer to tools/list is ${type || 'without a content type'}`);
}
