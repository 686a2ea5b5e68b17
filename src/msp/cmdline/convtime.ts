/**
 * sendmail's time intervals ("1h30m", "5d", "now"): a run of digits and a
 * unit letter (w d h m s), repeated; a number without a letter takes the
 * caller's default unit.  An unknown letter is reported, counted as the
 * default unit, and scanning goes on, so "-qabc" reports three letters.
 */
export interface Interval {
  /** seconds; negative for a leading '-' */
  readonly seconds: number;
  /** the unknown unit letters met, in order */
  readonly badUnits: readonly string[];
}

const SECONDS_PER_UNIT: Readonly<Record<string, number>> = { w: 604800, d: 86400, h: 3600, m: 60, s: 1 };

/** `now` is sendmail's NOW, the interval 0. */
export function parseInterval(text: string, defaultUnit: 'w' | 'd' | 'h' | 'm' | 's'): Interval {
  if (text.toLowerCase() === 'now') return { seconds: 0, badUnits: [] };
  let rest = text;
  let sign = 1;
  if (rest.startsWith('-')) {
    sign = -1;
    rest = rest.slice(1);
  }
  let total = 0;
  const badUnits: string[] = [];
  let i = 0;
  while (i < rest.length) {
    let value = 0;
    while (i < rest.length && rest[i]! >= '0' && rest[i]! <= '9') value = value * 10 + (rest.charCodeAt(i++) - 48);
    let unit: string = i < rest.length ? rest[i++]! : defaultUnit;
    if (!(unit in SECONDS_PER_UNIT)) {
      badUnits.push(unit);
      unit = defaultUnit;
    }
    total += value * SECONDS_PER_UNIT[unit]!;
  }
  return { seconds: sign * total, badUnits };
}
