/** The queue directory's layout, shared by the store and the read-only listing. */
import type BetterSqlite3 from 'better-sqlite3';
import type { Envelope } from './envelope.js';

export const DB_NAME = 'queue.db';
export const CONTENT_DIR = 'df';

/** Every envelope, oldest arrival first. */
export function selectEnvelopes(db: BetterSqlite3.Database): Envelope[] {
  return db
    .prepare<[], { envelope: string }>('SELECT envelope FROM messages ORDER BY arrival, id')
    .all()
    .map((r) => JSON.parse(r.envelope) as Envelope);
}
