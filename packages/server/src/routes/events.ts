import { createRoute, z } from '@hono/zod-openapi';
import { streamSSE } from 'hono/streaming';
import type { Principal } from '../auth/principal.js';
import type { ServerApp, ServerContext } from '../context.js';
import type { FeedFilter } from '../engine-feed.js';
import { ApiError } from '../errors.js';
import { waitForEntries } from '../events/wait-for-entries.js';
import { EventPage, EventsQuery, LastEventIdHeader } from '../schemas.js';
import { errors, secured } from './responses.js';

const pageSize = 100;
// Ids of events recently sent on one stream: a wake-up for one of them needs no catching up.
const recentIdsKept = 256;

const events = createRoute({
  method: 'get',
  path: '/v1/events',
  tags: ['Events'],
  summary: 'Audit events: a live SSE stream, or a long-poll',
  description: [
    'With `Accept: text/event-stream`: a Server-Sent Events stream. Each event is one audit event as JSON in `data`, with its feed cursor as `id`; reconnecting with `Last-Event-ID` (EventSource does this itself) resumes after it, so nothing is missed or repeated. A `: heartbeat` comment is sent after 15 s of silence.',
    'Otherwise: a long-poll. Answers at once with the events after `after`, or waits up to `wait` seconds for one; pass the returned `cursor` as `after` next time.',
    'Filters (`intent`, `task`, `assignee`) narrow the feed. An agent key must filter by one of its intents or tasks; a person key sees the events of its own tasks (`assignee` is theirs). Streams and waiting long-polls count against the key’s open streams.',
  ].join('\n\n'),
  security: secured,
  request: { query: EventsQuery, headers: LastEventIdHeader },
  responses: {
    200: {
      description: 'An SSE stream (`text/event-stream`) or a page of events (`application/json`)',
      content: {
        'text/event-stream': {
          schema: z
            .string()
            .openapi({ example: 'id: 1767171000000|int_8cWk2…:3\ndata: {"type":"task-decided",…}\n\n' }),
        },
        'application/json': { schema: EventPage },
      },
    },
    ...errors(403, 429),
  },
});

/** The filter a caller may read with: agents their own intents and tasks, people their own tasks. */
async function allowedFilter(
  principal: Principal,
  query: { intent?: string; task?: string; assignee?: string },
  { hp, authority }: ServerContext,
): Promise<FeedFilter> {
  const filter: FeedFilter = {
    ...(query.intent === undefined ? {} : { intentId: query.intent }),
    ...(query.task === undefined ? {} : { taskId: query.task }),
    ...(query.assignee === undefined ? {} : { assignee: query.assignee }),
  };
  if (principal.role === 'admin') return filter;
  if (principal.role === 'person') {
    if (query.assignee !== undefined && query.assignee !== principal.actor.id) {
      throw new ApiError(
        'FORBIDDEN',
        'A person key reads the events of its own tasks: leave out assignee or give your own id.',
        {
          field: 'query.assignee',
        },
      );
    }
    return { ...filter, assignee: principal.actor.id };
  }
  if (query.intent === undefined && query.task === undefined) {
    throw new ApiError(
      'FORBIDDEN',
      'An agent key reads the events of its own intents or tasks: give intent or task.',
      {
        field: 'query.intent',
      },
    );
  }
  if (query.task !== undefined) {
    const task = await hp.getTask(query.task);
    await authority.assertOwns(principal, task.intentId, `read the events of task ${query.task}`);
  }
  if (query.intent !== undefined) {
    await hp.getIntent(query.intent);
    await authority.assertOwns(principal, query.intent, `read the events of intent ${query.intent}`);
  }
  return filter;
}

/** `GET /v1/events`: SSE or long-poll over the engine's event feed. */
export function eventRoutes(app: ServerApp, context: ServerContext): void {
  const { hp, hub, slots, limits, closing } = context;

  app.openapi(events, async (c) => {
    const query = c.req.valid('query');
    const principal = c.get('principal');
    const filter = await allowedFilter(principal, query, context);
    const start = c.req.valid('header')['Last-Event-ID'] ?? query.after;
    const sse = (c.req.header('accept') ?? '').includes('text/event-stream');
    const waitMs = sse ? Number.POSITIVE_INFINITY : (query.wait ?? 0) * 1000;
    const release = waitMs > 0 ? slots.acquire(principal) : () => {};
    const watch = hub.watch(filter);
    const signal = AbortSignal.any([c.req.raw.signal, closing]);
    const options = { filter, limit: query.limit ?? pageSize, pollMs: limits.pollMs, signal };

    /** A key revoked while the request waited or streamed gets nothing more. */
    const revoked = async () => !(await context.stillAuthenticated(c.req.raw));
    if (!sse) {
      try {
        const page = await waitForEntries(hp, watch, { ...options, cursor: start, timeoutMs: waitMs });
        if (waitMs > 0 && (await revoked()))
          throw new ApiError('UNAUTHORIZED', 'The API key was revoked while the request waited.');
        return c.json(page, 200);
      } finally {
        watch.close();
        release();
      }
    }

    const recent: string[] = [];
    // Headers are sent once the first read succeeded, so a bad cursor is still a 400.
    const first = await waitForEntries(hp, watch, { ...options, cursor: start, timeoutMs: 0 }).catch(
      (error) => {
        watch.close();
        release();
        throw error;
      },
    );
    return streamSSE(c, async (stream) => {
      stream.onAbort(() => watch.close());
      try {
        await stream.write(': connected\nretry: 2000\n\n');
        let page = first;
        while (!stream.aborted && !signal.aborted && !watch.closed) {
          if (await revoked()) break;
          for (const entry of page.entries) {
            await stream.writeSSE({ id: entry.cursor, data: JSON.stringify(entry.event) });
            recent.push(entry.event.id);
            if (recent.length > recentIdsKept) recent.shift();
          }
          const more = page.entries.length === options.limit;
          page = await waitForEntries(hp, watch, {
            ...options,
            cursor: page.cursor,
            timeoutMs: more ? 0 : limits.heartbeatMs,
            alreadyRead: (id) => recent.includes(id),
          });
          if (page.entries.length === 0 && !more) await stream.write(': heartbeat\n\n');
        }
      } finally {
        watch.close();
        release();
      }
    });
  });
}
