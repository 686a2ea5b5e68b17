/**
 * ForwardPath's candidates for one user: the option split on `:`, each part
 * expanded with the macros sendmail's forward() sets ($z home, $u user, $h
 * the +detail) and the host's own ($w short name, $j full name).  An empty
 * expansion is skipped, as sendmail skips it.  An undefined macro expands
 * to nothing.
 */
export interface ForwardMacros {
  /** $z: the user's home directory */
  readonly home: string;
  /** $u: the user name */
  readonly user: string;
  /** $h: the detail of user+detail; '' when none */
  readonly detail: string;
  /** $w: this host's short name */
  readonly shortName: string;
  /** $j: this host's full name */
  readonly hostName: string;
  /** other macros of sendmail.cf, by name */
  readonly others?: ReadonlyMap<string, string>;
}

export function forwardCandidates(forwardPath: string, m: ForwardMacros): string[] {
  if (forwardPath === '') return [];
  const value = (name: string): string => {
    switch (name) {
      case 'z':
        // sendmail's q_home is "" for a home of "/", so "$z/.forward" stays "/.forward"
        return m.home === '/' ? '' : m.home;
      case 'u':
        return m.user;
      case 'h':
        return m.detail;
      case 'w':
        return m.shortName;
      case 'j':
        return m.hostName;
      default:
        return m.others?.get(name) ?? '';
    }
  };
  return forwardPath
    .split(':')
    .map((part) => part.replace(/\$(?:\{([^}]*)\}|(.))/g, (_all, long: string | undefined, short: string | undefined) => value(long ?? short ?? '')))
    .filter((p) => p !== '');
}
