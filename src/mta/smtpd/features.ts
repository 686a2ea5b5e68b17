/**
 * What this session offers, from PrivacyOptions, the daemon's M= modifiers
 * and the size and deliver-by options: the EHLO keywords, in sendmail's order.
 */
import type { Session } from './session.js';

export function dsnOffered(s: Session): boolean {
  return !s.privacy('noreceipts') && s.config.options.SendMimeErrors;
}

export function etrnOffered(s: Session): boolean {
  return !s.privacy('noetrn') && !s.deps.daemon.Modifiers.includes('E');
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
  // AUTH and STARTTLS will come here, in this place, when Postern has them
  if (o.DeliverByMin > 0) k.push(`DELIVERBY ${o.DeliverByMin}`);
  else if (o.DeliverByMin === 0) k.push('DELIVERBY');
  k.push('HELP');
  return k;
}
