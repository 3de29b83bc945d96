import type { User } from '../people/users.js';
import { type Html, html } from './html.js';

/** What every page of the inbox is rendered with. */
export interface PageOptions {
  title: string;
  body: Html;
  /** The signed-in person (the header shows their name, the overview and sign-out). */
  user?: User;
  /** The session's CSRF token, for the sign-out form. */
  csrf?: string;
  /** The SSE path the page listens on for changes (`/live`), if it updates itself. */
  live?: string;
}

/** A whole page: one stylesheet, one script, no inline code (the CSP allows none). */
export function page(options: PageOptions): string {
  const { user } = options;
  return `<!doctype html>${
    html`<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${options.title} · Holdpoint</title>
<link rel="stylesheet" href="/assets/inbox.css">
<script src="/assets/inbox.js" defer></script>
</head>
<body ${options.live ? html`data-live="${options.live}"` : ''}>
<a class="skip" href="#main">Skip to content</a>
<header>
  <a class="brand" href="/">Holdpoint</a>
  ${
    user
      ? html`<nav aria-label="Main">
      <a href="/">Inbox</a>
      <a href="/overview">Overview</a>
      <span class="meta">${user.name ?? user.id}${user.admin ? ' (admin)' : ''}</span>
      <form method="post" action="/sign-out"><input type="hidden" name="csrf" value="${options.csrf ?? ''}"><button class="link" type="submit">Sign out</button></form>
    </nav>`
      : ''
  }
</header>
<main id="main" tabindex="-1">
${options.body}
</main>
<div id="live-status" class="sr-only" role="status" aria-live="polite"></div>
</body>
</html>`.text
  }`;
}
