/**
 * The shapes of remote delivery: what the queue runner asks for, what it
 * gets back, and the settings taken from sendmail.cf.
 */
import type { Readable } from 'node:stream';
import type { Logger } from '../../common/log.js';
import type { EightBitMode, Timeouts } from '../../config/types.js';
import type { Notify } from '../../queue/envelope.js';
import type { DeliveryStatus } from '../mailbox/status.js';
import type { AuthInfoLookup } from './authinfo.js';
import type { HostStatusSettings } from './host-status/store.js';
import type { ServerId } from './server-lookup.js';
import type { TlsRequirement } from './tls-policy.js';

export interface RemoteRecipient {
  /** The recipient's index in the envelope: results come back under it. */
  readonly index: number;
  /** Without angle brackets. */
  readonly address: string;
  readonly notify?: Notify;
  /** RFC 3461 ORCPT as stored (addr-type;xtext). */
  readonly orcpt?: string;
  /** The address as reports name it (sendmail's q_paddr); default `<address>`. */
  readonly display?: string;
}

/** One message to the recipients of one domain. */
export interface RemoteRequest {
  readonly queueId: string;
  /** '' is the null sender. */
  readonly sender: string;
  /** The recipients' domain (lower case, no trailing dot, or a [literal]). */
  readonly domain: string;
  readonly recipients: readonly RemoteRecipient[];
  readonly envid?: string;
  readonly ret?: 'full' | 'hdrs';
  readonly bodyType?: '7BIT' | '8BITMIME';
  /** A fresh stream of the stored message (headers and body) each time it is called. */
  readonly content: () => Readable;
  /** The message whole, when the queue holds it so (a small one); undefined when it must be streamed. */
  readonly bytes?: () => Buffer | undefined;
  /** RFC 4954 AUTH= of MAIL FROM as the queue keeps it (xtext, or `<>`): sent to peers that offer AUTH. */
  readonly auth?: string;
  /** The stored message's size in bytes, declared with SIZE=. */
  readonly size: number;
}

/** The host a delivery talked to, for relay=: `mx.example.net.` or `[192.0.2.1]`, and its address. */
export interface RelayInfo {
  readonly host: string;
  readonly address?: string;
}

export interface RecipientResult {
  readonly index: number;
  /**
   * The outcome.  `text` is what sendmail puts after `stat=` (without the
   * `Deferred: ` a deferral gets): `Sent (<id> Message accepted for delivery)`,
   * `450 4.2.0 <b@x>... Mailbox busy`, `User unknown`, `Service unavailable`...
   */
  readonly status: DeliveryStatus;
  /** relay= of the to= line; absent when no host was reached or chosen. */
  readonly relay?: RelayInfo;
  /** The server's reply for this recipient on failure, for reply= and the DSN's Diagnostic-Code. */
  readonly reply?: string;
  /** NOTIFY=SUCCESS was asked and the peer does not speak DSN: the sender is owed a "relayed" notice. */
  readonly relayedWithoutDsn?: boolean;
  /** The reply that took the message, for a sent recipient (the relayed notice's Diagnostic-Code). */
  readonly acceptedReply?: string;
}

/** What a STARTTLS negotiation gave, for sendmail's `STARTTLS=client, relay=...` line. */
export interface TlsInfo {
  readonly relay: string;
  readonly version: string;
  /** OK, FAIL (certificate not verified), as sendmail's ${verify}. */
  readonly verify: 'OK' | 'FAIL';
  /** Why verification failed (Node's code, e.g. DEPTH_ZERO_SELF_SIGNED_CERT). */
  readonly verifyError?: string;
  readonly cipher: string;
  readonly bits: number;
  /** The CN of the server's certificate (sendmail's ${cn_subject}). */
  readonly cnSubject?: string;
}

export interface RemoteResult {
  /** One per requested recipient, in the order asked. */
  readonly recipients: readonly RecipientResult[];
  /** mailer= of the to= lines: `esmtp` (MX), `relay` (smart host), or the mailertable's mailer. */
  readonly mailer: string;
  /** The SMTP dialogue of the last attempt, `<<< ` server and `>>> ` client lines. */
  readonly transcript: readonly string[];
  /**
   * What this delivery adds to a report's "Transcript of session follows"
   * part, as sendmail writes it (report-transcript.ts): the error exchanges
   * of every session it had, and what became of the recipients.
   */
  readonly reportTranscript?: readonly string[];
  /** The STARTTLS outcome of the connection that carried the message, when there was one. */
  readonly tls?: TlsInfo;
}

