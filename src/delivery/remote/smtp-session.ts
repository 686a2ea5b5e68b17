/**
 * One SMTP client connection, on nodemailer's SMTPConnection: EHLO with our
 * name, opportunistic STARTTLS (the certificate is checked, and the result
 * reported, never enforced), PIPELINING, SIZE, BODY=8BITMIME, and the DSN
 * parameters per recipient.  Several messages may go over one session
 * (reset() between them).
 *
 * Five of SMTPConnection's internals are used, each checked by a test with a
 * real peer: `_supportedExtensions` (what EHLO offered, needed before the
 * message is chosen: 8-bit or converted), `_ehloLines` (the AUTH mechanisms
 * offered), `_getDsnRcptToArgs` (replaced: nodemailer sends the same NOTIFY
 * and ORCPT for every recipient, sendmail sends each recipient's own),
 * `_sendCommand` (wrapped: nodemailer has no AUTH= for MAIL FROM, which
 * sendmail adds last) and, for LMTP (src/delivery/lmtp), `_actionLMTPStream`
 * (watched: nodemailer hands back only the last of the per-recipient
 * replies to the end of the message).  AUTH goes through nodemailer's `customAuth` hook, whose command
 * writer keeps the secrets out of the transcript; the dialogue is
 * client-auth.ts's.
 */
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { Notify } from '../../queue/envelope.js';
import type { SaslSend, ServerReply } from './client-auth.js';
import type { RemoteOptions, TlsInfo } from './types.js';

export interface SessionTarget {
  readonly address: string;
  /** The host name the certificate should carry (SNI too); none for a literal. */
  readonly servername?: string;
  /** relay= name, for the STARTTLS line. */
  readonly relay: string;
}

export interface EnvelopeRecipient {
  readonly address: string;
  readonly notify?: Notify;
  readonly orcpt?: string;
}

export interface SessionEnvelope {
  readonly from: string;
  readonly recipients: readonly EnvelopeRecipient[];
  readonly size: number;
  readonly eightBit: boolean;
  readonly ret?: 'full' | 'hdrs';
  readonly envid?: string;
  /** AUTH= for MAIL FROM (xtext or `<>`), when it is to be sent. */
  readonly auth?: string;
}

export type SendOutcome =
  /** The message was taken (`final`) for the accepted recipients; `rejected` maps the others to their replies. */
  | { readonly kind: 'sent'; readonly final: string; readonly rejected: ReadonlyMap<string, string> }
  /** MAIL, DATA or the end of data failed for everyone; or every RCPT was refused (rejected is full). */
  | { readonly kind: 'failed'; readonly phase: 'mail' | 'rcpt' | 'data' | 'eom'; readonly reply: string; readonly rejected: ReadonlyMap<string, string> }
  /** The connection broke (no reply to go by). */
  | { readonly kind: 'broken'; readonly error: Error };

/** Why open() failed: a reply to the greeting/EHLO/STARTTLS, or no reply at all. */
export class SessionOpenError extends Error {
  constructor(
    readonly reply: string | undefined,
    readonly tls: boolean,
    readonly original: Error,
  ) {
    super(original.message);
  }
}

/** What nodemailer keeps that we read or replace (see the module comment). */
interface Internals {
  _supportedExtensions?: unknown;
  _ehloLines?: unknown;
  _recipientQueue?: unknown;
  _getDsnRcptToArgs?: () => string;
  _actionLMTPStream?: (recipient: string, final: boolean, reply: string, callback: unknown) => void;
  _sendCommand?: (command: string, logged?: string) => void;
  _socket?: unknown;
  secure?: boolean;
}

type NodemailerError = Error & { code?: string; response?: string; responseCode?: number; command?: string; rejectedErrors?: (Error & { recipient?: string; response?: string })[] };

function notifyParameter(n: Notify): string {
  if (n.never) return 'NEVER';
  return [n.success && 'SUCCESS', n.failure && 'FAILURE', n.delay && 'DELAY'].filter(Boolean).join(',') || 'NEVER';
}

