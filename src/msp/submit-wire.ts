/**
 * What the MSP and the daemon say to each other on the submission socket
 * (the channel is described in submit-protocol.ts): the request and the
 * reply, apart from the net module, so that the MSP's blocking client
 * (submit-blocking.ts) does not load it.
 */
import { ERR, type ErrorClass, type ErrorCode } from '../common/errors.js';

export const PROTOCOL_VERSION = 1;
/** The request line may not be longer than this. */
export const MAX_REQUEST_BYTES = 64 * 1024;

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
  /** the uid this message is submitted for; honoured from root and the client-queue runner only */
  readonly onBehalfOf?: number;
}

export type SubmissionReply =
  | { readonly ok: true; readonly id: string; readonly lines: readonly string[] }
  | { readonly ok: false; readonly code: ErrorCode; readonly exit: number; readonly lines: readonly string[] };

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