/** The parts of DNS remote delivery needs (node:dns/promises Resolver fits). */
export interface DnsResolver {
  resolveMx(name: string): Promise<{ exchange: string; priority: number }[]>;
  /** Addresses of a host name: A and AAAA (or /etc/hosts); rejects with ENOTFOUND/ENODATA when there are none. */
  lookupAddresses(name: string): Promise<string[]>;
}

/** A mailertable: key → value (`esmtp:[mx.example.net]`, `error:5.1.2:550 no such domain`). */
export interface KeyLookup {
  get(key: string): string | undefined;
}

/** sendmail.cf settings remote delivery uses (see remoteOptionsFromConfig). */
export interface RemoteOptions {
  /** $j, the EHLO name (HeloName when set). */
  readonly heloName: string;
  /** Our own names (class w): an MX list starting with one of these loops back. */
  readonly localNames: ReadonlySet<string>;
  /** The S macro (SMART_HOST), with its optional `mailer:` prefix; null or '' for none. */
  readonly smartHost?: string | null;
  /** FallbackMXhost: tried after every other host. */
  readonly fallbackMxHost?: string | null;
  readonly mailertable?: KeyLookup | null;
  /** TCP port of the SMTP peers; 25. */
  readonly port?: number;
  readonly timeouts: Pick<Timeouts, 'connect' | 'initial' | 'helo' | 'mail' | 'rcpt' | 'datainit' | 'datablock' | 'datafinal' | 'rset' | 'quit' | 'starttls'>;
  readonly eightBitMode: EightBitMode;
  /** DefaultCharSet, for a non-MIME 8-bit body made MIME (EightBitMode=mimify). */
  readonly defaultCharset?: string | null;
  readonly tryNullMxList?: boolean;
  /** After a failed TLS handshake, reconnect without STARTTLS (sendmail's TLSFallbacktoClear). */
  readonly tlsFallbackToClear?: boolean;
  /** CA certificates to verify peers with (CACertFile), PEM; default Node's bundled roots. */
  readonly caCertificates?: string | Buffer;
  /** ConnectionCacheSize / ConnectionCacheTimeout (seconds); size 0 turns the cache off. */
  readonly connectionCacheSize?: number;
  readonly connectionCacheTimeout?: number;
  /** HostStatusDirectory and Timeout.hoststatus; absent: no persistent host status. */
  readonly hostStatus?: HostStatusOptions | null;
  /** The TCP port of mailers whose A= says one (`A=TCP $h 587`); others use `port`. */
  readonly mailerPorts?: ReadonlyMap<string, number>;
  /** Try_TLS:, TLS_Srv: and AuthInfo: look-ups (access map, authinfo map); absent: none. */
  readonly serverPolicy?: ServerPolicy | null;
  /** AuthMechanisms: the client's mechanisms when an AuthInfo entry has no M:. */
  readonly authMechanisms?: readonly string[];
  /** AuthOptions=A: AUTH= on MAIL FROM only once this client has authenticated to the peer. */
  readonly authParamOnlyWhenAuthenticated?: boolean;
}

/** What the access and authinfo maps say about one server (see server-policy.ts). */
export interface ServerPolicy {
  /** False when `Try_TLS:` says NO for it. */
  mayTryTls(server: ServerId): boolean;
  /** Its `TLS_Srv:` requirement, if any. */
  tlsRequirement(server: ServerId): TlsRequirement | null;
  /** Its AuthInfo: entry; `info` null when the entry is malformed. */
  authInfo(server: ServerId): AuthInfoLookup;
}

export interface HostStatusOptions extends HostStatusSettings {
  /** Mailers with F=W, for which sendmail ignores the stored host status. */
  readonly ignoredByMailers?: ReadonlySet<string>;
}

export interface RemoteDeps {
  readonly options: RemoteOptions;
  /** Default: node:dns/promises following /etc/resolv.conf, addresses via getaddrinfo. */
  readonly resolver?: DnsResolver;
  /** STARTTLS= lines (LogLevel > 8) and SYSERRs go here. */
  readonly log?: Logger;
  /** Connections kept open between messages (see ConnectionCache); default one shared per process. */
  readonly cache?: import('./connection-cache.js').ConnectionCache;
  /** For the order of equal-preference MX hosts; Math.random by default. */
  readonly random?: () => number;
}
