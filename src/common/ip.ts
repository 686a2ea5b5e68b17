/**
 * IP literal syntax, as node:net's isIP answers it.  Written here because
 * importing node:net pulls Node's whole stream machinery into every process
 * that only needs to recognise an address (sendmail -t reads one in
 * submit.cf), at a cost of several milliseconds of start-up.
 */
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const HEXTET = /^[0-9A-Fa-f]{1,4}$/;

/** 4 or 6 for an IPv4 or IPv6 literal (an IPv6 zone such as %eth0 allowed), 0 otherwise. */
export function ipVersion(text: string): 0 | 4 | 6 {
  if (IPV4.test(text)) return 4;
  return isIPv6(text) ? 6 : 0;
}

function isIPv6(text: string): boolean {
  const zone = text.indexOf('%');
  if (zone === 0 || zone === text.length - 1) return false;
  let address = zone > 0 ? text.slice(0, zone) : text;
  let groupsWanted = 8;
  const lastColon = address.lastIndexOf(':');
  if (lastColon < 0) return false;
  if (address.includes('.', lastColon)) {
    if (!IPV4.test(address.slice(lastColon + 1))) return false;
    address = address.slice(0, lastColon + 1) + '0';
    groupsWanted = 7;
  }
  const halves = address.split('::');
  if (halves.length > 2) return false;
  const groups = (half: string) => (half === '' ? [] : half.split(':'));
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (![...head, ...tail].every((g) => HEXTET.test(g))) return false;
  const count = head.length + tail.length;
  return halves.length === 2 ? count < groupsWanted : count === groupsWanted;
}
