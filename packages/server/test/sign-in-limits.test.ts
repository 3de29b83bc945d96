// The inbox's limit on sign-in link requests per client address: the connection's address, unless
// the server is told a reverse proxy in front writes X-Forwarded-For (then the entry it added).
import { afterEach, describe, expect, it } from 'vitest';
import { BrowserSession, hiddenField } from './browser-session.js';
import { startServer, type TestServer } from './helpers.js';

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

/** Ask for a link for `email`, with `forwardedFor` as the X-Forwarded-For header; the status. */
async function ask(t: TestServer, email: string, forwardedFor: string): Promise<number> {
  const session = new BrowserSession(t.url);
  const form = await session.get('/sign-in');
  const response = await fetch(`${t.url}/sign-in`, {
    method: 'POST',
    redirect: 'manual',
    headers: {
      cookie: [...session.cookies].map(([name, value]) => `${name}=${value}`).join('; '),
      'content-type': 'application/x-www-form-urlencoded',
      'x-forwarded-for': forwardedFor,
    },
    body: new URLSearchParams({ form: hiddenField(form.text, 'form'), email, next: '/' }).toString(),
  });
  await response.text();
  return response.status;
}

describe('sign-in requests per client address (4 a window here: 1 per email × 4)', () => {
  it('counts the connection, whatever X-Forwarded-For a client writes', async () => {
    const t = await startServer({
      inbox: { signInRequests: { max: 1, windowMs: 60_000 }, mailSignInLink: async () => {} },
    });
    servers.push(t);
    const statuses = [];
    for (let n = 0; n < 5; n++) statuses.push(await ask(t, `person${n}@acme.test`, `203.0.113.${n}`));
    expect(statuses).toEqual([200, 200, 200, 200, 429]);
  });

  it('behind a proxy (trustProxy), counts the address the proxy added, each on its own', async () => {
    const t = await startServer({
      inbox: {
        signInRequests: { max: 1, windowMs: 60_000 },
        trustProxy: true,
        mailSignInLink: async () => {},
      },
    });
    servers.push(t);
    const statuses = [];
    // What the client wrote comes first; the proxy appends the address it saw.
    for (let n = 0; n < 5; n++)
      statuses.push(await ask(t, `person${n}@acme.test`, `10.9.9.9, 203.0.113.${n}`));
    expect(statuses).toEqual([200, 200, 200, 200, 200]);
    for (let n = 5; n < 10; n++)
      statuses.push(await ask(t, `person${n}@acme.test`, `10.9.9.${n}, 203.0.113.7`));
    expect(statuses.slice(5)).toEqual([200, 200, 200, 200, 429]);
  });
});
