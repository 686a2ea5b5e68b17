/**
 * What an SMTP and an LMTP delivery do alike once a session is open: the
 * message made fit for the peer (8-bit, or converted to 7 bits, or refused),
 * the MAIL/RCPT/DATA transaction with each recipient's DSN parameters, and
 * sendmail's SYSERR log line.
 */
import { userInfo } from 'node:os';
import type { Readable } from 'node:stream';
import { ERR } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { failed, type DeliveryStatus } from '../mailbox/status.js';
import { convertTo7bit } from './eight-bit.js';
import type { SendOutcome, SmtpSession } from './smtp-session.js';
import type { RemoteOptions, RemoteRecipient, RemoteRequest } from './types.js';

/** `SYSERR(user): text`, as sendmail logs a configuration or system error. */
export function syserr(log: Logger | undefined, queueId: string, text: string): void {
  let who = String(process.getuid?.() ?? '');
  try {
    who = userInfo().username;
  } catch {
    // no passwd entry: the uid will do
  }
  log?.log(0, 'crit', queueId, `SYSERR(${who}): ${text}`);
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks);
}

/** A message the peer cannot take: 8-bit, the peer lacks 8BITMIME, and EightBitMode forbids converting. */
export const EIGHT_BIT_REFUSED: { readonly status: DeliveryStatus; readonly reply: string } = {
  status: failed(ERR.REMOTE_8BIT_TO_7BIT, 'Cannot send 8-bit data to 7-bit destination'),
  reply: '554 5.6.3 Cannot send 8-bit data to 7-bit destination',
};

/** The queued message as it goes to a peer that does or does not offer 8BITMIME; 'refused' when it cannot go. */
export async function messageForPeer(
  request: RemoteRequest,
  peer8bit: boolean,
  options: Pick<RemoteOptions, 'eightBitMode' | 'defaultCharset'>,
): Promise<{ message: Readable | Buffer; size: number } | 'refused'> {
  // a small message goes over whole: nodemailer then writes it and the final dot in one turn (see SmtpSession.send())
  if (peer8bit) return { message: request.bytes?.() ?? request.content(), size: request.size };
  const whole = await readAll(request.content());
  const conversion = convertTo7bit(whole, options.eightBitMode, options.defaultCharset);
  if (conversion.kind === 'refused') return 'refused';
  const message = conversion.kind === 'converted' ? conversion.message : whole;
  return { message, size: message.length };
}

/**
 * The AUTH= parameter of MAIL FROM, as sendmail's smtpmailfrom() adds it:
 * when the message has one and the peer offers AUTH, and with AuthOptions=A
 * only once this client has authenticated.
 */
export function authParameter(session: SmtpSession, request: RemoteRequest, options: Pick<RemoteOptions, 'authParamOnlyWhenAuthenticated'>): string | undefined {
  if (request.auth === undefined || request.auth === '' || session.authMechanisms().length === 0) return undefined;
  if (options.authParamOnlyWhenAuthenticated === true && !session.authenticated) return undefined;
  return request.auth;
}

/** MAIL, one RCPT per address (duplicates would make the replies ambiguous) with its own NOTIFY and ORCPT, DATA. */
export function sendMessage(
  session: SmtpSession,
  request: RemoteRequest,
  recipients: readonly RemoteRecipient[],
  prepared: { message: Readable | Buffer; size: number },
  peer8bit: boolean,
  options: Pick<RemoteOptions, 'authParamOnlyWhenAuthenticated'> = {},
): Promise<SendOutcome> {
  const unique = [...new Map(recipients.map((r) => [r.address, r])).values()];
  const auth = authParameter(session, request, options);
  return session.send(
    {
      from: request.sender,
      ...(auth !== undefined ? { auth } : {}),
      recipients: unique.map((r) => ({ address: r.address, ...(r.notify ? { notify: r.notify } : {}), ...(r.orcpt ? { orcpt: r.orcpt } : {}) })),
      size: prepared.size,
      eightBit: peer8bit && request.bodyType === '8BITMIME',
      ...(request.ret !== undefined ? { ret: request.ret } : {}),
      ...(request.envid !== undefined ? { envid: request.envid } : {}),
    },
    prepared.message,
  );
}
