/**
 * C's ctime(3) without its newline, in the local time zone: "Sun Nov 22
 * 08:44:50 2026", the day of the month padded with a space.  mailq's
 * listing, the mbox From_ line and dead.letter all write dates this way.
 */
const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

export function ctime(when: Date | number): string {
  const d = typeof when === 'number' ? new Date(when) : when;
  const two = (n: number) => String(n).padStart(2, '0');
  return `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ${d.getFullYear()}`;
}
