/**
 * AUTH (RFC 4954) with PLAIN and LOGIN, answered as sendmail 8.17 answers:
 *
 *   503 5.3.3 AUTH not available            no mechanism offered now (e.g. before STARTTLS with AuthOptions=p)
 *   503 5.5.0 Already Authenticated
 *   503 5.5.0 AUTH not permitted during a mail transaction
 *   501 5.5.2 AUTH mechanism must be specified
 *   504 5.3.3 AUTH mechanism X not available
 *   501 5.5.4 cannot BASE64 decode 'X'       a bad initial response
 *   334 ...                                   a challenge; `*` aborts: 501 5.0.0 AUTH aborted
 *   501 5.5.4 cannot decode AUTH parameter X  a bad answer to a challenge
 *   235 2.0.0 OK Authenticated
 *   535 5.7.0 authentication failed
 *
 * AUTH attempts count towards the tarpit as sendmail's (the limit is the
 * number of mechanisms plus one).  The log lines are sendmail's:
 * `AUTH=server, relay=..., authid=USER, mech=PLAIN, bits=0` (LogLevel > 8)
 * and `AUTH failure (PLAIN): ...` (LogLevel > 9).
 */
import { ERR } from '../../common/errors.js';
import { NOQID } from '../../common/log.js';
import { shortenString } from '../../common/log-format.js';
import { decodeBase64, parsePlain, type Mechanism } from '../auth/mechanisms.js';
import { classReply } from './replies.js';
import type { Session } from './session.js';

type Answer = Buffer | 'aborted' | 'gone';

/** Sends a 334 challenge and reads the client's answer. */
async function challenge(s: Session, prompt: string): Promise<Answer> {
  s.say(334, '', Buffer.from(prompt, 'latin1').toString('base64'));
  const r = await s.input.readLine(s.config.options.Timeout.command * 1000);
  if (r.kind === 'eof' || r.kind === 'timeout') return 'gone';
  if (r.kind === 'too-long') {
    s.reply(classReply(ERR.AUTH_FAILED, 'authentication failed'));
    return 'aborted';
  }
  if (r.text === '*') {
    s.reply(classReply(ERR.AUTH_ABORTED, 'AUTH aborted'));
    return 'aborted';
  }
  const decoded = decodeBase64(r.text);
  if (decoded === null) {
    s.reply(classReply(ERR.AUTH_BAD_BASE64, `cannot decode AUTH parameter ${shortenString(r.text, 203)}`));
    return 'aborted';
  }
  return decoded;
}

interface Offered {
  readonly authzid: string;
  readonly authcid: string;
  readonly password: string;
}

/** The mechanism's dialogue: the identity and password, null when they make no sense, or how it ended. */
async function dialogue(s: Session, mechanism: Mechanism, initial: Buffer | null): Promise<Offered | null | 'aborted' | 'gone'> {
  if (mechanism === 'PLAIN') {
    const message = initial ?? (await challenge(s, ''));
    if (!Buffer.isBuffer(message)) return message;
    return parsePlain(message);
  }
  // LOGIN: the user name may come as the initial response
  const user = initial !== null && initial.length > 0 ? initial : await challenge(s, 'Username:');
  if (!Buffer.isBuffer(user)) return user;
  const password = await challenge(s, 'Password:');
  if (!Buffer.isBuffer(password)) return password;
  const authcid = user.toString('utf8');
  return authcid === '' ? null : { authzid: '', authcid, password: password.toString('utf8') };
}

function failed(s: Session, mechanism: string, why: string): void {
  s.reply(classReply(ERR.AUTH_FAILED, 'authentication failed'));
  s.log?.warning(9, s.logId, `AUTH failure (${mechanism}): ${why}, relay=${s.authinfo.slice(0, 100)}`);
}

export async function auth(s: Session, arg: string): Promise<void> {
  const mechanisms = s.authMechanisms();
  if (mechanisms.length === 0) return s.reply(classReply(ERR.AUTH_NOT_AVAILABLE, 'AUTH not available'));
  if (s.auth !== null) return s.reply(classReply(ERR.AUTH_ALREADY_DONE, 'Already Authenticated'));
  if (s.tx !== null) return s.say(503, '5.5.0', 'AUTH not permitted during a mail transaction');
  if (await s.tarpit('auth', mechanisms.length + 1, 'AUTH')) return;
  const m = /^(\S*)(?:[ \t]+(.*?))?[ \t]*$/s.exec(arg)!;
  const asked = m[1]!;
  if (asked === '') return s.say(501, '5.5.2', 'AUTH mechanism must be specified');
  const mechanism = mechanisms.find((x) => x === asked.toUpperCase());
  if (mechanism === undefined) return s.reply(classReply(ERR.AUTH_MECHANISM_UNAVAILABLE, `AUTH mechanism ${asked.slice(0, 32)} not available`));
  let initial: Buffer | null = null;
  const ir = m[2];
  if (ir !== undefined && ir !== '') {
    initial = ir === '=' ? Buffer.alloc(0) : decodeBase64(ir);
    if (initial === null) {
      s.reply(classReply(ERR.AUTH_BAD_BASE64, `cannot BASE64 decode '${shortenString(ir, 203)}'`));
      s.log?.warning(5, s.logId, `AUTH decode64 error [-5 for "${shortenString(ir, 203)}"], relay=${s.authinfo.slice(0, 100)}`);
      return;
    }
  }
  const offered = await dialogue(s, mechanism, initial);
  if (offered === 'aborted' || offered === 'gone') return;
  if (offered === null) return failed(s, mechanism, 'authentication failure (-13) SASL(-13): authentication failure: malformed response');
  // acting as someone else needs a proxy right sendmail's default policy grants nobody
  if (offered.authzid !== '' && offered.authzid !== offered.authcid) {
    return failed(s, mechanism, `authorization failure (-14) SASL(-14): authorization failure: ${offered.authcid} may not act as ${offered.authzid}`);
  }
  const result = await s.deps.credentials!.check(offered.authcid, offered.password);
  if (result !== 'ok') {
    return failed(
      s,
      mechanism,
      result === 'unavailable'
        ? `generic failure (-1) SASL(-1): credential store ${s.deps.credentials!.file} unavailable`
        : 'authentication failure (-13) SASL(-13): authentication failure: Password verification failed',
    );
  }
  s.auth = { authen: offered.authcid, author: offered.authzid === '' ? null : offered.authzid, mechanism };
  s.protocol = s.esmtpProtocol();
  s.say(235, '2.0.0', 'OK Authenticated');
  s.log?.info(8, NOQID, `AUTH=server, relay=${s.authinfo}, authid=${shortenString(offered.authcid, 128)}, mech=${mechanism}, bits=0`);
}
