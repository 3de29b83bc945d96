// The web inbox: server-rendered pages on the same app as the API, for people signed in by link.
import { HoldpointError, type HumanTask, isAssignee, verifyAudit } from '@holdpoint/core';
import type { Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { streamSSE } from 'hono/streaming';
import { involves } from '../auth/authority.js';
import type { Principal } from '../auth/principal.js';
import type { ServerApp, ServerContext } from '../context.js';
import { countListed, countTasks, listTasks } from '../engine-feed.js';
import { ApiError, apiErrorOf } from '../errors.js';
import { RateLimiter } from '../people/rate-limit.js';
import { type Session, sessionCredentialId } from '../people/sessions.js';
import { safeNext } from '../people/sign-in-links.js';
import { newToken } from '../people/tokens.js';
import { isEmailAddress, type User } from '../people/users.js';
import { inboxCss, inboxJs } from './assets.js';
import type { Html } from './html.js';
import { page } from './layout.js';
import {
  type AssigneeRow,
  type AuditSummary,
  confirmPage,
  type DecideState,
  listPage,
  messagePage,
  overviewPage,
  requestLinkPage,
  type TimelineEntry,
  taskPage,
  timelineEntryOf,
} from './pages.js';
import { dataFromFields } from './schema-form.js';

/** Options of the inbox (`createHoldpointServer({ inbox })`). */
export interface InboxOptions {
  /**
   * The URL people reach the server by (`https://holdpoint.example.com`): links in mail and
   * printed links start with it, and cookies are `Secure` when it is `https:`.
   * @default the address the server listens on
   */
  publicUrl?: string;
  /** How long a session lasts. @default 12 hours */
  sessionTtlMs?: number;
  /** How long a link that someone asked for by email stays valid. @default 1 hour */
  requestedLinkTtlMs?: number;
  /** Sign-in link requests per email address and per client address, per window. @default 5 per 15 minutes */
  signInRequests?: { max: number; windowMs: number };
  /**
   * A reverse proxy in front of the server adds the client's address to `X-Forwarded-For`: take the
   * last entry of it (the one the proxy added) as the client's address. Without it the header is
   * ignored (a client could write anything there) and the connection's address counts.
   * @default false
   */
  trustProxy?: boolean;
  /**
   * Mail a sign-in link (the email channel's mailer). Without it, `/sign-in` says to ask an admin.
   */
  mailSignInLink?: (user: User, url: string, expiresAt: string) => Promise<void>;
}

const sessionCookie = 'hp_session';
const formCookie = 'hp_form';
const maxFormBytes = 64 * 1024;
/** An admin's overview has a row for each assignee of this many newest pending tasks (and each user). */
const overviewNewest = 1000;
/**
 * The overview counts each row's overdue and escalated tasks up to this many each ("100+" beyond),
 * so that a page reads a bounded number of tasks per row however many are pending.
 */
const overviewRowCap = 100;
/** The overview's decision times are those of the newest this many decisions. */
const overviewDecisions = 500;

const securityHeaders: Record<string, string> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

/** Who is signed in on a request. */
interface SignedIn {
  user: User;
  session: Session;
  principal: Principal;
}

/** Mount the inbox's pages on the server's app. */
export function inboxRoutes(app: ServerApp, context: ServerContext, options: InboxOptions = {}): void {
  const { hp, people, hub, closing } = context;
  const perEmail = new RateLimiter(
    options.signInRequests?.max ?? 5,
    options.signInRequests?.windowMs ?? 900_000,
  );
  const perAddress = new RateLimiter(
    (options.signInRequests?.max ?? 5) * 4,
    options.signInRequests?.windowMs ?? 900_000,
  );
  const formLimit = bodyLimit({
    maxSize: maxFormBytes,
    onError: () => {
      throw new ApiError('PAYLOAD_TOO_LARGE', 'The form is larger than this server accepts.', {
        field: 'body',
      });
    },
  });

  const secure = (c: Context) =>
    (options.publicUrl ?? context.publicUrl ?? '').startsWith('https:') ||
    new URL(c.req.url).protocol === 'https:';
  const baseUrl = (c: Context) =>
    (options.publicUrl ?? context.publicUrl ?? new URL(c.req.url).origin).replace(/\/+$/, '');

  const send = (
    c: Context,
    status: number,
    title: string,
    body: Html,
    extra: { user?: User; csrf?: string; live?: string } = {},
  ) => {
    for (const [name, value] of Object.entries(securityHeaders)) c.header(name, value);
    return c.html(page({ title, body, ...extra }), status as 200);
  };
  const problem = (c: Context, status: number, heading: string, message: string, signedIn?: SignedIn) =>
    send(
      c,
      status,
      heading,
      messagePage(heading, message),
      signedIn ? { user: signedIn.user, csrf: signedIn.session.csrf } : {},
    );

  async function signedInOf(c: Context): Promise<SignedIn | undefined> {
    const token = getCookie(c, sessionCookie);
    const session = await people.sessions.read(token);
    if (!session || token === undefined) return undefined;
    const user = await people.users.get(session.userId);
    if (!user) return undefined;
    return {
      user,
      session,
      principal: {
        actor: { id: user.id, ...(user.name === undefined ? {} : { name: user.name }) },
        role: user.admin ? 'admin' : 'person',
        credential: { kind: 'session', id: sessionCredentialId(token) },
      },
    };
  }

  /** A form cookie for forms posted before there is a session (double submit). */
  const formToken = (c: Context) => {
    const token = newToken();
    setCookie(c, formCookie, token, {
      httpOnly: true,
      sameSite: 'Strict',
      secure: secure(c),
      path: '/sign-in',
    });
    return token;
  };
  const formTokenOk = (c: Context, posted: string | undefined) => {
    const cookie = getCookie(c, formCookie);
    return cookie !== undefined && posted !== undefined && cookie === posted;
  };

  async function postedFields(c: Context): Promise<Record<string, string>> {
    const type = (c.req.header('content-type') ?? '').split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/x-www-form-urlencoded' && type !== 'multipart/form-data') {
      throw new ApiError('UNSUPPORTED_MEDIA_TYPE', 'Post the form as application/x-www-form-urlencoded.', {
        field: 'header.Content-Type',
      });
    }
    const body = await c.req.parseBody();
    return Object.fromEntries(
      Object.entries(body).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
    );
  }

  // Errors on inbox pages are pages, not JSON.
  const guard =
    (handler: (c: Context) => Promise<Response>) =>
    async (c: Context): Promise<Response> => {
      try {
        return await handler(c);
      } catch (error) {
        const apiError = apiErrorOf(error);
        if (apiError.code === 'INTERNAL') context.onError(error);
        return problem(c, apiError.status, 'Something went wrong', apiError.message);
      }
    };

  /** The signed-in person, or a redirect to `/sign-in` (with where they were going). */
  const requireSignIn = (handler: (c: Context, signedIn: SignedIn) => Promise<Response>) =>
    guard(async (c) => {
      const signedIn = await signedInOf(c);
      if (!signedIn) {
        if (c.req.method !== 'GET')
          return problem(c, 401, 'Signed out', 'Your session has ended: sign in again.');
        return c.redirect(`/sign-in?next=${encodeURIComponent(c.req.path)}`, 303);
      }
      return handler(c, signedIn);
    });

  /** The CSRF token of the session must come back with every form. */
  const requireCsrf = (signedIn: SignedIn, fields: Record<string, string>) => {
    if (fields.csrf !== signedIn.session.csrf) {
      throw new ApiError(
        'CSRF_TOKEN_INVALID',
        'The form did not carry this session’s token: reload the page and try again.',
        {
          field: 'body.csrf',
        },
      );
    }
  };

  // Assets.
  app.get('/assets/inbox.css', (c) => {
    c.header('cache-control', 'public, max-age=300');
    c.header('x-content-type-options', 'nosniff');
    return c.body(inboxCss, 200, { 'content-type': 'text/css; charset=utf-8' });
  });
  app.get('/assets/inbox.js', (c) => {
    c.header('cache-control', 'public, max-age=300');
    c.header('x-content-type-options', 'nosniff');
    return c.body(inboxJs, 200, { 'content-type': 'text/javascript; charset=utf-8' });
  });

  // Sign-in.
  app.get(
    '/sign-in',
    guard(async (c) =>
      send(
        c,
        200,
        'Sign in',
        requestLinkPage(formToken(c), options.mailSignInLink !== undefined, safeNext(c.req.query('next'))),
      ),
    ),
  );

  app.post(
    '/sign-in',
    formLimit,
    guard(async (c) => {
      const fields = await postedFields(c);
      if (!formTokenOk(c, fields.form))
        return problem(c, 403, 'Form expired', 'Reload the sign-in page and try again.');
      const email = (fields.email ?? '').trim().toLowerCase();
      const address = clientAddress(c, options.trustProxy === true);
      if (!perAddress.take(address) || !perEmail.take(email)) {
        c.header('retry-after', '900');
        return problem(
          c,
          429,
          'Too many requests',
          'Too many sign-in links were asked for: wait a few minutes.',
        );
      }
      const sent = messagePage(
        'Check your mail',
        'If that address belongs to someone of this inbox, a sign-in link is on its way. It works once.',
      );
      if (!options.mailSignInLink || !isEmailAddress(email)) return send(c, 200, 'Check your mail', sent);
      const user = await people.users.get(email);
      if (user) {
        const link = await people.links.create(user.id, {
          ttlMs: options.requestedLinkTtlMs ?? 3_600_000,
          next: safeNext(fields.next),
          createdBy: 'sign-in request',
        });
        await options.mailSignInLink(user, `${baseUrl(c)}/sign-in/${link.token}`, link.expiresAt);
      }
      // The same answer either way: the form does not tell who has an account.
      return send(c, 200, 'Check your mail', sent);
    }),
  );

  // A GET never signs in (mail scanners fetch links): it shows what the link would do.
  app.get(
    '/sign-in/:token',
    guard(async (c) => {
      const inspected = await people.links.inspect(c.req.param('token') ?? '');
      if ('problem' in inspected) {
        const error = apiErrorOf(new ApiError('SIGN_IN_LINK_INVALID', '', {}));
        const messages = {
          unknown:
            'This sign-in link is not valid. Check that the whole link was copied, or ask for a new one.',
          expired: 'This sign-in link has expired. Ask for a new one.',
          used: 'This sign-in link has been used already: each link signs in once. Ask for a new one.',
        };
        return problem(c, error.status, 'Link not valid', messages[inspected.problem]);
      }
      return send(c, 200, 'Sign in', confirmPage(formToken(c), inspected.link.userId));
    }),
  );

  app.post(
    '/sign-in/:token',
    formLimit,
    guard(async (c) => {
      const fields = await postedFields(c);
      if (!formTokenOk(c, fields.form))
        return problem(c, 403, 'Form expired', 'Open the link again and confirm.');
      const link = await people.links.use(c.req.param('token') ?? '');
      const previous = getCookie(c, sessionCookie);
      if (previous !== undefined) await people.sessions.close(previous);
      const { token } = await people.sessions.open(link.userId);
      setCookie(c, sessionCookie, token, {
        httpOnly: true,
        sameSite: 'Lax',
        secure: secure(c),
        path: '/',
        maxAge: Math.floor(people.sessions.ttlMs / 1000),
      });
      deleteCookie(c, formCookie, { path: '/sign-in' });
      return c.redirect(link.next, 303);
    }),
  );

  app.post(
    '/sign-out',
    formLimit,
    requireSignIn(async (c, signedIn) => {
      requireCsrf(signedIn, await postedFields(c));
      await people.sessions.close(getCookie(c, sessionCookie));
      deleteCookie(c, sessionCookie, { path: '/' });
      return send(
        c,
        200,
        'Signed out',
        messagePage('Signed out', 'You are signed out. Use a new sign-in link to come back.'),
      );
    }),
  );

  // The inbox.
  app.get(
    '/',
    requireSignIn(async (c, signedIn) => {
      const { user } = signedIn;
      const page = await listTasks(hp, {
        status: 'pending',
        limit: 200,
        ...(user.admin ? {} : { assignee: user.id }),
      });
      // A person's list holds the tasks they may decide now (not the ones escalated away from them).
      const tasks = user.admin ? page.tasks : page.tasks.filter((task) => isAssignee(task, user.id));
      return send(c, 200, 'Inbox', listPage(user, tasks, Date.now()), {
        user,
        csrf: signedIn.session.csrf,
        live: '/live',
      });
    }),
  );

  async function readableTask(c: Context, signedIn: SignedIn): Promise<HumanTask | Response> {
    return readableTaskOf(c, signedIn, c.req.param('id') as string);
  }

  /** The task, or the 404 or 403 page for someone it does not involve. */
  async function readableTaskOf(c: Context, signedIn: SignedIn, id: string): Promise<HumanTask | Response> {
    let task: HumanTask;
    try {
      task = await hp.getTask(id);
    } catch (error) {
      if (HoldpointError.isInstance(error) && error.code === 'NOT_FOUND')
        return problem(c, 404, 'No such task', `There is no task ${id}.`, signedIn);
      throw error;
    }
    if (!signedIn.user.admin && !involves(task, signedIn.user.id)) {
      return problem(
        c,
        403,
        'Not your task',
        'This task is not assigned to you, so you cannot see or decide it.',
        signedIn,
      );
    }
    return task;
  }

  async function auditOf(intentId: string): Promise<{ timeline: TimelineEntry[]; audit: AuditSummary }> {
    const jsonl = await hp.audit.export(intentId);
    const events = jsonl
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as { type: string })
      .filter((line) => line.type !== 'signature') as Parameters<typeof timelineEntryOf>[0][];
    const timeline = events.map(timelineEntryOf);
    const deliveries = (await context.deliveries?.(intentId)) ?? [];
    timeline.push(...deliveries);
    timeline.sort((a, b) => a.at.localeCompare(b.at));
    const verification = await hp.audit.verify(jsonl);
    const offline = verification.ok ? verification : verifyAudit(jsonl);
    return {
      timeline,
      audit: verification.ok
        ? {
            ok: true,
            trusted: verification.trusted,
            signer: verification.signer,
            events: verification.events,
          }
        : {
            ok: false,
            trusted: false,
            reason: verification.reason,
            ...(offline.ok ? { signer: offline.signer } : {}),
          },
    };
  }

  async function renderTask(
    c: Context,
    signedIn: SignedIn,
    task: HumanTask,
    state: DecideState,
    status = 200,
  ) {
    const { timeline, audit } = await auditOf(task.intentId);
    const mayDecide = signedIn.user.admin || isAssignee(task, signedIn.user.id);
    return send(
      c,
      status,
      task.title,
      taskPage({ task, mayDecide, csrf: signedIn.session.csrf, timeline, audit, state, now: Date.now() }),
      { user: signedIn.user, csrf: signedIn.session.csrf, live: `/live?task=${encodeURIComponent(task.id)}` },
    );
  }

  app.get(
    '/tasks/:id',
    requireSignIn(async (c, signedIn) => {
      const task = await readableTask(c, signedIn);
      if (task instanceof Response) return task;
      return renderTask(
        c,
        signedIn,
        task,
        c.req.query('decided') === '1' ? { notice: 'Your decision is recorded.' } : {},
      );
    }),
  );

  app.post(
    '/tasks/:id/decide',
    formLimit,
    requireSignIn(async (c, signedIn) => {
      const fields = await postedFields(c);
      requireCsrf(signedIn, fields);
      const task = await readableTask(c, signedIn);
      if (task instanceof Response) return task;
      const outcome = fields.outcome ?? '';
      const input: Parameters<typeof hp.decide>[1] = {
        outcome,
        actor: signedIn.principal.actor,
        ...(fields.versionDigest ? { versionDigest: fields.versionDigest } : {}),
        ...(fields.comment?.trim() ? { comment: fields.comment.trim() } : {}),
        ...(fields.evidence?.trim() ? { evidence: fields.evidence.trim() } : {}),
      };
      if (task.type === 'form') {
        const data = dataFromFields(task.schema, fields);
        if ('error' in data) return renderTask(c, signedIn, task, { error: data.error, posted: fields }, 400);
        input.data = data.data;
      }
      // An admin who is not assigned decides on the assignee's behalf, recorded as such.
      const asAdmin = signedIn.user.admin && !isAssignee(task, signedIn.user.id);
      try {
        await hp.decide(task.id, asAdmin ? { ...input, asAdmin: true } : input);
      } catch (error) {
        const apiError = apiErrorOf(error);
        if (
          apiError.code === 'INTERNAL' ||
          apiError.code === 'STORE_UNAVAILABLE' ||
          apiError.code === 'ENGINE_CLOSED'
        )
          throw error;
        if (apiError.code === 'NOT_ASSIGNED')
          return problem(
            c,
            403,
            'Not your task',
            'You are not (or no longer) an assignee of this task.',
            signedIn,
          );
        const fresh = await hp.getTask(task.id);
        const message =
          apiError.code === 'STALE_VERSION'
            ? 'The context changed since you opened this page: read it again and decide on the new version.'
            : apiError.code === 'ALREADY_DECIDED'
              ? 'This task has been decided already; your decision was not recorded.'
              : apiError.message;
        return renderTask(c, signedIn, fresh, { error: message, posted: fields }, apiError.status);
      }
      return c.redirect(`/tasks/${encodeURIComponent(task.id)}?decided=1`, 303);
    }),
  );

  app.get(
    '/intents/:id/audit',
    requireSignIn(async (c, signedIn) => {
      const intentId = c.req.param('id') as string;
      if (!signedIn.user.admin) {
        const mine = await listTasks(hp, { assignee: signedIn.user.id, intentId, limit: 1 });
        if (mine.tasks.length === 0)
          return problem(c, 403, 'Not yours', 'None of this intent’s tasks is assigned to you.', signedIn);
      }
      const jsonl = await hp.audit.export(intentId);
      c.header(
        'content-disposition',
        `attachment; filename="${intentId.replace(/[^A-Za-z0-9_-]/g, '_')}.audit.jsonl"`,
      );
      c.header('cache-control', 'no-store');
      c.header('x-content-type-options', 'nosniff');
      return c.body(jsonl, 200, { 'content-type': 'application/x-ndjson' });
    }),
  );

  /** The directory's people and the assignees of the newest pending tasks, each once. */
  async function adminOverviewAssignees(): Promise<string[]> {
    const [users, newest] = await Promise.all([
      people.users.list(),
      listTasks(hp, { status: 'pending', limit: overviewNewest }),
    ]);
    return [...new Set([...users.map((user) => user.id), ...newest.tasks.flatMap((task) => task.assignees)])];
  }

  app.get(
    '/overview',
    requireSignIn(async (c, signedIn) => {
      const { user } = signedIn;
      const scope = user.admin ? {} : { assignee: user.id };
      // Everyone an admin may want a row for: the people of the directory and the assignees of the
      // newest pending tasks (someone who is not a user, such as an agent's own id).
      const [totals, decided, assignees] = await Promise.all([
        countTasks(hp, scope),
        listTasks(hp, { ...scope, status: 'decided', limit: overviewDecisions }),
        user.admin ? adminOverviewAssignees() : [user.id],
      ]);
      const rows: AssigneeRow[] = [];
      await eachAtMost(8, assignees, async (assignee) => {
        const { pending } = await countTasks(hp, { assignee });
        if (pending === 0) return;
        const [overdue, escalated] = await Promise.all([
          countListed(hp, { assignee, overdue: true }, overviewRowCap),
          countListed(
            hp,
            { assignee, status: 'pending' },
            overviewRowCap,
            (task) => task.escalationLevel > 0,
          ),
        ]);
        rows.push({ assignee, pending, overdue, escalated });
      });
      rows.sort((a, b) => b.pending - a.pending || a.assignee.localeCompare(b.assignee));
      const durationsMs = decided.tasks
        .filter((task) => task.decision?.decidedBy === 'human')
        .map((task) => Date.parse(task.decision?.decidedAt as string) - Date.parse(task.createdAt));
      return send(
        c,
        200,
        'Overview',
        overviewPage({ user, rows, totals, durationsMs, decisionsCapped: decided.cursor !== undefined }),
        { user, csrf: signedIn.session.csrf, live: '/live' },
      );
    }),
  );

  // Live: "something changed" for the signed-in person's pages. Never the data itself: the page
  // reads it again with the person's own rights.
  app.get(
    '/live',
    requireSignIn(async (c, signedIn) => {
      const taskId = c.req.query('task');
      // A task's changes only for someone who may see the task (its page would say 403 or 404).
      if (taskId !== undefined) {
        const task = await readableTaskOf(c, signedIn, taskId);
        if (task instanceof Response) return task;
      }
      const release = context.slots.acquire(signedIn.principal);
      const watch = hub.watch(taskId ? { taskId } : {});
      const signal = AbortSignal.any([c.req.raw.signal, closing]);
      for (const [name, value] of Object.entries(securityHeaders)) c.header(name, value);
      return streamSSE(c, async (stream) => {
        try {
          await stream.writeSSE({ event: 'ready', data: '' });
          while (!signal.aborted && !watch.closed) {
            const event = await watch.next(context.limits.heartbeatMs, signal);
            if (signal.aborted || watch.closed) break;
            // Signed out (or the session ended) meanwhile: nothing more.
            if ((await signedInOf(c)) === undefined) break;
            if (event === undefined) {
              await stream.write(': heartbeat\n\n');
              continue;
            }
            if (taskId === undefined && !signedIn.user.admin && event.taskId !== undefined) {
              const task = await hp.getTask(event.taskId).catch(() => undefined);
              if (!task || !involves(task, signedIn.user.id)) continue;
            }
            await stream.writeSSE({ event: 'change', data: '' });
          }
        } finally {
          watch.close();
          release();
        }
      });
    }),
  );
}

/** Run `work` on each item, at most `limit` at a time. */
async function eachAtMost<T>(limit: number, items: T[], work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await work(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** The client's address, for per-client limits: the connection's, or the proxy's last `X-Forwarded-For` entry. */
function clientAddress(c: Context, trustProxy: boolean): string {
  if (trustProxy) {
    const hops = (c.req.header('x-forwarded-for') ?? '').split(',').map((hop) => hop.trim());
    const last = hops.at(-1);
    if (last) return last;
  }
  // @hono/node-server passes the Node request as `incoming`.
  const incoming = (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming;
  return incoming?.socket?.remoteAddress ?? 'unknown';
}
