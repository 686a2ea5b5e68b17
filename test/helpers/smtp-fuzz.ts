/**
 * A bounded fuzz run of the SMTP engine: random and mutated command streams,
 * headers, bodies and addresses, sent pipelined or one line at a time to
 * the engine in a process of its own (smtp-fuzz-server.ts).  What must hold
 * for every input: the engine process stays up, every reply line is a
 * well-formed reply, an interactive line always gets an answer (or the
 * session is closed by the server), and QUIT (or the server's own 421/554)
 * ends the session promptly: no session is left hanging without a reply.
 * Inputs come from a seed, so any failure can be replayed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { repoRoot } from './peers.js';

/** mulberry32: small, fast, reproducible. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ADDRESSES = [
  'bob@mx.example.test', 'bob', '<>', '<<bob@mx.example.test>>', 'someone@remote.example', '"quoted name"@mx.example.test',
  'a%b@mx.example.test', 'a!b!c', '@relay.one,@relay.two:user@remote.example', 'user@[127.0.0.1]', 'user@[IPv6:::1]',
  'bob@', '@mx.example.test', '"unbalanced@x', 'bob@mx.example.test.', 'böb@mx.example.test', 'x'.repeat(300) + '@remote.example',
  'postmaster', 'user+detail@mx.example.test', '<bob@mx.example.test', 'bob@mx.example.test>', 'bob@@x', 'a b@x', '(comment) bob@x',
];
const PARAMS = ['SIZE=100', 'SIZE=999999999999', 'SIZE=x', 'BODY=8BITMIME', 'BODY=7BIT', 'BODY=BINARYMIME', 'RET=FULL', 'RET=HDRS', 'RET=X',
  'ENVID=abc+2Bdef', 'ENVID=', 'NOTIFY=SUCCESS,FAILURE', 'NOTIFY=NEVER', 'NOTIFY=NEVER,SUCCESS', 'NOTIFY=junk', 'ORCPT=rfc822;bob@x',
  'ORCPT=bad', 'BY=120;R', 'AUTH=<>', 'FOO=BAR', 'SMTPUTF8', 'SIZE=1 SIZE=2'];
const VERBS = ['HELO', 'EHLO', 'MAIL FROM:', 'RCPT TO:', 'DATA', 'RSET', 'NOOP', 'VRFY', 'EXPN', 'HELP', 'ETRN', 'VERB', 'QUIT', 'STARTTLS',
  'AUTH PLAIN', 'AUTH LOGIN', 'BDAT 10', 'TURN', 'ONEX', 'XUSR', 'GET / HTTP/1.0', 'POST', 'mail from:', 'rcpt to:', 'HeLo', ''];

function pick<T>(r: () => number, list: readonly T[]): T {
  return list[Math.floor(r() * list.length)]!;
}

function mutate(r: () => number, line: string): string {
  const roll = r();
  if (roll < 0.25) {
    const at = Math.floor(r() * (line.length + 1));
    return line.slice(0, at) + String.fromCharCode(Math.floor(r() * 256)) + line.slice(at);
  }
  if (roll < 0.4) return line.slice(0, Math.floor(r() * line.length));
  if (roll < 0.5) return line + ' ' + 'A'.repeat(Math.floor(r() * 5000));
  if (roll < 0.6) return line.replace(/ /g, '\t');
  if (roll < 0.7) return `${line}\0`;
  if (roll < 0.8) return line.toLowerCase();
  return line + line;
}

function body(r: () => number): string {
  const lines: string[] = [];
  const headers = ['From: a@b', 'To: bob', 'Subject: fuzz', 'Received: from x by y', 'Message-Id: <x@y>', 'Date: today', 'X-Long: ' + 'h'.repeat(2000), 'Bad header line', ' continuation', 'Bcc: hidden@x', ':empty name'];
  const n = Math.floor(r() * 6);
  for (let i = 0; i < n; i++) lines.push(pick(r, headers));
  if (r() < 0.9) lines.push('');
  const m = Math.floor(r() * 20);
  for (let i = 0; i < m; i++) {
    const kind = r();
    if (kind < 0.1) lines.push('.');
    else if (kind < 0.2) lines.push('..leading dot');
    else if (kind < 0.3) lines.push('x'.repeat(Math.floor(r() * 3000)));
    else if (kind < 0.35) lines.push('bare\nLF inside');
    else if (kind < 0.4) lines.push('bare\rCR inside');
    else if (kind < 0.45) lines.push('8-bit: \u00e9\u00e8\u00ff');
    else lines.push(`line ${i}`);
  }
  if (r() < 0.05) lines.push('y'.repeat(70_000));
  return lines.join('\r\n');
}

export interface FuzzInput {
  readonly seed: number;
  readonly lines: string[];
  /** all at once, or each line after the previous one's reply */
  readonly pipelined: boolean;
}

export function makeInput(seed: number): FuzzInput {
  const r = prng(seed);
  const lines: string[] = [];
  const n = 1 + Math.floor(r() * 12);
  for (let i = 0; i < n; i++) {
    const verb = pick(r, VERBS);
    let line = verb;
    if (/FROM:|TO:/i.test(verb)) {
      line += r() < 0.8 ? `<${pick(r, ADDRESSES)}>` : pick(r, ADDRESSES);
      const k = Math.floor(r() * 3);
      for (let j = 0; j < k; j++) line += ` ${pick(r, PARAMS)}`;
    } else if (['HELO', 'EHLO', 'VRFY', 'EXPN', 'ETRN', 'HELP'].includes(verb.toUpperCase())) {
      if (r() < 0.8) line += ` ${pick(r, ['client.example.org', '[127.0.0.1]', 'x', 'bob', '#group', '', 'a'.repeat(300)])}`;
    } else if (verb.startsWith('AUTH')) {
      line += ` ${Buffer.from('\0user\0pass').toString('base64')}`;
    }
    if (r() < 0.2) line = mutate(r, line);
    lines.push(line);
    if (verb === 'DATA' && r() < 0.85) {
      lines.push(body(r));
      lines.push('.');
    }
  }
  return { seed, lines, pipelined: r() < 0.5 };
}

