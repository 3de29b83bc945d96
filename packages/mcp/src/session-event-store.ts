import type {
  EventId,
  EventStore,
  StreamId,
} from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

/**
 * The recent SSE events of one HTTP session, so a client whose stream broke (a proxy cut a long wait)
 * reconnects with `Last-Event-ID` and receives what it missed — also the result of a `wait_for_human`
 * that came while it was away. Bounded: the oldest events go first. Lost with the process; MCP tasks
 * are what survives a restart.
 */
export class SessionEventStore implements EventStore {
  readonly #events = new Map<EventId, { streamId: StreamId; message: JSONRPCMessage }>();
  readonly #limit: number;
  #counter = 0;

  constructor(limit = 1_000) {
    this.#limit = limit;
  }

  async storeEvent(streamId: StreamId, message: JSONRPCMessage): Promise<EventId> {
    const eventId = `${streamId}|${++this.#counter}`;
    this.#events.set(eventId, { streamId, message });
    if (this.#events.size > this.#limit) this.#events.delete(this.#events.keys().next().value as EventId);
    return eventId;
  }

  async getStreamIdForEventId(eventId: EventId): Promise<StreamId | undefined> {
    return this.#events.get(eventId)?.streamId;
  }

  async replayEventsAfter(
    lastEventId: EventId,
    { send }: { send: (eventId: EventId, message: JSONRPCMessage) => Promise<void> },
  ): Promise<StreamId> {
    const last = this.#events.get(lastEventId);
    if (!last) throw new Error(`Event ${lastEventId} is no longer known`);
    let after = false;
    for (const [eventId, event] of this.#events) {
      if (after && event.streamId === last.streamId && Object.keys(event.message).length > 0) {
        await send(eventId, event.message);
      }
      if (eventId === lastEventId) after = true;
    }
    return last.streamId;
  }
}
