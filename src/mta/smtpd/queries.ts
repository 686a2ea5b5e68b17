/**
 * The commands that ask rather than send: VRFY, EXPN, ETRN, HELP, VERB,
 * answered and refused as sendmail 8.17 does under PrivacyOptions.
 */
import { ERR } from '../../common/errors.js';
import { MAXSHORTSTR, shortenString } from '../../common/log-format.js';
import { parseAddressArgument } from './address.js';
import { etrnOffered } from './features.js';
import { helpReply } from './help.js';
import { classReply } from './replies.js';
import type { Session } from './session.js';

const MAX_VRFY_COMMANDS = 6;
const MAX_ETRN_COMMANDS = 8;
const NOT_ALLOWED = 'Sorry, we do not allow this operation';

function logRejected(s: Session, line: string): void {
  s.log?.info(5, s.logId, `${s.authinfo}: ${shortenString(line, MAXSHORTSTR)} [rejected]`);
}

export async function expnOrVrfy(s: Session, arg: string, line: string, vrfy: boolean): Promise<void> {
  if (await s.tarpit('verify', MAX_VRFY_COMMANDS, vrfy ? 'VRFY' : 'EXPN')) return;
  if (vrfy && s.privacy('novrfy')) {
    s.say(252, '2.5.2', 'Cannot VRFY user; try RCPT to attempt delivery (or try finger)');
    return logRejected(s, line);
  }
  if (!vrfy && s.privacy('noexpn')) {
    s.reply(classReply(ERR.SMTP_NOT_ALLOWED, NOT_ALLOWED));
    return logRejected(s, line);
  }
  if (!s.gotHello && s.privacy(vrfy ? 'needvrfyhelo' : 'needexpnhelo')) {
    return s.say(503, '5.0.0', 'I demand that you introduce yourself first');
  }
  s.log?.info(5, s.logId, `${s.authinfo}: ${shortenString(line, MAXSHORTSTR)}`);
  const what = arg.trim();
  if (what === '') return s.say(501, '5.5.2', 'Argument required');
  const addr = parseAddressArgument(what, 'recipient');
  if ('code' in addr) return s.reply(addr);
  if (addr.mailbox === '') return s.say(554, '5.5.2', `Nothing to ${vrfy ? 'VRFY' : 'EXPN'}`);
  // no aliases yet: a name expands to itself
  const d = s.deps.judge.destination(addr);
  if ('code' in d) return s.reply(d);
  if (d.kind === 'local') {
    // the local mailer has F=q: VRFY answers 250
    const who = `<${d.user}@${s.hostname}>`;
    return s.say(250, '2.1.5', d.fullName !== undefined && d.fullName !== '' ? `${d.fullName} ${who}` : who);
  }
  s.say(vrfy ? 252 : 250, '2.1.5', `<${d.address}>`);
}

export async function etrn(s: Session, arg: string, line: string): Promise<void> {
  if (!etrnOffered(s)) {
    s.reply(classReply(ERR.SMTP_NOT_ALLOWED, NOT_ALLOWED));
    return logRejected(s, line);
  }
  if (arg.length === 0) return s.say(500, '5.5.2', 'Parameter required');
  if (await s.tarpit('etrn', MAX_ETRN_COMMANDS, 'ETRN')) return;
  s.log?.info(5, s.logId, `${s.authinfo}: ETRN ${shortenString(arg, MAXSHORTSTR)}`);
  if (arg.startsWith('#')) {
    const group = arg.slice(1);
    if (!s.config.queueGroups.has(group) && group !== 'mqueue') return s.say(459, '4.5.4', `Queue ${group} unknown`);
    s.deps.etrn?.(arg);
    return s.say(250, '2.0.0', `Queuing for queue group ${group} started`);
  }
  s.deps.etrn?.(arg.startsWith('@') ? arg.slice(1) : arg);
  s.say(250, '2.0.0', `Queuing for node ${arg} started`);
}

export function help(s: Session, arg: string): void {
  s.write(helpReply(s.config.options.HelpFile, arg, s.macro));
}

export function verb(s: Session): Promise<void> | void {
  if (s.privacy('noexpn') || s.privacy('noverb')) return s.reply(classReply(ERR.SMTP_NOT_ALLOWED, 'Verbose unavailable'));
  return (async () => {
    if (await s.tarpit('noop', s.config.options.MaxNOOPCommands, 'VERB')) return;
    s.say(250, '2.0.0', 'Verbose mode');
  })();
}
