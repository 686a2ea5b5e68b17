/**
 * What the MSP and the daemon say to each other on the submission socket
 * (the channel is described in submit-protocol.ts): the request, the framing
 * of the message and the reply, apart from the net module, so that the MSP's
 * blocking client (submit-blocking.ts) does not load it.
 */
import { ERR, type ErrorClass, type ErrorCode } from '../common/errors.js';
import { EX } from '../common/sysexits.js';

/** 2: the message travels in frames, and only an end frame makes it whole (1 sent it raw up to the half-close). */
export const PROTOCOL_VERSION = 2;
/** The request line may not be longer than this. */
export const MAX_REQUEST_BYTES = 64 * 1024;

/* The message after the request line travels in frames (common/frames.ts). */
export { ABANDON_MESSAGE, ABORT_FRAME, END_OF_MESSAGE, FRAME_HEADER_BYTES, frameHeader, framed, MAX_FRAME_BYTES } from '../common/frames.js';

/**
 * Reading the message itself failed (the caller's standard input, a
 * client-queue file): the submission is abandoned, never completed with
 * what was read.
 */
export class MessageSourceError extends Error {
  constructor(readonly source: unknown) {
    super(`cannot read the message: ${source instanceof Error ? source.message : String(source)}`);
    this.name = 'MessageSourceError';
  }
}

export interface SubmissionRequest {
  readonly version: typeof PROTOCOL_VERSION;
  /** -f/-r as given, and which flag gave it; 'bs': the MAIL FROM of a `sendmail -bs` session */
  readonly sender?: string;
  readonly senderFlag?: 'f' | 'r' | 'bs';
  /** -F */
  readonly fullName?: string;
  /** recipients on the command line */
  readonly recipients: readonly string[];
  /** -t */
  readonly recipientsFromHeaders: boolean;
  /** -i / -oi: a lone dot does not end the message */
  readonly ignoreDots: boolean;
  readonly hopCount?: number;
  readonly notify?: { readonly never: boolean; readonly success: boolean; readonly failure: boolean; readonly delay: boolean };
  readonly ret?: 'hdrs' | 'full';
  readonly envid?: string;
  readonly bodyType?: string;
  /** -C by a user who is not root: the file, for sendmail's "Processed by USER with -C FILE" warning */
  readonly untrustedConfig?: string;
  /** -odq/-odd (DeliveryMode queue or defer): nothing is delivered while the caller waits, so no recipient is judged then */
  readonly deferred?: boolean;
  /** the uid this message is submitted for; honoured from root and the client-queue runner only */
  readonly onBehalfOf?: number;
}

export type SubmissionReply =
  | { readonly ok: true; readonly id: string; readonly lines: readonly string[] }
  | {
      readonly ok: false;
      readonly code: ErrorCode;
      readonly exit: number;
      readonly lines: readonly string[];
      /** base64: the message as the MSP would save it in the caller's dead.letter (headers made, body), when sendmail's MSP saves it */
      readonly deadLetter?: string;
    };

/** A refusal of class `cls`, with the exit status the MSP ends with. */
export function refusal(cls: ErrorClass, ...lines: string[]): SubmissionReply {
  return { ok: false, code: cls.code as ErrorCode, exit: cls.exit, lines };
}

/** The reply the MSP makes up when the channel itself fails. */
export function protocolError(text: string): SubmissionReply {
  return refusal(ERR.SUBMIT_PROTOCOL, text);
}

/** The daemon's reply: the first line of what it sent before closing. */
export function replyFrom(text: string): SubmissionReply {
  const line = text.split('\n')[0] ?? '';
  try {
    return JSON.parse(line) as SubmissionReply;
  } catch {
    return protocolError('the daemon gave no reply');
  }
}

/**
 * Whether the daemon could not take the message now but may later: its 4xx
 * classes (a filter's tempfail, a full queue, its own failure), and a
 * channel that failed before the reply (the daemon went away, or one of
 * another version refused the request).  sendmail's MSP keeps such a
 * message in its client queue; a 5xx is final.
 */
export function isTemporary(reply: SubmissionReply): boolean {
  if (reply.ok) return false;
  if (reply.code === 'SUBMIT_PROTOCOL' || reply.exit === EX.TEMPFAIL) return true;
  const cls = ERR[reply.code] as ErrorClass | undefined;
  return cls !== undefined && cls.smtp >= 400 && cls.smtp < 500;
}
