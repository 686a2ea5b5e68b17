/** Entry point of a daemon worker process (spawned by the master; see worker.ts). */
import { workerMain } from './worker.js';

await workerMain();