/** RFC 3461 xtext, undone (nodemailer encodes ENVID itself). */
function decodeXtext(s: string): string {
  return s.replace(/\+([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

function cipherBits(name: string): number {
  if (/CHACHA20|AES_?256|AES256/i.test(name)) return 256;
  if (/AES_?128|AES128/i.test(name)) return 128;
  return 0;
}

/** The name the AUTH dialogue is registered under with nodemailer (never sent). */
const SASL_HOOK = 'X-POSTERN-SASL';

interface CustomAuthContext {
  sendCommand(command: string): Promise<{ response: string; status: number; text: string }>;
}

/** Where a session's AUTH dialogue is plugged in once the connection exists. */
interface SaslHolder {
  run?: (ctx: CustomAuthContext) => Promise<void>;
}

function replyOf(response: string): ServerReply {
  const lines = response.split(/\r?\n/).filter((l) => l !== '');
  const line = (lines[lines.length - 1] ?? '').replace(/^(\d{3})-/, '$1 ');
  const m = /^(\d{3})(?: (.*))?$/.exec(line);
  return { code: m !== null ? Number(m[1]) : 0, text: m?.[2] ?? '', line };
}

export class SmtpSession {
  private recipientsByAddress = new Map<string, EnvelopeRecipient>();
  /** The AUTH= value of the MAIL FROM being sent, if any. */
  private mailAuth: string | undefined;
  private broken = false;
  /** This client authenticated to the server (sendmail's mci_sasl_auth). */
  authenticated = false;
  lastUsed = Date.now();
  messages = 0;
  /** LMTP: the reply to the end of the message for each accepted recipient of the last send(), in order. */
  readonly lmtpReplies = new Map<string, string>();

  private constructor(
    private readonly connection: SMTPConnection,
    readonly target: SessionTarget,
    readonly tls: TlsInfo | undefined,
    readonly greeting: string,
    /** The dialogue so far; deliver() keeps what belongs to its message. */
    readonly transcript: string[],
    private readonly sasl: SaslHolder,
  ) {
    connection.on('error', () => {
      this.broken = true;
    });
    connection.on('end', () => {
      this.broken = true;
    });
    this.installDsnParameters();
    this.installAuthParameter();
    this.watchLmtpReplies();
  }

  /**
   * Connects, reads the greeting, says EHLO and (when offered) STARTTLS.
   * `lmtp`: LHLO instead, and one reply per recipient after the message;
   * `connection`: a socket already connected (a Unix socket) to talk over;
   * `port`: the mailer's own port (A=TCP $h PORT).
   */
  static open(target: SessionTarget, options: RemoteOptions, opts: { ignoreTLS?: boolean; lmtp?: boolean; connection?: Socket; port?: number } = {}): Promise<SmtpSession> {
    const transcript: string[] = [];
    const sasl: SaslHolder = {};
    const t = options.timeouts;
    const ms = (s: number) => s * 1000;
    const connection = new SMTPConnection({
      host: target.address,
      port: opts.port ?? options.port ?? 25,
      ...(target.servername !== undefined ? { servername: target.servername } : {}),
      name: options.heloName,
      opportunisticTLS: true,
      ignoreTLS: opts.ignoreTLS ?? false,
      lmtp: opts.lmtp ?? false,
      ...(opts.connection !== undefined ? { connection: opts.connection } : {}),
      // verified, not enforced: the outcome is logged as sendmail's verify=
      tls: { rejectUnauthorized: false, ...(options.caCertificates !== undefined ? { ca: options.caCertificates } : {}) },
      // 0 is "the kernel's connect timeout" in sendmail; Linux gives up after about two minutes
      connectionTimeout: ms((t.connect || 120) + t.initial + t.helo + t.starttls),
      greetingTimeout: ms(t.initial),
      socketTimeout: ms(Math.max(t.helo, t.mail, t.rcpt, t.datainit, t.datablock, t.datafinal, t.rset)),
      transactionLog: true,
      customAuth: { [SASL_HOOK]: (ctx: CustomAuthContext) => sasl.run?.(ctx) },
      logger: {
        debug: (entry: { tnx?: string }, message: unknown) => {
          if (entry?.tnx === 'server') transcript.push(...String(message).split(/\r?\n/).map((l) => `<<< ${l}`));
          else if (entry?.tnx === 'client') transcript.push(`>>> ${String(message)}`);
        },
        info: () => {},
        warn: () => {},
        error: () => {},
        trace: () => {},
        fatal: () => {},
      } as never,
    });
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (error: Error) => {
        if (settled) return;
        settled = true;
        connection.close();
        const e = error as NodemailerError;
        reject(Object.assign(new SessionOpenError(e.response, e.code === 'ETLS', e), { transcript }));
      };
      connection.once('error', fail);
      connection.connect((error) => {
        if (error) return fail(error);
        settled = true;
        connection.removeListener('error', fail);
        const greeting = transcript.find((l) => l.startsWith('<<< '))?.slice(4) ?? '';
        resolve(new SmtpSession(connection, target, tlsInfo(connection, target), greeting, transcript, sasl));
      });
    });
  }

  /** What EHLO offered (upper case keywords); undefined when nodemailer's internals have changed. */
  extensions(): ReadonlySet<string> | undefined {
    const list = (this.connection as unknown as Internals)._supportedExtensions;
    return Array.isArray(list) ? new Set(list.map((x) => String(x).toUpperCase())) : undefined;
  }

  /** The SASL mechanisms EHLO offered (upper case); empty when AUTH was not offered. */
  authMechanisms(): string[] {
    const lines = (this.connection as unknown as Internals)._ehloLines;
    if (!Array.isArray(lines)) return [];
    const out: string[] = [];
    for (const l of lines) {
      const m = /^AUTH[ =](.*)$/i.exec(String(l));
      if (m !== null) out.push(...m[1]!.split(/[\s=]+/).filter((x) => x !== '').map((x) => x.toUpperCase()));
    }
    return [...new Set(out)];
  }

  /**
   * Runs an AUTH dialogue: `dialogue` gets a function that sends one line
   * and reads the reply.  Resolves with what the dialogue returned, or
   * 'broken' when the connection went away during it.
   */
  authenticate<T>(dialogue: (send: SaslSend) => Promise<T>): Promise<T | 'broken'> {
    return new Promise((resolve) => {
      let done = false;
      const finish = (v: T | 'broken') => {
        if (done) return;
        done = true;
        this.connection.removeListener('end', gone);
        this.connection.removeListener('error', gone);
        delete this.sasl.run;
        resolve(v);
      };
      const gone = () => {
        this.broken = true;
        finish('broken');
      };
      this.connection.once('end', gone);
      this.connection.once('error', gone);
      this.sasl.run = async (ctx) => {
        const send: SaslSend = (line) =>
          done ? Promise.resolve('broken') : ctx.sendCommand(line).then((r) => replyOf(r.response), () => 'broken' as const);
        finish(await dialogue(send).catch(() => 'broken' as const));
      };
      this.connection.login({ method: SASL_HOOK, user: '-', pass: '-' } as never, (error) => {
        // nodemailer calls back with an error only when the hook never ran
        if (error) finish('broken');
      });
    });
  }

  get usable(): boolean {
    return !this.broken && !(this.connection as unknown as { _destroyed?: boolean })._destroyed;
  }

  /** The recipient RCPT TO is being written for is the newest in nodemailer's reply queue. */
  private installDsnParameters(): void {
    const internals = this.connection as unknown as Internals;
    internals._getDsnRcptToArgs = () => {
      const queue = internals._recipientQueue;
      const address = Array.isArray(queue) ? String(queue[queue.length - 1]) : undefined;
      const r = address === undefined ? undefined : this.recipientsByAddress.get(address);
      if (r === undefined || !this.extensions()?.has('DSN')) return '';
      let args = '';
      if (r.notify !== undefined) args += ` NOTIFY=${notifyParameter(r.notify)}`;
      if (r.orcpt !== undefined) args += ` ORCPT=${r.orcpt}`;
      return args;
    };
  }

  /** AUTH= goes last on MAIL FROM, as sendmail writes it after SIZE, BODY, ENVID and RET. */
  private installAuthParameter(): void {
    const internals = this.connection as unknown as Internals;
    const original = internals._sendCommand;
    if (typeof original !== 'function') return;
    internals._sendCommand = (command, logged) => {
      const auth = this.mailAuth;
      if (auth !== undefined && /^MAIL FROM:/i.test(command)) {
        this.mailAuth = undefined;
        return original.call(this.connection, `${command} AUTH=${auth}`, logged === undefined ? undefined : `${logged} AUTH=${auth}`);
      }
      return original.call(this.connection, command, logged);
    };
  }

  /** Keeps each LMTP reply to the end of the message under its recipient, then lets nodemailer have it. */
  private watchLmtpReplies(): void {
    const internals = this.connection as unknown as Internals;
    const original = internals._actionLMTPStream;
    if (typeof original !== 'function') return;
    internals._actionLMTPStream = (recipient, final, reply, callback) => {
      this.lmtpReplies.set(recipient, reply);
      original.call(this.connection, recipient, final, reply, callback);
    };
  }

  send(envelope: SessionEnvelope, message: Readable | Buffer): Promise<SendOutcome> {
    this.recipientsByAddress = new Map(envelope.recipients.map((r) => [r.address, r]));
    this.mailAuth = envelope.auth;
    this.lmtpReplies.clear();
    this.messages++;
    const dsn = envelope.ret !== undefined || envelope.envid !== undefined
      ? { ...(envelope.ret !== undefined ? { ret: envelope.ret.toUpperCase() } : {}), ...(envelope.envid !== undefined ? { envid: decodeXtext(envelope.envid) } : {}) }
      : undefined;
    coalesceWrites((this.connection as unknown as Internals)._socket);
    return new Promise((resolve) => {
      this.connection.send(
        {
          from: envelope.from === '' ? false : envelope.from,
          to: envelope.recipients.map((r) => r.address),
          size: envelope.size,
          use8BitMime: envelope.eightBit,
          ...(dsn !== undefined ? { dsn } : {}),
        },
        message,
        (error, info) => {
          this.lastUsed = Date.now();
          if (!error) {
            const rejected = new Map<string, string>();
            for (const e of (info?.rejectedErrors ?? []) as NodemailerError[]) rejected.set(String((e as { recipient?: string }).recipient), e.response ?? e.message);
            return resolve({ kind: 'sent', final: info?.response ?? '250 Ok', rejected });
          }
          const e = error as NodemailerError;
          if (e.code === 'EMESSAGE' && e.response === undefined && /size larger than allowed/i.test(e.message)) {
            // the peer's SIZE says no before MAIL is sent: as its 552 would
            return resolve({ kind: 'failed', phase: 'mail', reply: `552 5.2.3 Message is too large (${e.message})`, rejected: new Map() });
          }
          const rejected = new Map<string, string>();
          for (const r of e.rejectedErrors ?? []) rejected.set(String(r.recipient), r.response ?? r.message);
          if (e.response !== undefined && /^\d{3}/.test(e.response) && (e.code === 'EENVELOPE' || e.code === 'EMESSAGE')) {
            const phase = e.command === 'MAIL FROM' ? 'mail' : e.command === 'RCPT TO' ? 'rcpt' : e.code === 'EMESSAGE' ? 'eom' : 'data';
            return resolve({ kind: 'failed', phase, reply: e.response, rejected });
          }
          this.broken = true;
          resolve({ kind: 'broken', error: e });
        },
      );
    });
  }

  /** An RSET sent when the last transaction ended, its reply perhaps still to come. */
  private resetSent: Promise<boolean> | undefined;

  /**
   * Sends the RSET that goes before the next message now, as the session goes
   * back to the cache.  sendmail probes a cached connection with RSET when it
   * takes it; sent here instead, the round trip overlaps what the runner does
   * before the next message (claim it, read its envelope and content), which
   * with the peer's reply awaited was a third of a relayed message's waiting.
   * A peer that closes the connection meanwhile makes it unusable, and the
   * next message opens a new one, as after a failed probe.
   */
  resetAhead(): void {
    if (this.usable && this.resetSent === undefined) this.resetSent = this.rset();
  }

  /** RSET before the next message (or the answer to the one resetAhead() sent); false when the session cannot go on. */
  async reset(): Promise<boolean> {
    const sent = this.resetSent;
    this.resetSent = undefined;
    if (sent !== undefined) return (await sent) && this.usable;
    return this.usable && this.rset();
  }

  private rset(): Promise<boolean> {
    return new Promise((resolve) => {
      // nodemailer leaves a reply callback unanswered when the connection ends
      const gone = () => resolve(false);
      this.connection.once('end', gone);
      this.connection.once('error', gone);
      this.connection.reset((error) => {
        this.connection.off('end', gone);
        this.connection.off('error', gone);
        resolve(!error);
      });
    });
  }

  quit(): void {
    this.broken = true;
    try {
      this.connection.quit();
    } catch {
      this.connection.close();
    }
  }
}

function tlsInfo(connection: SMTPConnection, target: SessionTarget): TlsInfo | undefined {
  const internals = connection as unknown as Internals;
  if (!internals.secure) return undefined;
  const socket = internals._socket as TLSSocket | undefined;
  if (socket === undefined || typeof socket.getCipher !== 'function') return undefined;
  const cipher = socket.getCipher();
  const error = socket.authorizationError;
  const cn = socket.getPeerCertificate()?.subject?.CN;
  return {
    relay: target.relay,
    version: socket.getProtocol() ?? 'unknown',
    verify: socket.authorized ? 'OK' : 'FAIL',
    ...(error !== undefined && error !== null ? { verifyError: String(error) } : {}),
    cipher: cipher.standardName ?? cipher.name,
    bits: cipherBits(cipher.name),
    ...(typeof cn === 'string' ? { cnSubject: cn } : {}),
  };
}

const coalesced = new WeakSet<object>();

/**
 * Makes the writes of one turn of the event loop to the peer go out in one
 * system call.  nodemailer writes a message's bytes and its final dot
 * separately (and the dot again apart from the bytes when they come in
 * pieces); a runner profile of bench/relay.mjs had four writes a message,
 * the socket writes its largest cost.  Corked at the first write of a turn
 * and uncorked once the turn's work is done (setImmediate), nothing waits
 * longer than that turn.
 */
function coalesceWrites(socket: unknown): void {
  const s = socket as (Writable & object) | undefined;
  if (s === undefined || typeof s.cork !== 'function' || coalesced.has(s)) return;
  coalesced.add(s);
  const write = s.write.bind(s) as (...args: unknown[]) => boolean;
  let corked = false;
  s.write = ((...args: unknown[]) => {
    if (!corked && !s.destroyed) {
      corked = true;
      s.cork();
      setImmediate(() => {
        corked = false;
        s.uncork();
      });
    }
    return write(...args);
  }) as Writable['write'];
}
