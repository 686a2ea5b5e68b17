/**
 * For sandbox scripts: prints every queued message of the queue directory
 * given as `env=<base64 of its envelope's JSON>` and then
 * `df=<base64 of its content>`, one line each, oldest first,
 * without changing the queue (the database opened read-only, content from
 * the database or the message's content file, whichever holds it).
 *   node dist/test/helpers/print-queued.js /var/spool/mqueue
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { CONTENT_DIR, DB_NAME } from '../../src/queue/layout.js';

const dir = process.argv[2];
if (dir === undefined) throw new Error('usage: print-queued.js QUEUEDIR');
const db = new Database(join(dir, DB_NAME), { readonly: true, fileMustExist: true });
const rows = db
  .prepare<[], { id: string; envelope: string; data: Buffer | null }>('SELECT m.id, m.envelope, c.data FROM messages m LEFT JOIN content c ON c.id = m.id ORDER BY m.arrival, m.id')
  .all();
for (const { id, envelope, data } of rows) {
  console.log(`env=${Buffer.from(envelope).toString('base64')}`);
  console.log(`df=${(data ?? readFileSync(join(dir, CONTENT_DIR, id))).toString('base64')}`);
}
db.close();
