import { type FeedFilter, type FeedPage, type Holdpoint, readFeed } from '../engine-feed.js';
import type { Watch } from './change-hub.js';

// After a wake-up for an event that belongs in the reader's feed but is not in it yet (another
// process published it before its feed entry was readable), read again after these pauses.
const catchUpDelaysMs = [1, 2, 5, 10, 25, 50, 100, 250, 500];

/** Whether the filter surely lets this event through (so it must show up in the feed). */
function surelyMatches(filter: FeedFilter, event: { intentId: string; taskId?: string }): boolean {
  if (filter.assignee !== undefined) return false;
  if (filter.intentId !== undefined && event.intentId !== filter.intentId) return false;
  if (filter.taskId !== undefined && event.taskId !== filter.taskId) return false;
  return true;
}

/** What {@link waitForEntries} reads and how long it waits. */
export interface WaitForEntriesOptions {
  filter: FeedFilter;
  /** Read after this cursor (`'now'`, or absent for the start of the feed). */
  cursor: string | undefined;
  limit: number;
  /** How long to wait for a first entry; 0 reads once. */
  timeoutMs: number;
  /** Read again this often while waiting, in case a wake-up was lost. */
  pollMs: number;
  signal?: AbortSignal;
  /** Events the caller already has (a wake-up for one of them needs no catching up). */
  alreadyRead?: (eventId: string) => boolean;
}

/**
 * Read the feed after the cursor; when there is nothing yet, wait for a change heard by `watch`
 * (made before the first read, so nothing slips between) until `timeoutMs` has passed. Returns the
 * first non-empty page, or an empty page with the cursor to read on.
 */
export async function waitForEntries(
  hp: Holdpoint,
  watch: Watch,
  options: WaitForEntriesOptions,
): Promise<FeedPage> {
  const { filter, limit, signal } = options;
  const deadline = Date.now() + options.timeoutMs;
  const read = (since: string | undefined) =>
    readFeed(hp, { ...filter, limit, ...(since === undefined ? {} : { since }) });
  let page = await read(options.cursor);
  while (page.entries.length === 0 && !signal?.aborted && !watch.closed) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    const event = await watch.next(Math.min(left, options.pollMs), signal);
    page = await read(page.cursor);
    if (event === undefined || !surelyMatches(filter, event) || options.alreadyRead?.(event.id)) continue;
    for (const delay of catchUpDelaysMs) {
      if (page.entries.length > 0 || signal?.aborted) break;
      await new Promise((resolve) => setTimeout(resolve, delay));
      page = await read(page.cursor);
    }
  }
  return page;
}
