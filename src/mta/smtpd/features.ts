/**
 * What this session offers, from PrivacyOptions, the daemon's M= modifiers,
 * the TLS and AUTH state and the size and deliver-by options: the EHLO
 * keywords, in sendmail's order.
 */
import type { Session } from './session.js';

export function dsnOffered(s: Session): boolean {
  return !s.privacy('noreceipts') && s.config.options.SendMimeErrors;
}

export function etrnOffered(s: Session): boolean {
  return !s.privacy('noetrn') && !s.deps.daemon.Modifiers.includes('E');
}

/** STARTTLS in the EHLO list: a usable certificate, no M=S, and not once TLS is on. */
export function startTlsOffered(s: Session): boolean {
  return s.deps.serverTls !== null && s.tlsInfo === null && !s.deps.daemon.Modifiers.includes('S');
}

/** The EHLO keywords, in sendmail's order. */
export function ehloKeywords(s: Session): string[] {
  const o = s.config.options;
  const k = ['ENHANCEDSTATUSCODES', 'PIPELINING'];
  if (!s.privacy('noexpn')) {
    k.push('EXPN');
    if (!s.privacy('noverb')) k.push('VERB');
  }
  k.push('8BITMIME', o.MaxMessageSize > 0 ? `SIZE ${o.MaxMessageSize}` : 'SIZE');
  if (dsnOffered(s)) k.push('DSN');
  if (etrnOffered(s)) k.push('ETRN');
  const mechanisms = s.authMechanisms();
  if (mechanisms.length > 0) k.push(`AUTH ${mechanisms.join(' ')}`);
  if (startTlsOffered(s)) k.push('STARTTLS');
  if (o.DeliverByMin > 0) k.push(`DELIVERBY ${o.DeliverByMin}`);
  else if (o.DeliverByMin === 0) k.push('DELIVERBY');
  k.push('HELP');
  return k;
}