export interface FuzzFailure {
  readonly seed: number;
  readonly problem: string;
}

export interface FuzzSummary {
  readonly inputs: number;
  readonly failures: FuzzFailure[];
  readonly serverCrashed: boolean;
  readonly seconds: number;
}

const REPLY = /^\d{3}([ -]|$)/;

/** What is sent as one step: a line, or DATA's body and its final dot together (answered once). */
function steps(input: FuzzInput): string[] {
  const out: string[] = [];
  for (let i = 0; i < input.lines.length; i++) {
    const line = input.lines[i]!;
    if (line === 'DATA' && input.lines[i + 2] === '.' && i + 2 < input.lines.length) {
      out.push(`${line}\r\n`);
      out.push(`${input.lines[i + 1]}\r\n.\r\n`);
      i += 2;
    } else out.push(`${line}\r\n`);
  }
  return out;
}

/**
 * QUIT may land where the engine expects something else (inside a DATA body,
 * as an AUTH answer): then the client ends that first ("*" cancels an AUTH,
 * a lone dot ends a body) and says QUIT again; only a session that still does
 * not end is a failure.
 */
const UNWIND = '*\r\n.\r\nQUIT\r\n';

/** One session: the failure, or undefined when the engine behaved. */
function session(port: number, input: FuzzInput, waitMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket: Socket = connect({ port, host: '127.0.0.1' });
    const script = steps(input);
    let received = '';
    let step = 0;
    let quitting = 0;
    let expected = 1;
    let timer: NodeJS.Timeout | undefined;
    const finish = (problem: string | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(problem);
    };
    const repliesSoFar = () => received.split('\r\n').filter((l) => /^\d{3} /.test(l) || /^\d{3}$/.test(l)).length;
    const quit = () => {
      quitting = 1;
      socket.write('QUIT\r\n');
      clearTimeout(timer);
      timer = setTimeout(() => {
        quitting = 2;
        socket.write(UNWIND);
        timer = setTimeout(() => finish(`the session did not end after QUIT (last step ${step} of ${script.length})`), waitMs);
      }, Math.min(2000, waitMs));
    };
    const sendNext = () => {
      if (step >= script.length) return quit();
      let text = script[step++]!;
      // after a 354 the next step is message text, answered only at its final dot
      const lastReply = received.split('\r\n').filter((l) => /^\d{3}/.test(l)).pop() ?? '';
      if (lastReply.startsWith('354') && !text.endsWith('\r\n.\r\n')) text += '.\r\n';
      socket.write(text, 'latin1');
      expected = repliesSoFar() + 1;
      clearTimeout(timer);
      timer = setTimeout(() => finish(`no reply within ${waitMs} ms to step ${step}`), waitMs);
    };
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      received += d;
      const bad = received.split('\r\n').slice(0, -1).find((l) => !REPLY.test(l));
      if (bad !== undefined) return finish(`malformed reply line ${JSON.stringify(bad.slice(0, 80))}`);
      if (!input.pipelined && quitting === 0 && repliesSoFar() >= expected) sendNext();
    });
    socket.on('close', () => finish(received === '' ? 'closed without a greeting' : undefined));
    socket.on('error', () => undefined);
    socket.once('connect', () => {
      if (!input.pipelined) {
        // the greeting counts as the first reply
        expected = 1;
        timer = setTimeout(() => finish('no greeting'), waitMs);
        return;
      }
      socket.write(script.join(''), 'latin1');
      quit();
    });
  });
}

export async function runFuzz(options: { count: number; seed?: number; concurrency?: number; waitMs?: number; progress?: (done: number) => void }): Promise<FuzzSummary> {
  const start = Date.now();
  const server: ChildProcess = spawn(process.execPath, [join(repoRoot, 'dist/test/helpers/smtp-fuzz-server.js')], { stdio: ['pipe', 'pipe', 'inherit'] });
  let crashed = false;
  server.on('exit', (code) => {
    if (code !== 0) crashed = true;
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.stdout!.once('data', (d: Buffer) => resolve(Number(String(d).split('\n')[0])));
    server.once('exit', () => reject(new Error('the fuzz server did not start')));
  });
  const failures: FuzzFailure[] = [];
  const base = options.seed ?? 1;
  let next = 0;
  let done = 0;
  const lanes = Array.from({ length: options.concurrency ?? 16 }, async () => {
    while (next < options.count && !crashed) {
      const seed = base + next++;
      const problem = await session(port, makeInput(seed), options.waitMs ?? 10_000);
      if (problem !== undefined && !crashed) failures.push({ seed, problem });
      done++;
      if (done % 1000 === 0) options.progress?.(done);
    }
  });
  await Promise.all(lanes);
  server.stdin!.end();
  await new Promise((resolve) => (server.exitCode !== null ? resolve(undefined) : server.once('exit', resolve)));
  return { inputs: done, failures, serverCrashed: crashed, seconds: (Date.now() - start) / 1000 };
}
