/**
 * The subscribers of one backend. Each `subscribe` call is its own entry (subscribing the same
 * function twice delivers twice and each returned function stops one), and one subscriber that
 * throws neither stops delivery to the others nor breaks the backend's connection handling: the
 * error is reported as a process warning.
 */
export class ListenerSet {
  readonly #entries = new Set<{ listener: (message: string) => void }>();

  get size(): number {
    return this.#entries.size;
  }

  /** Add a listener; returns the function that removes it (calling it again does nothing). */
  add(listener: (message: string) => void): () => void {
    const entry = { listener };
    this.#entries.add(entry);
    return () => {
      this.#entries.delete(entry);
    };
  }

  emit(message: string): void {
    for (const entry of [...this.#entries]) {
      try {
        entry.listener(message);
      } catch (error) {
        process.emitWarning(
          `A Holdpoint store subscriber threw while handling a message: ${error instanceof Error ? error.message : String(error)}`,
          { code: 'HOLDPOINT_SUBSCRIBER_ERROR' },
        );
      }
    }
  }

  clear(): void {
    this.#entries.clear();
  }
}
