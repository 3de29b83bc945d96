// LangGraph's SQLite saver (@langchain/langgraph-checkpoint-sqlite) runs on better-sqlite3, a native
// addon with no prebuilt binary this machine can reach (prebuild-install downloads from GitHub); it
// compiles from source in about three minutes here. The bench runs that saver, unchanged, on this
// stand-in instead: the part of better-sqlite3's API the saver calls (pragma, exec, prepare →
// get/all/run, transaction), over node:sqlite — the same synchronous SQLite in-process, with the
// saver's own SQL and schema. `synchronous=NORMAL` as better-sqlite3's build sets for WAL (and as
// Holdpoint's SQLite store runs).
import { DatabaseSync, type SQLInputValue } from 'node:sqlite';

export class BetterSqlite3OnNodeSqlite {
  readonly #db: DatabaseSync;

  constructor(path: string) {
    this.#db = new DatabaseSync(path);
    this.#db.exec('PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;');
  }

  pragma(text: string): void {
    this.#db.exec(`PRAGMA ${text}`);
  }

  exec(sql: string): this {
    this.#db.exec(sql);
    return this;
  }

  prepare(sql: string) {
    const statement = this.#db.prepare(sql);
    // better-sqlite3 binds undefined as NULL; node:sqlite refuses it.
    const bound = (args: Array<SQLInputValue | undefined>) => args.map((arg) => arg ?? null);
    return {
      get: (...args: Array<SQLInputValue | undefined>) => statement.get(...bound(args)),
      all: (...args: Array<SQLInputValue | undefined>) => statement.all(...bound(args)),
      run: (...args: Array<SQLInputValue | undefined>) => statement.run(...bound(args)),
    };
  }

  transaction<A extends unknown[], R>(work: (...args: A) => R): (...args: A) => R {
    return (...args) => {
      this.#db.exec('BEGIN');
      try {
        const result = work(...args);
        this.#db.exec('COMMIT');
        return result;
      } catch (error) {
        this.#db.exec('ROLLBACK');
        throw error;
      }
    };
  }

  close(): void {
    this.#db.close();
  }
}
