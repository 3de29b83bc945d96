// A person's browser over plain HTTP for the inbox tests: cookies kept, forms posted as forms.

/** A cookie jar and the requests a browser would send. */
export class BrowserSession {
  readonly base: string;
  readonly cookies = new Map<string, string>();

  constructor(base: string) {
    this.base = base;
  }

  async request(
    method: string,
    path: string,
    form?: Record<string, string>,
  ): Promise<{ status: number; text: string; location: string | null }> {
    const response = await fetch(this.base + path, {
      method,
      redirect: 'manual',
      headers: {
        cookie: [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; '),
        ...(form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
      ...(form ? { body: new URLSearchParams(form).toString() } : {}),
    });
    for (const header of response.headers.getSetCookie()) {
      const [pair = ''] = header.split(';');
      const [name = '', ...value] = pair.split('=');
      if (/max-age=0/i.test(header) || value.join('=') === '') this.cookies.delete(name.trim());
      else this.cookies.set(name.trim(), value.join('='));
    }
    return {
      status: response.status,
      text: await response.text(),
      location: response.headers.get('location'),
    };
  }

  get(path: string) {
    return this.request('GET', path);
  }

  post(path: string, form: Record<string, string>) {
    return this.request('POST', path, form);
  }

  /** Open a sign-in link and confirm it, as a person does. */
  async signIn(linkUrl: string): Promise<string | null> {
    const path = new URL(linkUrl).pathname;
    const confirm = await this.get(path);
    if (confirm.status !== 200) throw new Error(`the link page answered ${confirm.status}: ${confirm.text}`);
    const posted = await this.post(path, { form: hiddenField(confirm.text, 'form') });
    if (posted.status !== 303) throw new Error(`confirming answered ${posted.status}`);
    return posted.location;
  }
}

/** The value of a hidden input in a page. */
export function hiddenField(page: string, name: string): string {
  const match = new RegExp(`name="${name}" value="([^"]*)"`).exec(page);
  if (!match) throw new Error(`no field ${name} in the page`);
  return match[1] as string;
}
